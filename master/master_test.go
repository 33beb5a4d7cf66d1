package master

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"roost/internal/procfs"
	"roost/internal/testutil"
)

// The supervisor each user gets runs as that user: uid, primary gid and
// exactly the user's groups (a supplementary one included, root's never),
// in its own session, with the allow-listed environment only and no
// descriptor of the master's.
func TestSupervisorCredentialsEnvironmentAndFDs(t *testing.T) {
	e := newEnv(t, testutil.UserA, testutil.UserB)
	t.Setenv("SUDO_USER", "root-operator")
	t.Setenv("ROOST_TEST_SECRET", "s3cr3t-from-root")
	e.writeConf([]string{testutil.UserA, testutil.UserB}, "[ports]\nrange = \"21000-21999\"\nper_user = 10\n")
	e.start()
	for i, a := range e.users {
		st := e.waitState(a.Name, UserRunning, 15*time.Second)
		s := procStatus(t, st.PID)
		uid := strconv.Itoa(a.UID)
		gid := strconv.Itoa(a.GID)
		if want := strings.Join([]string{uid, uid, uid, uid}, " "); s["Uid"] != want {
			t.Errorf("%s: Uid %q, want %q", a.Name, s["Uid"], want)
		}
		if want := strings.Join([]string{gid, gid, gid, gid}, " "); s["Gid"] != want {
			t.Errorf("%s: Gid %q, want %q", a.Name, s["Gid"], want)
		}
		var groups []string
		for _, g := range a.Groups {
			groups = append(groups, strconv.Itoa(g))
		}
		slices.Sort(groups)
		gotGroups := strings.Fields(s["Groups"])
		slices.Sort(gotGroups)
		if d := cmp.Diff(groups, gotGroups); d != "" {
			t.Errorf("%s: Groups (-want +got):\n%s", a.Name, d)
		}
		if slices.Contains(gotGroups, "0") {
			t.Errorf("%s: holds root's group", a.Name)
		}
		if a.Name == testutil.UserA && len(a.Groups) < 2 {
			t.Errorf("%s should have a supplementary group (scripts/setup-test-env)", a.Name)
		}
		// Its own session.
		if p, err := procfs.Read(st.PID); err != nil || p.SID != st.PID || p.PGID != st.PID {
			t.Errorf("%s: sid %d pgid %d, want its own session %d (%v)", a.Name, p.SID, p.PGID, st.PID, err)
		}

		port := 21000 + 10*i
		want := []string{
			"HOME=" + a.Home, "LANG=C.UTF-8", "LOGNAME=" + a.Name, "PATH=/usr/local/bin:/usr/bin:/bin",
			"PORT=" + strconv.Itoa(port), "ROOST_PORT_BASE=" + strconv.Itoa(port), "ROOST_PORT_COUNT=10",
			"SHELL=/bin/bash", "USER=" + a.Name, "ROOST_SOCKET_DIR=" + filepath.Join(e.runDir, socketsDirName, a.Name),
		}
		slices.Sort(want)
		if d := cmp.Diff(want, procEnviron(t, st.PID)); d != "" {
			t.Errorf("%s: environment (-want +got):\n%s", a.Name, d)
		}
		if st.PortBase != port || st.PortCount != 10 {
			t.Errorf("%s: port block %d+%d, want %d+10", a.Name, st.PortBase, st.PortCount, port)
		}

		fds := procFDs(t, st.PID)
		if fds[0] != "/dev/null" {
			t.Errorf("%s: stdin is %q, want /dev/null", a.Name, fds[0])
		}
		if !strings.HasPrefix(fds[1], "pipe:") || fds[1] != fds[2] {
			t.Errorf("%s: stdout %q stderr %q, want one pipe to the master", a.Name, fds[1], fds[2])
		}
		for n, target := range fds {
			// Beyond 0-2 only the helper's Go runtime's own (epoll, eventfd,
			// pidfd, the cgroup CPU quota files it keeps open) may exist: no
			// file, socket or pipe of the master's.
			if n > 2 && !strings.HasPrefix(target, "anon_inode:") && !strings.HasPrefix(target, "/sys/fs/cgroup/") {
				t.Errorf("%s: inherited fd %d → %s", a.Name, n, target)
			}
		}
	}
	// The run dirs: root-owned users/, each user's own 0700 directory.
	for _, a := range e.users {
		fi, err := os.Lstat(filepath.Join(e.runDir, "users", a.Name))
		if err != nil {
			t.Fatal(err)
		}
		st := fi.Sys().(*syscall.Stat_t)
		if fi.Mode().Perm() != 0o700 || !fi.IsDir() || int(st.Uid) != a.UID || int(st.Gid) != a.GID {
			t.Errorf("%s: run dir mode %v owner %d:%d", a.Name, fi.Mode(), st.Uid, st.Gid)
		}
	}
	fi, err := os.Stat(filepath.Join(e.runDir, AdminSocketName))
	if err != nil || fi.Mode().Perm() != 0o600 || fi.Mode().Type() != os.ModeSocket {
		t.Errorf("admin socket: %v %v", fi, err)
	}
}

// kill -9 of a user supervisor: a new one within a second, the old one's
// programs gone first, exactly one copy running.
func TestKillNineRestartsWithoutLeftovers(t *testing.T) {
	e := newEnv(t, testutil.UserA)
	a := e.users[0]
	e.script(a, e.project, "fork")
	e.writeConf([]string{a.Name}, "")
	e.start()
	st := e.waitState(a.Name, UserStarting, 15*time.Second)
	var progs []procfs.Proc
	testutil.Eventually(t, 10*time.Second, "the program", func() bool {
		progs = userProcs(t, a.UID, "sleep")
		return len(progs) == 1
	})
	old := progs[0]

	if err := syscall.Kill(st.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	var nst UserStatus
	testutil.Eventually(t, 5*time.Second, "a new supervisor", func() bool {
		var ok bool
		nst, ok = e.status(a.Name)
		return ok && nst.PID != 0 && nst.PID != st.PID
	})
	if d := time.Since(killed); d > time.Second {
		t.Errorf("new supervisor after %v, want within 1s", d)
	}
	if alive(old) {
		t.Errorf("the old supervisor's program %d survived the restart", old.PID)
	}
	testutil.Eventually(t, 10*time.Second, "the new program", func() bool { return len(userProcs(t, a.UID, "sleep")) == 1 })
	// Stay a moment: still exactly one copy.
	time.Sleep(300 * time.Millisecond)
	if n := len(userProcs(t, a.UID, "sleep")); n != 1 {
		t.Errorf("%d copies of the program, want 1", n)
	}
	nst = e.waitState(a.Name, UserRunning, 10*time.Second)
	if nst.Restarts != 1 {
		t.Errorf("restarts %d, want 1", nst.Restarts)
	}
	if !strings.Contains(nst.LastError, "terminated by SIGKILL") {
		t.Errorf("last error %q, want it to say SIGKILL", nst.LastError)
	}
	if !strings.Contains(e.logs.String(), "killed leftover processes") {
		t.Errorf("the sweep was not logged:\n%s", e.logs.String())
	}
}

// A supervisor that keeps failing is restarted with a growing delay, shows
// BACKOFF, its restarts and why it failed, with its own words sanitized.
func TestCrashLoopBackoff(t *testing.T) {
	e := newEnv(t, testutil.UserA)
	a := e.users[0]
	e.script(a, e.project, "exit 3")
	e.writeConf([]string{a.Name}, "")
	start := time.Now()
	e.start()
	var st UserStatus
	testutil.Eventually(t, 20*time.Second, "three restarts", func() bool {
		st, _ = e.status(a.Name)
		return st.Restarts >= 3
	})
	// Delays 0, 1 s, 2 s: three restarts take at least 3 s.
	if d := time.Since(start); d < 3*time.Second {
		t.Errorf("3 restarts in %v: no backoff", d)
	}
	st = e.waitState(a.Name, UserBackoff, 10*time.Second)
	if !strings.Contains(st.LastError, "exit status 3") || !strings.Contains(st.LastError, "boom: failing on purpose") {
		t.Errorf("last error %q, want the exit status and the output's tail", st.LastError)
	}
	// Fixing the config and restarting through the admin path resets it.
	e.script(a, e.project, "")
	if err := e.m.RestartUser(context.Background(), a.Name); err != nil {
		t.Fatal(err)
	}
	e.waitState(a.Name, UserRunning, 10*time.Second)
	if err := e.m.RestartUser(context.Background(), "nobody"); err == nil {
		t.Error("restart of an unknown user: no error")
	}
}

// Root, system users and unknown users are refused, visibly, and never run.
func TestRefusedUsers(t *testing.T) {
	e := newEnv(t)
	e.writeConf([]string{"root", "daemon", "no-such-user-here"}, "")
	e.start()
	reasons := map[string]string{
		"root":              "uid 0: root never gets a supervisor",
		"daemon":            "below min_uid 1000",
		"no-such-user-here": `no user "no-such-user-here"`,
	}
	for name, want := range reasons {
		st := e.waitState(name, UserRefused, 10*time.Second)
		if !strings.Contains(st.LastError, want) || st.PID != 0 {
			t.Errorf("%s: %+v, want refused with %q", name, st, want)
		}
	}
	if err := e.m.RestartUser(context.Background(), "root"); err == nil || !strings.Contains(err.Error(), "refused") {
		t.Errorf("restart root: %v", err)
	}
}

// A full port range is an error for the extra users, not a crash.
func TestPortRangeFull(t *testing.T) {
	e := newEnv(t, testutil.UserA, testutil.UserB)
	e.writeConf([]string{testutil.UserA, testutil.UserB}, "[ports]\nrange = \"22000-22009\"\nper_user = 10\n")
	e.start()
	e.waitState(testutil.UserA, UserRunning, 15*time.Second)
	st := e.waitState(testutil.UserB, UserRefused, 10*time.Second)
	if !strings.Contains(st.LastError, "no free port block") {
		t.Errorf("bob: %q", st.LastError)
	}
}

// SIGHUP/roost.toml changes: new users start, removed users stop cleanly,
// a user whose settings changed restarts alone, an invalid file changes
// nothing.
func TestReload(t *testing.T) {
	e := newEnv(t, testutil.UserA, testutil.UserB)
	alice, bob := e.users[0], e.users[1]
	e.writeConf([]string{alice.Name}, "")
	e.start()
	a1 := e.waitState(alice.Name, UserRunning, 15*time.Second)

	// The file watcher picks up a new user.
	e.writeConf([]string{alice.Name, bob.Name}, "")
	b1 := e.waitState(bob.Name, UserRunning, 15*time.Second)
	if a, _ := e.status(alice.Name); a.PID != a1.PID {
		t.Errorf("alice restarted (%d → %d) when bob was added", a1.PID, a.PID)
	}

	// An invalid file is reported and changes nothing.
	os.WriteFile(e.conf, []byte("[users]\nnames = [\"x\"]\nbogus = 1\n"), 0o644)
	err := e.m.Reload(context.Background())
	if err == nil || !strings.Contains(err.Error(), "roost.toml:3: [users] bogus: unknown key") {
		t.Errorf("invalid reload: %v", err)
	}
	for _, want := range []UserStatus{a1, b1} {
		if st, _ := e.status(want.Name); st.PID != want.PID {
			t.Errorf("%s changed after an invalid reload", want.Name)
		}
	}

	// alice's project changes: only alice restarts.
	e.writeConf([]string{alice.Name, bob.Name}, fmt.Sprintf("[user.%s]\nproject = %q\n", alice.Name, e.project+"-b"))
	t.Cleanup(func() { os.RemoveAll(filepath.Join(alice.Home, e.project+"-b")) })
	if err := e.m.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 15*time.Second, "alice on her new project", func() bool {
		st, _ := e.status(alice.Name)
		return st.PID != 0 && st.PID != a1.PID && st.State == UserRunning
	})
	if st, _ := e.status(alice.Name); st.Project != filepath.Join(alice.Home, e.project+"-b") {
		t.Errorf("alice's project %q", st.Project)
	}
	if st, _ := e.status(bob.Name); st.PID != b1.PID {
		t.Errorf("bob restarted when only alice's settings changed")
	}

	// bob is removed: stopped cleanly (SIGTERM, exit 0), his run dir gone.
	e.writeConf([]string{alice.Name}, "")
	if err := e.m.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 15*time.Second, "bob's supervisor to go", func() bool {
		_, ok := e.status(bob.Name)
		_, err := os.Stat(filepath.Join(e.runDir, "users", bob.Name))
		return !ok && os.IsNotExist(err) && len(userProcs(t, bob.UID, "")) == 0
	})
	if strings.Contains(e.logs.String(), "user="+bob.Name+" msg=\"user supervisor exited unexpectedly") {
		t.Errorf("bob's stop was not clean:\n%s", e.logs.String())
	}
}

// A supervisor that ignores SIGTERM is killed after stopwaitsecs; SIGTERM
// to the master leaves no process behind.
func TestShutdownLeavesNothing(t *testing.T) {
	e := newEnv(t, testutil.UserA, testutil.UserB)
	alice, bob := e.users[0], e.users[1]
	e.script(alice, e.project, "fork", "fork")
	e.script(bob, e.project, "fork", "ignore-term")
	e.writeConf([]string{alice.Name, bob.Name}, "stopwaitsecs = 1\n")
	e.start()
	for _, a := range e.users {
		e.waitState(a.Name, UserRunning, 15*time.Second)
	}
	testutil.Eventually(t, 10*time.Second, "the programs", func() bool {
		return len(userProcs(t, alice.UID, "sleep")) == 2 && len(userProcs(t, bob.UID, "sleep")) == 1
	})
	start := time.Now()
	if err := e.stop(); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 20*time.Second {
		t.Errorf("shutdown took %v", d)
	}
	for _, a := range e.users {
		if left := userProcs(t, a.UID, ""); len(left) > 0 {
			t.Errorf("%s: %d processes left after shutdown: %+v", a.Name, len(left), left)
		}
	}
	if !strings.Contains(e.logs.String(), "did not stop in time: killing it") {
		t.Errorf("bob's supervisor ignored SIGTERM and was not killed:\n%s", e.logs.String())
	}
	if _, err := os.Stat(filepath.Join(e.runDir, AdminSocketName)); !os.IsNotExist(err) {
		t.Errorf("admin socket left: %v", err)
	}
}

// The port block survives a restart of the master.
func TestPortBlockStableAcrossMasterRestarts(t *testing.T) {
	e := newEnv(t, testutil.UserA, testutil.UserB)
	e.writeConf([]string{testutil.UserB, testutil.UserA}, "")
	e.start()
	b1 := e.waitState(testutil.UserB, UserRunning, 15*time.Second)
	e.stop()

	e.writeConf([]string{testutil.UserA, testutil.UserB}, "")
	e.start()
	b2 := e.waitState(testutil.UserB, UserRunning, 15*time.Second)
	if b1.PortBase != b2.PortBase || b1.PortBase == 0 {
		t.Errorf("bob's block moved from %d to %d", b1.PortBase, b2.PortBase)
	}
	env := procEnviron(t, b2.PID)
	if !slices.Contains(env, "PORT="+strconv.Itoa(b1.PortBase)) {
		t.Errorf("bob's PORT: %v", env)
	}
}

// The master refuses directories and a roost.toml that others could change.
func TestRefusesUnsafeDirectoriesAndConfig(t *testing.T) {
	e := newEnv(t, testutil.UserA)
	a := e.users[0]
	e.writeConf([]string{a.Name}, "")

	os.Chmod(e.conf, 0o666)
	if _, err := New(Options{ConfigFile: e.conf, Executable: e.exe}); err == nil || !strings.Contains(err.Error(), "writable by group or others") {
		t.Errorf("world-writable roost.toml: %v", err)
	}
	os.Chmod(e.conf, 0o644)
	os.Chown(e.conf, a.UID, a.GID)
	if _, err := New(Options{ConfigFile: e.conf, Executable: e.exe}); err == nil || !strings.Contains(err.Error(), "must belong to root") {
		t.Errorf("user-owned roost.toml: %v", err)
	}
	os.Chown(e.conf, 0, 0)

	run := func() error {
		m, err := New(Options{ConfigFile: e.conf, Executable: e.exe, Logger: discardLogger()})
		if err != nil {
			return err
		}
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		return m.Run(ctx)
	}
	os.MkdirAll(e.runDir, 0o755)
	os.Chown(e.runDir, a.UID, a.GID)
	if err := run(); err == nil || !strings.Contains(err.Error(), "not root") {
		t.Errorf("user-owned run_dir: %v", err)
	}
	os.Chown(e.runDir, 0, 0)
	os.Chmod(e.runDir, 0o777)
	if err := run(); err == nil || !strings.Contains(err.Error(), "writable by group or others") {
		t.Errorf("world-writable run_dir: %v", err)
	}
	os.Chmod(e.runDir, 0o700)
	if err := run(); err == nil || !strings.Contains(err.Error(), "users cannot reach their sockets") {
		t.Errorf("0700 run_dir: %v", err)
	}
	os.Chmod(e.runDir, 0o755)
	os.MkdirAll(e.stateDir, 0o700)
	os.Chmod(e.dir, 0o775)
	if err := run(); err == nil || !strings.Contains(err.Error(), "parent") {
		t.Errorf("group-writable parent: %v", err)
	}
	os.Chmod(e.dir, 0o755)
	if err := run(); err != nil {
		t.Errorf("sound directories: %v", err)
	}
}

// The per-user run directory is made without following symlinks, and a
// directory left by another uid is not handed over.
func TestEnsureUserDir(t *testing.T) {
	testutil.RequireRoot(t)
	a := testutil.RequireUser(t, testutil.UserA)
	b := testutil.RequireUser(t, testutil.UserB)
	users := t.TempDir()
	target := t.TempDir()
	if err := os.Symlink(target, filepath.Join(users, a.Name)); err != nil {
		t.Fatal(err)
	}
	if err := ensureUserDir(users, a.Name, a.UID, a.GID); err == nil {
		t.Error("a symlink was accepted as the user's run dir")
	}
	if fi, _ := os.Stat(target); fi.Sys().(*syscall.Stat_t).Uid != 0 {
		t.Error("the symlink's target was chowned")
	}
	os.Remove(filepath.Join(users, a.Name))

	dir := filepath.Join(users, a.Name)
	os.Mkdir(dir, 0o755)
	os.WriteFile(filepath.Join(dir, "old.sock.lock"), nil, 0o600)
	os.Chown(dir, b.UID, b.GID)
	if err := ensureUserDir(users, a.Name, a.UID, a.GID); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Lstat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if st := fi.Sys().(*syscall.Stat_t); int(st.Uid) != a.UID || fi.Mode().Perm() != 0o700 {
		t.Errorf("owner %d mode %v", st.Uid, fi.Mode())
	}
	if _, err := os.Stat(filepath.Join(dir, "old.sock.lock")); !os.IsNotExist(err) {
		t.Error("the previous owner's files were handed over")
	}
	// Idempotent.
	if err := ensureUserDir(users, a.Name, a.UID, a.GID); err != nil {
		t.Fatal(err)
	}
}

func TestBackoffDelay(t *testing.T) {
	want := []time.Duration{0, time.Second, 2 * time.Second, 3 * time.Second}
	for i, w := range want {
		if got := backoffDelay(i + 1); got != w {
			t.Errorf("failure %d: %v, want %v", i+1, got, w)
		}
	}
	if got := backoffDelay(1000); got != backoffMax {
		t.Errorf("capped at %v, want %v", got, backoffMax)
	}
}
