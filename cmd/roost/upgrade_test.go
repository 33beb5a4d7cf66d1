package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"roost/internal/testutil"
	"roost/supervisor/api"
)

// The version the second build of roost reports.
const upgradedVersion = "9.9.9-upgrade"

// upgradedBinary builds roost with -X main.version=upgradedVersion.
func upgradedBinary(t *testing.T) string {
	t.Helper()
	return testutil.RoostBinaryVersion(t, nil, upgradedVersion)
}

// install copies the file src to dst (0755) by a rename, as a package
// upgrade replaces a binary that runs.
func install(t *testing.T, src, dst string) {
	t.Helper()
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	tmp := dst + ".new"
	if err := os.WriteFile(tmp, data, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, dst); err != nil {
		t.Fatal(err)
	}
}

// upgradeProject starts `roost run` from a copy of the roost binary in its
// own directory (so the test can replace it) and waits for names to run.
func upgradeProject(t *testing.T, programs string, names ...string) (dir, conf, bin string, p *supervisorProc, c *api.Client, infos []api.ProcessInfo) {
	t.Helper()
	dir = t.TempDir()
	os.Chmod(dir, 0o755)
	bin = filepath.Join(dir, "roost")
	install(t, testutil.RoostBinary(t, nil), bin)
	conf, sock := project(t, dir, programs)
	p = startProc(t, exec.Command(bin, "run", "--no-watch", "-c", conf))
	c = dialWhenUp(t, sock, p)
	infos = waitState(t, c, strings.Join(names, ", ")+" running", allRunning(names...))
	return dir, conf, bin, p, c, infos
}

// TestUpgradeKeepsProgramsAndLines: `roost upgrade` to a binary with a
// new version keeps the supervisor's pid and its programs' pids, a fast
// numbered-line writer loses and splits no line across two re-execs, and
// the real supervisorctl still works against the new image.
func TestUpgradeKeepsProgramsAndLines(t *testing.T) {
	ctl := testutil.RequireBinary(t, "supervisorctl")
	newBin := upgradedBinary(t)
	dir, conf, bin, p, c, infos := upgradeProject(t,
		"[program:lines]\ncommand=/bin/sh -c 'i=0; while :; do echo \"line $i\"; i=$((i+1)); done'\n"+
			"stdout_logfile=%(here)s/lines.log\nstdout_logfile_maxbytes=0\n\n"+
			"[program:sleeper]\ncommand=/bin/sleep 1000\n", "lines", "sleeper")
	logPath := filepath.Join(dir, "lines.log")
	linesNow := func() int64 {
		st, err := os.Stat(logPath)
		if err != nil {
			return 0
		}
		return st.Size()
	}
	testutil.Eventually(t, 30*time.Second, "the writer to write", func() bool { return linesNow() > 100<<10 })

	install(t, newBin, bin)
	before := linesNow()
	out, errOut, code := roost(t, "-c", conf, "upgrade")
	if code != 0 || !strings.Contains(out, "-> "+upgradedVersion) {
		t.Fatalf("upgrade: exit %d, %q %q; supervisor output:\n%s", code, out, errOut, p.out.String())
	}
	// Once more, from the new image (the main thread forks and execs again).
	out, errOut, code = roost(t, "-c", conf, "upgrade")
	if code != 0 || !strings.Contains(out, upgradedVersion+" -> "+upgradedVersion) {
		t.Fatalf("second upgrade: exit %d, %q %q", code, out, errOut)
	}
	st, err := c.ReexecStatus(context.Background())
	if err != nil || st.PID != p.cmd.Process.Pid || st.Generation != 2 || st.Version != upgradedVersion {
		t.Fatalf("after two upgrades: %+v, %v; want pid %d, generation 2", st, err, p.cmd.Process.Pid)
	}
	after := waitState(t, c, "still running", allRunning("lines", "sleeper"))
	for _, n := range []string{"lines", "sleeper"} {
		if pidOf(after, n) != pidOf(infos, n) {
			t.Errorf("%s: pid %d before the upgrades, %d after", n, pidOf(infos, n), pidOf(after, n))
		}
	}
	testutil.Eventually(t, 30*time.Second, "the writer to go on writing", func() bool { return linesNow() > before+(1<<20) })

	// The real supervisorctl against the upgraded supervisor.
	sc := exec.Command(ctl, "-s", "unix://"+filepath.Join(dir, "roost.sock"), "status", "sleeper")
	scOut, _ := sc.CombinedOutput()
	if !strings.Contains(string(scOut), "RUNNING") || !strings.Contains(string(scOut), strconv.Itoa(pidOf(infos, "sleeper"))) {
		t.Errorf("supervisorctl status sleeper: %q", scOut)
	}
	if out, _, _ := roost(t, "-c", conf, "stop", "lines"); !strings.Contains(out, "stopped") {
		t.Fatalf("stop lines: %q", out)
	}
	checkNumberedLines(t, logPath)
}

// checkNumberedLines reads "line N" lines and fails on any gap, repeat or
// broken line.
func checkNumberedLines(t *testing.T, path string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 1<<20)
	next, bad := 0, 0
	for {
		line, err := r.ReadBytes('\n')
		if len(line) == 0 && err != nil {
			break
		}
		n, perr := strconv.Atoi(string(bytes.TrimPrefix(bytes.TrimSuffix(line, []byte("\n")), []byte("line "))))
		if perr != nil || !bytes.HasPrefix(line, []byte("line ")) || !bytes.HasSuffix(line, []byte("\n")) || n != next {
			if bad++; bad <= 5 {
				t.Errorf("%s: line %d is %q, want \"line %d\"", path, next, line, next)
			}
			next = n
		}
		next++
	}
	if next < 10000 {
		t.Errorf("%s: only %d lines", path, next)
	}
	t.Logf("%d numbered lines, %d broken", next, bad)
}

// TestUpgradeFailingBinaryKeepsOld: a new binary that cannot start (a
// script that exits 1) leaves the old supervisor serving, its programs
// untouched, and the failure reported.
func TestUpgradeFailingBinaryKeepsOld(t *testing.T) {
	_, conf, bin, p, c, infos := upgradeProject(t, "[program:sleeper]\ncommand=/bin/sleep 1000\n", "sleeper")
	if err := os.WriteFile(bin+".new", []byte("#!/bin/sh\necho broken build >&2\nexit 1\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(bin+".new", bin); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := roost(t, "-c", conf, "upgrade")
	if code == 0 || !strings.Contains(out, "failed the handover probe") || !strings.Contains(out, "broken build") {
		t.Fatalf("upgrade to a broken binary: exit %d, %q %q", code, out, errOut)
	}
	v, err := c.Version(context.Background())
	if err != nil || v == upgradedVersion {
		t.Fatalf("version after a failed upgrade: %q, %v", v, err)
	}
	st, err := c.ReexecStatus(context.Background())
	if err != nil || st.Generation != 0 || st.PID != p.cmd.Process.Pid || !strings.Contains(st.LastError, "broken build") {
		t.Errorf("status after a failed upgrade: %+v, %v", st, err)
	}
	after := waitState(t, c, "still running", allRunning("sleeper"))
	if pidOf(after, "sleeper") != pidOf(infos, "sleeper") {
		t.Errorf("sleeper: pid %d, then %d", pidOf(infos, "sleeper"), pidOf(after, "sleeper"))
	}
	// It still supervises: a restart works.
	if out, _, code := roost(t, "-c", conf, "restart", "sleeper"); code != 0 || !strings.Contains(out, "started") {
		t.Errorf("restart after a failed upgrade: %d %q", code, out)
	}
}

// TestUpgradeProgramKilledDuringHandover: a program killed between the
// old image's exec and the new image's adoption (the "new binary" is a
// script that kills it, then execs roost) is seen by the new image and
// restarted by its autorestart; the other program keeps its pid.
func TestUpgradeProgramKilledDuringHandover(t *testing.T) {
	newBin := upgradedBinary(t)
	dir, conf, bin, p, c, infos := upgradeProject(t,
		"[program:victim]\ncommand=/bin/sleep 1000\nautorestart=true\nstartsecs=0\n\n"+
			"[program:sleeper]\ncommand=/bin/sleep 1000\n", "victim", "sleeper")
	victim := pidOf(infos, "victim")
	real := filepath.Join(dir, "roost.real")
	install(t, newBin, real)
	script := fmt.Sprintf("#!/bin/sh\nif [ \"$1\" != handover-probe ]; then kill -9 %d; fi\nexec %s \"$@\"\n", victim, real)
	if err := os.WriteFile(bin+".new", []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(bin+".new", bin); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := roost(t, "-c", conf, "upgrade")
	if code != 0 {
		t.Fatalf("upgrade: exit %d, %q %q; output:\n%s", code, out, errOut, p.out.String())
	}
	after := waitState(t, c, "victim restarted", func(in []api.ProcessInfo) bool {
		return allRunning("victim", "sleeper")(in) && pidOf(in, "victim") != victim
	})
	if pidOf(after, "sleeper") != pidOf(infos, "sleeper") {
		t.Errorf("sleeper: pid %d, then %d", pidOf(infos, "sleeper"), pidOf(after, "sleeper"))
	}
	if !gone(victim) {
		t.Errorf("victim pid %d still exists (not reaped)", victim)
	}
	// A program the new image spawns sees nothing of the handover: no
	// variable, and the same descriptors as one the first image spawned
	// (0, 1, 2, and whatever the test process itself leaks to its children).
	npid := pidOf(after, "victim")
	if environ, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", npid)); err != nil || bytes.Contains(environ, []byte("ROOST_HANDOVER")) {
		t.Errorf("restarted victim's environment (%v): %q", err, environ)
	}
	fdNums := func(pid int) string {
		ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		return strings.Join(names, " ")
	}
	if got, want := fdNums(npid), fdNums(pidOf(infos, "sleeper")); got != want {
		t.Errorf("a program the new image spawned has descriptors %s, one the first image spawned %s", got, want)
	}
	mainLog, _ := os.ReadFile(filepath.Join(dir, "main.log"))
	// Its status is the kill's when the new image reaps the zombie; the
	// wrapper shell may reap it first (dash waits for any child between
	// commands), and then the new image says it ended with no status.
	if !strings.Contains(string(mainLog), "exited: victim (terminated by SIGKILL") &&
		!strings.Contains(string(mainLog), "victim (pid "+strconv.Itoa(victim)+") ended during the handover, its exit status unknown") {
		t.Errorf("the new image did not report the exit; main log:\n%s", mainLog)
	}
}

// TestUpgradeKeepsCron: an @every job keeps its next run across the
// re-exec (not moved to an hour from the new image's start), and an
// @reboot job does not run again.
func TestUpgradeKeepsCron(t *testing.T) {
	dir, conf, _, _, c, _ := upgradeProject(t, "[program:sleeper]\ncommand=/bin/sleep 1000\n", "sleeper")
	// The file comes after the start: write it and apply it like an edit.
	if err := os.WriteFile(filepath.Join(dir, "cron"), []byte("# name: tick\n@every 1h echo tick\n# name: boot\n@reboot echo booted\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cronLog := filepath.Join(dir, "cron.log")
	next := func() (time.Time, bool) {
		info, err := c.Cron(context.Background())
		if err != nil {
			return time.Time{}, false
		}
		for _, j := range info.Jobs {
			if j.Name == "tick" {
				return j.Next, !j.Next.IsZero()
			}
		}
		return time.Time{}, false
	}
	if out, _, code := roost(t, "-c", conf, "update"); code != 0 {
		t.Fatalf("update: %d %q", code, out)
	}
	var before time.Time
	testutil.Eventually(t, 30*time.Second, "the cron file applied", func() bool {
		var ok bool
		before, ok = next()
		return ok
	})
	if out, errOut, code := roost(t, "-c", conf, "upgrade"); code != 0 {
		t.Fatalf("upgrade: %d %q %q", code, out, errOut)
	}
	var after time.Time
	testutil.Eventually(t, 30*time.Second, "the new image's scheduler", func() bool {
		var ok bool
		after, ok = next()
		return ok
	})
	if !after.Equal(before) {
		t.Errorf("tick's next run: %v before the upgrade, %v after", before, after)
	}
	// A job run now ends after any @reboot run the new image would have
	// started at its start; cron.log then shows whether one ran.
	if out, _, code := roost(t, "-c", conf, "cron", "run", "tick"); code != 0 {
		t.Fatalf("cron run tick: %d %q", code, out)
	}
	testutil.Eventually(t, 30*time.Second, "tick in cron.log", func() bool {
		b, _ := os.ReadFile(cronLog)
		return bytes.Contains(b, []byte("tick | tick"))
	})
	if b, _ := os.ReadFile(cronLog); bytes.Contains(b, []byte("booted")) {
		t.Errorf("@reboot ran after the upgrade:\n%s", b)
	}
}

// TestUpgradeKeepsNotifyAndHealth: across `roost upgrade`, a notify=true
// program's pings keep reaching the supervisor (the socket crosses the
// exec) and its watchdog keeps watching, and a health check keeps
// checking the programs the new image took over: a program that stops
// pinging, or whose check starts failing, after the upgrade is restarted.
func TestUpgradeKeepsNotifyAndHealth(t *testing.T) {
	py := testutil.RequireBinary(t, "python3")
	flags := t.TempDir()
	os.Chmod(flags, 0o777)
	ping, ok := filepath.Join(flags, "ping"), filepath.Join(flags, "ok")
	for _, f := range []string{ping, ok} {
		if err := os.WriteFile(f, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	dog := `import os, socket, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.sendto(b"READY=1", os.environ["NOTIFY_SOCKET"])
while True:
    if os.path.exists("` + ping + `"):
        s.sendto(b"WATCHDOG=1", os.environ["NOTIFY_SOCKET"])
    time.sleep(0.5)
`
	if err := os.WriteFile(filepath.Join(flags, "dog.py"), []byte(dog), 0o644); err != nil {
		t.Fatal(err)
	}
	_, conf, _, _, c, infos := upgradeProject(t,
		"[program:dog]\ncommand="+py+" "+filepath.Join(flags, "dog.py")+"\nnotify=true\nwatchdog_sec=3\n\n"+
			"[program:web]\ncommand=/bin/sleep 1000\nhealthcheck=exec:/bin/test -e "+ok+"\n"+
			"healthcheck_interval=1\nhealthcheck_retries=2\nstopwaitsecs=2\n", "dog", "web")
	pid := func(infos []api.ProcessInfo, name string) int {
		for _, in := range infos {
			if in.Namespec() == name {
				return in.PID
			}
		}
		return 0
	}
	dogPid, webPid := pid(infos, "dog"), pid(infos, "web")
	if out, errOut, code := roost(t, "-c", conf, "upgrade"); code != 0 {
		t.Fatalf("upgrade: %d %q %q", code, out, errOut)
	}
	// Two watchdog periods later, the pinging program and the healthy
	// one are the same processes.
	deadline := time.Now().Add(7 * time.Second)
	for time.Now().Before(deadline) {
		infos := waitState(t, c, "dog and web running", allRunning("dog", "web"))
		if pid(infos, "dog") != dogPid || pid(infos, "web") != webPid {
			t.Fatalf("restarted after the upgrade while pinging and healthy: dog %d → %d, web %d → %d",
				dogPid, pid(infos, "dog"), webPid, pid(infos, "web"))
		}
		time.Sleep(500 * time.Millisecond)
	}
	// Now the pings stop and the check fails: the new image restarts both.
	os.Remove(ping)
	os.Remove(ok)
	testutil.Eventually(t, 60*time.Second, "dog and web restarted by the new image", func() bool {
		infos, err := c.Processes(context.Background())
		if err != nil {
			return false
		}
		d, w := pid(infos, "dog"), pid(infos, "web")
		return d != 0 && d != dogPid && w != 0 && w != webPid
	})
}
