package nginx

import (
	"bytes"
	"strings"
	"testing"
)

// hostileInput is alice's valid web route with one field replaced by a
// hostile value. bob exists, so his names are someone else's.
func hostileInput(field, value string) Input {
	r := Route{
		Section: "proxy:web", Program: "web",
		Hosts:      []string{"alice.example.test"},
		Static:     []Static{{Prefix: "/static/", Dir: "static"}},
		HealthPath: "/healthz",
		Upstreams:  []string{"127.0.0.1:8000"},
	}
	switch field {
	case "host":
		r.Hosts = append(r.Hosts, value)
	case "prefix":
		r.Static = append(r.Static, Static{Prefix: value, Dir: "public"})
	case "dir":
		r.Static = append(r.Static, Static{Prefix: "/hostile/", Dir: value})
	case "health":
		r.HealthPath = value
	case "upstream":
		r.Upstreams = append(r.Upstreams, value)
	}
	return Input{
		Policy: Policy{
			Listen: []string{"80"},
			Hosts:  []string{"{user}.example.test", "*.{user}.example.test", "*.shared.test"},
			Grants: map[string][]string{"bob": {"bob.com"}},
		},
		Users: []User{
			{Name: "alice", ProjectDir: "/home/alice/current", RunDir: "/run/roost/users/alice", Ports: PortRange{8000, 8009}, Routes: []Route{r}},
			{Name: "bob", ProjectDir: "/home/bob/current", RunDir: "/run/roost/users/bob", Ports: PortRange{8010, 8019}},
		},
	}
}

// The acceptance's hostile inputs: each is refused with a warning that says
// why, the rest of alice's route is still served, and the output holds only
// the structure the renderer may write.
func TestHostileInput(t *testing.T) {
	long := strings.Repeat("a", 64)
	tests := []struct {
		field, value, want string
	}{
		{"host", "alice.example.test;", `character ';'`},
		{"host", "x.alice.example.test; } server { server_name bob.com", `character ';'`},
		{"host", "{x}.alice.example.test", `character '{'`},
		{"host", "x}.alice.example.test", `character '}'`},
		{"host", "x.alice.example.test\nreturn 200 pwned", `control character '\n'`},
		{"host", "x.alice.example.test\r", `control character '\r'`},
		{"host", "\"x.alice.example.test\"", `character '"'`},
		{"host", "'x.alice.example.test'", `character '\''`},
		{"host", "$host", `character '$'`},
		{"host", "x alice.example.test", `character ' '`},
		{"host", "x\talice.example.test", `control character '\t'`},
		{"host", "ålice.example.test", "punycode"},
		{"host", "\u212aelvin.alice.example.test", "punycode"}, // Kelvin sign lower-cases to "k"
		{"host", "x\x00.alice.example.test", "control character"},
		{"host", long + ".alice.example.test", "a label has at most 63"},
		{"host", strings.Repeat("abcdefghi.", 25) + "alice.example.test", "a host name has at most 253"},
		{"host", "x..alice.example.test", "empty label"},
		{"host", "-x.alice.example.test", "hyphen"},
		{"host", "~^.*$", `character '~'`},
		{"host", "*", "wildcard"},
		{"host", "x.*.alice.example.test", "wildcard"},
		{"host", "alice.example.*", "wildcard"},
		{"host", ".alice.example.test", "empty label"},
		{"host", "127.0.0.1", "IP address"},
		{"host", "", "empty host"},
		{"host", "evil.test", "not among the hosts the admin allows alice"},
		{"host", "*.example.test", "not among the hosts the admin allows alice"},
		{"host", "bob.example.test", "not among the hosts the admin allows alice"},
		{"host", "bob.com", "not among the hosts the admin allows alice"},
		{"host", "x" + strings.Repeat(".abcdefghij", 4) + ".alice.example.test", "server_names_hash_bucket_size 64"},
		{"prefix", "/a;b/", `character ';'`},
		{"prefix", "/a{/", `character '{'`},
		{"prefix", "/a}/", `character '}'`},
		{"prefix", "/a\n/", `character '\n'`},
		{"prefix", "/\"/", `character '"'`},
		{"prefix", "/$uri/", `character '$'`},
		{"prefix", "/a b/", `character ' '`},
		{"prefix", "/é/", "non-ASCII"},
		{"prefix", "/../", `".." segments`},
		{"prefix", "/a/../b/", `".." segments`},
		{"prefix", "/./", `"." segments`},
		{"prefix", "//x/", "empty segment"},
		{"prefix", "/%2e%2e/", `character '%'`},
		{"prefix", "static/", `must start with "/"`},
		{"prefix", "/", "would hide the program"},
		{"prefix", "/" + strings.Repeat("a", 300) + "/", "at most 256"},
		{"dir", "public;", `character ';'`},
		{"dir", "public{", `character '{'`},
		{"dir", "public}", `character '}'`},
		{"dir", "public\n", `character '\n'`},
		{"dir", "pub\"lic", `character '"'`},
		{"dir", "$document_root", `character '$'`},
		{"dir", "my public", `character ' '`},
		{"dir", "pübl", "non-ASCII"},
		{"dir", "public#x", `character '#'`},
		{"dir", "..", `must not contain ".."`},
		{"dir", "../../bob/current/secret", `must not contain ".."`},
		{"dir", "public/../../../etc", `must not contain ".."`},
		{"dir", "/etc", "not inside the project"},
		{"dir", "/home/alice/current2/public", "not inside the project"},
		{"dir", "/home/alice/current", "not inside the project"},
		{"dir", ".", "not inside the project"},
		{"dir", "", "empty static directory"},
		{"dir", strings.Repeat("d/", 600), "at most 1024"},
		{"health", "/h;", `character ';'`},
		{"health", "/h{", `character '{'`},
		{"health", "/h\nreturn 200", `character '\n'`},
		{"health", "/h x", `character ' '`},
		{"health", "/$h", `character '$'`},
		{"health", "healthz", `must start with "/"`},
		{"health", "/../h", `".." segments`},
		{"upstream", "127.0.0.1:8000; server 10.0.0.1:80", "want 127.0.0.1:PORT"},
		{"upstream", "10.0.0.1:80", "only loopback"},
		{"upstream", "[::ffff:127.0.0.1]:8001", "only loopback"},
		{"upstream", "127.0.0.1:8010", "outside the user's port block"},
		{"upstream", "unix:/run/roost/users/bob/web.sock", "inside the run directory"},
		{"upstream", "unix:/run/roost/users/alice/../bob/web.sock", "inside the run directory"},
		{"upstream", "unix:/run/roost/users/alice/w;b.sock", `character ';'`},
	}
	for _, tc := range tests {
		t.Run(tc.field+" "+tc.value, func(t *testing.T) {
			in := hostileInput(tc.field, tc.value)
			conf, ws, err := Render(in)
			if err != nil {
				t.Fatalf("Render: %v", err)
			}
			found := false
			for _, w := range ws {
				if w.User == "alice" && w.Section == "proxy:web" && strings.Contains(w.Message, tc.want) {
					found = true
				}
				if strings.ContainsAny(w.String(), "\n\r") {
					t.Errorf("warning spans lines: %q", w.String())
				}
			}
			if !found {
				t.Errorf("no warning containing %q for alice [proxy:web]; got:\n%s", tc.want, warningLines(ws))
			}
			if err := checkStructure(string(conf), projects(in)); err != nil {
				t.Errorf("structure: %v\n%s", err, conf)
			}
			if strings.ContainsAny(tc.value, ";{}\n\r\"'#$") && tc.value != "$host" && bytes.Contains(conf, []byte(tc.value)) {
				t.Errorf("the hostile value appears in the output:\n%s", conf)
			}
			for _, keep := range []string{`server_name "alice.example.test";`, `location ^~ "/static/"`, "server 127.0.0.1:8000 max_fails=0;"} {
				if !bytes.Contains(conf, []byte(keep)) {
					t.Errorf("the rest of the route was lost: no %q in\n%s", keep, conf)
				}
			}
		})
	}
}

// A host another user owns is refused even where a shared pattern would
// allow it, and the owner keeps it.
func TestHostOfAnotherUser(t *testing.T) {
	in := hostileInput("", "")
	in.Policy.Hosts = append(in.Policy.Hosts, "*.example.test")
	in.Users[1].Routes = []Route{{
		Section: "proxy:steal", Hosts: []string{"alice.example.test", "x.alice.example.test", "*.example.test"},
		Upstreams: []string{"127.0.0.1:8010"},
	}}
	conf, ws, err := Render(in)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		`user bob: [proxy:steal] host "*.example.test" overlaps "alice.example.test", which belongs to alice`,
		`user bob: [proxy:steal] host "alice.example.test" belongs to alice`,
		`user bob: [proxy:steal] host "x.alice.example.test" overlaps "*.alice.example.test", which belongs to alice`,
		`user bob: [proxy:steal] no host is left; the route is left out`,
	}
	got := warningLines(ws)
	for _, w := range want {
		if !strings.Contains(got, w) {
			t.Errorf("missing warning %q in:\n%s", w, got)
		}
	}
	if bytes.Contains(conf, []byte("roost_bob_steal")) {
		t.Errorf("bob's route was rendered:\n%s", conf)
	}
}
