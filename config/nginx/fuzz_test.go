package nginx

import (
	"bytes"
	"strings"
	"testing"
)

// FuzzRender feeds arbitrary strings into every user-controlled field and
// checks the output with the independent reader in structure_test.go: it
// parses, holds only the directives the renderer may write, every server_name
// is a host alice or bob asked for, every location is "/", the route's health
// path or a static prefix they asked for, and every alias lies inside a
// project. A user-controlled ";", brace, quote or line break would break one
// of those.
func FuzzRender(f *testing.F) {
	f.Add("alice.example.test", "/static/", "static", "/healthz", "proxy:web", "*.alice.example.test")
	f.Add("x.alice.example.test; } server {", "/a;b/", "static; alias /", "/h\n", "proxy:w\neb", "bob.example.test")
	f.Add("\u212aelvin.alice.example.test", "/../", "../../etc", "/$x", "proxy:{", "*.shared.test")
	f.Add("*.shared.test", "/s", "/home/alice/current/public", "/", "proxy:web", "x.shared.test")
	f.Add("ALICE.EXAMPLE.TEST", "//", "/home/alice/current2", "/h/", "proxy:a.b", "alice.example.test")
	// A segment may start with a dot ("/.well-known/"); only "." and ".."
	// segments are refused. CI's fuzzer once found the checker disagreeing.
	f.Add("alice.example.test", "/.0", "0", "/.well-known/h", "proxy:web", "bob.example.test")
	f.Fuzz(func(t *testing.T, host, prefix, dir, health, section, bobHost string) {
		in := Input{
			Policy: Policy{
				Listen: []string{"80"},
				Hosts:  []string{"{user}.example.test", "*.{user}.example.test", "*.shared.test"},
				Grants: map[string][]string{"bob": {"bob.com"}},
			},
			Users: []User{
				{Name: "alice", ProjectDir: "/home/alice/current", Routes: []Route{{
					Section: section, Hosts: []string{host, "alice.example.test"},
					Static:     []Static{{Prefix: prefix, Dir: dir}, {Prefix: "/static/", Dir: "static"}},
					HealthPath: health, Upstreams: []string{"127.0.0.1:8000"},
				}}},
				{Name: "bob", ProjectDir: "/home/bob/current", Routes: []Route{{
					Section: "proxy:web", Hosts: []string{bobHost},
					Static:    []Static{{Prefix: prefix, Dir: dir}},
					Upstreams: []string{"127.0.0.1:8100"},
				}}},
			},
		}
		conf, ws, err := Render(in)
		if err != nil {
			t.Fatalf("Render: %v", err)
		}
		if err := checkStructure(string(conf), projects(in)); err != nil {
			t.Fatalf("structure: %v\n%s", err, conf)
		}
		for _, w := range ws {
			if strings.ContainsAny(w.String(), "\n\r") {
				t.Fatalf("warning spans lines: %q", w.String())
			}
		}
		ds, _ := parseConf(string(conf))
		asked := map[string]bool{}
		for _, h := range []string{host, bobHost, "alice.example.test"} {
			asked[strings.ToLower(h)] = true
		}
		locs := map[string]bool{"/": true, health: true, "/static/": true, prefix: true, prefix + "/": true}
		for _, d := range ds {
			if d.name != "server" {
				continue
			}
			for _, s := range d.block {
				switch s.name {
				case "server_name":
					for _, a := range s.args {
						if !asked[a.text] {
							t.Fatalf("server_name %q was not asked for", a.text)
						}
					}
				case "location":
					if l := s.args[len(s.args)-1].text; !locs[l] {
						t.Fatalf("location %q was not asked for", l)
					}
				}
			}
		}
		again, _, _ := Render(in)
		if !bytes.Equal(again, conf) {
			t.Fatal("two renders of the same input differ")
		}
	})
}
