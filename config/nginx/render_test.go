package nginx

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// golden is one testdata case: NAME.in.json renders to NAME.conf with the
// warnings in NAME.warnings (one per line).
type golden struct {
	name string
	in   Input
}

func loadGoldens(t testing.TB) []golden {
	t.Helper()
	files, err := filepath.Glob("testdata/*.in.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden inputs in testdata: %v", err)
	}
	var out []golden
	for _, f := range files {
		out = append(out, golden{name: strings.TrimSuffix(filepath.Base(f), ".in.json"), in: readInput(t, f)})
	}
	return out
}

func readInput(t testing.TB, file string) Input {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var in Input
	if err := dec.Decode(&in); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	return in
}

func projects(in Input) []string {
	var p []string
	for _, u := range in.Users {
		p = append(p, u.ProjectDir)
	}
	return p
}

func warningLines(ws []Warning) string {
	var b strings.Builder
	for _, w := range ws {
		b.WriteString(w.String())
		b.WriteByte('\n')
	}
	return b.String()
}

func compareGolden(t *testing.T, file, got string) {
	t.Helper()
	if *update {
		if err := os.WriteFile(file, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s differs (-want +got; go test -update rewrites it):\n%s", file, diff)
	}
}

func TestGolden(t *testing.T) {
	for _, g := range loadGoldens(t) {
		t.Run(g.name, func(t *testing.T) {
			conf, warnings, err := Render(g.in)
			if err != nil {
				t.Fatalf("Render: %v", err)
			}
			compareGolden(t, filepath.Join("testdata", g.name+".conf"), string(conf))
			compareGolden(t, filepath.Join("testdata", g.name+".warnings"), warningLines(warnings))
			if err := checkStructure(string(conf), projects(g.in)); err != nil {
				t.Errorf("structure: %v\n%s", err, conf)
			}
		})
	}
}

// shuffled returns a deep copy of in with every list the renderer sorts put
// in a random order.
func shuffled(in Input, rng *rand.Rand) Input {
	data, _ := json.Marshal(in)
	var out Input
	_ = json.Unmarshal(data, &out)
	rng.Shuffle(len(out.Users), func(i, j int) { out.Users[i], out.Users[j] = out.Users[j], out.Users[i] })
	for ui := range out.Users {
		rs := out.Users[ui].Routes
		rng.Shuffle(len(rs), func(i, j int) { rs[i], rs[j] = rs[j], rs[i] })
		for ri := range rs {
			hs := rs[ri].Hosts
			rng.Shuffle(len(hs), func(i, j int) { hs[i], hs[j] = hs[j], hs[i] })
			st := rs[ri].Static
			rng.Shuffle(len(st), func(i, j int) { st[i], st[j] = st[j], st[i] })
		}
	}
	return out
}

// The same input renders the same bytes, whatever the order of users, routes,
// hosts and static locations: the master reloads nginx only when bytes change.
func TestDeterministic(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, g := range loadGoldens(t) {
		if g.name == "hostile" {
			// Its duplicate static prefixes keep the first one given, on purpose.
			continue
		}
		want, wantW, err := Render(g.in)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 20; i++ {
			got, gotW, err := Render(shuffled(g.in, rng))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("%s: shuffled input renders different bytes:\n%s", g.name, cmp.Diff(string(want), string(got)))
			}
			if diff := cmp.Diff(warningLines(wantW), warningLines(gotW)); diff != "" {
				t.Fatalf("%s: shuffled input gives different warnings:\n%s", g.name, diff)
			}
		}
		again, _, _ := Render(g.in)
		if !bytes.Equal(again, want) {
			t.Fatalf("%s: two renders differ", g.name)
		}
	}
}

func TestPolicyErrors(t *testing.T) {
	base := func() Policy {
		return Policy{Listen: []string{"80"}, Hosts: []string{"{user}.example.test"}}
	}
	tests := []struct {
		name   string
		edit   func(*Policy)
		errHas string
	}{
		{"no listen", func(p *Policy) { p.Listen = nil }, "listen is empty"},
		{"bad listen", func(p *Policy) { p.Listen = []string{"80; include /etc/passwd"} }, "want PORT"},
		{"port range", func(p *Policy) { p.Listen = []string{"70000"} }, "out of range"},
		{"listen twice", func(p *Policy) { p.Listen = []string{"80", "80"} }, "given twice"},
		{"listen with zone", func(p *Policy) { p.Listen = []string{"[fe80::1%eth0]:80"} }, "want PORT"},
		{"bad pattern", func(p *Policy) { p.Hosts = []string{"{user}.exa mple.test"} }, "hosts[0]"},
		{"pattern brace", func(p *Policy) { p.Hosts = []string{"{usr}.example.test"} }, "hosts[0]"},
		{"pattern inner wildcard", func(p *Policy) { p.Hosts = []string{"*{user}.example.test"} }, "whole first label"},
		{"shared pattern bad", func(p *Policy) { p.Hosts = []string{"example..test"} }, "empty label"},
		{"grant bad host", func(p *Policy) { p.Grants = map[string][]string{"alice": {"alice.com;"}} }, "grants for alice"},
		{"grant with user", func(p *Policy) { p.Grants = map[string][]string{"alice": {"{user}.com"}} }, "without {user}"},
		{"grant bad user", func(p *Policy) { p.Grants = map[string][]string{"al ice": {"alice.com"}} }, "user name"},
		{"granted twice", func(p *Policy) {
			p.Grants = map[string][]string{"alice": {"x.com"}, "bob": {"X.com"}}
		}, `"x.com" is granted to both alice and bob`},
		{"bucket", func(p *Policy) { p.ServerNamesHashBucketSize = -1 }, "server_names_hash_bucket_size"},
		{"max hash", func(p *Policy) { p.ServerNamesHashMaxSize = -5 }, "server_names_hash_max_size"},
		{"max body", func(p *Policy) { p.MaxBodySize = -1 }, "max_body_size"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := base()
			tc.edit(&p)
			_, _, err := Render(Input{Policy: p})
			if err == nil || !strings.Contains(err.Error(), tc.errHas) {
				t.Fatalf("err = %v, want one containing %q", err, tc.errHas)
			}
		})
	}
}

func TestDuplicateUserIsAnError(t *testing.T) {
	in := Input{
		Policy: Policy{Listen: []string{"80"}},
		Users:  []User{{Name: "alice"}, {Name: "alice"}},
	}
	if _, _, err := Render(in); err == nil || !strings.Contains(err.Error(), "listed twice") {
		t.Fatalf("err = %v", err)
	}
}

func TestHashLimit(t *testing.T) {
	// Measured with nginx 1.22 -t (see TestHashLimitMatchesNginx for the
	// live check): 46 characters fit the default bucket, 110 fit 128.
	for _, tc := range []struct{ bucket, want int }{{0, 46}, {64, 46}, {65, 110}, {128, 110}, {256, 238}, {512, 494}} {
		if got := hashLimit(tc.bucket); got != tc.want {
			t.Errorf("hashLimit(%d) = %d, want %d", tc.bucket, got, tc.want)
		}
	}
}

func TestUpstreamNamesAreUnique(t *testing.T) {
	in := Input{
		Policy: Policy{Listen: []string{"80"}, Hosts: []string{"*.example.test"}},
		Users: []User{{
			Name: "alice", ProjectDir: "/home/alice",
			Routes: []Route{
				{Section: "proxy:web.1", Hosts: []string{"a.example.test"}, Upstreams: []string{"127.0.0.1:8000"}},
				{Section: "proxy:web_1", Hosts: []string{"b.example.test"}, Upstreams: []string{"127.0.0.1:8001"}},
				{Section: "proxy:web-1", Hosts: []string{"c.example.test"}, Upstreams: []string{"127.0.0.1:8002"}},
			},
		}},
	}
	conf, ws, err := Render(in)
	if err != nil || len(ws) != 0 {
		t.Fatalf("err %v, warnings %v", err, ws)
	}
	for _, n := range []string{"upstream roost_alice_web_1 {", "upstream roost_alice_web_1_2 {", "upstream roost_alice_web_1_3 {"} {
		if !bytes.Contains(conf, []byte(n)) {
			t.Errorf("missing %q in\n%s", n, conf)
		}
	}
	if err := checkStructure(string(conf), projects(in)); err != nil {
		t.Error(err)
	}
}

func TestBlame(t *testing.T) {
	in := readInput(t, "testdata/basic.in.json")
	conf, _, err := Render(in)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(conf), "\n")
	find := func(s string) int {
		for i, l := range lines {
			if strings.Contains(l, s) {
				return i + 1
			}
		}
		t.Fatalf("%q not in output", s)
		return 0
	}
	for _, tc := range []struct {
		line          int
		user, section string
		ok            bool
	}{
		{1, "", "", false},
		{find("return 421"), "", "", false},
		{find("server 127.0.0.1:8001"), "alice", "proxy:web", true},
		{find(`alias "/home/alice/current/static/"`), "alice", "proxy:web", true},
		{find("server 127.0.0.1:8100"), "bob", "proxy:web", true},
		{len(lines) + 5, "", "", false},
	} {
		u, s, ok := Blame(conf, tc.line)
		if u != tc.user || s != tc.section || ok != tc.ok {
			t.Errorf("Blame(line %d) = %q %q %v, want %q %q %v", tc.line, u, s, ok, tc.user, tc.section, tc.ok)
		}
	}
}

// The ownership index finds exactly the conflicts a scan of every user's
// rights finds, on random small namespaces where overlaps are frequent.
func TestOwnerIndexMatchesScan(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	name := func() string {
		labels := []string{"a", "b", "c"}
		n := 1 + rng.IntN(3)
		s := "t"
		for i := 0; i < n; i++ {
			s = labels[rng.IntN(len(labels))] + "." + s
		}
		if rng.IntN(3) == 0 {
			s = "*." + s
		}
		return s
	}
	rights := []strength{granted, own, shared}
	users := []string{"u1", "u2", "u3"}
	for iter := 0; iter < 3000; iter++ {
		rd := &renderer{ns: map[string][]pattern{}, nsUsers: users}
		for _, u := range users {
			for i := rng.IntN(4); i > 0; i-- {
				rd.ns[u] = append(rd.ns[u], newPattern(name(), rights[rng.IntN(3)], "p"))
			}
		}
		rd.buildIndex()
		for i := 0; i < 10; i++ {
			user := users[rng.IntN(3)]
			c := &claim{pat: newPattern(name(), noRight, "c"), right: rights[rng.IntN(3)]}
			_, _, got := rd.strongerOwner(user, c)
			want := false
			for _, other := range users {
				for _, p := range rd.ns[other] {
					if other != user && p.right.stronger(c.right) && p.overlaps(c.pat) {
						want = true
					}
				}
			}
			if got != want {
				t.Fatalf("claim %s (%v) by %s: index says %v, scan says %v; namespaces %v", c.pat, c.right, user, got, want, rd.ns)
			}
		}
	}
}

// Served reads back the routes Render accepted, and CheckPolicy is the
// error Render gives for a bad policy.
func TestServedAndCheckPolicy(t *testing.T) {
	in := readInput(t, "testdata/ownership.in.json")
	conf, ws, err := Render(in)
	if err != nil {
		t.Fatal(err)
	}
	served := map[[2]string]bool{}
	for _, r := range Served(conf) {
		served[[2]string{r.User, r.Section}] = true
		if len(r.Upstreams) == 0 {
			t.Errorf("%s [%s]: no upstreams read back", r.User, r.Section)
		}
	}
	total := 0
	for _, u := range in.Users {
		for _, r := range u.Routes {
			total++
			left := false
			for _, w := range ws {
				left = left || (w.User == u.Name && w.Section == r.Section && strings.Contains(w.Message, "route is left out"))
			}
			if served[[2]string{u.Name, r.Section}] == left {
				t.Errorf("%s [%s]: served %v, left out %v", u.Name, r.Section, served[[2]string{u.Name, r.Section}], left)
			}
		}
	}
	if len(served) == 0 || len(served) == total {
		t.Errorf("the ownership golden should serve some routes and refuse others: %d of %d", len(served), total)
	}
	basic, _, _ := Render(readInput(t, "testdata/basic.in.json"))
	if got := fmt.Sprint(Served(basic)); got != "[{alice proxy:web [127.0.0.1:8000 127.0.0.1:8001]} {bob proxy:web [127.0.0.1:8100]}]" {
		t.Errorf("Served(basic) = %s", got)
	}
	if err := CheckPolicy(in.Policy); err != nil {
		t.Errorf("CheckPolicy: %v", err)
	}
	bad := in.Policy
	bad.Listen = []string{"80; include /etc/passwd"}
	_, _, rerr := Render(Input{Policy: bad})
	if err := CheckPolicy(bad); err == nil || rerr == nil || err.Error() != rerr.Error() {
		t.Errorf("CheckPolicy %v, Render %v", err, rerr)
	}
}

func TestRouteTexts(t *testing.T) {
	in := Input{Policy: Policy{Listen: []string{"80"}, Hosts: []string{"{user}.example.test", "*.{user}.example.test"}},
		Users: []User{{Name: "alice", ProjectDir: "/home/alice/app", Ports: PortRange{First: 20000, Last: 20009},
			Routes: []Route{
				{Section: "proxy:web", Program: "web", Hosts: []string{"alice.example.test"}, Upstreams: []string{"127.0.0.1:20000"}},
				{Section: "proxy:api", Program: "api", Hosts: []string{"api.alice.example.test"}, Upstreams: []string{"127.0.0.1:20001"}},
			}}}}
	conf, _, err := Render(in)
	if err != nil {
		t.Fatal(err)
	}
	in.Users[0].Routes[1].Hosts = []string{"v2.alice.example.test"}
	conf2, _, err := Render(in)
	if err != nil {
		t.Fatal(err)
	}
	a, b := RouteTexts(conf), RouteTexts(conf2)
	web, api := RouteKey{"alice", "proxy:web"}, RouteKey{"alice", "proxy:api"}
	if len(a) != 2 || a[web] == "" || a[web] != b[web] || a[api] == b[api] {
		t.Errorf("route texts:\n%q\n%q", a, b)
	}
	if !strings.Contains(b[api], `"v2.alice.example.test"`) || strings.Contains(a[web], "api") {
		t.Errorf("a route's text holds another's: %q", a)
	}
}
