package master

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"roost/cgroup"
	"roost/internal/testutil"
	"roost/supervisor/api"
)

// The attacks of issue 13 (points 1 and 2) against a real master, real
// user supervisors for roost-alice and roost-bob and a real nginx: bob's
// program tries to take alice's port while her program restarts and while
// it is stopped; a process of bob's outside roost (as an ssh session would
// be) takes it; alice points a unix upstream at bob's socket through a
// symlink.

// squat is the squatter: "squat PORT FILE" tries to listen on
// 127.0.0.1:PORT every 10 ms (for at most 10 minutes), writing "EPERM N"
// (or the error, and N attempts so far) to FILE; once it has the port it
// writes "BOUND" and answers every request with "SQUAT user=USER" until
// SIGTERM.
func squat(port, file string) int {
	term := make(chan os.Signal, 1)
	signal.Notify(term, syscall.SIGTERM)
	deadline := time.Now().Add(10 * time.Minute)
	for n := 1; time.Now().Before(deadline); n++ {
		ln, err := net.Listen("tcp", "127.0.0.1:"+port)
		if err == nil {
			os.WriteFile(file, []byte("BOUND"), 0o644)
			srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				fmt.Fprintf(w, "SQUAT user=%s\n", os.Getenv("USER"))
			})}
			go srv.Serve(ln)
			<-term
			return 0
		}
		what := strings.ReplaceAll(err.Error(), " ", "_")
		switch {
		case errors.Is(err, syscall.EPERM):
			what = "EPERM"
		case errors.Is(err, syscall.EADDRINUSE):
			what = "EADDRINUSE"
		}
		os.WriteFile(file+".tmp", []byte(fmt.Sprintf("%s %d", what, n)), 0o644)
		os.Rename(file+".tmp", file)
		select {
		case <-term:
			return 0
		case <-time.After(10 * time.Millisecond):
		}
	}
	return 1
}

// serveUnix is "serve-unix PATH": the app on a unix socket (mode 0666, so
// nginx's workers may connect), answering "unix user=USER host=HOST".
func serveUnix(path string) int {
	term := make(chan os.Signal, 1)
	signal.Notify(term, syscall.SIGTERM)
	os.Remove(path)
	ln, err := net.Listen("unix", path)
	if err == nil {
		err = os.Chmod(path, 0o666)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "serve-unix:", err)
		return 1
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "unix user=%s host=%s\n", os.Getenv("USER"), r.Host)
	})}
	go srv.Serve(ln)
	<-term
	ln.Close()
	return 0
}

// routeProblems joins the problems of a user's route in `roost proxy`.
func routeProblems(info api.ProxyInfo, section string) string {
	if info.Status == nil {
		return ""
	}
	for _, r := range info.Status.Routes {
		if r.Section == section {
			return strings.Join(r.Problems, "; ")
		}
	}
	return ""
}

// requestLoop sends requests for host until stop is closed (at most
// 100000), counting the answers that came from anyone but want.
type requestLoop struct {
	count, foreign atomic.Int64
	mu             sync.Mutex
	bad            []string
	stop           chan struct{}
	done           sync.WaitGroup
}

func startLoop(c *http.Client, host, want string) *requestLoop {
	l := &requestLoop{stop: make(chan struct{})}
	for w := 0; w < 2; w++ {
		l.done.Add(1)
		go func() {
			defer l.done.Done()
			for l.count.Add(1) < 100000 {
				select {
				case <-l.stop:
					return
				default:
				}
				code, body, err := get(c, host, "/")
				if err == nil && body != "" && !strings.HasPrefix(body, want) && code == 200 {
					l.foreign.Add(1)
					l.mu.Lock()
					if len(l.bad) < 5 {
						l.bad = append(l.bad, fmt.Sprintf("%d %q", code, body))
					}
					l.mu.Unlock()
				}
				time.Sleep(2 * time.Millisecond) // pacing, not synchronisation
			}
		}()
	}
	return l
}

func (l *requestLoop) finish() {
	close(l.stop)
	l.done.Wait()
}

func TestE2EPortSquatAndUnixUpstreams(t *testing.T) {
	e := newEnv(t, testutil.UserA, testutil.UserB)
	alice, bob := e.users[0], e.users[1]
	bpfErr := cgroup.BindFilterSupported()
	if _, err := cgroup.Mount(); bpfErr == nil {
		bpfErr = err
	}
	// This kernel (and CI's) has cgroup v2 and BPF: the kernel filter is
	// the defence under test, not the fallback.
	testutil.Require(t, bpfErr == nil, fmt.Sprintf("cgroup v2 and cgroup/bind4 BPF programs: %v", bpfErr))

	base := freeRange(t)
	ngPort := base + 99
	n := startNginx(t, filepath.Join(e.dir, "nginx"), ngPort)
	aliceHost, apiHost, linkHost := alice.Name+".example.test", "api."+alice.Name+".example.test", "link."+alice.Name+".example.test"
	aliceConf := fmt.Sprintf(`[supervisord]
[program:web]
command=%s serve-http
stopwaitsecs=10
startsecs=0
[proxy:web]
hosts = %s
[program:api]
command=%s serve-unix %%(ENV_ROOST_SOCKET_DIR)s/api.sock
[proxy:api]
socket = api.sock
hosts = %s
`, helperExe, aliceHost, helperExe, apiHost)
	e.writeProject(alice, aliceConf)
	bobConf := "[supervisord]\n"
	e.writeProject(bob, bobConf)
	e.writeConf([]string{alice.Name, bob.Name}, n.proxyConf(base, nil, ""))
	x := startMaster(t, e)
	c := n.client(4)

	ai := x.waitProxy(t, alice.Name, "web and api served", func(i api.ProxyInfo) bool {
		return served(i, "proxy:web") && served(i, "proxy:api")
	})
	if !strings.Contains(string(x.log.Bytes()), "kernel bind filter") {
		t.Errorf("the master does not log that it uses the kernel bind filter")
	}
	var port string
	for _, r := range ai.Routes {
		if r.Section == "proxy:web" && len(r.Upstreams) == 1 {
			_, port, _ = strings.Cut(r.Upstreams[0], ":")
		}
	}
	if port == "" {
		t.Fatalf("alice's web upstream: %+v", ai.Routes)
	}
	waitGet(t, c, aliceHost, "/", "alice's web through nginx", func(code int, body string) bool {
		return code == 200 && strings.HasPrefix(body, "user="+alice.Name)
	})
	// A unix-socket upstream serves.
	waitGet(t, c, apiHost, "/", "alice's unix-socket api through nginx", func(code int, body string) bool {
		return code == 200 && strings.HasPrefix(body, "unix user="+alice.Name+" host="+apiHost)
	})

	// Point 2: alice's socket link.sock is a symlink to bob's socket; the
	// route is refused, and nginx never reaches bob's socket for her.
	// Bob's private socket: nginx's workers (nogroup) may connect to it,
	// alice may not (a socket of a service only the web server may use).
	sockets := filepath.Join(e.runDir, socketsDirName)
	priv := filepath.Join(e.dir, "bob-private.sock")
	pl, err := net.Listen("unix", priv)
	if err != nil {
		t.Fatal(err)
	}
	defer pl.Close()
	go http.Serve(pl, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "user=%s private\n", bob.Name)
	}))
	nogroup, err := user.LookupGroup("nogroup")
	if err != nil {
		t.Fatal(err)
	}
	gid, _ := strconv.Atoi(nogroup.Gid)
	if err := os.Chown(priv, bob.UID, gid); err != nil {
		t.Fatal(err)
	}
	os.Chmod(priv, 0o660)
	if out, code := exitOf(t, asUser(alice, helperExe, "probe-socket", priv)); code == 0 {
		t.Fatalf("alice can reach bob's private socket herself; the test proves nothing: %s", out)
	}
	link := filepath.Join(sockets, alice.Name, "link.sock")
	if err := os.Symlink(priv, link); err != nil {
		t.Fatal(err)
	}
	os.Lchown(link, alice.UID, alice.GID)
	e.writeProject(alice, aliceConf+"[proxy:link]\nprogram = api\nsocket = link.sock\nhosts = "+linkHost+"\n")
	ai = x.waitProxy(t, alice.Name, "the link route judged", func(i api.ProxyInfo) bool {
		return served(i, "proxy:link") || routeProblems(i, "proxy:link") != ""
	})
	if code, body, _ := get(c, linkHost, "/"); strings.Contains(body, "user="+bob.Name) || code == 200 {
		t.Errorf("nginx reached bob's socket through alice's symlink: %d %q", code, body)
	}
	if served(ai, "proxy:link") || !strings.Contains(routeProblems(ai, "proxy:link"), "is a symlink") {
		t.Errorf("the symlinked unix upstream: %+v", ai.Status)
	}
	if p := strings.Join(x.users(t)[alice.Name].ProxyProblems, "\n"); !strings.Contains(p, "is a symlink") {
		t.Errorf("roost admin users does not show the refused symlink: %q", p)
	}
	conf, _ := os.ReadFile(filepath.Join(n.dir, "conf.d", "roost.conf"))
	if strings.Contains(string(conf), "link.sock") {
		t.Errorf("the symlink reached nginx's configuration:\n%s", conf)
	}
	e.writeProject(alice, aliceConf)

	// Alice swaps her served socket for a symlink to bob's: nginx keeps
	// reaching the socket the master checked (root's hard link of it), never
	// bob's, and the route is then dropped.
	apiSock := filepath.Join(sockets, alice.Name, "api.sock")
	if err := os.Rename(apiSock, apiSock+".old"); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(priv, apiSock); err != nil {
		t.Fatal(err)
	}
	os.Lchown(apiSock, alice.UID, alice.GID)
	swapped := time.Now()
	for time.Since(swapped) < 3*time.Second { // beyond the next owner checks
		if code, body, _ := get(c, apiHost, "/"); strings.Contains(body, "user="+bob.Name) {
			t.Fatalf("nginx reached bob's socket through alice's swapped socket: %d %q", code, body)
		}
		time.Sleep(20 * time.Millisecond) // pacing, not synchronisation
	}
	x.waitProxy(t, alice.Name, "the swapped socket refused", func(i api.ProxyInfo) bool {
		return !served(i, "proxy:api") && strings.Contains(routeProblems(i, "proxy:api"), "is a symlink")
	})
	os.Remove(apiSock)
	os.Rename(apiSock+".old", apiSock)
	x.waitProxy(t, alice.Name, "alice's api served again", func(i api.ProxyInfo) bool { return served(i, "proxy:api") })

	// Point 1: bob's program tries to take alice's port, in a loop, while
	// requests for alice's host go on: through her restart and while her
	// program is stopped. None of them may reach bob.
	n.waitOneWorker(t)
	loop := startLoop(n.client(4), aliceHost, "user="+alice.Name)
	status := filepath.Join(bob.Home, e.project, "squat.status")
	e.writeProject(bob, bobConf+fmt.Sprintf("[program:squat]\ncommand=%s squat %s %s\n", helperExe, port, status))
	attempts := func() (string, int) {
		b, _ := os.ReadFile(status)
		var what string
		var n int
		fmt.Sscanf(string(b), "%s %d", &what, &n)
		return what, n
	}
	testutil.Eventually(t, 30*time.Second, "bob's squatter to try", func() bool { what, n := attempts(); return n > 0 || what == "BOUND" })
	for i := 0; i < 3; i++ {
		if out, code := x.roost(t, "--user", alice.Name, "restart", "web"); code != 0 {
			t.Fatalf("restart alice's web: exit %d\n%s", code, out)
		}
	}
	if out, code := x.roost(t, "--user", alice.Name, "stop", "web"); code != 0 {
		t.Fatalf("stop alice's web: exit %d\n%s", code, out)
	}
	_, before := attempts()
	testutil.Eventually(t, 60*time.Second, "bob's squatter to try 200 times while alice's web is stopped", func() bool {
		what, n := attempts()
		return what == "BOUND" || n > before+200
	})
	// While stopped, long enough for the router's owner checks to run.
	stoppedFor := loop.count.Load()
	testutil.Eventually(t, 30*time.Second, "requests while alice's web is stopped", func() bool { return loop.count.Load() > stoppedFor+200 })
	loop.finish()
	what, tries := attempts()
	t.Logf("%d requests for alice's host, %d bind attempts by bob's program (%s), %d answered by another user",
		loop.count.Load(), tries, what, loop.foreign.Load())
	if loop.foreign.Load() > 0 {
		t.Errorf("%d of %d requests for alice's host were answered by someone else: %v", loop.foreign.Load(), loop.count.Load(), loop.bad)
	}
	if what != "EPERM" {
		t.Fatalf("bob's bind of alice's port %s: %q after %d attempts, want EPERM every time", port, what, tries)
	}
	if out, code := x.roost(t, "--user", alice.Name, "start", "web"); code != 0 {
		t.Fatalf("start alice's web: exit %d\n%s", code, out)
	}
	waitGet(t, c, aliceHost, "/", "alice's web back", func(code int, body string) bool {
		return code == 200 && strings.HasPrefix(body, "user="+alice.Name)
	})

	// The fallback: a process of bob's outside roost's cgroups (his ssh
	// session) is not filtered. Once it holds alice's port, the router's
	// owner check drops her route within seconds and says so to both.
	if out, code := x.roost(t, "--user", alice.Name, "stop", "web"); code != 0 {
		t.Fatalf("stop alice's web: exit %d\n%s", code, out)
	}
	// The port her route names now: her restarts were blue-green, so her
	// web may have moved to its spare port (every other restart).
	var routed string
	x.waitProxy(t, alice.Name, "alice's stopped web's route", func(i api.ProxyInfo) bool {
		for _, r := range i.Routes {
			if r.Section == "proxy:web" && len(r.Upstreams) == 1 {
				_, routed, _ = strings.Cut(r.Upstreams[0], ":")
			}
		}
		return routed != ""
	})
	outside := filepath.Join(bob.Home, e.project, "outside.status") // bob's directory
	sq := asUser(bob, helperExe, "squat", routed, outside)
	sq.Env = append(sq.Env, "USER="+bob.Name)
	sqc, err := spawn(sq)
	if err != nil {
		t.Fatal(err)
	}
	var waited atomic.Bool
	t.Cleanup(func() {
		if !waited.Load() {
			sqc.signal(syscall.SIGKILL, false)
			sqc.wait()
		}
	})
	testutil.Eventually(t, 30*time.Second, "bob's outside squatter to bind", func() bool {
		b, _ := os.ReadFile(outside)
		return string(b) == "BOUND"
	})
	held := "belongs to uid " + fmt.Sprint(bob.UID) + " (" + bob.Name + ")"
	x.waitProxy(t, alice.Name, "alice told that bob holds her port", func(i api.ProxyInfo) bool {
		return !served(i, "proxy:web") && strings.Contains(routeProblems(i, "proxy:web"), held)
	})
	if p := strings.Join(x.users(t)[alice.Name].ProxyProblems, "\n"); !strings.Contains(p, held) {
		t.Errorf("roost admin users does not show the squat: %q", p)
	}
	waitGet(t, c, aliceHost, "/", "alice's route out of nginx", func(code int, _ string) bool { return code == 421 })
	n.waitOneWorker(t)
	c = n.client(4)
	for i := 0; i < 50; i++ {
		if code, body, _ := get(c, aliceHost, "/"); strings.Contains(body, "SQUAT") {
			t.Fatalf("after the route was dropped, the squatter got alice's request: %d %q", code, body)
		}
	}
	sqc.signal(syscall.SIGTERM, false)
	sqc.wait()
	waited.Store(true)
	if out, code := x.roost(t, "--user", alice.Name, "start", "web"); code != 0 {
		t.Fatalf("start alice's web: exit %d\n%s", code, out)
	}
	x.waitProxy(t, alice.Name, "alice's web served again", func(i api.ProxyInfo) bool { return served(i, "proxy:web") })
	waitGet(t, c, aliceHost, "/", "alice's web back after the squat", func(code int, body string) bool {
		return code == 200 && strings.HasPrefix(body, "user="+alice.Name)
	})
}
