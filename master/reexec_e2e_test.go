package master

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"roost/internal/procfs"
	"roost/internal/testutil"
)

// The master's own upgrades (issue 16, point 1): `roost admin reexec` and a
// master killed with SIGKILL then started again keep every user's
// supervisor and program; only a user whose settings changed gets a new
// supervisor; a stop still leaves nothing.

// hiddenConf makes roost.toml a symlink to a file in another directory, so
// that the master's watcher (on roost.toml's directory) does not see the
// edits setConf makes: they reach the master only through a re-exec or a
// new master.
func (e *env) hiddenConf(names []string, extra string) {
	e.t.Helper()
	e.writeConf(names, extra)
	real := filepath.Join(e.dir, "hidden", "roost.toml")
	if err := os.MkdirAll(filepath.Dir(real), 0o755); err != nil {
		e.t.Fatal(err)
	}
	if err := os.Rename(e.conf, real); err != nil {
		e.t.Fatal(err)
	}
	if err := os.Symlink(real, e.conf); err != nil {
		e.t.Fatal(err)
	}
}

// setHiddenConf rewrites the file behind the symlink (renamed into place
// in its own directory).
func (e *env) setHiddenConf(names []string, extra string) {
	e.t.Helper()
	real := filepath.Join(e.dir, "hidden", "roost.toml")
	if err := os.WriteFile(real+".tmp", []byte(e.confBody(names, extra)), 0o644); err != nil {
		e.t.Fatal(err)
	}
	if err := os.Rename(real+".tmp", real); err != nil {
		e.t.Fatal(err)
	}
}

// upWith waits until each user's supervisor runs its one program and
// returns the statuses and each user's programs.
func upWith(t *testing.T, x *e2e, users []testutil.Account) (map[string]UserStatus, map[string][]procfs.Proc) {
	t.Helper()
	sts := map[string]UserStatus{}
	progs := map[string][]procfs.Proc{}
	for _, a := range users {
		sts[a.Name] = x.waitUser(t, a.Name, 30*time.Second, "running its program", func(s UserStatus) bool {
			return running(s) && s.ProgramsRunning == 1
		})
		testutil.Eventually(t, 10*time.Second, a.Name+"'s program", func() bool {
			progs[a.Name] = programs(t, a, "sleep")
			return len(progs[a.Name]) == 1
		})
	}
	return sts, progs
}

// oneSupervisor checks that a user has exactly one supervisor process
// (command name roost) and that it is pid.
func oneSupervisor(t *testing.T, a testutil.Account, pid int) {
	t.Helper()
	sups := userProcs(t, a.UID, "roost")
	if len(sups) != 1 || sups[0].PID != pid {
		t.Errorf("%s: supervisor processes %+v, want exactly pid %d", a.Name, sups, pid)
	}
}

// nothingLeft checks that no process of the users remains.
func nothingLeft(t *testing.T, users []testutil.Account) {
	t.Helper()
	for _, a := range users {
		if left := programs(t, a, ""); len(left) > 0 {
			t.Errorf("%s: %d processes survived the master's stop: %+v", a.Name, len(left), left)
		}
	}
}

func TestE2EReexecKeepsPrograms(t *testing.T) {
	e := newEnv(t, testutil.UserA, testutil.UserB)
	alice, bob := e.users[0], e.users[1]
	e.writeProject(alice, sleepConf(1601))
	e.writeProject(bob, sleepConf(1602))
	names := []string{alice.Name, bob.Name}
	e.hiddenConf(names, "")
	// The master and the supervisors run a copy of roost, which step 1
	// replaces on disk, as an upgrade does.
	bin := filepath.Join(e.dir, "bin", "roost")
	os.MkdirAll(filepath.Dir(bin), 0o755)
	if err := copyFile(roostBinary(t), bin, 0o755); err != nil {
		t.Fatal(err)
	}
	x := startMasterBin(t, e, bin)
	before, progs := upWith(t, x, e.users)
	self, err := procfs.Read(x.proc.pid)
	if err != nil {
		t.Fatal(err)
	}

	// The record the next image reads: root's, private, current.
	rec := filepath.Join(e.stateDir, handoverName)
	fi, err := os.Lstat(rec)
	if err != nil {
		t.Fatal(err)
	}
	if st := fi.Sys().(*syscall.Stat_t); st.Uid != 0 || fi.Mode() != 0o600 {
		t.Errorf("%s: uid %d mode %v, want root's 0600", rec, st.Uid, fi.Mode())
	}
	if di, err := os.Stat(e.stateDir); err != nil || di.Mode().Perm() != 0o700 {
		t.Errorf("state_dir: %v %v, want 0700", di, err)
	}

	// 1. A new binary on disk (a new inode at the same path) and nothing
	// else changed: the master runs the new one, every pid stays.
	if err := copyFile(bin, bin+".new", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(bin+".new", bin); err != nil {
		t.Fatal(err)
	}
	var upgraded syscall.Stat_t
	if err := syscall.Stat(bin, &upgraded); err != nil {
		t.Fatal(err)
	}
	out, code := x.roost(t, "admin", "reexec")
	if code != 0 || !strings.Contains(out, "re-executed in place") || !strings.Contains(out, "2 user supervisors adopted, 0 of them restarted") {
		t.Fatalf("roost admin reexec: exit %d\n%s\nmaster log:\n%s", code, out, x.log.Bytes())
	}
	t.Logf("roost admin reexec: %s", strings.TrimSpace(out))
	if now, err := procfs.Read(x.proc.pid); err != nil || now.Start != self.Start {
		t.Fatalf("the master is not the same process after its re-exec: %+v %v", now, err)
	}
	if dev, ino, err := exeID(x.proc.pid); err != nil || dev != upgraded.Dev || ino != upgraded.Ino {
		t.Errorf("the master runs %d:%d (%v) after its re-exec, not the new binary %d:%d", dev, ino, err, upgraded.Dev, upgraded.Ino)
	}
	if n := strings.Count(string(x.log.Bytes()), "re-executing the master in place"); n != 1 {
		t.Errorf("%d re-execs in the log, want 1", n)
	}
	after, _ := upWith(t, x, e.users)
	// Each supervisor's output pipe crossed the exec: the master still
	// holds the pipe its stderr writes to.
	held := map[string]bool{}
	for _, target := range procFDs(t, x.proc.pid) {
		held[target] = true
	}
	for _, a := range e.users {
		if out := procFDs(t, before[a.Name].PID)[2]; !strings.HasPrefix(out, "pipe:") || !held[out] {
			t.Errorf("%s's supervisor writes to %q, which the re-executed master does not hold", a.Name, out)
		}
	}
	for _, a := range e.users {
		if after[a.Name].PID != before[a.Name].PID {
			t.Errorf("%s: supervisor %d → %d across the re-exec", a.Name, before[a.Name].PID, after[a.Name].PID)
		}
		oneSupervisor(t, a, before[a.Name].PID)
		for _, p := range progs[a.Name] {
			if !alive(p) {
				t.Errorf("%s: program %d did not survive the re-exec", a.Name, p.PID)
			}
		}
		if ps := programs(t, a, "sleep"); len(ps) != 1 {
			t.Errorf("%s: %d programs after the re-exec, want 1", a.Name, len(ps))
		}
	}
	// Each supervisor, adopted while it ran the old binary, is upgraded
	// in place to the master's, one after the other: same pid, the
	// programs too.
	for _, a := range e.users {
		pid := before[a.Name].PID
		testutil.Eventually(t, 90*time.Second, a.Name+"'s supervisor to run the new binary", func() bool {
			dev, ino, err := exeID(pid)
			return err == nil && dev == upgraded.Dev && ino == upgraded.Ino
		})
		for _, p := range progs[a.Name] {
			if !alive(p) {
				t.Errorf("%s: program %d did not survive the automatic upgrade", a.Name, p.PID)
			}
		}
	}
	// The new binary runs before the master logs the upgrade's end: wait
	// for both lines, or the next re-exec would cut the second one short.
	testutil.Eventually(t, 60*time.Second, "2 automatic upgrades in the master's log", func() bool {
		return strings.Count(string(x.log.Bytes()), "user supervisor upgraded in place") == 2
	})

	// 2. bob's settings change where the old image cannot see it: the
	// re-exec restarts bob's supervisor alone.
	e.setHiddenConf(names, fmt.Sprintf("[user.%s]\nlog_dir = \"log-reexec\"\n", bob.Name))
	out, code = x.roost(t, "admin", "reexec")
	if code != 0 || !strings.Contains(out, "1 of them restarted (settings changed): "+bob.Name) {
		t.Fatalf("roost admin reexec: exit %d\n%s\nmaster log:\n%s", code, out, x.log.Bytes())
	}
	testutil.Eventually(t, 30*time.Second, "bob's new supervisor", func() bool {
		st := x.users(t)[bob.Name]
		return running(st) && st.PID != before[bob.Name].PID && st.ProgramsRunning == 1
	})
	again, _ := upWith(t, x, e.users)
	if again[alice.Name].PID != before[alice.Name].PID {
		t.Errorf("alice's supervisor was restarted by bob's change: %d → %d", before[alice.Name].PID, again[alice.Name].PID)
	}
	for _, p := range progs[alice.Name] {
		if !alive(p) {
			t.Errorf("alice's program %d did not survive bob's change", p.PID)
		}
	}
	for _, p := range progs[bob.Name] {
		if alive(p) {
			t.Errorf("bob's old program %d survived his supervisor's restart", p.PID)
		}
	}
	oneSupervisor(t, alice, before[alice.Name].PID)
	oneSupervisor(t, bob, again[bob.Name].PID)

	// 3. The stop leaves nothing, and an empty record.
	if ps := x.terminate(t); !ps.Success() {
		t.Errorf("master exit: %v", ps)
	}
	nothingLeft(t, e.users)
	if f, err := readHandover(rec); err != nil || len(f.Supervisors) != 0 {
		t.Errorf("record after the stop: %+v %v, want no supervisor", f, err)
	}
}

func TestE2EMasterKillNineAdopts(t *testing.T) {
	e := newEnv(t, testutil.UserA, testutil.UserB)
	alice, bob := e.users[0], e.users[1]
	// alice's supervisor logs to its stderr, the master's pipe: once the
	// master is gone every line it logs meets EPIPE, and it must live on.
	e.writeProject(alice, "[supervisord]\nlogfile=/dev/stderr\n[program:web]\ncommand=/bin/sleep 1701\nstartsecs=0\n")
	e.writeProject(bob, sleepConf(1702))
	names := []string{alice.Name, bob.Name}
	e.writeConf(names, "")
	x := startMaster(t, e)
	before, progs := upWith(t, x, e.users)

	c := x.proc
	x.proc = nil
	if err := c.signal(syscall.SIGKILL, false); err != nil {
		t.Fatal(err)
	}
	c.wait()
	<-x.eof
	// Masterless: alice's program dies and her supervisor restarts it,
	// logging to a pipe nobody reads.
	if err := syscall.Kill(progs[alice.Name][0].PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	var restarted procfs.Proc
	testutil.Eventually(t, 20*time.Second, "alice's program restarted by her masterless supervisor", func() bool {
		ps := programs(t, alice, "sleep")
		if len(ps) == 1 && ps[0].PID != progs[alice.Name][0].PID {
			restarted = ps[0]
			return true
		}
		return false
	})
	for _, a := range e.users {
		oneSupervisor(t, a, before[a.Name].PID)
	}
	if !alive(progs[bob.Name][0]) {
		t.Fatalf("bob's program died with the master")
	}

	// bob's settings change while no master runs; a new master adopts
	// alice's supervisor and replaces bob's.
	e.writeConf(names, fmt.Sprintf("[user.%s]\nlog_dir = \"log-adopt\"\n", bob.Name))
	y := startMaster(t, e)
	st := y.waitUser(t, alice.Name, 30*time.Second, "alice adopted, her program counted", func(s UserStatus) bool {
		return running(s) && s.ProgramsRunning == 1
	})
	if st.PID != before[alice.Name].PID {
		t.Errorf("alice's supervisor %d → %d: not adopted", before[alice.Name].PID, st.PID)
	}
	testutil.Eventually(t, 30*time.Second, "bob's new supervisor", func() bool {
		st := y.users(t)[bob.Name]
		return running(st) && st.PID != before[bob.Name].PID && st.ProgramsRunning == 1
	})
	after, _ := upWith(t, y, e.users)
	if !alive(restarted) {
		t.Errorf("alice's program %d did not survive the new master", restarted.PID)
	}
	oneSupervisor(t, alice, before[alice.Name].PID)
	oneSupervisor(t, bob, after[bob.Name].PID)
	log := string(y.log.Bytes())
	if !strings.Contains(log, "user supervisor adopted") || !strings.Contains(log, `restarting the adopted supervisor" user=`+bob.Name) {
		t.Errorf("the new master's log does not tell the adoption:\n%s", log)
	}
	// The new master reaches the adopted supervisor's socket.
	if out, code := y.roost(t, "--user", alice.Name, "status"); code != 0 || !strings.Contains(out, "RUNNING") {
		t.Errorf("roost --user %s status: exit %d\n%s", alice.Name, code, out)
	}

	if ps := y.terminate(t); !ps.Success() {
		t.Errorf("master exit: %v", ps)
	}
	nothingLeft(t, e.users)
}

// Through nginx, a site answers every request while the master
// re-executes: the new image renders nginx's file only once it has the
// adopted supervisor's routes (router.holding).
func TestE2EReexecServesThroughNginx(t *testing.T) {
	e := newEnv(t, testutil.UserA)
	alice := e.users[0]
	base := freeRange(t)
	n := startNginx(t, filepath.Join(e.dir, "nginx"), base+99)
	host := alice.Name + ".example.test"
	e.writeProject(alice, fmt.Sprintf("[supervisord]\n[program:web]\ncommand=%s serve-http\n[proxy:web]\nhosts = %s\n", helperExe, host))
	e.writeConf([]string{alice.Name}, n.proxyConf(base, nil, ""))
	x := startMaster(t, e)
	c := n.client(1)
	body := waitGet(t, c, host, "/", "alice's site through nginx", func(code int, body string) bool {
		return code == 200 && strings.HasPrefix(body, "user="+alice.Name)
	})
	app := strings.Fields(body)[2] // pid=N

	// A bounded request loop, from before the re-exec until the new
	// image has installed nginx's file.
	started := time.Now()
	stop := make(chan struct{})
	type tally struct{ requests, failed int }
	res := make(chan tally, 1)
	go func() {
		var r tally
		defer func() { res <- r }()
		for r.requests < 20000 {
			select {
			case <-stop:
				return
			default:
			}
			r.requests++
			code, body, err := get(c, host, "/")
			if err != nil || code != 200 || !strings.Contains(body, app) {
				r.failed++
			}
		}
	}()
	out, code := x.roost(t, "admin", "reexec")
	if code != 0 {
		close(stop)
		t.Fatalf("roost admin reexec: exit %d\n%s", code, out)
	}
	testutil.Eventually(t, 60*time.Second, "the new image's first nginx install", func() bool {
		out, code := x.roost(t, "admin", "nginx", "--json")
		var st NginxStatus
		return code == 0 && json.Unmarshal([]byte(out), &st) == nil && st.Installed > 0 && st.Pending == ""
	})
	// One more request after the install, then the tally.
	waitGet(t, c, host, "/", "alice's site after the install", func(code int, body string) bool { return code == 200 })
	close(stop)
	r := <-res
	t.Logf("%d requests through nginx during the re-exec, %d failed", r.requests, r.failed)
	if r.failed > 0 {
		t.Errorf("%d of %d requests failed during the re-exec; nginx's log:\n%s", r.failed, r.requests, n.accessFailures(started, 20))
	}
	if r.requests < 2 {
		t.Errorf("only %d requests: the loop did not cover the re-exec", r.requests)
	}
}
