package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"time"

	"golang.org/x/sys/unix"

	"roost/cgroup"
	"roost/internal/procfs"
	"roost/internal/testutil"
)

// Issue 15's bench: what cgroups cost, per process and per user. Two
// measures, each with and without cgroups in one run:
//
//   - one user's supervisor with N `sleep` programs: a plain `roost run`
//     (started by root with [supervisord] user=, no cgroup of its own)
//     against the same project under `roost master` with [limits] (the
//     supervisor and its programs in the user's cgroup, limits written):
//     launch to N RUNNING, and the idle PSS of the supervisor and of the
//     supervisor with its programs;
//   - one group per process, as per-program groups would make: the bench
//     starts N `sleep`s itself, plainly or each born in a group of its own
//     with limits (created, limits written, the fork thread moved in on
//     v1, the pid moved on v2): time per process, and the kernel memory
//     each group costs (SUnreclaim + Percpu of /proc/meminfo, machine-wide).
//
// When the master makes a group per program, the first measure includes
// them with no change here: `go run ./bench -only cgroups` re-runs it.

const (
	figCgUp     = "cgroups.up.%d"     // launch → N RUNNING, s
	figCgSupUp  = "cgroups.supup.%d"  // the user supervisor's start → N RUNNING, s
	figCgPSS    = "cgroups.pss.%d"    // idle PSS of the supervisor and its programs, KiB
	figCgAnon   = "cgroups.anon.%d"   // idle anonymous memory of the supervisor and its programs, KiB
	figCgSupRSS = "cgroups.suprss.%d" // idle RSS of the supervisor alone, KiB
	figCgSpawn  = "cgroups.spawn.%d"  // starting one process, s
	figCgMake   = "cgroups.make.%d"   // of which making its group and writing its limits, s
	figCgAfter  = "cgroups.after.%d"  // starting one process, then moving its pid into its group, s
	figCgKmem   = "cgroups.kmem.%d"   // kernel memory per process's group, KiB

	vNoCg = "without cgroups"
	vCg   = "with cgroups"
)

// cgProject is the project directory in the bench user's home.
const cgProject = "roost-bench-cgroups"

// cgLimits are the limits of the "with" runs: generous, so nothing is
// throttled, but written, as an admin's would be.
var cgLimits = cgroup.Limits{MemoryMax: 2 << 30, PidsMax: 4096, CPUMax: 200}

// cgFigs are the figures of the cgroups part, for the report and expected.
func cgFigs(n int) []string {
	return []string{fmt.Sprintf(figCgUp, n), fmt.Sprintf(figCgSupUp, n), fmt.Sprintf(figCgSupRSS, n), fmt.Sprintf(figCgAnon, n), fmt.Sprintf(figCgPSS, n), fmt.Sprintf(figCgSpawn, n)}
}

// cgroupRuns measures both, alternating which of with and without runs
// first.
func (b *bench) cgroupRuns(ctx context.Context) error {
	n := b.o.cgN
	why := b.masterWhy
	if why == "" && os.Geteuid() != 0 {
		why = "needs root (the master and the groups are root's)"
	}
	var tr cgroup.Tree
	if why == "" {
		var err error
		if tr, _, err = cgroup.Detect(fmt.Sprintf("roost-bench-cg-%d", os.Getpid())); err != nil {
			why = "no cgroups here: " + err.Error()
		}
	}
	var name string
	if why == "" {
		var cleanup func()
		var err error
		name, cleanup, err = b.cgUser(ctx, n)
		defer cleanup()
		if err != nil {
			why = "not measured: " + err.Error()
		}
	}
	if why != "" {
		for _, f := range cgFigs(n) {
			b.res.unavailable(f, vNoCg, why)
			b.res.unavailable(f, vCg, why)
		}
		b.res.unavailable(fmt.Sprintf(figCgKmem, n), vCg, why)
		b.logf("cgroups: %s", why)
		return ctx.Err()
	}
	defer func() {
		kctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		tr.Kill(kctx, "")
		if err := tr.Remove(""); err != nil {
			b.res.note("could not remove the bench's cgroups: %v", err)
		}
	}()
	if err := os.Chmod(b.work, 0o755); err != nil { // the user reaches run_dir inside it
		return fmt.Errorf("cgroups: %w", err)
	}
	for run := 1; run <= b.o.runs; run++ {
		for _, with := range []bool{run%2 == 1, run%2 == 0} {
			v := vNoCg
			if with {
				v = vCg
			}
			modes := []placement{plain}
			if with {
				modes = []placement{bornInside, movedAfter}
			}
			for _, m := range modes {
				if err := b.placeRun(ctx, tr, n, m); err != nil {
					if ctx.Err() != nil {
						return ctx.Err()
					}
					b.res.fail(fmt.Sprintf(figCgSpawn, n), v, err)
					b.logf("cgroups: placement (%s) run %d failed: %v", v, run, err)
				}
			}
			if err := b.cgSupervisorRun(ctx, name, n, with); err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				b.res.fail(fmt.Sprintf(figCgUp, n), v, err)
				b.logf("cgroups: supervisor (%s) run %d failed: %v", v, run, err)
			}
		}
	}
	return nil
}

// cgUser is the user whose supervisor runs: scripts/test's roost-alice
// with -quick, else roost-bench-1 (created, and deleted at the end, when
// missing); its project holds n programs.
func (b *bench) cgUser(ctx context.Context, n int) (string, func(), error) {
	name := benchUserPrefix + "1"
	created := false
	cleanup := func() {
		if u, err := user.Lookup(name); err == nil {
			os.RemoveAll(filepath.Join(u.HomeDir, cgProject))
		}
		if created {
			if r := b.t.run(context.Background(), "/", nil, sbin("userdel"), "--remove", name); r.Err != nil {
				b.res.note("could not delete the bench's user %s: %v", name, r.Err)
			}
		}
	}
	if b.o.quick {
		name = testutil.UserA
		if _, err := user.Lookup(name); err != nil {
			return name, cleanup, fmt.Errorf("user %s does not exist (scripts/setup-test-env creates it)", name)
		}
	} else if _, err := user.Lookup(name); err != nil {
		if r := b.t.run(ctx, "/", nil, sbin("useradd"), "--create-home", "--shell", "/bin/sh", name); r.Err != nil {
			return name, cleanup, fmt.Errorf("useradd %s: %w", name, r.Err)
		}
		created = true
	}
	extra := "[unix_http_server]\nfile=%(here)s/roost.sock\n\n"
	return name, cleanup, writeUserProject(name, cgProject, n, extra, "user="+name+"\nlogfile=%(here)s/log/main.log\n")
}

// cgSupervisorRun starts the user's supervisor (plain, or under the master
// with limits), waits until its n programs are RUNNING, then measures its
// idle PSS with and without its programs.
func (b *bench) cgSupervisorRun(ctx context.Context, name string, n int, with bool) error {
	u, err := user.Lookup(name)
	if err != nil {
		return err
	}
	project := filepath.Join(u.HomeDir, cgProject)
	dir := filepath.Join(b.work, "cgroups")
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	os.Remove(filepath.Join(project, "roost.sock"))
	v, sock := vNoCg, filepath.Join(project, "roost.sock")
	var cmd *exec.Cmd
	if with {
		v = vCg
		conf, runDir, err := writeMasterTOML(dir, []string{name}, cgProject, fmt.Sprintf("\n[limits]\nmemory_max = %q\npids_max   = %d\ncpu_max    = \"%d%%\"\n",
			cgroup.FormatBytes(cgLimits.MemoryMax), cgLimits.PidsMax, cgLimits.CPUMax))
		if err != nil {
			return err
		}
		sock = filepath.Join(runDir, "users", name, "roost.sock")
		cmd = exec.Command(b.roostBin, "master", "-c", conf)
		cmd.Dir = dir
	} else {
		cmd = exec.Command(b.roostBin, "run", "--no-watch", "-c", filepath.Join(project, "supervisord.conf"))
		cmd.Dir = project
	}
	r, stop, err := b.startRoost(cmd, dir, filepath.Join(dir, "daemon.out"))
	if err != nil {
		return err
	}
	defer stop()
	p, t0 := r.p, r.started
	deadline := t0.Add(b.o.startTimeout(n))
	for {
		if ok, _ := userRunning(ctx, sock, n); ok {
			break
		}
		if p.exited() {
			return fmt.Errorf("roost exited (%v); see %s", p.err, filepath.Join(dir, "daemon.out"))
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d programs not RUNNING after %s", n, time.Since(t0).Round(time.Second))
		}
		if err := sleepFor(ctx, 5*time.Millisecond); err != nil {
			return err
		}
	}
	up := time.Since(t0)
	upBoot := bootNow()
	sup := p.pid()
	if with {
		sups, err := userSupervisors(p.pid(), b.roostBin)
		if err != nil || len(sups) != 1 {
			return fmt.Errorf("the user's supervisor under the master: %v %v", sups, err)
		}
		sup = sups[0]
	}
	st, err := procfs.Read(sup)
	if err != nil {
		return err
	}
	b.res.add(fmt.Sprintf(figCgUp, n), v, up.Seconds())
	b.res.add(fmt.Sprintf(figCgSupUp, n), v, (upBoot - time.Duration(st.Start)*time.Second/userHZ).Seconds())
	if err := sleepFor(ctx, b.o.settle); err != nil {
		return err
	}
	m, err := readMem(sup)
	if err != nil {
		return err
	}
	pss, anon := m.PSS, readAnon(sup)
	for _, d := range descendants(sup) {
		if dm, err := readMem(d); err == nil {
			pss += dm.PSS
			anon += readAnon(d)
		}
	}
	if with { // the master is part of what runs the user's programs
		if mm, err := readMem(p.pid()); err == nil {
			pss += mm.PSS
		}
	}
	b.res.add(fmt.Sprintf(figCgSupRSS, n), v, float64(m.RSS))
	b.res.add(fmt.Sprintf(figCgAnon, n), v, float64(anon))
	b.res.add(fmt.Sprintf(figCgPSS, n), v, float64(pss))
	b.logf("cgroups: %s, %d programs RUNNING after %s, supervisor RSS %s; with programs anonymous %s, PSS %s",
		v, n, uS.format(up.Seconds()), uMiB.format(float64(m.RSS)), uMiB.format(float64(anon)), uMiB.format(float64(pss)))
	return nil
}

// placement is how placeRun starts its processes.
type placement int

const (
	plain      placement = iota // no group
	bornInside                  // the forking thread moved into the group (v1; v2 moves the pid)
	movedAfter                  // the pid moved into the group after the start
)

// placeRun starts n `sleep`s, each in a group of its own with cgLimits
// unless m is plain, and records the time per process; then kills them.
func (b *bench) placeRun(ctx context.Context, tr cgroup.Tree, n int, m placement) error {
	v, fig := vNoCg, figCgSpawn
	switch m {
	case bornInside:
		v = vCg
	case movedAfter:
		v, fig = vCg, figCgAfter
	}
	var procs []*proc
	defer func() {
		for _, p := range procs {
			killPID(p.pid(), unix.SIGKILL)
			<-p.done
		}
		if m != plain {
			kctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			tr.Kill(kctx, "")
			for i := range n {
				tr.Remove(fmt.Sprintf("p%04d", i))
			}
		}
	}()
	kmem0 := kernelMem()
	t0 := time.Now()
	var making time.Duration
	for i := range n {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		cmd := exec.Command("/bin/sleep", "infinity")
		rel := fmt.Sprintf("p%04d", i)
		if m != plain {
			m0 := time.Now()
			if err := tr.Create(rel); err != nil {
				return err
			}
			if err := tr.SetLimits(rel, cgLimits); err != nil {
				return err
			}
			making += time.Since(m0)
		}
		var p *proc
		var err error
		switch m {
		case bornInside:
			p, err = b.startInGroup(tr, rel, cmd)
		case movedAfter:
			if p, err = b.t.start(cmd); err == nil {
				err = tr.Add(rel, p.pid())
			}
		default:
			p, err = b.t.start(cmd)
		}
		if p != nil {
			procs = append(procs, p)
		}
		if err != nil {
			return err
		}
	}
	per := time.Since(t0) / time.Duration(n)
	b.res.add(fmt.Sprintf(fig, n), v, per.Seconds())
	if m == bornInside {
		b.res.add(fmt.Sprintf(figCgMake, n), vCg, making.Seconds()/float64(n))
		if k := kernelMem() - kmem0; k > 0 {
			b.res.add(fmt.Sprintf(figCgKmem, n), vCg, float64(k)/float64(n))
		}
	}
	return nil
}

// startInGroup starts cmd in the group rel: on v1 born there (the
// forking thread moved in and back, as the master spawns), on v2 moved
// right after the start.
func (b *bench) startInGroup(tr cgroup.Tree, rel string, cmd *exec.Cmd) (*proc, error) {
	v1, ok := tr.(*cgroup.V1)
	if !ok {
		p, err := b.t.start(cmd)
		if err == nil {
			err = tr.Add(rel, p.pid())
		}
		return p, err
	}
	// On an error the thread stays locked to this goroutine: it may be
	// left in a group, and must not run another goroutine there.
	runtime.LockOSThread()
	tid := unix.Gettid()
	if err := v1.AddThread(rel, tid); err != nil {
		return nil, err
	}
	p, err := b.t.start(cmd)
	if rerr := v1.ReturnThread(tid); rerr != nil {
		return p, errors.Join(err, fmt.Errorf("return the fork thread: %w", rerr))
	}
	runtime.UnlockOSThread()
	return p, err
}

// readAnon is a process's anonymous memory (Anonymous of smaps_rollup),
// KiB: its heap and stacks, which no other process's mapping of the same
// binary changes (its PSS and USS both fall when the master maps it too).
func readAnon(pid int) int64 {
	a, _ := kbField(fmt.Sprintf("/proc/%d/smaps_rollup", pid), "Anonymous:")
	return a
}

// bootNow is CLOCK_BOOTTIME, the clock of /proc/PID/stat's start time.
func bootNow() time.Duration {
	var ts unix.Timespec
	if unix.ClockGettime(unix.CLOCK_BOOTTIME, &ts) != nil {
		return 0
	}
	return time.Duration(ts.Nano())
}

// kernelMem is the kernel's unreclaimable slab and per-CPU memory, KiB:
// where a cgroup's structures live. Machine-wide, so other work adds noise.
func kernelMem() int64 {
	s, err1 := kbField("/proc/meminfo", "SUnreclaim:")
	p, err2 := kbField("/proc/meminfo", "Percpu:")
	if err := errors.Join(err1, err2); err != nil {
		return 0
	}
	return s + p
}

// cgText is the note under the cgroups table.
func cgText(b *bench) string {
	k := b.res.get(fmt.Sprintf(figCgKmem, b.o.cgN), vCg)
	if !k.ok() {
		return ""
	}
	return fmt.Sprintf("Kernel memory per process's group (its directories in the %s hierarchies: SUnreclaim + Percpu of /proc/meminfo before and after making %d, machine-wide, so others' work on the machine adds noise): %s (min %s, max %s).\n",
		"controllers'", b.o.cgN, uKiB.format(k.median), uKiB.format(k.min), uKiB.format(k.max))
}

// uKiB is a size in KiB.
var uKiB = unit{"KiB", 1, 0}
