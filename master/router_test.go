package master

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"roost/config"
	"roost/internal/testutil"
	"roost/supervisor/api"
)

// The router against helper supervisors that answer GET /api/v1/proxy with
// whatever the test wrote: hostile input, nginx -t failures, the rollback,
// and unchanged bytes. nginx itself is in proxy_e2e_test.go; here the
// test and reload commands are shell scripts.

// proxyEnv is a master whose users' supervisors serve fake routes.
type proxyEnv struct {
	*env
	base    int    // the first port of the range
	nginx   string // the directory of the output
	output  string
	reloads string // a file reload_command appends a line to
}

// freeRange finds 100 free ports for the users' blocks, below the
// ephemeral range (32768 and up), where a client's port would keep a
// restarted app from binding its own; and away from the 20000s, which the
// other master tests' default blocks use.
func freeRange(t *testing.T) int {
	t.Helper()
	for try := 0; try < 100; try++ {
		base := 10000 + 100*rand.IntN(100)
		ok := true
		for p := base; p < base+100 && ok; p++ {
			ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
			if err != nil {
				ok = false
				continue
			}
			ln.Close()
		}
		if ok {
			return base
		}
	}
	t.Fatal("no free port range")
	return 0
}

// newProxyEnv prepares the users' fake route files and roost.toml with
// test_command (a shell script), a reload_command that counts, and the
// host patterns hosts (TOML strings).
func newProxyEnv(t *testing.T, testScript, hosts string, users ...string) *proxyEnv {
	t.Helper()
	e := &proxyEnv{env: newEnv(t, users...)}
	e.base = freeRange(t)
	e.nginx = filepath.Join(e.dir, "nginx")
	if err := os.Mkdir(e.nginx, 0o755); err != nil {
		t.Fatal(err)
	}
	e.output = filepath.Join(e.nginx, "roost.conf")
	e.reloads = filepath.Join(e.dir, "reloads")
	var names []string
	for _, a := range e.users {
		names = append(names, a.Name)
		e.script(a, e.project, "proxy "+e.routesFile(a))
		e.setRoutes(a, api.ProxyInfo{})
	}
	testScript = strings.ReplaceAll(testScript, "OUTPUT", e.output)
	e.writeConf(names, fmt.Sprintf(`[ports]
range = "%d-%d"
per_user = 10
[proxy]
enabled = true
listen = "127.0.0.1:18080"
output = %q
test_command = ["/bin/sh", "-c", %q]
reload_command = ["/bin/sh", "-c", "echo reload >> %s"]
hosts = [%s]
`, e.base, e.base+99, e.output, testScript, e.reloads, hosts))
	return e
}

func (e *proxyEnv) routesFile(a testutil.Account) string {
	return filepath.Join(e.dir, a.Name+".routes.json")
}

// setRoutes writes what a user's supervisor answers.
func (e *proxyEnv) setRoutes(a testutil.Account, info api.ProxyInfo) {
	e.t.Helper()
	data, _ := json.Marshal(info)
	tmp := e.routesFile(a) + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		e.t.Fatal(err)
	}
	if err := os.Rename(tmp, e.routesFile(a)); err != nil {
		e.t.Fatal(err)
	}
}

// block returns the first port of a user's block (users get blocks in
// order from the range's start).
func (e *proxyEnv) block(i int) int { return e.base + 10*i }

func (e *proxyEnv) projectDir(a testutil.Account) string { return filepath.Join(a.Home, e.project) }

// verdict reads what the master posted to a user's supervisor.
func (e *proxyEnv) verdict(a testutil.Account) (api.ProxyStatus, bool) {
	data, err := os.ReadFile(filepath.Join(e.runDir, "users", a.Name, "verdict.json"))
	if err != nil {
		return api.ProxyStatus{}, false
	}
	var st api.ProxyStatus
	return st, json.Unmarshal(data, &st) == nil
}

func (e *proxyEnv) waitVerdict(a testutil.Account, what string, cond func(api.ProxyStatus) bool) api.ProxyStatus {
	e.t.Helper()
	var st api.ProxyStatus
	testutil.Eventually(e.t, 30*time.Second, a.Name+"'s verdict: "+what, func() bool {
		var ok bool
		st, ok = e.verdict(a)
		return ok && cond(st)
	})
	return st
}

func routeStatus(st api.ProxyStatus, section string) api.ProxyRouteStatus {
	for _, r := range st.Routes {
		if r.Section == section {
			return r
		}
	}
	return api.ProxyRouteStatus{Section: section + " (missing)"}
}

func (e *proxyEnv) reloadCount() int {
	data, _ := os.ReadFile(e.reloads)
	return strings.Count(string(data), "reload")
}

// Everything a user's supervisor says is hostile: injection in every
// field, another user's host, an upstream outside the block or on another
// machine, a static directory outside the project, a port another uid
// listens on. The master routes what is valid and nothing else, and tells
// each user why.
func TestRouterHostileSupervisor(t *testing.T) {
	// "*.example.test" lets anyone claim any name there, but a user's own
	// {user} names are theirs.
	e := newProxyEnv(t, "exit 0", `"{user}.example.test", "*.{user}.example.test", "*.example.test"`, testutil.UserA, testutil.UserB)
	alice, bob := e.users[0], e.users[1]
	aliceHost := alice.Name + ".example.test"
	// Root holds a port of bob's block.
	squat, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", e.block(1)+1))
	if err != nil {
		t.Fatal(err)
	}
	defer squat.Close()
	hostile := []string{
		"x." + aliceHost + "; } server { listen 80; root /etc; } #",
		"x." + aliceHost + "\n    include /etc/passwd;",
		`x"` + aliceHost,
		"$host",
		"ünïcode." + aliceHost,
		strings.Repeat("a", 64) + "." + aliceHost,
	}
	e.setRoutes(alice, api.ProxyInfo{Routes: []api.ProxyRoute{
		{Section: "proxy:web", Program: "web", Hosts: []string{aliceHost},
			Static:    []api.ProxyStatic{{Prefix: "/static/", Dir: filepath.Join(e.projectDir(alice), "static")}},
			Upstreams: []string{fmt.Sprintf("127.0.0.1:%d", e.block(0))}},
		{Section: "proxy:evil", Program: "web", Hosts: append(hostile, "evil."+aliceHost),
			Pos: config.Pos{File: "supervisord.conf\n[emerg] forged", Line: 3},
			Static: []api.ProxyStatic{
				{Prefix: "/etc/", Dir: "/etc"},
				{Prefix: "/up/", Dir: filepath.Join(e.projectDir(alice), "..", "..")},
				{Prefix: "/semi;colon/", Dir: filepath.Join(e.projectDir(alice), "s")},
				{Prefix: "/q/", Dir: filepath.Join(e.projectDir(alice), `q"; alias /etc`)},
			},
			HealthPath: "/h; return 200",
			Upstreams: []string{"10.0.0.1:80", fmt.Sprintf("127.0.0.1:%d", e.block(1)), "127.0.0.1:80; server 10.0.0.1",
				fmt.Sprintf("127.0.0.1:%d", e.block(0)+1)}},
	}})
	e.setRoutes(bob, api.ProxyInfo{Routes: []api.ProxyRoute{
		{Section: "proxy:steal", Program: "web", Hosts: []string{aliceHost, "www." + aliceHost},
			Upstreams: []string{fmt.Sprintf("127.0.0.1:%d", e.block(1))}},
		{Section: "proxy:web", Program: "web", Hosts: []string{bob.Name + ".example.test"},
			Upstreams: []string{fmt.Sprintf("127.0.0.1:%d", e.block(1)+1)}},
		{Section: "proxy:shop", Program: "shop", Hosts: []string{"shop." + bob.Name + ".example.test"},
			Upstreams: []string{fmt.Sprintf("127.0.0.1:%d", e.block(1)+2)}},
	}})
	e.start()

	av := e.waitVerdict(alice, "web served", func(st api.ProxyStatus) bool { return routeStatus(st, "proxy:web").Served })
	bv := e.waitVerdict(bob, "shop served", func(st api.ProxyStatus) bool { return routeStatus(st, "proxy:shop").Served })
	conf, err := os.ReadFile(e.output)
	if err != nil {
		t.Fatal(err)
	}
	text := string(conf)
	for _, bad := range []string{"root /etc", "include /etc/passwd", "10.0.0.1", "return 200", `alias /etc`, "\"/etc/\"", "ünïcode",
		"[emerg]", "section=proxy:steal", "listen 80;", "$host\""} {
		if strings.Contains(text, bad) {
			t.Errorf("%q reached the nginx configuration:\n%s", bad, text)
		}
	}
	if strings.Count(text, `server_name "`+aliceHost+`"`) != 1 || !strings.Contains(text, `server_name "evil.`+aliceHost+`"`) ||
		!strings.Contains(text, "disable_symlinks if_not_owner") {
		t.Errorf("the valid parts are not routed:\n%s", text)
	}

	evil := routeStatus(av, "proxy:evil")
	problems := strings.Join(evil.Problems, "\n")
	for _, want := range []string{"character ';'", "10.0.0.1:80", "outside the user's port block", "/etc", "is not inside the project", "health"} {
		if !strings.Contains(problems, want) {
			t.Errorf("alice is not told about %q; problems:\n%s", want, problems)
		}
	}
	if !evil.Served || len(evil.Upstreams) != 1 || evil.Upstreams[0] != fmt.Sprintf("127.0.0.1:%d", e.block(0)+1) {
		t.Errorf("alice's evil route keeps its one valid upstream and host: %+v", evil)
	}
	steal := routeStatus(bv, "proxy:steal")
	if steal.Served || !strings.Contains(strings.Join(steal.Problems, "\n"), "belongs to "+alice.Name) {
		t.Errorf("bob's claim of alice's host: %+v", steal)
	}
	web := routeStatus(bv, "proxy:web")
	if web.Served || !strings.Contains(strings.Join(web.Problems, "\n"), "belongs to uid 0 (root), not to "+bob.Name) {
		t.Errorf("bob's route to a port root holds: %+v", web)
	}
	// The admin sees the same, per user.
	for _, st := range e.m.Users(t.Context()) {
		want := map[string][2]int{alice.Name: {2, 2}, bob.Name: {1, 3}}[st.Name]
		if st.RoutesServed != want[0] || st.Routes != want[1] || len(st.ProxyProblems) == 0 {
			t.Errorf("admin users: %s routes %d/%d problems %v", st.Name, st.RoutesServed, st.Routes, st.ProxyProblems)
		}
	}
	if got := e.m.router.status.Load(); got.Config != text || got.Error != "" || len(got.Warnings) == 0 {
		t.Errorf("nginx status: %+v", got)
	}
	if strings.Contains(e.logs.String(), "[emerg] forged") {
		t.Errorf("a forged position reached the master's log:\n%s", e.logs.String())
	}
}

// nginx -t fails on a line of bob's: bob's routes are left out, the file is
// installed without them, alice stays routed, and both bob and the admin
// are told which section broke it. Once bob's routes change they are tried
// again. A render that gives the same bytes reloads nothing.
func TestRouterTestFailureBlamesUser(t *testing.T) {
	// The "nginx -t" refuses any file holding a route of bob's web section,
	// naming the line of its marker, as nginx names the line it chokes on.
	script := `line=$(grep -n 'user=` + testutil.UserB + ` section=proxy:web$' OUTPUT | head -1 | cut -d: -f1); if [ -n "$line" ]; then echo "nginx: [emerg] duplicate upstream \"x\" in OUTPUT:$line" >&2; exit 1; fi`
	e := newProxyEnv(t, script, `"{user}.example.test"`, testutil.UserA, testutil.UserB)
	alice, bob := e.users[0], e.users[1]
	route := func(a testutil.Account, i int, section string) api.ProxyInfo {
		return api.ProxyInfo{Routes: []api.ProxyRoute{{Section: section, Program: "web",
			Hosts: []string{a.Name + ".example.test"}, Upstreams: []string{fmt.Sprintf("127.0.0.1:%d", e.block(i))}}}}
	}
	e.setRoutes(alice, route(alice, 0, "proxy:web"))
	e.setRoutes(bob, route(bob, 1, "proxy:web"))
	e.start()
	bv := e.waitVerdict(bob, "the failure", func(st api.ProxyStatus) bool { return st.Error != "" })
	if !strings.Contains(bv.Error, "nginx -t failed on [proxy:web]") || !strings.Contains(bv.Error, "duplicate upstream") ||
		routeStatus(bv, "proxy:web").Served {
		t.Errorf("bob's verdict: %+v", bv)
	}
	e.waitVerdict(alice, "served", func(st api.ProxyStatus) bool { return routeStatus(st, "proxy:web").Served })
	conf, _ := os.ReadFile(e.output)
	if !strings.Contains(string(conf), "user="+alice.Name) || strings.Contains(string(conf), "user="+bob.Name) {
		t.Errorf("installed:\n%s", conf)
	}
	if !strings.Contains(e.logs.String(), "nginx -t failed on a user's route") || !strings.Contains(e.logs.String(), "user="+bob.Name) {
		t.Errorf("the master's log does not name bob:\n%s", e.logs.String())
	}
	for _, st := range e.m.Users(t.Context()) {
		if st.Name == bob.Name && !strings.Contains(strings.Join(st.ProxyProblems, " "), "nginx -t failed on [proxy:web]") {
			t.Errorf("admin users, bob: %+v", st)
		}
	}
	// One reload per file installed; the candidate that failed was not.
	reloads := e.reloadCount()
	if installs := strings.Count(e.logs.String(), "nginx configuration installed and nginx reloaded"); reloads != installs {
		t.Errorf("%d reloads for %d installations", reloads, installs)
	}

	// The same bytes again: no install, no reload.
	inode := inodeOf(t, e.output)
	n := e.m.router.renders.Load()
	e.m.router.kick()
	testutil.Eventually(t, 10*time.Second, "a render", func() bool { return e.m.router.renders.Load() > n })
	if e.reloadCount() != reloads || inodeOf(t, e.output) != inode {
		t.Errorf("an unchanged render was installed again")
	}

	// bob renames his section: tried again (and refused by this nginx only
	// when it is proxy:web).
	e.setRoutes(bob, route(bob, 1, "proxy:site"))
	restartSupervisor(t, e.env, bob.Name)
	e.waitVerdict(bob, "served after the change", func(st api.ProxyStatus) bool {
		return st.Error == "" && routeStatus(st, "proxy:site").Served
	})
	if e.reloadCount() != reloads+1 {
		t.Errorf("%d reloads, want %d", e.reloadCount(), reloads+1)
	}
	// The metrics count each install that reached a reload.
	if applied, failed := e.m.NginxApplies(); applied != int64(e.reloadCount()) || failed != 0 {
		t.Errorf("metrics: %d applies, %d failures; want %d and 0", applied, failed, e.reloadCount())
	}
}

// restartSupervisor restarts a user's (helper) supervisor: a new pid, so
// the master reads its routes afresh.
func restartSupervisor(t *testing.T, e *env, name string) {
	t.Helper()
	old, _ := e.status(name)
	if err := e.m.RestartUser(t.Context(), name); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 20*time.Second, name+" restarted", func() bool {
		st, _ := e.status(name)
		return st.State == UserRunning && st.PID != old.PID
	})
}

func inodeOf(t *testing.T, path string) uint64 {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return st.Sys().(*syscall.Stat_t).Ino
}

// A test failure no user can be blamed for leaves the previous file in
// place, the very same inode, and nginx is not reloaded.
func TestRouterRollback(t *testing.T) {
	e := newProxyEnv(t, `echo "nginx: [emerg] something in /etc/nginx/nginx.conf:3" >&2; exit 1`, `"{user}.example.test"`, testutil.UserA)
	a := e.users[0]
	const old = "# the file before roost\n"
	if err := os.WriteFile(e.output, []byte(old), 0o644); err != nil {
		t.Fatal(err)
	}
	inode := inodeOf(t, e.output)
	e.setRoutes(a, api.ProxyInfo{Routes: []api.ProxyRoute{{Section: "proxy:web", Program: "web",
		Hosts: []string{a.Name + ".example.test"}, Upstreams: []string{fmt.Sprintf("127.0.0.1:%d", e.block(0))}}}})
	e.start()
	testutil.Eventually(t, 30*time.Second, "the failed installation", func() bool { return e.m.router.status.Load().Error != "" })
	st := e.m.router.status.Load()
	if !strings.Contains(st.Error, "no user's route is to blame") || !strings.Contains(st.Error, "[emerg] something") {
		t.Errorf("status error: %q", st.Error)
	}
	got, _ := os.ReadFile(e.output)
	if string(got) != old || inodeOf(t, e.output) != inode {
		t.Errorf("the previous file was not restored exactly: %q", got)
	}
	if e.reloadCount() != 0 {
		t.Errorf("nginx was reloaded after a failed test")
	}
	if applied, failed := e.m.NginxApplies(); applied != 0 || failed < 1 {
		t.Errorf("metrics: %d applies, %d failures; want 0 and at least 1", applied, failed)
	}
	ents, _ := os.ReadDir(e.nginx)
	if len(ents) != 1 {
		t.Errorf("leftovers beside the output: %v", ents)
	}
	if v, ok := e.verdict(a); ok && routeStatus(v, "proxy:web").Served {
		t.Errorf("alice is told her route is served: %+v", v)
	}
}

// roost.toml's [proxy] policy is checked when the file is loaded (and by
// roost master --check), with the file:line of the table.
func TestCheckConfigProxyPolicy(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct{ body, want string }{
		{"[proxy]\nenabled = true\nlisten = \"80; include /etc/passwd\"\n", "roost.toml:1: [proxy] listen"},
		{"[proxy]\nhosts = [\"{user}.example.test;\"]\n", "roost.toml:1: [proxy] hosts[0]"},
		{"[proxy]\n[user.alice]\nhosts = [\"a.test\"]\n[user.bob]\nhosts = [\"a.test\"]\n", "granted to both alice and bob"},
	} {
		f := filepath.Join(dir, "roost.toml")
		if err := os.WriteFile(f, []byte(c.body), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := CheckConfig(f)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: %v, want %q", c.body, err, c.want)
		}
	}
	f := filepath.Join(dir, "roost.toml")
	os.WriteFile(f, []byte("[proxy]\nenabled = true\nhosts = [\"{user}.example.test\"]\n"), 0o644)
	if _, err := CheckConfig(f); err != nil {
		t.Errorf("a valid [proxy]: %v", err)
	}
}
