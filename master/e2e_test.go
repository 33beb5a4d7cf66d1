package master

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"roost/internal/procfs"
	"roost/internal/testutil"
	"roost/supervisor/api"
)

// The acceptance tests: the real roost binary as `roost master`, the real
// `roost run --managed` as every user's supervisor, real programs, the real
// throwaway users, as root. The binary is built once per test run.

// roostBinary builds ./cmd/roost, once, into a directory every user can
// read, through the master's spawn (see runRegistered).
func roostBinary(t *testing.T) string {
	t.Helper()
	return testutil.RoostBinary(t, combinedRegistered)
}

// combinedRegistered is exec.Cmd.CombinedOutput through runRegistered.
func combinedRegistered(cmd *exec.Cmd) ([]byte, error) {
	out, ps, err := runRegistered(cmd)
	if err == nil && !ps.Success() {
		err = fmt.Errorf("%v", ps)
	}
	return out, err
}

// runRegistered runs cmd to completion through the master's spawn (this
// test process is a subreaper whose reaper would otherwise reap cmd under
// its Wait) and returns its combined output and exit state.
func runRegistered(cmd *exec.Cmd) ([]byte, *os.ProcessState, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, nil, err
	}
	cmd.Stdout, cmd.Stderr = w, w
	c, err := spawn(cmd)
	w.Close()
	if err != nil {
		r.Close()
		return nil, nil, err
	}
	out, _ := io.ReadAll(r)
	r.Close()
	return out, c.wait(), nil
}

// asUser runs roost (or another program) as a throwaway user.
func asUser(a testutil.Account, name string, args ...string) *exec.Cmd {
	cmd := exec.Command(name, args...)
	groups := make([]uint32, len(a.Groups))
	for i, g := range a.Groups {
		groups[i] = uint32(g)
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(a.UID), Gid: uint32(a.GID), Groups: groups}}
	cmd.Env = []string{"HOME=" + a.Home, "USER=" + a.Name, "PATH=/usr/bin:/bin"}
	cmd.Dir = "/"
	return cmd
}

// e2e is one real `roost master` process.
type e2e struct {
	*env
	bin  string
	proc *child
	log  *tailBuffer
	eof  chan struct{}
}

// startMaster starts `roost master -c roost.toml` with SUDO_USER and a
// secret in its environment, which no user process may see.
func startMaster(t *testing.T, e *env) *e2e {
	t.Helper()
	return startMasterBin(t, e, roostBinary(t))
}

// startMasterBin is startMaster with the roost binary at bin.
func startMasterBin(t *testing.T, e *env, bin string) *e2e {
	t.Helper()
	x := &e2e{env: e, bin: bin, log: newTailBuffer(1 << 20), eof: make(chan struct{})}
	cmd := exec.Command(x.bin, "master", "-c", e.conf, "--loglevel", "debug")
	cmd.Env = append(os.Environ(), "SUDO_USER=root-operator", "ROOST_E2E_SECRET=s3cr3t-of-root", "NOTIFY_SOCKET=")
	x.proc = spawnLogged(t, cmd, x.log, x.eof)
	t.Cleanup(func() {
		x.terminate(t)
		if t.Failed() {
			t.Logf("master output:\n%s", x.log.Bytes())
		}
	})
	return x
}

// spawnLogged starts cmd through the master's spawn with its stdout and
// stderr copied into log; eof (if not nil) is closed when the output ends.
func spawnLogged(t *testing.T, cmd *exec.Cmd, log *tailBuffer, eof chan struct{}) *child {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = w, w
	c, err := spawn(cmd)
	w.Close()
	if err != nil {
		r.Close()
		t.Fatal(err)
	}
	go func() {
		copyInto(log, r)
		r.Close()
		if eof != nil {
			close(eof)
		}
	}()
	return c
}

// terminate sends SIGTERM and waits for the master to exit.
func (x *e2e) terminate(t *testing.T) *os.ProcessState {
	t.Helper()
	if x.proc == nil {
		return nil
	}
	c := x.proc
	x.proc = nil
	c.signal(syscall.SIGTERM, false)
	done := make(chan *os.ProcessState, 1)
	go func() { done <- c.wait() }()
	select {
	case ps := <-done:
		<-x.eof
		return ps
	case <-time.After(90 * time.Second):
		c.signal(syscall.SIGKILL, false)
		t.Fatalf("the master did not exit after SIGTERM:\n%s", x.log.Bytes())
	}
	return nil
}

// roost runs the roost binary as root with the master's config in
// $ROOST_MASTER_CONFIG and returns its output and exit status.
func (x *e2e) roost(t *testing.T, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(x.bin, args...)
	cmd.Env = []string{"PATH=/usr/bin:/bin", "ROOST_MASTER_CONFIG=" + x.conf}
	return exitOf(t, cmd)
}

func exitOf(t *testing.T, cmd *exec.Cmd) (string, int) {
	t.Helper()
	out, ps, err := runRegistered(cmd)
	if err != nil {
		t.Fatalf("%v: %v", cmd.Args, err)
	}
	return string(out), ps.ExitCode()
}

// users returns `roost admin users --json`.
func (x *e2e) users(t *testing.T) map[string]UserStatus {
	t.Helper()
	m, err := x.tryUsers(t)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func (x *e2e) tryUsers(t *testing.T) (map[string]UserStatus, error) {
	t.Helper()
	out, code := x.roost(t, "admin", "users", "--json")
	if code != 0 {
		return nil, fmt.Errorf("roost admin users: exit %d\n%s", code, out)
	}
	var list []UserStatus
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		return nil, fmt.Errorf("roost admin users --json: %v\n%s", err, out)
	}
	m := map[string]UserStatus{}
	for _, u := range list {
		m[u.Name] = u
	}
	return m, nil
}

// waitUser polls `roost admin users` until cond holds for the user (the
// master may not be listening yet at first).
func (x *e2e) waitUser(t *testing.T, name string, timeout time.Duration, what string, cond func(UserStatus) bool) UserStatus {
	t.Helper()
	var st UserStatus
	var last error
	deadline := time.Now().Add(timeout)
	for {
		m, err := x.tryUsers(t)
		if err == nil {
			st = m[name]
			if cond(st) {
				return st
			}
			last = fmt.Errorf("last seen: %+v", st)
		} else {
			last = err
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s: %s; %v", timeout, name, what, last)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func running(st UserStatus) bool { return st.State == UserRunning && st.PID > 0 }

// project writes a user's supervisord.conf (in a project dir owned by the
// user, made as root then chowned, as an admin or a deploy would).
func (e *env) writeProject(a testutil.Account, body string) {
	e.t.Helper()
	dir := filepath.Join(a.Home, e.project)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		e.t.Fatal(err)
	}
	os.Chown(dir, a.UID, a.GID)
	f := filepath.Join(dir, "supervisord.conf")
	tmp := f + ".tmp"
	if err := os.WriteFile(tmp, []byte(body), 0o644); err != nil {
		e.t.Fatal(err)
	}
	os.Chown(tmp, a.UID, a.GID)
	if err := os.Rename(tmp, f); err != nil {
		e.t.Fatal(err)
	}
}

// programs returns a user's processes (descendants of this test, which is
// a subreaper: nothing can escape it) with that command name.
func programs(t *testing.T, a testutil.Account, comm string) []procfs.Proc {
	return userProcs(t, a.UID, comm)
}

func sleepConf(seconds int) string {
	return fmt.Sprintf("[supervisord]\n[program:web]\ncommand=/bin/sleep %d\nstartsecs=0\n", seconds)
}

// Credentials, environment and descriptors of every supervisor and program.
func TestE2ECredentialsEnvironmentFDs(t *testing.T) {
	e := newEnv(t, testutil.UserA, testutil.UserB)
	for i, a := range e.users {
		e.writeProject(a, sleepConf(1000+i))
	}
	e.writeConf([]string{testutil.UserA, testutil.UserB}, "")
	x := startMaster(t, e)
	for i, a := range e.users {
		st := x.waitUser(t, a.Name, 20*time.Second, "running with its program", func(s UserStatus) bool {
			return running(s) && s.ProgramsRunning == 1
		})
		var prog procfs.Proc
		testutil.Eventually(t, 10*time.Second, "the program", func() bool {
			ps := programs(t, a, "sleep")
			if len(ps) == 1 {
				prog = ps[0]
			}
			return len(ps) == 1
		})
		for what, pid := range map[string]int{"supervisor": st.PID, "program": prog.PID} {
			s := procStatus(t, pid)
			uid, gid := strconv.Itoa(a.UID), strconv.Itoa(a.GID)
			if s["Uid"] != strings.Repeat(uid+" ", 3)+uid || s["Gid"] != strings.Repeat(gid+" ", 3)+gid {
				t.Errorf("%s's %s: Uid %q Gid %q", a.Name, what, s["Uid"], s["Gid"])
			}
			var want []string
			for _, g := range a.Groups {
				want = append(want, strconv.Itoa(g))
			}
			got := strings.Fields(s["Groups"])
			slices.Sort(want)
			slices.Sort(got)
			if !slices.Equal(want, got) {
				t.Errorf("%s's %s: Groups %v, want %v", a.Name, what, got, want)
			}
			env := procEnviron(t, pid)
			port := strconv.Itoa(st.PortBase)
			for _, kv := range []string{"HOME=" + a.Home, "USER=" + a.Name, "LOGNAME=" + a.Name, "PORT=" + port} {
				if !slices.Contains(env, kv) {
					t.Errorf("%s's %s: %s missing from %v", a.Name, what, kv, env)
				}
			}
			for _, kv := range env {
				if strings.Contains(kv, "SUDO_USER") || strings.Contains(kv, "s3cr3t") || strings.HasPrefix(kv, "NOTIFY_SOCKET") {
					t.Errorf("%s's %s got root's %s", a.Name, what, kv)
				}
			}
		}
		if st.PortBase != 20000+10*i {
			t.Errorf("%s: port block %d", a.Name, st.PortBase)
		}
		fds := procFDs(t, prog.PID)
		if len(fds) != 3 || fds[0] == "" || fds[1] == "" || fds[2] == "" {
			t.Errorf("%s's program has fds %v, want only 0, 1 and 2", a.Name, fds)
		}
	}
	// The users' logs are theirs, made by their supervisors.
	a := e.users[0]
	fi, err := os.Stat(filepath.Join(a.Home, "log", "roost.log"))
	if err != nil || fi.Sys().(*syscall.Stat_t).Uid != uint32(a.UID) {
		t.Errorf("~/log/roost.log: %v %v", fi, err)
	}
}

// A user cannot use another user's socket, even with its mode loosened:
// the server checks SO_PEERCRED.
func TestE2EPeerCredentials(t *testing.T) {
	e := newEnv(t, testutil.UserA, testutil.UserB)
	alice, bob := e.users[0], e.users[1]
	e.writeConf([]string{alice.Name}, "")
	x := startMaster(t, e)
	x.waitUser(t, alice.Name, 20*time.Second, "running", running)
	dir := filepath.Join(e.runDir, "users", alice.Name)
	sock := filepath.Join(dir, SocketName)
	os.Chmod(dir, 0o755)
	os.Chmod(sock, 0o666)
	out, _ := exitOf(t, asUser(bob, helperExe, "probe-socket", sock))
	if strings.TrimSpace(out) != "403" {
		t.Errorf("bob on alice's loosened socket: %q, want HTTP 403", out)
	}
	out, _ = exitOf(t, asUser(alice, helperExe, "probe-socket", sock))
	if strings.TrimSpace(out) != "200" {
		t.Errorf("alice on her socket: %q, want HTTP 200", out)
	}
	// The roost client as bob refuses too, before asking anything.
	out, code := exitOf(t, asUser(bob, x.bin, "-s", sock, "status"))
	if code == 0 || !strings.Contains(out, "served by another user") {
		t.Errorf("roost status as bob: exit %d\n%s", code, out)
	}
	// And --user is for root only.
	out, code = exitOf(t, asUser(bob, x.bin, "--user", alice.Name, "status"))
	if code == 0 || !strings.Contains(out, "root only") {
		t.Errorf("roost --user as bob: exit %d\n%s", code, out)
	}
}

// probeSocket is the helper's probe-socket mode: GET /api/v1/version on a
// unix socket and print the HTTP status.
func probeSocket(path string) int {
	hc := unixHTTPClient(path)
	hc.Timeout = 10 * time.Second
	resp, err := hc.Get("http://roost/api/v1/version")
	if err != nil {
		fmt.Println("error:", err)
		return 1
	}
	resp.Body.Close()
	fmt.Println(resp.StatusCode)
	return 0
}

// A supervisord.conf dropped into a project without one runs within 2 s.
func TestE2EConfigDroppedIn(t *testing.T) {
	e := newEnv(t, testutil.UserA)
	a := e.users[0]
	e.writeConf([]string{a.Name}, "")
	x := startMaster(t, e)
	st := x.waitUser(t, a.Name, 20*time.Second, "idle and running", running)
	if st.ProgramsTotal != 0 {
		t.Fatalf("programs before any config: %+v", st)
	}
	e.writeProject(a, sleepConf(1234))
	dropped := time.Now()
	testutil.Eventually(t, 10*time.Second, "the program", func() bool { return len(programs(t, a, "sleep")) == 1 })
	if d := time.Since(dropped); d > 2*time.Second {
		t.Errorf("the dropped-in config ran after %v, want within 2s", d)
	}
	if got := x.users(t)[a.Name]; got.PID != st.PID {
		t.Errorf("the supervisor was restarted (%d → %d) to pick the config up", st.PID, got.PID)
	}
}

// kill -9 of a user supervisor: a new one within a second, its program's
// leftovers gone, exactly one copy of the program.
func TestE2EKillNine(t *testing.T) {
	e := newEnv(t, testutil.UserA)
	a := e.users[0]
	// The program leaves a grandchild behind: sleep 2000 in the background
	// is neither the program's leader nor its supervisor's child.
	e.writeProject(a, "[supervisord]\n[program:web]\ncommand=/bin/sh -c 'sleep 2000 & exec sleep 2001'\nstartsecs=0\n")
	e.writeConf([]string{a.Name}, "")
	x := startMaster(t, e)
	st := x.waitUser(t, a.Name, 20*time.Second, "running", running)
	var old []procfs.Proc
	testutil.Eventually(t, 10*time.Second, "the program and its grandchild", func() bool {
		old = programs(t, a, "sleep")
		return len(old) == 2
	})
	if err := syscall.Kill(st.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	var nst UserStatus
	testutil.Eventually(t, 5*time.Second, "a new supervisor", func() bool {
		nst = x.users(t)[a.Name]
		return nst.PID != 0 && nst.PID != st.PID
	})
	if d := time.Since(killed); d > time.Second {
		t.Errorf("new supervisor after %v, want within 1s", d)
	}
	for _, p := range old {
		if alive(p) {
			t.Errorf("the old program's process %d survived", p.PID)
		}
	}
	testutil.Eventually(t, 10*time.Second, "the new program", func() bool { return len(programs(t, a, "sleep")) == 2 })
	time.Sleep(500 * time.Millisecond)
	if ps := programs(t, a, "sleep"); len(ps) != 2 {
		t.Errorf("%d sleep processes, want exactly one copy (2)", len(ps))
	}
	nst = x.waitUser(t, a.Name, 10*time.Second, "running again", running)
	if nst.Restarts != 1 || !strings.Contains(nst.LastError, "SIGKILL") {
		t.Errorf("after kill -9: %+v", nst)
	}
}

// A project whose supervisord.conf is a symlink to a root-only file makes
// the user's own supervisor fail with "permission denied" (CONFIG-ERROR:
// it stays up, runs nothing and says so), and nothing opens the file.
func TestE2ESymlinkAttack(t *testing.T) {
	e := newEnv(t, testutil.UserA)
	a := e.users[0]
	secretDir := filepath.Join(e.dir, "secret")
	os.Mkdir(secretDir, 0o755)
	secret := filepath.Join(secretDir, "shadow")
	const content = "root:$6$TOPSECRETHASH:19000:0:99999:7:::"
	if err := os.WriteFile(secret, []byte(content+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ino, err := unix.InotifyInit1(unix.IN_NONBLOCK | unix.IN_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(ino)
	if _, err := unix.InotifyAddWatch(ino, secret, unix.IN_OPEN|unix.IN_ACCESS); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(a.Home, e.project)
	os.MkdirAll(dir, 0o755)
	os.Chown(dir, a.UID, a.GID)
	link := filepath.Join(dir, "supervisord.conf")
	if err := os.Symlink(secret, link); err != nil {
		t.Fatal(err)
	}
	os.Lchown(link, a.UID, a.GID)

	e.writeConf([]string{a.Name}, "")
	x := startMaster(t, e)
	// The file cannot be read: the supervisor stays up in CONFIG-ERROR (no
	// crash loop) and says why.
	st := x.waitUser(t, a.Name, 20*time.Second, "CONFIG-ERROR", func(s UserStatus) bool {
		return running(s) && s.Config == api.ConfigError
	})
	if !strings.Contains(st.ConfigError, "permission denied") || st.Restarts != 0 {
		t.Errorf("config error %q (restarts %d), want permission denied and no restart", st.ConfigError, st.Restarts)
	}
	out, _ := x.roost(t, "admin", "users")
	if !strings.Contains(out, "CONFIG-ERROR") || !strings.Contains(out, "permission denied") {
		t.Errorf("the error is not visible:\n%s", out)
	}
	buf := make([]byte, 4096)
	if n, _ := unix.Read(ino, buf); n > 0 {
		t.Errorf("the secret file was opened or read (%d bytes of inotify events)", n)
	}
	for what, s := range map[string]string{"admin users": out, "master log": string(x.log.Bytes())} {
		if strings.Contains(s, "TOPSECRET") {
			t.Errorf("the secret leaked into the %s", what)
		}
	}
	if logb, err := os.ReadFile(filepath.Join(a.Home, "log", "roost.log")); err == nil && bytes.Contains(logb, []byte("TOPSECRET")) {
		t.Error("the secret leaked into the user's log")
	}
}

// SIGTERM to the master stops everything: no process of the users is left.
func TestE2ESigtermLeavesNothing(t *testing.T) {
	e := newEnv(t, testutil.UserA, testutil.UserB)
	for _, a := range e.users {
		e.writeProject(a, "[supervisord]\n[program:web]\ncommand=/bin/sh -c 'sleep 3000 & exec sleep 3001'\nstartsecs=0\n"+
			"[program:stubborn]\ncommand=/bin/sh -c 'trap \"\" TERM; exec sleep 3002'\nstopwaitsecs=1\nstartsecs=0\n")
	}
	e.writeConf([]string{testutil.UserA, testutil.UserB}, "")
	x := startMaster(t, e)
	for _, a := range e.users {
		x.waitUser(t, a.Name, 20*time.Second, "running its programs", func(s UserStatus) bool { return running(s) && s.ProgramsRunning == 2 })
		testutil.Eventually(t, 10*time.Second, "3 sleeps", func() bool { return len(programs(t, a, "sleep")) == 3 })
	}
	start := time.Now()
	ps := x.terminate(t)
	if !ps.Success() {
		t.Errorf("master exit: %v\n%s", ps, x.log.Bytes())
	}
	if d := time.Since(start); d > 30*time.Second {
		t.Errorf("shutdown took %v", d)
	}
	for _, a := range e.users {
		if left := programs(t, a, ""); len(left) > 0 {
			t.Errorf("%s: %d processes survived the master: %+v", a.Name, len(left), left)
		}
	}
	for _, f := range []string{filepath.Join(e.runDir, AdminSocketName), filepath.Join(e.runDir, "users", testutil.UserA, SocketName)} {
		if _, err := os.Stat(f); !os.IsNotExist(err) {
			t.Errorf("%s left behind (%v)", f, err)
		}
	}
}

// roost admin users/restart, roost --user NAME, SIGHUP.
func TestE2EAdmin(t *testing.T) {
	e := newEnv(t, testutil.UserA, testutil.UserB)
	alice, bob := e.users[0], e.users[1]
	e.writeProject(alice, sleepConf(1500))
	e.writeConf([]string{alice.Name, "root"}, "")
	x := startMaster(t, e)
	st := x.waitUser(t, alice.Name, 20*time.Second, "running its program", func(s UserStatus) bool { return running(s) && s.ProgramsRunning == 1 })
	out, code := x.roost(t, "admin", "users")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != 0 || len(lines) != 3 || !strings.HasPrefix(lines[0], "USER") ||
		!strings.Contains(lines[1], "RUNNING") || !strings.Contains(lines[1], "1/1") || !strings.Contains(lines[1], "20000-20009") ||
		!strings.Contains(lines[2], "REFUSED") || !strings.Contains(lines[2], "uid 0") {
		t.Errorf("roost admin users: exit %d\n%s", code, out)
	}
	out, code = x.roost(t, "--user", alice.Name, "status")
	if code != 0 || !strings.Contains(out, "web") || !strings.Contains(out, "RUNNING") {
		t.Errorf("roost --user %s status: exit %d\n%s", alice.Name, code, out)
	}
	out, code = x.roost(t, "admin", "restart", alice.Name)
	if code != 0 {
		t.Errorf("roost admin restart: exit %d\n%s", code, out)
	}
	x.waitUser(t, alice.Name, 20*time.Second, "restarted", func(s UserStatus) bool { return running(s) && s.PID != st.PID })
	if out, code := x.roost(t, "admin", "restart", "nobody-here"); code == 0 || !strings.Contains(out, "no such user") {
		t.Errorf("restart of an unknown user: exit %d\n%s", code, out)
	}
	// Not root: refused by the client, and by the socket's mode.
	out, code = exitOf(t, asUser(bob, x.bin, "admin", "-c", e.conf, "users"))
	if code == 0 || !strings.Contains(out, "root only") {
		t.Errorf("roost admin users as bob: exit %d\n%s", code, out)
	}
	// SIGHUP: bob comes.
	e.writeConf([]string{alice.Name, bob.Name}, "")
	x.proc.signal(syscall.SIGHUP, false)
	x.waitUser(t, bob.Name, 20*time.Second, "running after SIGHUP", running)
	if !strings.Contains(string(x.log.Bytes()), "SIGHUP: reloading") {
		t.Errorf("no SIGHUP in the log:\n%s", x.log.Bytes())
	}
}
