package master

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"roost/internal/testutil"
	"roost/supervisor/api"
)

// First contact (issue 12) and a restart with a broken file (issue 13,
// point 9), with the real master, the real `roost run --managed` for
// roost-alice and roost-bob, the real supervisorctl and a real nginx:
//
//   - bob drops in the dotCloud-shaped file (no [supervisord], %(ENV_HOME)s
//     and %(ENV_PORT)s): it runs and nginx serves it;
//   - alice's first file is broken at line 3: her supervisor stays up (same
//     pid, no restart), serves its socket, and roost status, supervisorctl
//     and roost admin users name supervisord.conf:3;
//   - she saves a good file: nginx serves her app with no command;
//   - a later broken edit (a host injection in [proxy:web]) keeps the
//     program's pid and its route, never reaches nginx's file, and status
//     warns with rc 0;
//   - her supervisor restarted with the file still broken runs the last
//     configuration that applied: the app is served again;
//   - a broken cron file keeps everything up and cron list names the line.
func TestE2EConfigError(t *testing.T) {
	e := newEnv(t, testutil.UserA, testutil.UserB)
	alice, bob := e.users[0], e.users[1]
	supervisorctl := testutil.RequireBinary(t, "supervisorctl")
	base := freeRange(t)
	ngPort := base + 99
	n := startNginx(t, filepath.Join(e.dir, "nginx"), ngPort)
	nginxFile := filepath.Join(n.dir, "conf.d", "roost.conf")
	aliceHost, bobHost := alice.Name+".example.test", bob.Name+".example.test"
	aliceDir, bobDir := filepath.Join(alice.Home, e.project), filepath.Join(bob.Home, e.project)
	aliceSock := filepath.Join(e.runDir, "users", alice.Name, SocketName)
	bobSock := filepath.Join(e.runDir, "users", bob.Name, SocketName)
	for _, a := range e.users {
		state := filepath.Join(a.Home, ".local", "state", "roost")
		t.Cleanup(func() { os.RemoveAll(state) })
		os.RemoveAll(state) // no last good configuration from an earlier run
	}

	// bob: the seed's file, as dotCloud users wrote it.
	writeOwnedFile(t, bob, filepath.Join(bobDir, "www", "index.html"), "hello from bob's seed app\n")
	e.writeProject(bob, fmt.Sprintf(`[program:plackup]
directory=%%(ENV_HOME)s/%s/www
command=/usr/bin/python3 -m http.server --bind 127.0.0.1 %%(ENV_PORT)s
autostart=true
autorestart=true
stdout_logfile=%%(ENV_HOME)s/log/plackup.log
stderr_logfile=%%(ENV_HOME)s/log/plackup.log
stopsignal=TERM

[proxy:plackup]
hosts = %s
`, e.project, bobHost))
	// alice: broken at line 3 from the start.
	e.writeProject(alice, fmt.Sprintf("[program:web]\ncommand=%s serve-http\nstartsecs=1o\n[proxy:web]\nhosts = %s\n", helperExe, aliceHost))
	e.writeConf([]string{alice.Name, bob.Name}, n.proxyConf(base, nil, ""))
	x := startMaster(t, e)
	c := n.client(4)

	// The seed-shaped file runs under the master and nginx serves it.
	waitGet(t, c, bobHost, "/index.html", "bob's seed app through nginx", func(code int, body string) bool {
		return code == 200 && strings.Contains(body, "hello from bob's seed app")
	})
	out, code := exitOf(t, asUser(bob, x.bin, "-s", bobSock, "status"))
	if code != 0 || !strings.Contains(out, "plackup") || !strings.Contains(out, "RUNNING") || strings.Contains(out, "warning") {
		t.Errorf("bob's status: exit %d\n%s", code, out)
	}

	// check, env and ports as bob: his project, with the master's PORT.
	bobSt := x.users(t)[bob.Name]
	check := asUser(bob, x.bin, "check")
	check.Env = append(check.Env, "ROOST_SOCKET="+bobSock)
	out, code = exitOf(t, check)
	if code != 0 || !strings.Contains(out, filepath.Join(bobDir, "supervisord.conf")+": valid") {
		t.Errorf("roost check as bob under the master: exit %d\n%s", code, out)
	}
	out, code = exitOf(t, asUser(bob, x.bin, "-s", bobSock, "env", "--shell"))
	if want := fmt.Sprintf("export ROOST_PORT_BASE='%d'", bobSt.PortBase); code != 0 || !strings.Contains(out, want) || !strings.Contains(out, "export PORT=") {
		t.Errorf("roost env --shell: exit %d, want %q\n%s", code, want, out)
	}
	// The master passes no ROOST_CONFIG_DIR for the default config_dir (so
	// an upgrade keeps every supervisor): the supervisor names its default
	// itself, and bob's roost env and roost service adopt it.
	for _, want := range []string{"export ROOST_CONFIG_DIR='" + filepath.Join(bob.Home, ".config", "roost") + "'",
		"export ROOST_SERVICES_DIR='" + filepath.Join(bob.Home, "services") + "'"} {
		if !strings.Contains(out, want) {
			t.Errorf("roost env --shell: no %q\n%s", want, out)
		}
	}
	out, code = exitOf(t, asUser(bob, x.bin, "-s", bobSock, "ports"))
	if want := fmt.Sprintf("%d-%d", bobSt.PortBase, bobSt.PortBase+bobSt.PortCount-1); code != 0 || !strings.Contains(out, want) ||
		!strings.Contains(out, fmt.Sprintf("proxy:plackup (program plackup): 127.0.0.1:%d", bobSt.PortBase)) {
		t.Errorf("roost ports: exit %d, want %q\n%s", code, want, out)
	}

	// alice's broken first file: CONFIG-ERROR, named by file:line, and no restart.
	st := x.waitUser(t, alice.Name, 30*time.Second, "CONFIG-ERROR", func(s UserStatus) bool {
		return running(s) && s.Config == api.ConfigError
	})
	if !strings.Contains(st.ConfigError, "supervisord.conf:3") || !strings.Contains(st.ConfigError, "startsecs") {
		t.Errorf("admin users: config error %q", st.ConfigError)
	}
	pid := st.PID
	deadline := time.Now().Add(4 * time.Second)
	for time.Now().Before(deadline) { // bounded: the supervisor must stay the same process
		s := x.users(t)[alice.Name]
		if s.PID != pid || s.Restarts != 0 || s.State != UserRunning {
			t.Fatalf("alice's supervisor was restarted: %+v (pid was %d)", s, pid)
		}
		time.Sleep(500 * time.Millisecond)
	}
	table, code := x.roost(t, "admin", "users")
	if code != 0 || !strings.Contains(table, "CONFIG-ERROR") || !strings.Contains(table, "supervisord.conf:3") {
		t.Errorf("roost admin users: exit %d\n%s", code, table)
	}
	out, code = exitOf(t, asUser(alice, x.bin, "-s", aliceSock, "status"))
	if code == 0 || !strings.Contains(out, "supervisord.conf:3") {
		t.Errorf("alice's status with a broken first file: exit %d\n%s", code, out)
	}
	out, code = exitOf(t, asUser(alice, x.bin, "-s", aliceSock, "restart", "web"))
	if code == 0 || !strings.Contains(out, "supervisord.conf:3") {
		t.Errorf("alice's restart web with a broken first file: exit %d\n%s", code, out)
	}
	t.Logf("alice's status with a broken first file:\n%s", out)
	out, code = exitOf(t, asUser(alice, supervisorctl, "-s", "unix://"+aliceSock, "status"))
	t.Logf("supervisorctl status:\n%s", out)
	if code == 0 || !strings.Contains(out, "supervisord.conf:3") || strings.Contains(out, "refused") || strings.Contains(out, "no such file") {
		t.Errorf("supervisorctl status with a broken first file: exit %d\n%s", code, out)
	}

	// The fix is picked up by itself: served through nginx, no command.
	fixed := time.Now()
	e.writeProject(alice, fmt.Sprintf("[program:web]\ncommand=%s serve-http\nstartsecs=1\n[proxy:web]\nhosts = %s\n", helperExe, aliceHost))
	waitGet(t, c, aliceHost, "/", "alice's app through nginx after the fix", func(code int, body string) bool {
		return code == 200 && strings.HasPrefix(body, "user="+alice.Name+" proc=web ")
	})
	t.Logf("the fixed file was served through nginx %v after it was saved", time.Since(fixed).Round(10*time.Millisecond))
	st = x.waitUser(t, alice.Name, 30*time.Second, "config applied", func(s UserStatus) bool { return s.Config == "" && s.ProgramsRunning == 1 })
	if st.PID != pid || st.Restarts != 0 {
		t.Errorf("the fix restarted alice's supervisor: %+v (pid was %d)", st, pid)
	}
	out, code = exitOf(t, asUser(alice, x.bin, "-s", aliceSock, "status"))
	if code != 0 || strings.Contains(out, "warning") {
		t.Errorf("alice's status after the fix: exit %d\n%s", code, out)
	}
	webPid := programPID(t, x, alice, aliceSock)

	// A later broken edit keeps what runs: pid, route, nginx's file.
	e.writeProject(alice, fmt.Sprintf("[program:web]\ncommand=%s serve-http\nstartsecs=1\n[proxy:web]\nhosts = %s;return 200 pwned\n", helperExe, aliceHost))
	x.waitUser(t, alice.Name, 30*time.Second, "STALE", func(s UserStatus) bool { return s.Config == api.ConfigStale })
	st = x.users(t)[alice.Name]
	if !strings.Contains(st.ConfigError, "supervisord.conf:5") || st.PID != pid {
		t.Errorf("admin users after a broken edit: %+v", st)
	}
	table, _ = x.roost(t, "admin", "users")
	t.Logf("roost admin users after a broken edit:\n%s", table)
	if !strings.Contains(table, "supervisord.conf:5") {
		t.Errorf("roost admin users does not name the broken edit:\n%s", table)
	}
	out, code = exitOf(t, asUser(alice, x.bin, "-s", aliceSock, "status"))
	if code != 0 || !strings.Contains(out, "RUNNING") || !strings.Contains(out, "supervisord.conf:5") || !strings.Contains(out, "previous") {
		t.Errorf("status after a broken edit: exit %d\n%s", code, out)
	}
	for _, verb := range [][]string{{"proxy"}, {"restart", "web"}} {
		out, _ := exitOf(t, asUser(alice, x.bin, append([]string{"-s", aliceSock}, verb...)...))
		if !strings.Contains(out, "not applied") || !strings.Contains(out, "supervisord.conf:5") {
			t.Errorf("roost %v after a broken edit does not say the file is not applied:\n%s", verb, out)
		}
	}
	webPid = programPID(t, x, alice, aliceSock) // `restart web` restarted it on purpose
	time.Sleep(1 * time.Second)                 // past the watcher's debounce: nothing more may happen
	if p := programPID(t, x, alice, aliceSock); p != webPid {
		t.Errorf("web's pid changed after the broken edit: %s, was %s", p, webPid)
	}
	waitGet(t, c, aliceHost, "/", "alice's route kept", func(code int, body string) bool {
		return code == 200 && strings.HasPrefix(body, "user="+alice.Name+" proc=web ")
	})
	if conf, _ := os.ReadFile(nginxFile); strings.Contains(string(conf), "pwned") || !strings.Contains(string(conf), aliceHost) {
		t.Errorf("nginx's file after the broken edit:\n%s", conf)
	}

	t.Logf("status after a broken edit:\n%s", out)

	// Restarted with the file still broken: the last good configuration runs.
	if out, code := x.roost(t, "admin", "restart", alice.Name); code != 0 {
		t.Fatalf("roost admin restart: exit %d\n%s", code, out)
	}
	st = x.waitUser(t, alice.Name, 60*time.Second, "restarted on the last good configuration", func(s UserStatus) bool {
		return running(s) && s.PID != pid && s.ProgramsRunning == 1 && s.Config == api.ConfigError
	})
	if !strings.Contains(st.ConfigError, "supervisord.conf:5") || !strings.Contains(st.ConfigError, "last good") {
		t.Errorf("admin users after the restart: %+v", st)
	}
	waitGet(t, c, aliceHost, "/", "alice's app served from the last good configuration", func(code int, body string) bool {
		return code == 200 && strings.HasPrefix(body, "user="+alice.Name+" proc=web ")
	})
	out, code = exitOf(t, asUser(alice, x.bin, "-s", aliceSock, "status"))
	if code != 0 || !strings.Contains(out, "RUNNING") || !strings.Contains(out, "last configuration that applied") {
		t.Errorf("status on the last good configuration: exit %d\n%s", code, out)
	}

	// A broken cron file: everything stays up; cron list and status name the line.
	writeOwnedFile(t, alice, filepath.Join(aliceDir, "cron"), "# a job\n61 * * * * echo never\n")
	testutil.Eventually(t, 30*time.Second, "cron list names the line", func() bool {
		out, _ := exitOf(t, asUser(alice, x.bin, "-s", aliceSock, "cron", "list"))
		return strings.Contains(out, "cron:2")
	})
	out, code = exitOf(t, asUser(alice, x.bin, "-s", aliceSock, "status"))
	if code != 0 || !strings.Contains(out, "cron:2") || !strings.Contains(out, "RUNNING") {
		t.Errorf("status with a broken cron file: exit %d\n%s", code, out)
	}
	if s := x.users(t)[alice.Name]; s.PID != st.PID || !strings.Contains(s.ConfigError, "cron:2") {
		t.Errorf("admin users with a broken cron file: %+v", s)
	}

	// `roost shutdown` under the master is refused: the master would start
	// the supervisor again at once and the routes would flap.
	out, code = exitOf(t, asUser(alice, x.bin, "-s", aliceSock, "shutdown"))
	if code == 0 || !strings.Contains(out, "roost stop all") {
		t.Errorf("roost shutdown under the master: exit %d\n%s", code, out)
	}
	if s := x.users(t)[alice.Name]; s.PID != st.PID || s.Restarts != st.Restarts {
		t.Errorf("roost shutdown restarted the supervisor: %+v", s)
	}
}

// Root is never locked out, and never misled about a user: `roost master
// --check` names a listed user that does not exist, `roost admin users`
// never prints uid 0 for it, and a broken roost.toml on disk leaves the
// admin verbs working against the running master, with a warning.
func TestE2EAdminWithBrokenFiles(t *testing.T) {
	e := newEnv(t, testutil.UserA)
	alice := e.users[0]
	ghost := "roost-ghost-nobody"
	e.writeProject(alice, sleepConf(1000))
	e.writeConf([]string{alice.Name, ghost}, "")
	x := startMaster(t, e)

	out, code := x.roost(t, "master", "--check", "-c", e.conf)
	if code == 0 || !strings.Contains(out, ghost) || strings.Contains(out, ": valid\n") {
		t.Errorf("roost master --check with an unknown user: exit %d\n%s", code, out)
	}
	x.waitUser(t, alice.Name, 30*time.Second, "running", running)
	st := x.waitUser(t, ghost, 30*time.Second, "refused", func(s UserStatus) bool { return s.State == UserRefused })
	if st.UID != -1 {
		t.Errorf("unknown user's uid: %d, want -1", st.UID)
	}
	table, _ := x.roost(t, "admin", "users")
	for _, line := range strings.Split(table, "\n") {
		if f := strings.Fields(line); len(f) > 1 && f[0] == ghost && f[1] != "-" {
			t.Errorf("unknown user's UID column: %q", line)
		}
	}

	// Break roost.toml on disk: the master keeps running what it had.
	if err := os.WriteFile(e.conf, append(mustRead(t, e.conf), []byte("\n[users\nbroken = \n")...), 0o644); err != nil {
		t.Fatal(err)
	}
	for args, want := range map[string]string{"admin users": alice.Name + " ", "--user " + alice.Name + " status": "RUNNING"} {
		out, code := x.roost(t, strings.Fields(args)...)
		if code != 0 || !strings.Contains(out, "warning") || !strings.Contains(out, e.conf) || !strings.Contains(out, want) {
			t.Errorf("roost %v with a broken roost.toml: exit %d\n%s", args, code, out)
		}
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// programPID is the pid of alice's web, from `roost pid web`.
func programPID(t *testing.T, x *e2e, a testutil.Account, sock string) string {
	t.Helper()
	var out string
	testutil.Eventually(t, 30*time.Second, "web's pid", func() bool {
		var code int
		out, code = exitOf(t, asUser(a, x.bin, "-s", sock, "pid", "web"))
		out = lastLine(out)
		return code == 0 && out != "0" && out != ""
	})
	return out
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}
