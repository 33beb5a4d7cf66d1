package main

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"roost/internal/testutil"
	"roost/supervisor/api"
)

// project writes a supervisord.conf made of the given program sections
// (plus a socket and logs in the directory) and returns its path and the
// socket's.
func project(t *testing.T, dir, programs string) (conf, sock string) {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	sock = filepath.Join(dir, "roost.sock")
	conf = filepath.Join(dir, "supervisord.conf")
	writeConf(t, conf, programs)
	return conf, sock
}

func writeConf(t *testing.T, conf, programs string) {
	t.Helper()
	text := "[unix_http_server]\nfile=%(here)s/roost.sock\n\n" +
		"[supervisord]\nlogfile=%(here)s/main.log\nchildlogdir=%(here)s\n\n" + programs
	// Write and rename, as editors do, so a reader never sees half a file.
	tmp := conf + ".tmp"
	if err := os.WriteFile(tmp, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, conf); err != nil {
		t.Fatal(err)
	}
}

func pidOf(infos []api.ProcessInfo, name string) int {
	for _, in := range infos {
		if in.Namespec() == name {
			return in.PID
		}
	}
	return 0
}

func allRunning(names ...string) func([]api.ProcessInfo) bool {
	return func(infos []api.ProcessInfo) bool {
		for _, n := range names {
			found := false
			for _, in := range infos {
				if in.Namespec() == n {
					found = in.State == api.Running
				}
			}
			if !found {
				return false
			}
		}
		return true
	}
}

// gone reports whether pid no longer exists (test-only probe).
func gone(pid int) bool {
	return errors.Is(syscall.Kill(pid, 0), syscall.ESRCH)
}

func TestRunBadConfigChangesNothing(t *testing.T) {
	conf, sock := project(t, "", "[program:web]\ncommand=/bin/sleep 1000\nstartsecs=abc\n\n[program:other]\nnumprocs=x\ncommand=/bin/true\n")
	p := startProc(t, roostCmd("run", "-c", conf))
	if code := p.wait(t, 30*time.Second); code != 2 {
		t.Errorf("exit status %d, want 2 (supervisord's for a bad configuration)", code)
	}
	out := p.out.String()
	for _, want := range []string{conf + ":10:", "startsecs", conf + ":13:", "numprocs", "nothing was started"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if _, err := os.Stat(sock); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a socket was created for a bad configuration: %v", err)
	}
}

func TestRunStopsEverythingOnSignal(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT, syscall.SIGQUIT} {
		t.Run(sig.String(), func(t *testing.T) {
			conf, sock := project(t, "", "[program:a]\ncommand=/bin/sleep 1000\npriority=1\n\n"+
				"[program:b]\ncommand=/bin/sleep 1000\npriority=2\n")
			p := startProc(t, roostCmd("run", "--no-watch", "-c", conf))
			c := dialWhenUp(t, sock, p)
			infos := waitState(t, c, "a and b running", allRunning("a", "b"))
			p.cmd.Process.Signal(sig)
			if code := p.wait(t, 30*time.Second); code != 0 {
				t.Errorf("exit status %d after %v, want 0; output:\n%s", code, sig, p.out.String())
			}
			for _, n := range []string{"a", "b"} {
				if pid := pidOf(infos, n); !gone(pid) {
					t.Errorf("%s (pid %d) still runs after roost exited", n, pid)
				}
			}
			// Reverse priority order: b stops before a.
			out := p.out.String()
			if ia, ib := strings.Index(out, "stopped: a"), strings.Index(out, "stopped: b"); ia < 0 || ib < 0 || ib > ia {
				t.Errorf("want b stopped before a; output:\n%s", out)
			}
			if _, err := os.Stat(sock); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("socket left behind: %v", err)
			}
		})
	}
}

func TestRunShutdownVerb(t *testing.T) {
	conf, sock := project(t, "", "[program:a]\ncommand=/bin/sleep 1000\n")
	p := startProc(t, roostCmd("run", "-c", conf))
	c := dialWhenUp(t, sock, p)
	waitState(t, c, "a running", allRunning("a"))
	out, _, code := roost(t, "-c", conf, "shutdown")
	if out != "Shut down\n" || code != 0 {
		t.Errorf("shutdown: exit %d, %q", code, out)
	}
	if code := p.wait(t, 30*time.Second); code != 0 {
		t.Errorf("roost run exit status %d after shutdown, want 0", code)
	}
}

func TestRunHUPAppliesOnlyChanges(t *testing.T) {
	conf, sock := project(t, "", "[program:same]\ncommand=/bin/sleep 1000\n\n[program:changed]\ncommand=/bin/sleep 1000\n")
	p := startProc(t, roostCmd("run", "--no-watch", "-c", conf))
	c := dialWhenUp(t, sock, p)
	before := waitState(t, c, "both running", allRunning("same", "changed"))

	writeConf(t, conf, "[program:same]\ncommand=/bin/sleep 1000\n\n[program:changed]\ncommand=/bin/sleep 1001\n\n"+
		"[program:added]\ncommand=/bin/sleep 1000\n")
	p.cmd.Process.Signal(syscall.SIGHUP)
	after := waitState(t, c, "the change applied", func(infos []api.ProcessInfo) bool {
		return allRunning("same", "changed", "added")(infos) && pidOf(infos, "changed") != pidOf(before, "changed")
	})
	if pidOf(after, "same") != pidOf(before, "same") {
		t.Errorf("HUP restarted an unchanged program (pid %d -> %d)", pidOf(before, "same"), pidOf(after, "same"))
	}

	// A broken file changes nothing and roost keeps running.
	writeConf(t, conf, "[program:same]\ncommand=/bin/sleep 1000\nstartsecs=x\n")
	p.cmd.Process.Signal(syscall.SIGHUP)
	out, _, code := roost(t, "-s", sock, "reread")
	if code != 1 || !strings.Contains(out, "ERROR: CANT_REREAD") || !strings.Contains(out, conf+":10:") {
		t.Errorf("reread of a broken file: exit %d, %q", code, out)
	}
	now := waitState(t, c, "still running", allRunning("same", "changed", "added"))
	for _, n := range []string{"same", "changed", "added"} {
		if pidOf(now, n) != pidOf(after, n) {
			t.Errorf("%s restarted after a broken HUP", n)
		}
	}
	// What the process says beside the runtime (here: the HUP it could not
	// apply) is a main-log line like the others, not slog's key=value
	// format beside them (issue 12: two log formats in one file).
	testutil.Eventually(t, 30*time.Second, "the HUP failure in the main log's format", func() bool {
		return strings.Contains(p.out.String(), " ERRO HUP: configuration not applied err=")
	})
	if strings.Contains(p.out.String(), "level=") {
		t.Errorf("a line in slog's text format beside the main log's:\n%s", p.out.String())
	}
}

func TestRunUSR2ReopensLogs(t *testing.T) {
	dir := t.TempDir()
	conf, sock := project(t, dir, "[program:talker]\ncommand=/bin/sh -c 'while :; do echo tick; sleep 0.1; done'\n"+
		"stdout_logfile=%(here)s/talker.log\n")
	p := startProc(t, roostCmd("run", "--no-watch", "-c", conf))
	c := dialWhenUp(t, sock, p)
	waitState(t, c, "talker running", allRunning("talker"))
	logPath := filepath.Join(dir, "talker.log")
	if err := os.Rename(logPath, logPath+".old"); err != nil {
		t.Fatal(err)
	}
	p.cmd.Process.Signal(syscall.SIGUSR2)
	deadline := time.Now().Add(30 * time.Second)
	for {
		if b, err := os.ReadFile(logPath); err == nil && strings.Contains(string(b), "tick") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not reopened after USR2; output:\n%s", logPath, p.out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestRunSocketTaken(t *testing.T) {
	conf, sock := project(t, "", "[program:a]\ncommand=/bin/sleep 1000\n")
	p := startProc(t, roostCmd("run", "--no-watch", "-c", conf))
	dialWhenUp(t, sock, p)
	second := startProc(t, roostCmd("run", "--no-watch", "-c", conf))
	if code := second.wait(t, 30*time.Second); code != 2 {
		t.Errorf("second roost on the same socket: exit %d, want 2", code)
	}
	if out := second.out.String(); !strings.Contains(out, "another roost is running on "+sock) {
		t.Errorf("second roost said: %s", out)
	}
	if _, err := api.Dial(sock); err != nil {
		t.Errorf("the first roost's socket is gone: %v", err)
	}
}

// TestRunDropsPrivileges runs roost as root with [supervisord] user=: roost
// itself and its programs must run as that user, with the user's groups.
func TestRunDropsPrivileges(t *testing.T) {
	alice := testutil.RequireUser(t, testutil.UserA)
	dir, err := os.MkdirTemp("", "roost-drop-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chown(dir, alice.UID, alice.GID)
	os.Chmod(dir, 0o755)
	conf := filepath.Join(dir, "supervisord.conf")
	writeConf(t, conf, "[supervisord]\nuser="+alice.Name+"\n\n[program:who]\ncommand=/bin/sh -c 'id -u; id -G; env; exec sleep 1000'\n"+
		"stdout_logfile=%(here)s/who.log\n")
	sock := filepath.Join(dir, "roost.sock")
	cmd := roostCmd("run", "--no-watch", "-c", conf)
	cmd.Env = append(cmd.Env, "SUDO_USER=someone", "ROOST_TEST_SECRET=hunter2", "HOME=/root", "LANG=C.UTF-8")
	p := startProc(t, cmd)
	c := dialWhenUp(t, sock, p)
	waitState(t, c, "who running", allRunning("who"))

	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("Uid:\t%d\t%d\t%d\t%d", alice.UID, alice.UID, alice.UID, alice.UID)
	if !strings.Contains(string(status), want) {
		t.Errorf("roost's own credentials are not alice's:\n%s", status)
	}
	deadline := time.Now().Add(30 * time.Second)
	var lines []string
	for len(lines) < 2 {
		b, _ := os.ReadFile(filepath.Join(dir, "who.log"))
		lines = strings.Split(strings.TrimSpace(string(b)), "\n")
		if time.Now().After(deadline) {
			t.Fatalf("who.log: %q", b)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if lines[0] != strconv.Itoa(alice.UID) {
		t.Errorf("program uid %q, want %d", lines[0], alice.UID)
	}
	checkGroups(t, "program", lines[1], alice)
	// The environment is alice's, not root's: the "clean env".
	for len(lines) < 6 || !slices.Contains(lines, "SUPERVISOR_ENABLED=1") {
		b, _ := os.ReadFile(filepath.Join(dir, "who.log"))
		lines = strings.Split(strings.TrimSpace(string(b)), "\n")
		if time.Now().After(deadline) {
			t.Fatalf("who.log: %q", b)
		}
		time.Sleep(20 * time.Millisecond)
	}
	env := lines[2:]
	for _, bad := range []string{"SUDO_USER=", "ROOST_TEST_SECRET=", "HOME=/root"} {
		for _, kv := range env {
			if strings.HasPrefix(kv, bad) {
				t.Errorf("root's %s reached the program: %q", bad, kv)
			}
		}
	}
	for _, want := range []string{"HOME=" + alice.Home, "USER=" + alice.Name, "LOGNAME=" + alice.Name, "LANG=C.UTF-8"} {
		if !slices.Contains(env, want) {
			t.Errorf("program environment lacks %s: %q", want, env)
		}
	}
}

// copyHello copies examples/hello into a fresh directory, with the web app
// on port and the go found on the test's PATH (as root, roost gives
// programs a fixed PATH).
func copyHello(t *testing.T, port int, goBin string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "hello")
	os.MkdirAll(filepath.Join(dir, "logs"), 0o755)
	for _, f := range []string{"supervisord.conf", "web.go", "cron"} {
		b, err := os.ReadFile(filepath.Join("..", "..", "examples", "hello", f))
		if err != nil {
			t.Fatal(err)
		}
		if f == "supervisord.conf" {
			// A repeated section merges into the first, as in ConfigParser.
			b = append(b, fmt.Sprintf("\n[program:web]\nenvironment=PORT=\"%d\",PATH=\"%s:/usr/bin:/bin\"\n",
				port, filepath.Dir(goBin))...)
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestHelloExample runs examples/hello under roost: the web app answers on
// its port, the workers log, `roost logs` merges them; then under the real
// supervisord, whose status must list the same processes and states.
func TestHelloExample(t *testing.T) {
	goBin := testutil.RequireBinary(t, "go")
	port := testutil.FreePort(t)
	dir := copyHello(t, port, goBin)
	conf := filepath.Join(dir, "supervisord.conf")
	p := startProc(t, roostCmd("run", "-c", conf))
	c := dialWhenUp(t, filepath.Join(dir, ".roost.sock"), p)
	waitState(t, c, "hello running", allRunning("web", "workers:worker_0", "workers:worker_1"))

	var body string
	deadline := time.Now().Add(120 * time.Second) // go run compiles first
	for !strings.HasPrefix(body, "hello from web") {
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/", port))
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			body = string(b)
		}
		if time.Now().After(deadline) {
			t.Fatalf("web never answered on port %d (%v); roost output:\n%s", port, err, p.out.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	deadline = time.Now().Add(30 * time.Second)
	for {
		out, _, _ := roost(t, "-c", conf, "logs", "-n", "5")
		if strings.Contains(out, "workers:worker_1 | worker 1: tick") && strings.Contains(out, fmt.Sprintf("%-16s | ", "web")) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("roost logs: %q", out)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// The example's cron file runs too: its @reboot job has written its line.
	for {
		out, _, _ := roost(t, "-c", conf, "cron", "log", "booted")
		if strings.Contains(out, " booted | started in "+dir+"\n") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("roost cron log booted: %q", out)
		}
		time.Sleep(100 * time.Millisecond)
	}
	statusRoost, _, code := roost(t, "-c", conf, "status")
	if code != 0 {
		t.Errorf("status exit %d:\n%s", code, statusRoost)
	}
	out, _, code := roost(t, "-c", conf, "shutdown")
	if code != 0 || p.wait(t, 60*time.Second) != 0 {
		t.Fatalf("shutdown: %d %q; output:\n%s", code, out, p.out.String())
	}
	// No run state is left in the project: a later `cp -r` as another user works.
	for _, f := range []string{".roost.sock", ".roost.sock.lock"} {
		if _, err := os.Lstat(filepath.Join(filepath.Dir(conf), f)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s left in the project after shutdown: %v", f, err)
		}
	}

	// The oracle runs the same file.
	sv := testutil.RequireBinary(t, "supervisord")
	ctl := testutil.RequireBinary(t, "supervisorctl")
	svp := startProc(t, exec.Command(sv, "-n", "-c", conf))
	deadline = time.Now().Add(120 * time.Second)
	for {
		b, _ := exec.Command(ctl, "-c", conf, "status").CombinedOutput()
		if normalize(string(b)) == normalize(statusRoost) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("supervisorctl status:\n%s\nroost status:\n%s\nsupervisord output:\n%s", b, statusRoost, svp.out.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	exec.Command(ctl, "-c", conf, "shutdown").Run()
	svp.wait(t, 60*time.Second)
}

// checkGroups checks what's groups (the output of id -G) as a process
// running as user: all of the user's groups, and never root's group 0.
func checkGroups(t *testing.T, what, idG string, user testutil.Account) {
	t.Helper()
	var gids []int
	for _, f := range strings.Fields(idG) {
		g, _ := strconv.Atoi(f)
		gids = append(gids, g)
	}
	for _, g := range user.Groups {
		if !slices.Contains(gids, g) {
			t.Errorf("%s groups %v lack %s's group %d", what, gids, user.Name, g)
		}
	}
	if slices.Contains(gids, 0) {
		t.Errorf("%s kept root's group 0: %v", what, gids)
	}
}

// maintail and tail name a log file that is gone as supervisorctl does:
// "NAME: ERROR (no log file)", exit 1.
func TestRunLogVerbsWithoutFile(t *testing.T) {
	conf, sock := project(t, "", "[program:a]\ncommand=/bin/sleep 1000\nstdout_logfile=%(here)s/a.log\n")
	p := startProc(t, roostCmd("run", "-c", conf))
	c := dialWhenUp(t, sock, p)
	waitState(t, c, "a running", allRunning("a"))
	dir := filepath.Dir(conf)
	for _, f := range []string{"main.log", "a.log"} {
		if err := os.Remove(filepath.Join(dir, f)); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct{ args, want string }{
		{"maintail", "supervisord: ERROR (no log file)\n"},
		{"tail a", "a: ERROR (no log file)\n"},
	} {
		out, _, code := roost(t, append([]string{"-c", conf}, strings.Fields(tc.args)...)...)
		if out != tc.want || code != 1 {
			t.Errorf("%s: exit %d, %q; want exit 1, %q", tc.args, code, out, tc.want)
		}
	}
}
