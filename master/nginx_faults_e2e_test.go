package master

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"roost/internal/testutil"
	"roost/supervisor/api"
)

// Faults between the master and nginx, with the real master, real
// `roost run --managed` supervisors for roost-alice and roost-bob, their
// apps, and a real nginx on loopback: a user rewriting their file in a
// loop (the reload rate), nginx killed while a route changes (a failed
// reload), and a broken main configuration (nginx -t refusing everything).
// See nginxapply.go.

// faultEnv is one of these tests: the master and its nginx.
type faultEnv struct {
	*env
	x       *e2e
	n       *testNginx
	c       *http.Client // a new connection per request: the latest workers answer
	reloads string       // the reload wrapper appends a line per reload it runs
}

// webConf is a project whose program web answers for hosts.
func webConf(hosts ...string) string {
	return fmt.Sprintf("[supervisord]\n[program:web]\ncommand=%s serve-http\n[proxy:web]\nhosts = %s\n",
		helperExe, strings.Join(hosts, ", "))
}

// startFaultEnv starts nginx and the master for users, with projects
// (webConf) and reload_interval; reload_command is a wrapper that counts
// the reloads it runs, then runs nginx -s reload.
func startFaultEnv(t *testing.T, interval int, projects map[string]string, users ...string) *faultEnv {
	t.Helper()
	f := &faultEnv{env: newEnv(t, users...)}
	base := freeRange(t)
	f.n = startNginx(t, filepath.Join(f.dir, "nginx"), base+99)
	f.c = f.n.client(1)
	f.c.Transport.(*http.Transport).DisableKeepAlives = true
	f.reloads = filepath.Join(f.dir, "reloads")
	reload := append([]string{"/bin/sh", "-c", `echo reload >> ` + f.reloads + ` && exec "$0" "$@"`}, f.n.args("-s", "reload")...)
	var names []string
	for _, a := range f.users {
		names = append(names, a.Name)
		f.writeProject(a, projects[a.Name])
	}
	f.writeConf(names, f.n.proxyConf(base, reload, fmt.Sprintf("reload_interval = %d\n", interval)))
	f.x = startMaster(t, f.env)
	return f
}

func (f *faultEnv) reloadCount() int {
	data, _ := os.ReadFile(f.reloads)
	return strings.Count(string(data), "reload")
}

// answers says whether nginx sends host to user's app.
func (f *faultEnv) answers(host string, a testutil.Account) bool {
	code, body, err := get(f.c, host, "/")
	return err == nil && code == 200 && strings.HasPrefix(body, "user="+a.Name+" ")
}

func (f *faultEnv) waitAnswers(t *testing.T, host string, a testutil.Account) {
	t.Helper()
	testutil.Eventually(t, 60*time.Second, host+" served by "+a.Name+"'s app", func() bool { return f.answers(host, a) })
}

// startAliceServed starts alice's web at host with reload_interval = 1 and
// waits until nginx serves it; newHost is the host a change will add.
func startAliceServed(t *testing.T) (f *faultEnv, alice testutil.Account, host, newHost string) {
	t.Helper()
	alice = testutil.RequireUser(t, testutil.UserA)
	host = alice.Name + ".example.test"
	f = startFaultEnv(t, 1, map[string]string{alice.Name: webConf(host)}, alice.Name)
	f.waitAnswers(t, host, alice)
	f.x.waitProxy(t, alice.Name, "web served", func(i api.ProxyInfo) bool { return served(i, "proxy:web") })
	return f, alice, host, "new." + host
}

func routePending(info api.ProxyInfo, section string) string {
	if info.Status == nil {
		return ""
	}
	return routeStatus(*info.Status, section).Pending
}

// A user who rewrites their file every 0.3 s makes nginx reload at most
// once per reload_interval; the latest state wins, and another user's
// change made during the storm rides on the next reload.
func TestE2ENginxReloadStorm(t *testing.T) {
	const interval = 5 // seconds
	alice := testutil.RequireUser(t, testutil.UserA)
	bob := testutil.RequireUser(t, testutil.UserB)
	aliceHost, bobHost := alice.Name+".example.test", bob.Name+".example.test"
	f := startFaultEnv(t, interval, map[string]string{alice.Name: webConf(aliceHost), bob.Name: webConf(bobHost)},
		alice.Name, bob.Name)
	f.waitAnswers(t, aliceHost, alice)
	f.waitAnswers(t, bobHost, bob)

	const storm = 15 * time.Second
	bobNew := "new." + bobHost
	start := time.Now()
	before := f.reloadCount()
	var bobServedAt time.Duration
	last := 0
	for i := 1; time.Since(start) < storm && i < 1000; i++ {
		f.writeProject(alice, webConf(aliceHost, fmt.Sprintf("v%d.%s", i, aliceHost)))
		last = i
		if i == 10 {
			f.writeProject(bob, webConf(bobHost, bobNew))
		}
		if i > 10 && bobServedAt == 0 && f.answers(bobNew, bob) {
			bobServedAt = time.Since(start)
		}
		time.Sleep(300 * time.Millisecond) // the fault: a rewrite every 0.3 s
	}
	stormEnd := time.Since(start)
	// The latest state wins: alice's last host is served.
	final := fmt.Sprintf("v%d.%s", last, aliceHost)
	f.waitAnswers(t, final, alice)
	elapsed := time.Since(start)
	reloads := f.reloadCount() - before
	// Installs are at least interval apart: elapsed/interval + 1 of them at
	// most, and one more for slack.
	allowed := int(elapsed/(interval*time.Second)) + 2
	t.Logf("%d rewrites in %v; %d reloads until the last one was served after %v (at most %d allowed); bob's change served after %v",
		last, stormEnd.Round(time.Millisecond), reloads, elapsed.Round(time.Millisecond), allowed, bobServedAt.Round(time.Millisecond))
	if reloads > allowed {
		t.Errorf("%d nginx reloads in %v with reload_interval = %d s: at most %d allowed", reloads, elapsed, interval, allowed)
	}
	if reloads < 2 {
		t.Errorf("%d reloads during the storm: the wrapper does not count them?", reloads)
	}
	if bobServedAt == 0 {
		t.Errorf("bob's change made during alice's storm was not served before the storm ended (%v)", stormEnd)
	}
	// (An old worker may still accept a connection or two as it shuts down.)
	testutil.Eventually(t, 30*time.Second, "the state before alice's last one to be gone", func() bool {
		return !f.answers(fmt.Sprintf("v%d.%s", last-1, aliceHost), alice)
	})
	// Nothing is left pending.
	info := f.x.waitProxy(t, alice.Name, "nothing pending", func(i api.ProxyInfo) bool {
		return i.Status != nil && i.Status.Pending == "" && served(i, "proxy:web")
	})
	if p := routePending(info, "proxy:web"); p != "" {
		t.Errorf("alice's route still pending: %q", p)
	}
}

// nginx is killed, then a route changes: the reload fails, the change is
// reported as pending to the user and the admin and retried, and once
// nginx runs again it is applied and reported as served.
func TestE2ENginxReloadFailureRetried(t *testing.T) {
	f, alice, host, newHost := startAliceServed(t)

	f.n.halt(syscall.SIGKILL)
	// Its pid file names a dead process: nginx -s reload fails. Remove it,
	// so that reload can never signal a process that reused the pid.
	os.Remove(filepath.Join(f.n.dir, "nginx.pid"))
	before := f.reloadCount()
	f.writeProject(alice, webConf(host, newHost))

	info := f.x.waitProxy(t, alice.Name, "the change pending: "+pendingReload, func(i api.ProxyInfo) bool {
		return routePending(i, "proxy:web") == pendingReload
	})
	if p := routePending(info, "proxy:web"); p != pendingReload || info.Status.Pending != pendingReload {
		t.Errorf("alice's verdict: route pending %q, status pending %q; want %q", p, info.Status.Pending, pendingReload)
	}
	if rs := routeStatus(*info.Status, "proxy:web"); !rs.Served {
		t.Errorf("the route nginx served before the change is no longer said to be served: %+v", rs)
	}
	out, code := f.x.roost(t, "--user", alice.Name, "proxy")
	if code != 0 || !strings.Contains(out, "served, change pending") || !strings.Contains(out, "! pending: "+pendingReload) {
		t.Errorf("roost proxy as alice: exit %d\n%s", code, out)
	}
	f.x.waitUser(t, alice.Name, 30*time.Second, "a route pending: "+pendingReload, func(st UserStatus) bool {
		return st.RoutesPending == 1 && strings.Contains(strings.Join(st.ProxyProblems, "\n"), "[proxy:web] pending: "+pendingReload)
	})
	out, code = f.x.roost(t, "admin", "users")
	if code != 0 || !strings.Contains(out, "pending: nginx did not reload") {
		t.Errorf("roost admin users: exit %d\n%s", code, out)
	}
	// The master retries while nginx is down.
	testutil.Eventually(t, 30*time.Second, "the reload to be retried", func() bool { return f.reloadCount() >= before+2 })

	f.n.launch(t)
	// The next retry may be up to the backoff's 30 s away.
	testutil.Eventually(t, 90*time.Second, "the change applied", func() bool {
		i, err := f.x.tryProxy(t, alice.Name)
		return err == nil && i.Status != nil && i.Status.Pending == "" && routePending(i, "proxy:web") == "" && served(i, "proxy:web")
	})
	f.waitAnswers(t, newHost, alice)
	f.x.waitUser(t, alice.Name, 30*time.Second, "nothing pending", func(st UserStatus) bool {
		return st.RoutesPending == 0 && st.RoutesServed == 1 && !strings.Contains(strings.Join(st.ProxyProblems, "\n"), "pending")
	})
	t.Logf("%d reload attempts while nginx was down or coming back", f.reloadCount()-before)
}

// nginx -t fails on the main configuration (the admin broke an included
// file): a user's change is pending with a message that says it is not
// their file, nginx is never reloaded meanwhile, the master retries on a
// timer, and once the admin fixes the file the change is applied, with no
// signal to the master.
func TestE2ENginxMainConfigBroken(t *testing.T) {
	f, alice, host, newHost := startAliceServed(t)
	installed, _ := os.ReadFile(f.n.output())

	if err := os.WriteFile(f.n.admin, []byte("roost_test_broken_directive on;\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	before := f.reloadCount()
	f.writeProject(alice, webConf(host, newHost))
	info := f.x.waitProxy(t, alice.Name, "the change pending: "+pendingMainConfig, func(i api.ProxyInfo) bool {
		return routePending(i, "proxy:web") == pendingMainConfig
	})
	if p := routePending(info, "proxy:web"); p != pendingMainConfig || info.Status.Pending != pendingMainConfig {
		t.Errorf("alice's verdict: route pending %q, status pending %q", p, info.Status.Pending)
	}
	out, code := f.x.roost(t, "--user", alice.Name, "proxy")
	if code != 0 || !strings.Contains(out, "pending: nginx -t fails on the main configuration (not your file)") {
		t.Errorf("roost proxy as alice: exit %d\n%s", code, out)
	}
	f.x.waitUser(t, alice.Name, 30*time.Second, "a route pending: "+pendingMainConfig, func(st UserStatus) bool {
		return st.RoutesPending == 1 && strings.Contains(strings.Join(st.ProxyProblems, "\n"), "[proxy:web] pending: "+pendingMainConfig)
	})
	out, code = f.x.roost(t, "admin", "nginx")
	if code != 1 || !strings.Contains(out, "last installation failed") || !strings.Contains(out, "roost_test_broken_directive") {
		t.Errorf("roost admin nginx does not give the admin nginx's error: exit %d\n%s", code, out)
	}
	// Retried on the backoff timer, never reloaded, the old file in place.
	testutil.Eventually(t, 30*time.Second, "nginx -t to be retried", func() bool {
		return strings.Count(string(f.x.log.Bytes()), "nginx -t refused the configuration") >= 2
	})
	if now, _ := os.ReadFile(f.n.output()); string(now) != string(installed) {
		t.Errorf("the output changed while nginx -t fails:\n%s", now)
	}
	if f.answers(newHost, alice) {
		t.Errorf("%s is served while the change is pending", newHost)
	}

	// The admin fixes the main configuration; nobody signals the master.
	const seen = "nginx's configuration changed"
	seenBefore := strings.Count(string(f.x.log.Bytes()), seen)
	if err := os.WriteFile(f.n.admin, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if n := f.reloadCount(); n != before {
		t.Errorf("nginx was reloaded %d times while nginx -t failed", n-before)
	}
	f.x.waitProxy(t, alice.Name, "the change applied", func(i api.ProxyInfo) bool {
		return i.Status != nil && i.Status.Pending == "" && routePending(i, "proxy:web") == "" && served(i, "proxy:web")
	})
	f.waitAnswers(t, newHost, alice)
	// The watcher saw the fix (it hurries the retry when one is still
	// pending then; a backoff timer may have won the race).
	testutil.Eventually(t, 30*time.Second, "the master to see the fix", func() bool {
		return strings.Count(string(f.x.log.Bytes()), seen) > seenBefore
	})
}
