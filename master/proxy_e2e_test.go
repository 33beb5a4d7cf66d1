package master

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"roost/internal/procfs"
	"roost/internal/testutil"
	"roost/supervisor/api"
)

// The acceptance test of HTTP routing: the real roost master and real
// `roost run --managed` supervisors for roost-alice and roost-bob, a small
// HTTP app for each (this test binary, re-executed), and the real nginx,
// started here on loopback with its own prefix, main configuration, pid
// and temp paths, running as root with workers as nobody.

// serveHTTP is the app: "serve-http" mode of the test binary. It answers
// every request with its user, process name and pid, /healthz with "ok",
// and on SIGTERM stops listening and finishes what is in flight.
func serveHTTP() int {
	term := make(chan os.Signal, 1)
	signal.Notify(term, syscall.SIGTERM)
	who := fmt.Sprintf("user=%s proc=%s pid=%d", os.Getenv("USER"), os.Getenv("SUPERVISOR_PROCESS_NAME"), os.Getpid())
	err := testutil.ServeApp(term, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" {
			fmt.Fprintln(w, "ok")
			return
		}
		fmt.Fprintf(w, "%s host=%s path=%s\n", who, r.Host, r.URL.Path)
	}))
	if err != nil {
		fmt.Fprintln(os.Stderr, "serve-http:", err)
		return 1
	}
	return 0
}

// testNginx is nginx run by the test.
type testNginx struct {
	bin, dir, conf, admin string
	port                  int
	proc                  *child
	out                   *tailBuffer
}

// processes lists nginx's master and workers, with their start ticks.
func (n *testNginx) processes() string {
	ps, err := procfs.Descendants(n.proc.pid, nil)
	if err != nil {
		return err.Error()
	}
	var b strings.Builder
	fmt.Fprintf(&b, "master %d", n.proc.pid)
	for _, p := range ps {
		fmt.Fprintf(&b, "; pid %d ppid %d start %d", p.PID, p.PPID, p.Start)
	}
	return b.String()
}

// waitOneWorker waits until nginx runs only the worker of its last reload
// (worker_processes 1): the workers of earlier reloads have exited.
func (n *testNginx) waitOneWorker(t *testing.T) {
	t.Helper()
	testutil.Eventually(t, 30*time.Second, "nginx's old workers to exit", func() bool {
		ps, err := procfs.Descendants(n.proc.pid, nil)
		return err == nil && len(ps) == 1
	})
}

// accessFailures returns up to max lines of nginx's access log, logged
// since then, whose status is not 200: with the worker's pid and the
// server that answered.
func (n *testNginx) accessFailures(since time.Time, max int) string {
	b, err := os.ReadFile(filepath.Join(n.dir, "access.log"))
	if err != nil {
		return err.Error()
	}
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) < 3 || f[2] == "200" || len(out) == max {
			continue
		}
		if sec, err := strconv.ParseFloat(f[0], 64); err == nil && sec >= float64(since.UnixMilli())/1000 {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// nginxArgs are the flags that point nginx at the test's prefix.
func (n *testNginx) args(extra ...string) []string {
	return append([]string{n.bin, "-p", n.dir, "-c", n.conf, "-e", filepath.Join(n.dir, "error.log")}, extra...)
}

// startNginx writes the main configuration (including conf.d/*.conf, where
// the master writes, and admin.conf, the admin's own additions) and runs
// nginx in the foreground.
func startNginx(t *testing.T, dir string, port int) *testNginx {
	t.Helper()
	n := &testNginx{bin: testutil.Nginx(t), dir: dir, admin: filepath.Join(dir, "admin.conf"), port: port, out: newTailBuffer(64 << 10)}
	if err := os.MkdirAll(filepath.Join(dir, "conf.d"), 0o755); err != nil {
		t.Fatal(err)
	}
	n.conf = testutil.NginxMain(t, dir, "user nobody nogroup;\ndaemon off;\nworker_processes 1;",
		"    include "+n.admin+";\n    include "+filepath.Join(dir, "conf.d", "*.conf")+";")
	if err := os.WriteFile(n.admin, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	n.launch(t)
	t.Cleanup(func() {
		n.halt(syscall.SIGQUIT)
		if t.Failed() {
			log, _ := os.ReadFile(filepath.Join(dir, "error.log"))
			t.Logf("nginx output:\n%s\nerror.log (tail):\n%s", n.out.Bytes(), tail(string(log), 4000))
		}
	})
	return n
}

// launch runs nginx in the foreground, in its own process group.
func (n *testNginx) launch(t *testing.T) {
	t.Helper()
	args := n.args()
	cmd := &exec.Cmd{Path: args[0], Args: args, Env: []string{"PATH=/usr/sbin:/usr/bin:/bin"},
		SysProcAttr: &syscall.SysProcAttr{Setpgid: true}}
	n.proc = spawnLogged(t, cmd, n.out, nil)
}

// halt stops nginx: sig to its master (SIGQUIT: graceful), or SIGKILL to
// the whole group (master and workers: nginx killed), and waits for it.
func (n *testNginx) halt(sig syscall.Signal) {
	c := n.proc
	if c == nil {
		return
	}
	n.proc = nil
	c.signal(sig, sig == syscall.SIGKILL)
	done := make(chan struct{})
	go func() { c.wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		c.signal(syscall.SIGKILL, true)
		<-done
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// client sends requests to nginx with any Host header.
func (n *testNginx) client(conns int) *http.Client {
	addr := fmt.Sprintf("127.0.0.1:%d", n.port)
	return &http.Client{
		Timeout: 20 * time.Second,
		Transport: &http.Transport{
			MaxIdleConnsPerHost: conns,
			DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				return (&net.Dialer{}).DialContext(ctx, "tcp", addr)
			},
		},
	}
}

func get(c *http.Client, host, path string) (int, string, error) {
	resp, err := c.Get("http://" + host + path)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// waitGet polls nginx (tests only) until a request answers as cond wants.
func waitGet(t *testing.T, c *http.Client, host, path, what string, cond func(int, string) bool) string {
	t.Helper()
	var code int
	var body string
	var err error
	testutil.Eventually(t, 30*time.Second, what, func() bool {
		code, body, err = get(c, host, path)
		return err == nil && cond(code, body)
	})
	return body
}

// userProxy is `roost --user NAME proxy --json`, as root.
func (x *e2e) userProxy(t *testing.T, name string) api.ProxyInfo {
	t.Helper()
	info, err := x.tryProxy(t, name)
	if err != nil {
		t.Fatal(err)
	}
	return info
}

func (x *e2e) tryProxy(t *testing.T, name string) (api.ProxyInfo, error) {
	t.Helper()
	out, code := x.roost(t, "--user", name, "proxy", "--json")
	var info api.ProxyInfo
	if code != 0 || json.Unmarshal([]byte(out), &info) != nil {
		return info, fmt.Errorf("roost --user %s proxy --json: exit %d\n%s", name, code, out)
	}
	return info, nil
}

// waitProxy polls `roost --user NAME proxy --json` until cond holds (the
// supervisor may not be up yet at first).
func (x *e2e) waitProxy(t *testing.T, name, what string, cond func(api.ProxyInfo) bool) api.ProxyInfo {
	t.Helper()
	var info api.ProxyInfo
	var err error
	testutil.Eventually(t, 30*time.Second, name+": "+what, func() bool {
		info, err = x.tryProxy(t, name)
		return err == nil && cond(info)
	})
	return info
}

func served(info api.ProxyInfo, section string) bool {
	if info.Status == nil {
		return false
	}
	for _, r := range info.Status.Routes {
		if r.Section == section {
			return r.Served
		}
	}
	return false
}

// writeOwnedFile writes a file of the user's project, as the user owns it.
func writeOwnedFile(t *testing.T, a testutil.Account, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	os.Chown(filepath.Dir(path), a.UID, a.GID)
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	os.Chown(path, a.UID, a.GID)
}

func TestE2EProxy(t *testing.T) {
	e := newEnv(t, testutil.UserA, testutil.UserB)
	alice, bob := e.users[0], e.users[1]
	for _, a := range e.users {
		if st, err := os.Stat(a.Home); err != nil || st.Mode().Perm()&0o001 == 0 {
			t.Fatalf("%s's home %s must be traversable by nginx's workers (o+x; scripts/setup-test-env): %v %v", a.Name, a.Home, st.Mode(), err)
		}
	}
	base := freeRange(t)
	ngPort := base + 99
	n := startNginx(t, filepath.Join(e.dir, "nginx"), ngPort)
	aliceHost, bobHost := alice.Name+".example.test", bob.Name+".example.test"

	aliceDir := filepath.Join(alice.Home, e.project)
	e.writeProject(alice, fmt.Sprintf(`[supervisord]
[program:web]
command=%s serve-http
process_name=web_%%(process_num)d
numprocs=2
stopwaitsecs=10
[proxy:web]
hosts = %s, www.%s
static = /static/ = static/
health_path = /healthz
`, helperExe, aliceHost, aliceHost))
	writeOwnedFile(t, alice, filepath.Join(aliceDir, "static", "hello.txt"), "hello from alice's static files\n")
	passwd := filepath.Join(aliceDir, "static", "passwd")
	if err := os.Symlink("/etc/passwd", passwd); err != nil {
		t.Fatal(err)
	}
	os.Lchown(passwd, alice.UID, alice.GID)
	bobConf := fmt.Sprintf(`[supervisord]
[program:web]
command=%s serve-http
[proxy:web]
hosts = %s
[proxy:steal]
program = web
hosts = %s
`, helperExe, bobHost, aliceHost)
	e.writeProject(bob, bobConf)
	e.writeConf([]string{alice.Name, bob.Name}, n.proxyConf(base, nil, ""))
	x := startMaster(t, e)
	c := n.client(8)

	// Both users' routes are served: each Host reaches its user's app.
	x.waitProxy(t, alice.Name, "web served", func(i api.ProxyInfo) bool { return served(i, "proxy:web") })
	x.waitProxy(t, bob.Name, "web served", func(i api.ProxyInfo) bool { return served(i, "proxy:web") })
	seen := map[string]bool{}
	waitGet(t, c, aliceHost, "/", "both of alice's processes through nginx", func(code int, body string) bool {
		if code == 200 && strings.HasPrefix(body, "user="+alice.Name+" proc=web_") {
			seen[strings.Fields(body)[1]] = true
		}
		return len(seen) == 2
	})
	for host, want := range map[string]string{
		"www." + aliceHost: "user=" + alice.Name + " ", bobHost: "user=" + bob.Name + " proc=web ",
	} {
		waitGet(t, c, host, "/x", host, func(code int, body string) bool { return code == 200 && strings.HasPrefix(body, want) })
	}
	for _, host := range []string{"unknown.example.test", "sub." + aliceHost, "example.test"} {
		if code, body, err := get(c, host, "/"); err != nil || code != 421 || strings.Contains(body, "user=") {
			t.Errorf("%s: %d %q %v", host, code, body, err)
		}
	}

	// Static files are served by nginx; a symlink out of the directory is not.
	if code, body, _ := get(c, aliceHost, "/static/hello.txt"); code != 200 || body != "hello from alice's static files\n" {
		t.Errorf("static file: %d %q", code, body)
	}
	if code, body, _ := get(c, aliceHost, "/static/passwd"); code == 200 || strings.Contains(body, "root:") {
		t.Errorf("the symlink to /etc/passwd was served: %d %q", code, body)
	}

	// Bob's claim of alice's host never reaches the file; he is told why.
	conf, _ := os.ReadFile(filepath.Join(n.dir, "conf.d", "roost.conf"))
	if strings.Contains(string(conf), "section=proxy:steal") || strings.Count(string(conf), `"`+aliceHost+`"`) != 1 {
		t.Errorf("bob's claim reached the file:\n%s", conf)
	}
	bi := x.userProxy(t, bob.Name)
	if served(bi, "proxy:steal") || !strings.Contains(fmt.Sprint(bi.Status), "is not among the hosts the admin allows "+bob.Name) {
		t.Errorf("bob's verdict on his claim: %+v", bi.Status)
	}
	out, code := x.roost(t, "--user", bob.Name, "proxy")
	if code != 0 || !strings.Contains(out, "proxy:steal") || !strings.Contains(out, "rejected") {
		t.Errorf("roost proxy as bob: exit %d\n%s", code, out)
	}

	// An injection attempt: bob's own supervisor refuses the file, and
	// keeps its configuration; nothing reaches nginx.
	e.writeProject(bob, bobConf+"[proxy:evil]\nprogram = web\nhosts = evil."+bobHost+";} server { listen 80; root /etc; }\n")
	bobLog := filepath.Join(bob.Home, "log", "roost.log")
	testutil.Eventually(t, 20*time.Second, "bob's supervisor to refuse the injection", func() bool {
		b, _ := os.ReadFile(bobLog)
		return strings.Contains(string(b), "[proxy:evil] hosts")
	})
	out, _ = x.roost(t, "admin", "nginx", "--check")
	conf, _ = os.ReadFile(filepath.Join(n.dir, "conf.d", "roost.conf"))
	for _, s := range []string{string(conf), out} {
		if strings.Contains(s, "evil") || strings.Contains(s, "root /etc") {
			t.Errorf("the injection reached nginx's configuration:\n%s", s)
		}
	}
	e.writeProject(bob, bobConf)

	// A rolling restart under a loop of requests: no failed response.
	// First, no worker of an earlier reload may still be serving (an old
	// worker finishes the connections it accepted with the configuration
	// it was started with): the loop measures the restart, not a reload.
	n.waitOneWorker(t)
	c = n.client(8) // and no connection accepted before it is reused
	rolled := make(chan string, 1)
	var done atomic.Bool
	var rolledAt atomic.Int64
	go func() {
		sock := filepath.Join(e.runDir, "users", alice.Name, SocketName)
		out, code := exitOf(t, asUser(alice, x.bin, "-s", sock, "restart", "--rolling", "web"))
		rolledAt.Store(time.Now().UnixNano())
		rolled <- fmt.Sprintf("exit %d\n%s", code, out)
		done.Store(true)
	}()
	loopStart := time.Now()
	var count, failed atomic.Int64
	var mu sync.Mutex
	var failures []string
	pids := map[string]bool{}
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for count.Add(1) <= 2000 || !done.Load() {
				code, body, err := get(c, aliceHost, "/loop")
				mu.Lock()
				if err != nil || code != 200 || !strings.HasPrefix(body, "user="+alice.Name) {
					failed.Add(1)
					if len(failures) < 10 {
						failures = append(failures, fmt.Sprintf("+%v: %d %.80q %v", time.Since(loopStart).Round(time.Millisecond), code, body, err))
					}
				} else {
					pids[strings.Fields(body)[2]] = true
				}
				mu.Unlock()
				if count.Load() > 200000 {
					return
				}
			}
		}()
	}
	wg.Wait()
	res := <-rolled
	rolledAfter := time.Unix(0, rolledAt.Load()).Sub(loopStart).Round(time.Millisecond)
	if !strings.HasPrefix(res, "exit 0") || !strings.Contains(res, "web:web_0: restarted") || !strings.Contains(res, "web:web_1: restarted") {
		t.Errorf("roost restart --rolling web: %s", res)
	}
	if failed.Load() > 0 {
		t.Errorf("%d of %d requests failed during the rolling restart (%v from the loop's start to the restart's end): %v\nnginx's processes: %s\nfailed requests in nginx's access log:\n%s",
			failed.Load(), count.Load(), rolledAfter, failures, n.processes(), n.accessFailures(loopStart, 10))
	}
	if len(pids) < 4 {
		t.Errorf("answers came from %d processes (%v), want the 2 old and the 2 new", len(pids), pids)
	}
	t.Logf("%d requests during the rolling restart, %d failed, %d processes answered", count.Load(), failed.Load(), len(pids))

	// A broken route leaves the other user's site up. The admin's own
	// configuration happens to define an upstream with the name bob's new
	// section gets: nginx -t fails on bob's line.
	if err := os.WriteFile(n.admin, []byte("upstream roost_"+strings.ReplaceAll(bob.Name, "-", "_")+"_shop { server 127.0.0.1:1; }\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	e.writeProject(bob, bobConf+"[proxy:shop]\nprogram = web\nhosts = shop."+bobHost+"\n")
	bi = x.waitProxy(t, bob.Name, "the nginx -t failure", func(i api.ProxyInfo) bool { return i.Status != nil && i.Status.Error != "" })
	if !strings.Contains(bi.Status.Error, "nginx -t failed on [proxy:shop]") || !strings.Contains(bi.Status.Error, "duplicate upstream") {
		t.Errorf("bob's verdict: %q", bi.Status.Error)
	}
	waitGet(t, c, bobHost, "/", "bob's routes left out", func(code int, _ string) bool { return code == 421 })
	if code, body, err := get(c, aliceHost, "/"); err != nil || code != 200 || !strings.HasPrefix(body, "user="+alice.Name) {
		t.Errorf("alice's site with bob's route broken: %d %q %v", code, body, err)
	}
	users := x.users(t)
	if p := strings.Join(users[bob.Name].ProxyProblems, "\n"); !strings.Contains(p, "nginx -t failed on [proxy:shop]") {
		t.Errorf("roost admin users does not name bob's section: %+v", users[bob.Name])
	}
	if users[alice.Name].RoutesServed != 1 || users[alice.Name].Routes != 1 {
		t.Errorf("alice in roost admin users: %+v", users[alice.Name])
	}
	if !strings.Contains(string(x.log.Bytes()), "nginx -t failed on a user's route") {
		t.Errorf("the master's log does not name bob")
	}
	// Bob drops the section: his routes are tried again and served.
	e.writeProject(bob, bobConf)
	waitGet(t, c, bobHost, "/", "bob's site back", func(code int, body string) bool { return code == 200 && strings.HasPrefix(body, "user="+bob.Name) })

	out, code = x.roost(t, "admin", "nginx")
	if code != 0 || !strings.Contains(out, `server_name "`+aliceHost+`" "www.`+aliceHost+`";`) {
		t.Errorf("roost admin nginx: exit %d\n%s", code, out)
	}
	out, code = exitOf(t, asUser(alice, x.bin, "-s", filepath.Join(e.runDir, "users", alice.Name, SocketName), "proxy"))
	if code != 0 || !strings.Contains(out, "served") || !strings.Contains(out, "/static/ -> "+filepath.Join(aliceDir, "static")) {
		t.Errorf("roost proxy as alice: exit %d\n%s", code, out)
	}
}

// proxyConf is roost.toml's [ports] and [proxy] for this nginx: the
// users' blocks from base, nginx -t, reload (nil: nginx -s reload) and
// extra [proxy] lines.
func (n *testNginx) proxyConf(base int, reload []string, extra string) string {
	if reload == nil {
		reload = n.args("-s", "reload")
	}
	return fmt.Sprintf(`[ports]
range = "%d-%d"
per_user = 10
[proxy]
enabled = true
listen = "127.0.0.1:%d"
output = %q
test_command = %s
reload_command = %s
hosts = ["{user}.example.test", "*.{user}.example.test"]
%s`, base, base+89, n.port, n.output(), tomlList(n.args("-t", "-q")), tomlList(reload), extra)
}

// output is the file the master writes.
func (n *testNginx) output() string { return filepath.Join(n.dir, "conf.d", "roost.conf") }

// tomlList writes a TOML array of strings.
func tomlList(words []string) string {
	q := make([]string, len(words))
	for i, w := range words {
		q[i] = fmt.Sprintf("%q", w)
	}
	return "[" + strings.Join(q, ", ") + "]"
}
