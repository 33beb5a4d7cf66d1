package supervisor

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"roost/config"
	"roost/supervisor/api"
)

func TestStartsecsThenRunningThenStop(t *testing.T) {
	p := prog("web", "sleep")
	h := start(t, testConfig(t, homog(p)...))

	i, ev := h.waitState(5*time.Second, 0, "web", api.Starting)
	started := time.Unix(0, ev.Time)
	_, ev = h.waitState(5*time.Second, i, "web", api.Running)
	if up := time.Unix(0, ev.Time).Sub(started); up < 900*time.Millisecond || up > 3*time.Second {
		t.Errorf("RUNNING %v after STARTING, want about startsecs=1s", up)
	}
	info := h.info("web")
	if info.State != api.Running || info.PID <= 0 || info.StateName != "RUNNING" {
		t.Fatalf("info = %+v", info)
	}
	if !regexp.MustCompile(`^pid \d+, uptime 0:00:0\d$`).MatchString(info.Description) {
		t.Errorf("description %q", info.Description)
	}
	pid := info.PID

	if err := h.s.StopProcess(context.Background(), "web", true); err != nil {
		t.Fatalf("StopProcess: %v", err)
	}
	info = h.info("web")
	if info.State != api.Stopped || info.PID != 0 || info.ExitStatus != -1 {
		t.Errorf("after stop: %+v", info)
	}
	if info.Description != time.Unix(info.Stop, 0).Format("Jan 02 03:04 PM") {
		t.Errorf("stopped description %q", info.Description)
	}
	procGone(t, pid, 5*time.Second)
	h.waitState(5*time.Second, 0, "web", api.Stopped)
	if got, want := h.states("web"), []api.State{api.Starting, api.Running, api.Stopping, api.Stopped}; !cmp.Equal(got, want) {
		t.Errorf("states %v, want %v", got, want)
	}
	log := h.mainLog()
	for _, want := range []string{
		"INFO spawned: 'web' with pid ",
		"INFO success: web entered RUNNING state, process has stayed up for > than 1 seconds (startsecs)",
		"WARN stopped: web (terminated by SIGTERM)",
		"DEBG killing web (pid ",
		"INFO web: RUNNING -> STOPPING",
	} {
		if !strings.Contains(log, want) {
			t.Errorf("main log lacks %q:\n%s", want, log)
		}
	}
	if !regexp.MustCompile(`(?m)^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} INFO spawned: 'web' with pid \d+$`).MatchString(log) {
		t.Errorf("main log line format:\n%s", log)
	}
}

func TestBackoffScheduleAndFatal(t *testing.T) {
	p := shprog("flaky", "exit 1")
	h := start(t, testConfig(t, homog(p)...))

	// startretries=3: four tries, then FATAL. Between a BACKOFF and the
	// next STARTING: 1 s, 2 s, 3 s.
	idx := 0
	var backoffAt time.Time
	for try := 1; try <= 4; try++ {
		i, ev := h.waitState(15*time.Second, idx, "flaky", api.Starting)
		if try > 1 {
			gap := time.Unix(0, ev.Time).Sub(backoffAt)
			want := time.Duration(try-1) * time.Second
			if gap < want-100*time.Millisecond || gap > want+time.Second {
				t.Errorf("try %d started %v after BACKOFF, want %v", try, gap, want)
			}
		}
		i, ev = h.waitState(5*time.Second, i, "flaky", api.Backoff)
		backoffAt = time.Unix(0, ev.Time)
		idx = i + 1
	}
	h.waitState(5*time.Second, idx, "flaky", api.Fatal)
	want := []api.State{
		api.Starting, api.Backoff, api.Starting, api.Backoff,
		api.Starting, api.Backoff, api.Starting, api.Backoff, api.Fatal,
	}
	if got := h.states("flaky"); !cmp.Equal(got, want) {
		t.Errorf("states %v, want %v", got, want)
	}
	info := h.info("flaky")
	if info.SpawnErr != "Exited too quickly (process log may have details)" || info.Description != info.SpawnErr {
		t.Errorf("FATAL info %+v", info)
	}
	if !strings.Contains(h.mainLog(), "INFO gave up: flaky entered FATAL state, too many start retries too quickly") {
		t.Errorf("no gave up line:\n%s", h.mainLog())
	}
	if !strings.Contains(h.mainLog(), "WARN exited: flaky (exit status 1; not expected)") {
		t.Errorf("no exited line:\n%s", h.mainLog())
	}
	// A manual start from FATAL is allowed, and fails the same way: a
	// spawn error for start with wait (supervisord: "spawn error").
	err := h.s.StartProcess(context.Background(), "flaky", true)
	if api.CodeOf(err) != api.SpawnError {
		t.Errorf("start FATAL process: %v, want SPAWN_ERROR", err)
	}
}

func TestStopBackoffGoesStopped(t *testing.T) {
	p := shprog("flaky", "exit 1")
	p.StartRetries = 100
	h := start(t, testConfig(t, homog(p)...))
	h.waitState(5*time.Second, 0, "flaky", api.Backoff)
	// Stop in BACKOFF (or in a STARTING retry): must end STOPPED at once,
	// not after the retries.
	deadline := time.Now().Add(5 * time.Second)
	for {
		err := h.s.StopProcess(context.Background(), "flaky", true)
		if err == nil {
			break
		}
		if api.CodeOf(err) != api.NotRunning || time.Now().After(deadline) {
			t.Fatalf("stop: %v", err)
		}
	}
	if st := h.info("flaky").State; st != api.Stopped {
		t.Fatalf("state %v, want STOPPED", st)
	}
}

func TestStartsecsZeroAndAutorestart(t *testing.T) {
	expectedExit := shprog("expected", "exit 3")
	expectedExit.ExitCodes = []int{0, 3}
	expectedExit.StartSecs = 0
	unexpected := shprog("unexpected", "sleep 0.05; exit 4")
	unexpected.StartSecs = 0
	never := shprog("never", "exit 4")
	never.StartSecs = 0
	never.Autorestart = config.AutorestartFalse
	always := shprog("always", "sleep 0.05; exit 0")
	always.StartSecs = 0
	always.Autorestart = config.AutorestartTrue
	h := start(t, testConfig(t, homog(expectedExit, unexpected, never, always)...))

	// exitcodes=0,3 and exit 3: EXITED, expected, not restarted.
	i, _ := h.waitState(5*time.Second, 0, "expected", api.Exited)
	// autorestart=false: EXITED and stays.
	h.waitState(5*time.Second, 0, "never", api.Exited)
	// unexpected exit 4 with autorestart=unexpected: restarted, again and
	// again (it reached RUNNING each time: no backoff).
	j, _ := h.waitState(5*time.Second, 0, "unexpected", api.Exited)
	j, _ = h.waitState(5*time.Second, j, "unexpected", api.Starting)
	h.waitState(5*time.Second, j, "unexpected", api.Exited)
	// autorestart=true restarts an expected exit too.
	k, _ := h.waitState(5*time.Second, 0, "always", api.Exited)
	h.waitState(5*time.Second, k, "always", api.Starting)

	for _, name := range []string{"expected", "never"} {
		info := h.info(name)
		if info.State != api.Exited {
			t.Errorf("%s: %v, want EXITED", name, info.State)
		}
		if n := strings.Count(h.mainLog(), "spawned: '"+name+"'"); n != 1 {
			t.Errorf("%s spawned %d times, want 1", name, n)
		}
	}
	_ = i
	if info := h.info("expected"); info.ExitStatus != 3 || info.SpawnErr != "" {
		t.Errorf("expected: %+v", info)
	}
	if info := h.info("never"); info.ExitStatus != 4 || info.SpawnErr != "Bad exit code 4" {
		t.Errorf("never: %+v", info)
	}
	log := h.mainLog()
	if !strings.Contains(log, "INFO exited: expected (exit status 3; expected)") ||
		!strings.Contains(log, "WARN exited: never (exit status 4; not expected)") {
		t.Errorf("exit lines:\n%s", log)
	}
	for _, st := range h.states("expected") {
		if st == api.Backoff {
			t.Errorf("startsecs=0 process went BACKOFF")
		}
	}
}

func TestStopWaitSecsThenSIGKILL(t *testing.T) {
	ready := filepath.Join(t.TempDir(), "ready")
	p := prog("stubborn", "ignore:TERM", "pidfile:"+ready, "sleep")
	p.StartSecs = 0
	p.StopWaitSecs = time.Second
	h := start(t, testConfig(t, homog(p)...))
	h.waitState(5*time.Second, 0, "stubborn", api.Running)
	readPid(t, ready) // SIGTERM is ignored from now on

	t0 := time.Now()
	if err := h.s.StopProcess(context.Background(), "stubborn", true); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(t0); d < 900*time.Millisecond || d > 5*time.Second {
		t.Errorf("stop took %v, want about stopwaitsecs=1s", d)
	}
	log := h.mainLog()
	for _, want := range []string{
		"WARN killing 'stubborn' (", ") with SIGKILL",
		"stopped: stubborn (terminated by SIGKILL)",
		"INFO waiting for stubborn to stop",
	} {
		if !strings.Contains(log, want) {
			t.Errorf("main log lacks %q:\n%s", want, log)
		}
	}
}

func TestStopAsGroupTakesGrandchildren(t *testing.T) {
	for _, asGroup := range []bool{true, false} {
		t.Run(map[bool]string{true: "stopasgroup", false: "leader-only"}[asGroup], func(t *testing.T) {
			dir := t.TempDir()
			gc := filepath.Join(dir, "grandchild.pid")
			p := prog("tree", "grandchild:"+gc, "sleep")
			p.StartSecs = 0
			p.StopAsGroup, p.KillAsGroup = asGroup, asGroup
			h := start(t, testConfig(t, homog(p)...))
			h.waitState(5*time.Second, 0, "tree", api.Running)
			gpid := readPid(t, gc)
			if !alive(gpid) {
				t.Fatalf("grandchild %d not running", gpid)
			}
			if err := h.s.StopProcess(context.Background(), "tree", true); err != nil {
				t.Fatal(err)
			}
			// With stopasgroup the grandchild gets the stop signal; without
			// it, roost kills what is left of the group once the leader is
			// gone. Either way nothing is left behind after a stop.
			procGone(t, gpid, 5*time.Second)
		})
	}
}

func TestLeaderExitSeenWhileGrandchildHoldsPipe(t *testing.T) {
	dir := t.TempDir()
	gc := filepath.Join(dir, "grandchild.pid")
	p := prog("leader", "grandchild:"+gc, "sleep:300ms", "exit:7")
	p.StartSecs = 0
	p.Autorestart = config.AutorestartFalse
	h := start(t, testConfig(t, homog(p)...))
	i, _ := h.waitState(5*time.Second, 0, "leader", api.Running)
	gpid := readPid(t, gc)
	_, ev := h.waitState(5*time.Second, i, "leader", api.Exited)
	// The leader exits 300 ms after starting; its exit must be seen right
	// away although the grandchild still holds stdout open.
	if !alive(gpid) {
		t.Fatalf("grandchild died; the test proves nothing")
	}
	info := h.info("leader")
	if lived := time.Unix(0, ev.Time).Sub(time.Unix(info.Start, 0)); lived > 2*time.Second {
		t.Errorf("exit seen %v after start, want ~300ms", lived)
	}
	if info.ExitStatus != 7 {
		t.Errorf("exit status %d", info.ExitStatus)
	}
}

func TestKill9OfRunningProgramReplaced(t *testing.T) {
	p := prog("victim", "sleep")
	p.StartSecs = 0
	h := start(t, testConfig(t, homog(p)...))
	i, ev := h.waitState(5*time.Second, 0, "victim", api.Running)
	pid := h.info("victim").PID
	// A program killed within a second of its start is restarted a second
	// after that start (the crash-loop throttle, TestCrashLoopThrottled);
	// this one has run longer, so its replacement comes at once.
	time.Sleep(time.Until(time.Unix(0, ev.Time).Add(minRestartInterval + 100*time.Millisecond)))
	t0 := time.Now()
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	i, _ = h.waitState(5*time.Second, i, "victim", api.Exited)
	_, ev = h.waitState(5*time.Second, i, "victim", api.Starting)
	if d := time.Unix(0, ev.Time).Sub(t0); d > 500*time.Millisecond {
		t.Errorf("replacement spawned %v after kill -9, want < 1s", d)
	}
	h.waitState(5*time.Second, i, "victim", api.Running)
	info := h.info("victim")
	if info.PID == pid || info.PID == 0 || info.Restarts != 1 {
		t.Errorf("after kill -9: %+v", info)
	}
	if !strings.Contains(h.mainLog(), "exited: victim (terminated by SIGKILL; not expected)") {
		t.Errorf("main log:\n%s", h.mainLog())
	}
}

func TestStartStopErrors(t *testing.T) {
	sleeper := prog("sleeper", "sleep")
	sleeper.StartSecs = 0
	sleeper.Autostart = false
	missing := prog("missing")
	setArgv(missing, "no-such-command-roost")
	missing.Autostart = false
	dir := t.TempDir()
	notExec := filepath.Join(dir, "notexec")
	os.WriteFile(notExec, []byte("#!/bin/sh\n"), 0o644)
	noexec := prog("noexec")
	setArgv(noexec, notExec)
	noexec.Autostart = false
	quick := shprog("quick", "exit 0")
	quick.Autostart = false
	h := start(t, testConfig(t, homog(sleeper, missing, noexec, quick)...))
	ctx := context.Background()

	check := func(what string, err error, want api.Code) {
		t.Helper()
		if got := api.CodeOf(err); got != want {
			t.Errorf("%s: %v (%v), want %v", what, got, err, want)
		}
	}
	check("start unknown", h.s.StartProcess(ctx, "nope", true), api.BadName)
	check("start unknown in group", h.s.StartProcess(ctx, "sleeper:nope", true), api.BadName)
	err := h.s.StartProcess(ctx, "missing", true)
	check("start missing command", err, api.NoFile)
	if err == nil || !strings.Contains(err.Error(), "can't find command 'no-such-command-roost'") {
		t.Errorf("missing: %v", err)
	}
	err = h.s.StartProcess(ctx, "noexec", true)
	check("start non-executable", err, api.NotExecutable)
	if err == nil || !strings.Contains(err.Error(), "is not executable") {
		t.Errorf("noexec: %v", err)
	}
	check("stop stopped", h.s.StopProcess(ctx, "sleeper", true), api.NotRunning)
	check("signal stopped", h.s.SignalProcess("sleeper", syscall.SIGHUP), api.NotRunning)
	check("start", h.s.StartProcess(ctx, "sleeper", true), api.Success)
	check("start again", h.s.StartProcess(ctx, "sleeper", true), api.AlreadyStarted)
	check("signal", h.s.SignalProcess("sleeper", syscall.SIGCONT), api.Success)
	check("bad signal", h.s.SignalProcess("sleeper", syscall.Signal(99)), api.BadSignal)
	check("quick exit with wait", h.s.StartProcess(ctx, "quick", true), api.SpawnError)
	check("stdin of stopped", h.s.SendProcessStdin("quick", []byte("x")), api.NotRunning)

	// wait=false returns at once; a start while STOPPING is what
	// supervisord answers: ABNORMAL_TERMINATION once it is STOPPED.
	n := h.eventCount()
	check("stop without wait", h.s.StopProcess(ctx, "sleeper", false), api.Success)
	check("start while stopping", h.s.StartProcess(ctx, "sleeper", true), api.AbnormalTermination)
	h.waitState(5*time.Second, n, "sleeper", api.Stopped)

}

func TestStartWaitEndsWithContext(t *testing.T) {
	slow := shprog("slow", "sleep 100")
	slow.StartSecs = 10 * time.Second
	slow.Autostart = false
	h := start(t, testConfig(t, homog(slow)...))
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := h.s.StartProcess(ctx, "slow", true); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("start: %v, want the context's deadline", err)
	}
	if st := h.info("slow").State; st != api.Starting {
		t.Errorf("state %v, want STARTING", st)
	}
}

func TestTransitionTableRefusesIllegalChanges(t *testing.T) {
	for _, tc := range []struct {
		from, to api.State
		ok       bool
	}{
		{api.Stopped, api.Starting, true},
		{api.Starting, api.Running, true},
		{api.Backoff, api.Stopped, true},
		{api.Backoff, api.Fatal, true},
		{api.Running, api.Exited, true},
		{api.Stopping, api.Stopped, true},
		{api.Stopped, api.Running, false},
		{api.Running, api.Backoff, false},
		{api.Fatal, api.Running, false},
		{api.Exited, api.Stopped, false},
		{api.Stopping, api.Running, false},
	} {
		if got := canTransition(tc.from, tc.to); got != tc.ok {
			t.Errorf("%v -> %v: %v, want %v", tc.from, tc.to, got, tc.ok)
		}
	}
}

func TestStopWhileStarting(t *testing.T) {
	p := shprog("slowstart", "sleep 100")
	p.StartSecs = 30 * time.Second
	h := start(t, testConfig(t, homog(p)...))
	h.waitState(5*time.Second, 0, "slowstart", api.Starting)
	if err := h.s.StopProcess(context.Background(), "slowstart", true); err != nil {
		t.Fatal(err)
	}
	h.waitState(5*time.Second, 0, "slowstart", api.Stopped)
	if got, want := h.states("slowstart"), []api.State{api.Starting, api.Stopping, api.Stopped}; !cmp.Equal(got, want) {
		t.Errorf("states %v, want %v", got, want)
	}
}

func TestShutdownGivesUpBackoff(t *testing.T) {
	p := shprog("flaky", "exit 1")
	p.StartRetries = 100
	h := start(t, testConfig(t, homog(p)...))
	h.waitState(5*time.Second, 0, "flaky", api.Backoff)
	t0 := time.Now()
	h.stop()
	if d := time.Since(t0); d > 5*time.Second {
		t.Errorf("shutdown took %v with a process in BACKOFF", d)
	}
	h.waitFor(5*time.Second, 0, "flaky FATAL or STOPPED", func(ev api.Event) bool {
		return ev.Name == "flaky" && (ev.To == api.Fatal || ev.To == api.Stopped)
	})
}
