package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Figure ids. Those with a %d take the number of programs.
const (
	figStart     = "start.%d"    // launch → all N RUNNING, s
	figRSS       = "rss.%d"      // idle VmRSS, KiB
	figPSS       = "pss.%d"      // idle Pss, KiB
	figIdleCPU   = "idlecpu.%d"  // CPU s per idle window, normalised to 30 s
	figIdleSw    = "idlesw.%d"   // context switches per 30 s idle
	figStatus    = "status.%d"   // own ctl status, s
	figSctl      = "sctl.%d"     // supervisorctl status against either daemon, s
	figRestart   = "restart.%d"  // ctl restart NAME, s
	figKill      = "kill9"       // kill -9 → new child pid, s
	figLogRate   = "log.rate"    // bytes/s through the rotated log
	figLogCPU    = "log.cpu"     // daemon CPU s per GiB
	figLogSplit  = "log.split"   // lines split across files
	figLogLost   = "log.lost"    // lines lost
	figLogBad    = "log.corrupt" // lines corrupt
	figLogKept   = "log.checked" // lines checked in the kept files
	figCrashCPU  = "crash.cpu"   // daemon CPU s per s while crash-looping
	figCrashRate = "crash.rate"  // restarts per s
	figCrashPer  = "crash.per"   // daemon CPU s per restart
	figMasterRSS = "master.rss.%d"
	figUserRSS   = "master.userrss.%d"
	figMasterPSS = "master.pss.%d"
	figUserPSS   = "master.userpss.%d"  // PSS: the binary's pages split among all its processes
	figUserAnon  = "master.useranon.%d" // of which anonymous (Pss_Anon): heap, stacks
	figUsersUp   = "master.up.%d"
	figUsersPSS  = "master.allpss.%d"  // PSS of everything supervising N users: the master and its user supervisors, or N supervisord instances
	figUsersEach = "master.eachpss.%d" // that, divided by the users
	figFloorTrue = "floor.true"        // fork+exec of /bin/true, s
	figFloorGo   = "floor.hello"       // a hello-world Go binary, s
	figFloorVer  = "floor.version"     // roost --version, s
)

// idleNorm is the window idle figures are reported per.
const idleNorm = 30 * time.Second

// sleepFor waits d or until ctx ends.
func sleepFor(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}

// session runs daemon d on n sleep programs once and takes every figure
// that needs that setup: start-up, idle memory and CPU, ctl round trips,
// restart, and (when killReps > 0) kill -9 recovery; ctlOnly leaves out
// the idle window, memory and kill -9.
func (b *bench) session(ctx context.Context, d daemon, w *workload, n, run int, ctlOnly bool) error {
	v := d.name()
	fig := func(f string) string { return fmt.Sprintf(f, n) }
	pw, err := newPIDWatcher(0)
	if err != nil {
		return err
	}
	r, err := launch(b.t, d, w)
	if err != nil {
		b.res.fail(fig(figStart), v, err)
		return err
	}
	defer b.stopDaemon(r)
	pw.parent = r.pid()

	// 4. Start-up: launch → every program RUNNING, seen through the API.
	up, err := b.waitStarted(ctx, r, pw, n)
	if err != nil {
		b.res.fail(fig(figStart), v, err)
		return err
	}
	startup := up.Sub(r.started)
	b.res.add(fig(figStart), v, startup.Seconds())
	line := []string{"start " + uS.format(startup.Seconds())}

	// 1, 2. Idle: nothing happens for the window; then memory.
	if err := sleepFor(ctx, b.o.settle); err != nil {
		return err
	}
	if ctlOnly {
		// no idle window, no memory
	} else if err := b.idle(ctx, r.pid(), fig(figIdleCPU), fig(figIdleSw), v); err != nil {
		return err
	} else if m, err := readMem(r.pid()); err != nil {
		b.res.fail(fig(figPSS), v, err)
	} else {
		b.res.add(fig(figRSS), v, float64(m.RSS))
		b.res.add(fig(figPSS), v, float64(m.PSS))
		line = append(line, "PSS "+uMiB.format(float64(m.PSS)))
	}

	// 3. ctl round trips: own status; against roost also the real
	// supervisorctl (for supervisord the two are the same command).
	reps := b.o.ctlReps(n)
	statusArgv := d.ctl("status")
	var sctl []string
	if v == vRoost {
		if why := b.roostRPC(ctx, w); why != "" {
			b.res.unavailable(fig(figSctl), vSctlRoost, why)
		} else {
			sctl = supervisordDaemon{supervisorctl: b.supervisorctl}.ctl("status")
		}
	}
	allRunning := func(out []byte) error { return statusLines(out, n) }
	for range reps {
		if err := b.timeCtl(ctx, w, fig(figStatus), v, statusArgv, allRunning); err != nil {
			break
		}
		if sctl != nil {
			if err := b.timeCtl(ctx, w, fig(figSctl), vSctlRoost, sctl, allRunning); err != nil {
				sctl = nil
			}
		}
	}
	if s := b.res.get(fig(figStatus), v); s.ok() {
		line = append(line, "status "+uMS.format(s.median))
	}

	// restart NAME: sleep stops at once on SIGTERM, so this is all overhead.
	for i := range b.o.restartReps {
		name := w.Names[(i+1)%len(w.Names)]
		err := b.timeCtl(ctx, w, fig(figRestart), v, d.ctl("restart", name), func(out []byte) error {
			if !bytes.Contains(out, []byte("started")) {
				return fmt.Errorf("no %q in its output", "started")
			}
			return nil
		})
		if err != nil {
			break
		}
	}
	if s := b.res.get(fig(figRestart), v); s.ok() {
		line = append(line, "restart "+uMS.format(s.median))
	}

	// 6. kill -9 → replacement pid.
	if n == b.o.killN && !ctlOnly {
		for range b.o.killReps {
			lat, err := b.killOnce(ctx, r)
			if err != nil {
				b.res.fail(figKill, v, err)
				break
			}
			b.res.add(figKill, v, lat.Seconds())
		}
		if s := b.res.get(figKill, v); s.ok() {
			line = append(line, "kill-9→new pid "+uMS.format(s.median))
		}
	}
	b.logf("%s N=%d run %d: %s", v, n, run, strings.Join(line, ", "))
	return nil
}

// waitStarted waits until the daemon reports all n programs RUNNING and
// returns when it first did. Until the kernel shows n children of the
// daemon it only watches new pids, so polling does not slow a daemon that
// is busy spawning; then it asks the daemon's API.
func (b *bench) waitStarted(ctx context.Context, r *running, pw *pidWatcher, n int) (time.Time, error) {
	timeout := b.o.startTimeout(n)
	deadline := time.Now().Add(timeout)
	nextScan := time.Now().Add(500 * time.Millisecond)
	for seen := 0; seen < n; {
		kids, err := pw.poll()
		if err != nil {
			return time.Time{}, err
		}
		seen += len(kids)
		now := time.Now()
		if now.After(nextScan) { // a child the watcher missed: count them all
			all, _ := children(r.pid())
			seen = max(seen, len(all))
			nextScan = now.Add(500 * time.Millisecond)
		}
		if r.p.exited() {
			return time.Time{}, fmt.Errorf("%s exited (%v); see %s", r.d.name(), r.p.err, filepath.Join(r.w.Dir, "daemon.out"))
		}
		if now.After(deadline) {
			return time.Time{}, fmt.Errorf("%s started %d of %d programs within %s", r.d.name(), seen, n, timeout)
		}
		if err := sleepFor(ctx, time.Millisecond); err != nil {
			return time.Time{}, err
		}
	}
	return r.waitStates(ctx, time.Until(deadline), allIn(r.w.Names, "RUNNING"))
}

// idle samples pid's CPU time and context switches over the idle window
// and records them per idleNorm.
func (b *bench) idle(ctx context.Context, pid int, figCPU, figSw, variant string) error {
	c0, err := readCPU(pid)
	if err != nil {
		b.res.fail(figCPU, variant, err)
		return nil
	}
	t0 := time.Now()
	if err := sleepFor(ctx, b.o.idle); err != nil {
		return err
	}
	c1, err := readCPU(pid)
	el := time.Since(t0)
	if err != nil {
		b.res.fail(figCPU, variant, err)
		return nil
	}
	d := c1.sub(c0)
	k := idleNorm.Seconds() / el.Seconds()
	b.res.add(figCPU, variant, d.CPU*k)
	if d.Switches >= 0 {
		b.res.add(figSw, variant, float64(d.Switches)*k)
	} else {
		b.res.fail(figSw, variant, errors.New("a thread exited during the idle window"))
	}
	return nil
}

// timeCtl runs one ctl command in the workload dir and records its wall
// time, after check accepts its output.
func (b *bench) timeCtl(ctx context.Context, w *workload, fig, variant string, argv []string, check func([]byte) error) error {
	res := b.t.run(ctx, w.Dir, env(), argv[0], argv[1:]...)
	err := res.Err
	if err == nil {
		if cerr := check(res.Stdout); cerr != nil {
			err = fmt.Errorf("%s: %w; output: %.200s", strings.Join(argv, " "), cerr, res.Stdout)
		}
	}
	if err != nil {
		b.res.fail(fig, variant, err)
		return err
	}
	b.res.add(fig, variant, res.Wall.Seconds())
	return nil
}

// statusLines checks that a status listing shows n processes, all RUNNING.
func statusLines(out []byte, n int) error {
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	running := 0
	for _, l := range lines {
		if f := strings.Fields(l); len(f) >= 2 && f[1] == "RUNNING" {
			running++
		}
	}
	if running != n {
		return fmt.Errorf("%d of %d processes RUNNING in the listing", running, n)
	}
	return nil
}

// roostRPC probes roost's /RPC2 and returns why supervisorctl cannot talk to
// it, or "".
func (b *bench) roostRPC(ctx context.Context, w *workload) string {
	_, err := newRPCClient(w.Sock).call(ctx, "supervisor.getState")
	if err != nil {
		return "not available yet (no XML-RPC at /RPC2: " + err.Error() + ")"
	}
	return ""
}

// killAge is how long a child has run before the bench kills it: longer
// than roost's crash-loop throttle, which restarts a process that died
// within 1 s of its spawn only 1 s after that spawn. The figure is the
// replacement of a program that was running, not the throttle's delay.
const killAge = 1200 * time.Millisecond

// killOnce kills the daemon's oldest child with SIGKILL (after waiting
// until it has run killAge) and returns the time until the kernel shows a
// new child of the daemon: the replacement's pid. It then waits for the
// daemon to report everything RUNNING again.
func (b *bench) killOnce(ctx context.Context, r *running) (time.Duration, error) {
	victim, age, err := oldestChild(r.pid())
	if err != nil {
		return 0, fmt.Errorf("%s: %w", r.d.name(), err)
	}
	if age < killAge {
		if err := sleepFor(ctx, killAge-age); err != nil {
			return 0, err
		}
	}
	pw, err := newPIDWatcher(r.pid())
	if err != nil {
		return 0, err
	}
	deadline := time.Now().Add(10 * time.Second)
	t0 := time.Now()
	if err := killPID(victim, syscall.SIGKILL); err != nil {
		return 0, err
	}
	var found time.Duration
	for found == 0 {
		kids, err := pw.poll()
		if err != nil {
			return 0, err
		}
		if len(kids) > 0 {
			found = time.Since(t0)
		} else if time.Now().After(deadline) {
			return 0, fmt.Errorf("%s did not replace a killed child within 10 s", r.d.name())
		}
	}
	if _, err := r.waitStates(ctx, 30*time.Second, allIn(r.w.Names, "RUNNING")); err != nil {
		return 0, fmt.Errorf("after kill -9: %w", err)
	}
	return found, sleepFor(ctx, 50*time.Millisecond)
}

// stopDaemon asks the daemon to shut down, waits for it and its programs,
// and notes anything it left behind.
func (b *bench) stopDaemon(r *running) {
	grace := 60 * time.Second
	if !r.p.stop(grace) {
		b.res.note("%s did not exit within %s of SIGTERM on %s; the bench killed it", r.d.name(), grace, filepath.Base(r.w.Dir))
	}
	if n := b.t.reapOrphans(); n > 0 {
		b.res.note("%s left %d process(es) running after it exited (%s); the bench killed them", r.d.name(), n, filepath.Base(r.w.Dir))
	}
}

// logRun measures one daemon capturing the writer's output through a
// rotated log.
func (b *bench) logRun(ctx context.Context, d daemon, run int) error {
	v := d.name()
	dir := filepath.Join(b.work, "log")
	stamp := filepath.Join(dir, "writer.start")
	lines := b.o.logBytes / lineLen
	w, err := logWorkload(dir, b.self, lines, stamp)
	if err != nil {
		return err
	}
	r, err := launch(b.t, d, w)
	if err != nil {
		b.res.fail(figLogRate, v, err)
		return nil
	}
	defer b.stopDaemon(r)
	if _, err := r.waitStates(ctx, time.Minute, allIn(w.Names, "STOPPED")); err != nil {
		b.res.fail(figLogRate, v, err)
		return nil
	}
	if err := sleepFor(ctx, b.o.settle); err != nil {
		return err
	}
	c0, err := readCPU(r.pid())
	if err != nil {
		b.res.fail(figLogRate, v, err)
		return nil
	}
	argv := d.ctl("start", "writer")
	startCmd := exec.Command(argv[0], argv[1:]...)
	startCmd.Dir, startCmd.Env = w.Dir, env()
	var ctlOut bytes.Buffer
	startCmd.Stdout, startCmd.Stderr = &ctlOut, &ctlOut
	sp, err := b.t.start(startCmd)
	if err != nil {
		b.res.fail(figLogRate, v, err)
		return nil
	}
	base := filepath.Join(w.Dir, "log", "writer.log")
	deadline := time.Now().Add(b.o.logTimeout())
	var end int64
	for {
		if lastLineNumber(base) == lines-1 {
			end = monotonicNow()
			break
		}
		if time.Now().After(deadline) {
			b.res.fail(figLogRate, v, fmt.Errorf("the last line did not reach %s within %s", base, b.o.logTimeout()))
			return nil
		}
		if err := sleepFor(ctx, 2*time.Millisecond); err != nil {
			return err
		}
	}
	c1, err := readCPU(r.pid())
	if err != nil {
		b.res.fail(figLogRate, v, err)
		return nil
	}
	<-sp.done
	if sp.err != nil {
		b.res.note("%s: `%s` exited with %v: %s", v, strings.Join(argv[1:], " "), sp.err, strings.TrimSpace(ctlOut.String()))
	}
	startNS, err := readStamp(stamp)
	if err != nil {
		b.res.fail(figLogRate, v, err)
		return nil
	}
	secs := float64(end-startNS) / 1e9
	bytesW := float64(lines * lineLen)
	b.res.add(figLogRate, v, bytesW/secs)
	cpu := c1.sub(c0).CPU
	b.res.add(figLogCPU, v, cpu/(bytesW/(1<<30)))
	chk, err := checkLines(base, lines)
	if err != nil {
		b.res.fail(figLogSplit, v, err)
		return nil
	}
	b.res.add(figLogSplit, v, float64(chk.Split))
	b.res.add(figLogLost, v, float64(chk.Lost))
	b.res.add(figLogBad, v, float64(chk.Corrupt))
	b.res.add(figLogKept, v, float64(chk.Checked))
	b.logf("%s log run %d: %s in %.2f s = %s, %s/GiB; %d files, lines checked %d, split %d, lost %d, corrupt %d",
		v, run, uMiB.format(bytesW/1024), secs, uMiBps.format(bytesW/secs), uCPUs.format(cpu/(bytesW/(1<<30))),
		chk.Files, chk.Checked, chk.Split, chk.Lost, chk.Corrupt)
	return nil
}

// readStamp reads the writer's start time.
func readStamp(path string) (int64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, fmt.Errorf("writer start stamp: %w", err)
	}
	return strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
}

// catRun is the ceiling: the same writer piped into `cat > file`.
func (b *bench) catRun(ctx context.Context, run int) error {
	dir := filepath.Join(b.work, "cat")
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("cat dir: %w", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("cat dir: %w", err)
	}
	stamp := filepath.Join(dir, "writer.start")
	out := filepath.Join(dir, "out.log")
	lines := b.o.logBytes / lineLen
	f, err := os.Create(out)
	if err != nil {
		return fmt.Errorf("cat: %w", err)
	}
	defer f.Close()
	pr, pw, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("cat: %w", err)
	}
	cat := exec.Command(b.cat)
	cat.Stdin, cat.Stdout, cat.Env = pr, f, env()
	writer := exec.Command(b.self, writerArg, "-lines", strconv.FormatInt(lines, 10), "-stamp", stamp)
	writer.Stdout, writer.Env = pw, env()
	cp, err := b.t.start(cat)
	if err != nil {
		pr.Close()
		pw.Close()
		return err
	}
	wp, err := b.t.start(writer)
	pr.Close()
	pw.Close()
	if err != nil {
		cp.stop(time.Second)
		return err
	}
	select {
	case <-cp.done:
	case <-ctx.Done():
		return ctx.Err()
	}
	end := monotonicNow()
	<-wp.done
	if cp.err != nil || wp.err != nil {
		b.res.fail(figLogRate, vCeiling, fmt.Errorf("writer | cat: %v, %v", wp.err, cp.err))
		return nil
	}
	startNS, err := readStamp(stamp)
	if err != nil {
		b.res.fail(figLogRate, vCeiling, err)
		return nil
	}
	secs := float64(end-startNS) / 1e9
	bytesW := float64(lines * lineLen)
	chk, err := checkLines(out, lines)
	if err != nil || chk.Lost+chk.Corrupt+chk.Split > 0 {
		b.res.fail(figLogRate, vCeiling, fmt.Errorf("writer | cat lost lines: %+v %v", chk, err))
		return nil
	}
	b.res.add(figLogRate, vCeiling, bytesW/secs)
	// cat's own CPU, from its rusage: what a plain read/write copy costs.
	catCPU := (cp.cmd.ProcessState.UserTime() + cp.cmd.ProcessState.SystemTime()).Seconds()
	b.res.add(figLogCPU, vCeiling, catCPU/(bytesW/(1<<30)))
	b.logf("writer | cat run %d: %s, cat %s/GiB", run, uMiBps.format(bytesW/secs), uCPUs.format(catCPU/(bytesW/(1<<30))))
	return os.Remove(out)
}

// crashRun measures a daemon whose one program exits with status 1 as soon
// as it starts, autorestart on.
func (b *bench) crashRun(ctx context.Context, d daemon, run int) error {
	v := d.name()
	dir := filepath.Join(b.work, "crash")
	counter := filepath.Join(dir, "starts")
	w, err := crashWorkload(dir, counter)
	if err != nil {
		return err
	}
	r, err := launch(b.t, d, w)
	if err != nil {
		b.res.fail(figCrashCPU, v, err)
		return nil
	}
	defer b.stopDaemon(r)
	// Wait for the loop to be under way: the counter grows.
	for deadline := time.Now().Add(30 * time.Second); fileSize(counter) < 2; {
		if time.Now().After(deadline) || r.p.exited() {
			b.res.fail(figCrashCPU, v, fmt.Errorf("the crashing program was not started twice within 30 s"))
			return nil
		}
		if err := sleepFor(ctx, 10*time.Millisecond); err != nil {
			return err
		}
	}
	if err := sleepFor(ctx, b.o.settle); err != nil {
		return err
	}
	c0, err := readCPU(r.pid())
	n0 := fileSize(counter)
	t0 := time.Now()
	if err != nil {
		b.res.fail(figCrashCPU, v, err)
		return nil
	}
	if err := sleepFor(ctx, b.o.crashWindow); err != nil {
		return err
	}
	c1, err := readCPU(r.pid())
	n1 := fileSize(counter)
	el := time.Since(t0).Seconds()
	if err != nil {
		b.res.fail(figCrashCPU, v, err)
		return nil
	}
	cpu := c1.sub(c0).CPU
	starts := float64(n1 - n0)
	b.res.add(figCrashCPU, v, cpu/el)
	b.res.add(figCrashRate, v, starts/el)
	if starts > 0 {
		b.res.add(figCrashPer, v, cpu/starts)
	}
	b.logf("%s crash loop run %d: %.0f restarts/s, daemon %s of CPU per s", v, run, starts/el, uPercent.format(cpu/el))
	return nil
}

// fileSize is the size of path, or 0.
func fileSize(path string) int64 {
	st, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return st.Size()
}

// goIdleRun measures a bare Go process doing nothing: the floor for
// roost's idle wakeups.
func (b *bench) goIdleRun(ctx context.Context) error {
	cmd := exec.Command(b.self, idleArg)
	cmd.Env = env()
	p, err := b.t.start(cmd)
	if err != nil {
		return err
	}
	defer p.stop(5 * time.Second)
	if err := sleepFor(ctx, b.o.settle+time.Second); err != nil {
		return err
	}
	if err := b.idle(ctx, p.pid(), "goidle.cpu", "goidle.sw", vGo); err != nil {
		return err
	}
	if m, err := readMem(p.pid()); err == nil {
		b.res.add("goidle.pss", vGo, float64(m.PSS))
	}
	return nil
}

// helloSrc is the hello-world Go program whose start is the floor under
// any Go CLI's round trip.
const helloSrc = "package main\n\nimport \"os\"\n\nfunc main() { os.Stdout.WriteString(\"hello\\n\") }\n"

// buildHello builds helloSrc into the work dir and returns the binary.
func (b *bench) buildHello(ctx context.Context) (string, error) {
	dir := filepath.Join(b.work, "hello")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("hello-world Go binary: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(helloSrc), 0o644); err != nil {
		return "", fmt.Errorf("hello-world Go binary: %w", err)
	}
	bin := filepath.Join(dir, "hello")
	if res := b.t.run(ctx, dir, os.Environ(), "go", "build", "-o", bin, "main.go"); res.Err != nil {
		return "", fmt.Errorf("go build hello-world: %w", res.Err)
	}
	return bin, nil
}

// floorRun times what starting any command costs here, the floor under
// every ctl figure: fork+exec of /bin/true, a hello-world Go binary, and
// `roost --version` (the roost binary's own start, no config, no socket).
func (b *bench) floorRun(ctx context.Context) error {
	cmds := []struct {
		fig  string
		argv []string
	}{
		{figFloorTrue, []string{"/bin/true"}},
		{figFloorGo, []string{b.helloBin}},
		{figFloorVer, []string{b.roostBin, "--version"}},
	}
	for _, c := range cmds {
		if c.argv[0] == "" {
			b.res.fail(c.fig, vFloor, errors.New(b.helloWhy))
			continue
		}
		for i := 0; i < b.o.floorReps; i++ {
			res := b.t.run(ctx, b.work, env(), c.argv[0], c.argv[1:]...)
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if res.Err != nil {
				b.res.fail(c.fig, vFloor, res.Err)
				break
			}
			b.res.add(c.fig, vFloor, res.Wall.Seconds())
		}
	}
	return nil
}
