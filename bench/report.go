package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"roost/cgroup"
)

// row is one line of a results table: a figure for supervisord on the left
// and roost on the right.
type row struct {
	label           string
	leftFig, leftV  string
	rightFig, right string
	u               unit
}

// section is one of the seven measures.
type section struct {
	title, intro string
	rows         []row
	after        func(*bench) string // text under the table
	cols         [3]string           // the column titles when not supervisord, roost and their ratio
}

// pair is the usual row: the same figure for both daemons.
func pair(label, fig string, u unit) row {
	return row{label: label, leftFig: fig, leftV: vSup, rightFig: fig, right: vRoost, u: u}
}

// sections lays out the report for the Ns that were measured.
func (b *bench) sections() []section {
	ns := b.o.ns
	var mem, idle, ctl, start []row
	for _, n := range ns {
		mem = append(mem, pair(fmt.Sprintf("RSS, %d programs", n), fmt.Sprintf(figRSS, n), uMiB),
			pair(fmt.Sprintf("PSS, %d programs", n), fmt.Sprintf(figPSS, n), uMiB))
		idle = append(idle, pair(fmt.Sprintf("CPU per 30 s idle, %d programs", n), fmt.Sprintf(figIdleCPU, n), uCPUms),
			pair(fmt.Sprintf("context switches per 30 s idle, %d programs", n), fmt.Sprintf(figIdleSw, n), uCount))
		ctl = append(ctl,
			pair(fmt.Sprintf("`status` (supervisorctl / roost), %d programs", n), fmt.Sprintf(figStatus, n), uMS),
			row{label: fmt.Sprintf("`supervisorctl status` against each, %d programs", n),
				leftFig: fmt.Sprintf(figStatus, n), leftV: vSup, rightFig: fmt.Sprintf(figSctl, n), right: vSctlRoost, u: uMS},
			pair(fmt.Sprintf("`restart NAME`, %d programs", n), fmt.Sprintf(figRestart, n), uMS))
		start = append(start, pair(fmt.Sprintf("launch → %d programs RUNNING", n), fmt.Sprintf(figStart, n), uS))
	}
	ctl = append(ctl,
		row{label: "floor: fork+exec of `/bin/true`", rightFig: figFloorTrue, right: vFloor, u: uMS},
		row{label: "floor: a hello-world Go binary", rightFig: figFloorGo, right: vFloor, u: uMS},
		row{label: "floor: `roost --version` (the roost binary's start, no config, no socket)", rightFig: figFloorVer, right: vFloor, u: uMS})
	var master []row
	for _, u := range b.o.users {
		master = append(master,
			row{label: fmt.Sprintf("master RSS, users = %d (%d programs each)", u, masterProgramsPerUser), rightFig: fmt.Sprintf(figMasterRSS, u), right: vRoost, u: uMiB},
			row{label: fmt.Sprintf("master PSS, users = %d", u), rightFig: fmt.Sprintf(figMasterPSS, u), right: vRoost, u: uMiB},
			pair(fmt.Sprintf("RSS of each user's supervisor, users = %d", u), fmt.Sprintf(figUserRSS, u), uMiB),
			pair(fmt.Sprintf("PSS of each user's supervisor, users = %d", u), fmt.Sprintf(figUserPSS, u), uMiB),
			pair(fmt.Sprintf("… of which anonymous (Pss_Anon: heap, stacks; the rest is file pages: the binary, python3 and its libraries), users = %d", u), fmt.Sprintf(figUserAnon, u), uMiB),
			pair(fmt.Sprintf("PSS of all (roost: the master and every user supervisor), users = %d", u), fmt.Sprintf(figUsersPSS, u), uMiB),
			pair(fmt.Sprintf("… per user, users = %d", u), fmt.Sprintf(figUsersEach, u), uMiB),
			pair(fmt.Sprintf("start → every program RUNNING, users = %d", u), fmt.Sprintf(figUsersUp, u), uS))
	}
	return []section{
		{title: "1. Idle memory", intro: "The daemon's own memory (not its programs') supervising N `sleep` programs, all RUNNING, sampled at the end of the idle window: VmRSS from /proc/PID/status, Pss from /proc/PID/smaps_rollup.", rows: mem},
		{title: "2. Idle CPU and wakeups", intro: fmt.Sprintf("The daemon's CPU time (sum over its threads of /proc/PID/task/TID/schedstat) and context switches (voluntary + involuntary, summed over threads) over a %s window in which nothing happens, scaled to 30 s.", b.o.idle), rows: idle, after: goIdleText},
		{title: "3. ctl round trip", intro: "Wall time of one command, fork to exit, run in the workload's directory (both find supervisord.conf there): `supervisorctl status` against supervisord, `roost status` against roost, and the real `supervisorctl` against roost's XML-RPC endpoint. `restart NAME` restarts one `sleep`, which exits at once on SIGTERM, so the time is all supervisor. The floor rows start a process that does nothing, in the roost column: any ctl command of a Go CLI costs at least the hello-world figure here, and `roost --version` is what roost's own binary costs before it reads a config or dials a socket.", rows: ctl},
		{title: "4. Start-up", intro: "From fork of the daemon until its API first reports every program RUNNING (startsecs=0). Until the kernel shows N children of the daemon the bench only watches new pids (so it does not slow a daemon busy spawning); then it polls the API, pausing as long as the last call took (5 to 50 ms): supervisord with getAllProcessInfo over XML-RPC, roost through its JSON API's Go client (what `roost status --json` prints).", rows: start},
		{title: "5. Log throughput", intro: fmt.Sprintf("One program writes %s of numbered %d-byte lines to stdout as fast as it can; the daemon captures it into a log rotated at 50MB with 3 backups (stdout_logfile_maxbytes=50MB, stdout_logfile_backups=3). Time runs from the writer's first instruction (its CLOCK_MONOTONIC stamp) until its last line is in the log; CPU is the daemon's own over the same span. Then every kept file is read: lines split across two files, lost (a gap in the numbers) or corrupt are counted.", uMiB.format(float64(b.o.logBytes)/1024), lineLen), rows: []row{
			pair("throughput", figLogRate, uMiBps),
			pair("daemon CPU per GiB", figLogCPU, uCPUs),
			pair("lines split across files", figLogSplit, uCount),
			pair("lines lost", figLogLost, uCount),
			pair("lines corrupt", figLogBad, uCount),
			pair("whole lines checked in the kept files", figLogKept, uCount),
		}, after: ceilingText},
		{title: "6. Crash recovery", intro: "kill -9 of the oldest RUNNING `sleep` (10 programs, autorestart=true; the bench waits until it has run 1.2 s, longer than roost's crash-loop throttle) until the kernel shows a new child of the daemon: the bench watches /proc/sys/kernel/ns_last_pid in a tight loop and checks each new pid's parent. Then a program that exits with status 1 as soon as it starts (`/bin/sh -c 'printf x >>FILE;exit 1'`, autorestart=true, startsecs=0): the daemon's CPU and the restarts it makes.", rows: []row{
			pair("kill -9 → replacement pid", figKill, uMS),
			pair("crash loop: daemon CPU", figCrashCPU, uPercent),
			pair("crash loop: restarts per second", figCrashRate, uPerSec),
			pair("crash loop: daemon CPU per restart", figCrashPer, uCPUms),
		}},
		{title: "7. Per-user cost under the master", intro: fmt.Sprintf("`roost master` as root starting one user supervisor per throwaway user (`roost-bench-N`; roost-alice and roost-bob with -quick), each with %[1]d `sleep` programs; against it, in the same run and alternating with it, the same users each running the same %[1]d programs under a `supervisord -n` of their own, started as the user (supervisord has no master: one instance per user is how a host runs it for its users). Time runs from the first fork until every user's socket reports its programs RUNNING. RSS from /proc/PID/status and PSS from /proc/PID/smaps_rollup after the settle pause. PSS splits a shared page among the processes that map it (roost's one binary among the master and every user supervisor; python3 and its libraries among the supervisord instances, which share nothing else), so PSS is the per-user figure that adds up, and the sum is what the host pays.", masterProgramsPerUser), rows: master},
		{title: "8. The cost of cgroups", intro: fmt.Sprintf("roost alone, with and without cgroups (issue 15). **Supervisor**: one user's (`roost-bench-1`; `roost-alice` with -quick) project of %[1]d `sleep` programs, run by root as a plain `roost run` with `[supervisord] user=` (no cgroup of its own) and under `roost master` with `[limits]` (memory_max %[2]s, pids_max %[3]d, cpu_max %[4]d%%: the supervisor and its programs in the user's cgroup, the limits written); launch is the fork of `roost run`, or of the master (its own start included), until the user's socket reports every program RUNNING, and from the user supervisor's own start (its start time in /proc/PID/stat, in 10 ms ticks), which leaves the master's start out; after the settle pause, the supervisor's RSS, and the sums over it and its programs of their anonymous memory (Anonymous of smaps_rollup: heap and stacks) and of their PSS. PSS splits a shared page among the processes that map it, and under the master the roost binary's pages are shared with the master, so the PSS sum with cgroups includes the master's own. **One group per process**: the bench itself starts %[1]d `/bin/sleep infinity`, plainly or each born in a group of its own with those limits (the group created in every controller's hierarchy, the limits written, then the fork thread moved in and back on v1 as the master spawns a user's supervisor, the pid moved on v2), or started and then moved in (half the writes to `tasks`/`cgroup.procs` on v1, but the process runs outside its group for a moment): the time per process, the spawn included.", b.o.cgN, cgroup.FormatBytes(cgLimits.MemoryMax), cgLimits.PidsMax, cgLimits.CPUMax),
			rows: []row{
				cgPair(fmt.Sprintf("supervisor: launch → %d programs RUNNING", b.o.cgN), figCgUp, b.o.cgN, uS),
				cgPair(fmt.Sprintf("supervisor: its own start → %d programs RUNNING", b.o.cgN), figCgSupUp, b.o.cgN, uS),
				cgPair(fmt.Sprintf("supervisor: idle RSS, %d programs", b.o.cgN), figCgSupRSS, b.o.cgN, uMiB),
				cgPair(fmt.Sprintf("supervisor and its %d programs: idle anonymous memory", b.o.cgN), figCgAnon, b.o.cgN, uMiB),
				cgPair(fmt.Sprintf("supervisor and its %d programs (and the master, with cgroups): idle PSS", b.o.cgN), figCgPSS, b.o.cgN, uMiB),
				cgPair("one group per process: start one `sleep`", figCgSpawn, b.o.cgN, uMS),
				{label: "… of which making its group and writing its limits", rightFig: fmt.Sprintf(figCgMake, b.o.cgN), right: vCg, u: uMS},
				{label: "one group per process: start one `sleep`, then move its pid in", leftFig: fmt.Sprintf(figCgSpawn, b.o.cgN), leftV: vNoCg, rightFig: fmt.Sprintf(figCgAfter, b.o.cgN), right: vCg, u: uMS},
			}, after: cgText, cols: [3]string{vNoCg, vCg, "with ÷ without"}},
		{title: "9. Deploy with git push", intro: "The real `roost master` and nginx on loopback, the user roost-alice, her repository made by `roost deploy --init`, and `git push` as her over a local path: the pre-receive hook an ssh push runs (ssh is not timed). Each push changes version.txt; the clock runs from the push's fork until nginx answers with the new version, polled every 20 ms. The app is a node server, numprocs=1 behind `[proxy:web]`, `startsecs=1`, so each deploy restarts it blue-green (a new process on the spare port, nginx moved to it, then the old one stopped). The npm project has one dependency (`is-number`) and its lock file; its first push runs `npm ci` (the user's npm cache warm after the lock file was made), the later ones leave package.json and the lock file unchanged and reuse the previous release's node_modules. A loop GETs the site through nginx every 5 ms during each push and a second after it.", rows: []row{
			{label: "trivial project: `git push` → new version served", rightFig: figDeployTrivial, right: vRoost, u: uS},
			{label: "npm project, first push (`npm ci`) → served", rightFig: figDeployNpmNew, right: vRoost, u: uS},
			{label: "npm project, dependencies unchanged: `git push` → served", rightFig: figDeployNpm, right: vRoost, u: uS},
			{label: "… of which the `git push` itself (build, switch, blue-green restart)", rightFig: figDeployBuild, right: vRoost, u: uS},
			{label: "requests during one push", rightFig: figDeployReqs, right: vRoost, u: uCount},
			{label: "failed requests during one push", rightFig: figDeployFailed, right: vRoost, u: uCount},
		}, after: deployText},
		{title: "10. Upgrade in place", intro: "`roost upgrade` on a supervisor of N `sleep` programs (the same binary re-executed; DESIGN.md, \"Upgrading in place\"). Unmanaged is the new image's own figure: from the old image's freeze (child waiters detached, copiers stopped) to the new image's adoption of the last program. The verb's time adds the probe of the binary (a fork+exec of it) and the new image's start. Every program's pid is checked unchanged after the upgrades. supervisord cannot do this (a restart restarts its programs).", rows: b.upgradeRows()},
	}
}

// cgPair is a row of the cgroups section: the figure without cgroups on
// the left, with them on the right.
func cgPair(label, fig string, n int, u unit) row {
	f := fmt.Sprintf(fig, n)
	return row{label: label, leftFig: f, leftV: vNoCg, rightFig: f, right: vCg, u: u}
}

// deployText says where a push's seconds go.
func deployText(*bench) string {
	return "Where a push's seconds go: the build itself (unpack, `npm ci` or the linked node_modules, `roost check`) " +
		"is under a second; the blue-green restart is most of the rest: the new process must stay up `startsecs` (1 s) and accept a connection, " +
		"then nginx must run the route with both ports and then the route without the old one, two reloads, which the master paces at one per " +
		"`reload_interval` (3 s) on average for all users together (a bucket of two: the first of a quiet spell goes at once). " +
		"The served time is the push's plus the poll that sees the new version.\n"
}

// goIdleText is the bare Go process line under the idle table.
func goIdleText(b *bench) string {
	cpu, sw, pss := b.res.get("goidle.cpu", vGo), b.res.get("goidle.sw", vGo), b.res.get("goidle.pss", vGo)
	if !cpu.ok() || !sw.ok() {
		return ""
	}
	return fmt.Sprintf("For scale, a bare Go process that only waits on a signal channel (the Go runtime's own idle cost) over the same window: %s, %s context switches per 30 s, PSS %s.\n",
		uCPUms.format(cpu.median), uCount.format(sw.median), uMiB.format(pss.median))
}

// ceilingText is the `writer | cat > file` line under the log table.
func ceilingText(b *bench) string {
	c := b.res.get(figLogRate, vCeiling)
	if !c.ok() {
		if c.failed != "" {
			return "The ceiling `writer | cat > file` failed: " + c.failed + "\n"
		}
		return ""
	}
	s := fmt.Sprintf("The ceiling on this machine, the same writer piped into `cat > file` (no daemon, no rotation): %s (min %s, max %s)",
		uMiBps.format(c.median), uMiBps.format(c.min), uMiBps.format(c.max))
	if cc := b.res.get(figLogCPU, vCeiling); cc.ok() {
		s += fmt.Sprintf(", cat itself using %s per GiB (min %s, max %s), nearly all in the kernel's pipe and page-cache copies",
			uCPUs.format(cc.median), uCPUs.format(cc.min), uCPUs.format(cc.max))
	}
	s += "."
	for _, v := range []string{vSup, vRoost} {
		if r := b.res.get(figLogRate, v); r.ok() {
			s += fmt.Sprintf(" %s reaches %.0f%% of it.", v, 100*r.median/c.median)
		}
	}
	return s + "\n"
}

// cell renders a series as "min / **median** / max unit", or why it has none.
func cell(s summary, u unit) string {
	switch {
	case s.ok() && s.n == 1:
		return u.format(s.median)
	case s.ok():
		return fmt.Sprintf("%s / **%s** / %s", trimUnit(u.format(s.min), u), trimUnit(u.format(s.median), u), u.format(s.max))
	case s.failed != "":
		return "failed: " + oneLine(s.failed, 120)
	case s.missing != "":
		return s.missing
	}
	return "not measured"
}

// trimUnit drops the unit from a formatted value, for the min and median
// of a cell that ends with the unit once.
func trimUnit(s string, u unit) string {
	return strings.TrimSuffix(strings.TrimSuffix(s, u.name), " ")
}

// oneLine flattens s to one line of at most n runes for a table cell.
func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	s = strings.ReplaceAll(s, "|", "\\|")
	if r := []rune(s); len(r) > n {
		s = string(r[:n]) + "…"
	}
	return s
}

// goal is one of the targets for roost.
type goal struct {
	text   string
	fig    string
	u      unit
	ref    string                                // supervisord 4.2.5's reference figure from the issue
	verify func(b *bench, roost summary) verdict // whether roost's median meets it
}

// verdict is a goal's outcome.
type verdict struct {
	met bool
	na  bool
	why string
}

// atMost is a goal of the form "median ≤ limit".
func atMost(limit float64) func(*bench, summary) verdict {
	return func(_ *bench, s summary) verdict {
		if !s.ok() {
			return verdict{na: true}
		}
		return verdict{met: s.median <= limit}
	}
}

// withFloor adds the process-start floor to a ctl goal's verdict: what
// /bin/true, a hello-world Go binary and `roost --version` take here.
func withFloor(f func(*bench, summary) verdict) func(*bench, summary) verdict {
	return func(b *bench, s summary) verdict {
		v := f(b, s)
		var fl []string
		for _, x := range []struct{ name, fig string }{
			{"/bin/true", figFloorTrue}, {"hello-world Go", figFloorGo}, {"`roost --version`", figFloorVer},
		} {
			if m := b.res.get(x.fig, vFloor); m.ok() {
				fl = append(fl, x.name+" "+uMS.format(m.median))
			}
		}
		if len(fl) > 0 && !v.na {
			v.why = "floor: " + strings.Join(fl, ", ")
		}
		return v
	}
}

// goals lists the goals, evaluated on the figures measured.
func (b *bench) goals() []goal {
	biggest := b.o.ns[len(b.o.ns)-1]
	gs := []goal{
		{"idle PSS ≤ 6 MB with 10 programs", "pss.10", uMiB, "29.6 MB", atMost(6 * 1024)},
		{"idle PSS ≤ 25 MB with 1000 programs", "pss.1000", uMiB, "41.4 MB", atMost(25 * 1024)},
		{"`roost status` ≤ 3 ms with 100 programs", "status.100", uMS, "161 ms", withFloor(atMost(0.003))},
		{"`roost status` ≤ 15 ms with 1000 programs", "status.1000", uMS, "754 ms", withFloor(atMost(0.015))},
		{"`restart NAME` ≤ 10 ms plus the program's stop time (`sleep` stops at once)", "restart.100", uMS, "176 ms", withFloor(atMost(0.010))},
		{"100 programs to RUNNING ≤ 100 ms", "start.100", uS, "1.55 s", atMost(0.100)},
		{"1000 programs to RUNNING (no goal)", "start.1000", uS, "5.5 s", nil},
		{"log capture ≥ the `cat` copy's MiB/s", figLogRate, uMiBps, "875 MiB/s", func(b *bench, s summary) verdict {
			c := b.res.get(figLogRate, vCeiling)
			if !s.ok() || !c.ok() {
				return verdict{na: true}
			}
			return verdict{met: s.median >= c.median, why: fmt.Sprintf("cat: %s", uMiBps.format(c.median))}
		}},
		{"log capture ≤ 0.5 CPU-s per GiB", figLogCPU, uCPUs, "1.05 CPU-s", func(b *bench, s summary) verdict {
			v := atMost(0.5)(b, s)
			if c := b.res.get(figLogCPU, vCeiling); c.ok() && !v.na {
				v.why = "cat: " + uCPUs.format(c.median)
			}
			return v
		}},
		{"0 lines split or lost", figLogSplit, uCount, "split at rotation", func(b *bench, s summary) verdict {
			lost, bad := b.res.get(figLogLost, vRoost), b.res.get(figLogBad, vRoost)
			if !s.ok() || !lost.ok() || !bad.ok() {
				return verdict{na: true}
			}
			return verdict{met: s.max == 0 && lost.max == 0 && bad.max == 0,
				why: fmt.Sprintf("worst run: %.0f split, %.0f lost, %.0f corrupt", s.max, lost.max, bad.max)}
		}},
		{"kill -9 → replacement ≤ 2 ms", figKill, uMS, "about 1 s", atMost(0.002)},
		{fmt.Sprintf("no idle wakeups beyond the Go runtime's (%d programs; ≤ a bare Go process's + 10 per 30 s)", biggest),
			fmt.Sprintf(figIdleSw, biggest), uCount, "1 wakeup/s", func(b *bench, s summary) verdict {
				g := b.res.get("goidle.sw", vGo)
				if !s.ok() || !g.ok() {
					return verdict{na: true}
				}
				return verdict{met: s.median <= g.median+10, why: fmt.Sprintf("bare Go: %s", uCount.format(g.median))}
			}},
	}
	if users := b.o.users; len(users) > 0 {
		most := users[len(users)-1]
		gs = append(gs,
			goal{fmt.Sprintf("PSS of each user supervisor under the master ≤ 4 MiB (%d users)", most), fmt.Sprintf(figUserPSS, most), uMiB, "—", atMost(4 * 1024)},
			goal{fmt.Sprintf("%d users × %d programs: PSS of all ≤ 0.1× that of %[1]d supervisord instances", most, masterProgramsPerUser),
				fmt.Sprintf(figUsersPSS, most), uMiB, "—", func(b *bench, s summary) verdict {
					sup := b.res.get(fmt.Sprintf(figUsersPSS, most), vSup)
					if !s.ok() || !sup.ok() {
						return verdict{na: true}
					}
					return verdict{met: s.median <= 0.1*sup.median}
				}})
	}
	var out []goal
	for _, g := range gs {
		if b.measuredFig(g.fig) {
			out = append(out, g)
		}
	}
	return out
}

// measuredFig reports whether the plan includes fig (the quick plan skips
// N=1000, for one).
func (b *bench) measuredFig(fig string) bool {
	for _, k := range b.expected() {
		if k.fig == fig {
			return true
		}
	}
	return false
}

// expected lists every series the plan means to measure.
func (b *bench) expected() []key {
	var out []key
	add := func(fig string, vs ...string) {
		for _, v := range vs {
			out = append(out, key{fig, v})
		}
	}
	vs := []string{vSup, vRoost}
	if b.o.wants("idle") {
		add("goidle.cpu", vGo)
		add("goidle.sw", vGo)
	}
	if b.o.wants("sessions") || b.o.wants("ctl") {
		for _, n := range b.o.ns {
			figs := []string{figStart, figStatus, figRestart}
			if b.o.wants("sessions") {
				figs = append(figs, figRSS, figPSS, figIdleCPU, figIdleSw)
			}
			for _, f := range figs {
				add(fmt.Sprintf(f, n), vs...)
			}
			add(fmt.Sprintf(figSctl, n), vSctlRoost)
		}
		if b.o.wants("sessions") {
			add(figKill, vs...)
		}
		add(figFloorTrue, vFloor)
		add(figFloorGo, vFloor)
		add(figFloorVer, vFloor)
	}
	if b.o.wants("log") {
		for _, f := range []string{figLogRate, figLogCPU, figLogSplit, figLogLost, figLogBad, figLogKept} {
			add(f, vs...)
		}
		add(figLogRate, vCeiling)
	}
	if b.o.wants("crash") {
		add(figCrashCPU, vs...)
		add(figCrashRate, vs...)
	}
	if b.o.wants("master") {
		for _, u := range b.o.users {
			for _, f := range masterFigs {
				add(fmt.Sprintf(f, u), vRoost)
			}
			for _, f := range perUserFigs {
				add(fmt.Sprintf(f, u), vSup)
			}
		}
	}
	if b.o.wants("cgroups") {
		for _, f := range cgFigs(b.o.cgN) {
			add(f, vNoCg, vCg)
		}
	}
	if b.o.wants("deploy") {
		for _, f := range b.deployFigs() {
			add(f, vRoost)
		}
	}
	if b.o.wants("upgrade") {
		for _, n := range b.o.ns {
			add(fmt.Sprintf(figUpUnmanaged, n), vRoost)
			add(fmt.Sprintf(figUpWall, n), vRoost)
		}
	}
	// A variant that cannot run yet is expected to say so, not to measure.
	for _, k := range out {
		if k.variant == vRoost && b.roostWhy != "" {
			b.res.unavailable(k.fig, vRoost, b.roostWhy)
		}
		if k.variant == vSctlRoost && b.roostWhy != "" {
			b.res.unavailable(k.fig, vSctlRoost, b.roostWhy)
		}
	}
	return out
}

// report renders BENCHMARKS.md.
func (b *bench) report(loadBefore, loadAfter string, elapsed time.Duration, interrupted bool) []byte {
	var w bytes.Buffer
	p := func(format string, args ...any) { fmt.Fprintf(&w, format, args...) }
	mode := "full"
	if b.o.quick {
		mode = "-quick: one run, short windows; it proves the bench works, its figures are not for quoting"
	}
	p("# roost vs supervisord: benchmarks\n\n")
	p("Generated by `go run ./bench` (%s), on %s in %s. Regenerate with `go run ./bench`; it writes this file.\n",
		mode, b.started.UTC().Format("2006-01-02 15:04 MST"), elapsed.Round(time.Second))
	p("Every figure is min / **median** / max over the runs; the ratio column is roost's median divided by supervisord's (below 1 means roost is smaller or faster, except for throughput and restart rates).\n\n")
	if b.roostWhy != "" {
		p("**roost: %s.** Only supervisord's half was measured; the roost rows fill in when `roost run` and `roost status` exist in this tree.\n\n", b.roostWhy)
	}

	p("## Goals\n\n")
	p("| goal | roost (median) | supervisord (median) | supervisord 4.2.5 reference (issue) | roost ÷ supervisord | met |\n")
	p("|---|---|---|---|---|---|\n")
	for _, g := range b.goals() {
		rs, ss := b.res.get(g.fig, vRoost), b.res.get(g.fig, vSup)
		mark := "—"
		if g.verify != nil {
			v := g.verify(b, rs)
			switch {
			case v.na:
				mark = "—"
			case v.met:
				mark = "✔"
			default:
				mark = "✘"
			}
			if v.why != "" && !v.na {
				mark += " (" + v.why + ")"
			}
		}
		p("| %s | %s | %s | %s | %s | %s |\n", g.text, medianCell(rs, g.u), medianCell(ss, g.u), g.ref, ratio(rs, ss), mark)
	}
	p("\nWhy roost misses the goals it misses, with profiles and the fixes they point to: [bench/FINDINGS.md](bench/FINDINGS.md).\n\n")

	for _, s := range b.sections() {
		for _, r := range s.rows {
			if b.roostWhy != "" && (r.right == vRoost || r.right == vSctlRoost) {
				b.res.unavailable(r.rightFig, r.right, b.roostWhy)
			}
		}
		p("## %s\n\n%s\n\n", s.title, s.intro)
		cols := s.cols
		if cols[0] == "" {
			cols = [3]string{"supervisord", "roost", "roost ÷ supervisord"}
		}
		p("| measure | %s | %s | %s |\n|---|---|---|---|\n", cols[0], cols[1], cols[2])
		for _, r := range s.rows {
			left, right := summary{}, b.res.get(r.rightFig, r.right)
			leftCell := "—"
			if r.leftFig != "" {
				left = b.res.get(r.leftFig, r.leftV)
				leftCell = cell(left, r.u)
			}
			p("| %s | %s | %s | %s |\n", r.label, leftCell, cell(right, r.u), ratio(right, left))
		}
		if s.after != nil {
			if t := s.after(b); t != "" {
				p("\n%s", t)
			}
		}
		p("\n")
	}

	p("## Method\n\n")
	p("- One command, `go run ./bench`, builds roost once as README.md installs it and scripts/package ships it (`CGO_ENABLED=0 go build -tags urfave_cli_no_docs -o WORK/roost ./cmd/roost`: static, without urfave/cli's man-page generator) and runs the binary; nothing is timed through `go run`. It installs nothing: a missing prerequisite is named with the command that installs it.\n")
	p("- Both daemons run the *same generated supervisord.conf*, unchanged, in the foreground (`supervisord -n -c FILE`, `roost run -c FILE`), one at a time, in an order that swaps on every run; the work dir is reset between them.\n")
	p("- Workloads: `[supervisord]` keeps its defaults apart from paths (so supervisord's minfds stays 1024; it closes every fd below minfds in each child it forks); N programs `command=/bin/sleep infinity`, `startsecs=0`, `autorestart=true`, `redirect_stderr=true`, one log file each; a numbered-line writer (the bench binary itself) for the log; `/bin/sh -c 'printf x >>FILE;exit 1'` for the crash loop.\n")
	p("- Each session (one daemon, one N) measures, in order: start-up, then an idle window (CPU, context switches, then memory), ctl round trips, `restart`, and for N=%d kill -9 recovery. Runs per daemon and N: %d; ctl calls per session: %d (%d for N > 100); restarts: %d; kills: %d. Log runs: %d of %s; crash-loop windows: %d of %s.\n",
		b.o.killN, b.o.runs, b.o.ctlRepsSm, b.o.ctlRepsLg, b.o.restartReps, b.o.killReps, b.o.logRuns, uMiB.format(float64(b.o.logBytes)/1024), b.o.crashRuns, b.o.crashWindow)
	p("- Everything is read from /proc of the daemon's pid: VmRSS (status), Pss (smaps_rollup), CPU time (schedstat of each thread; utime+stime when a thread exited), context switches (status of each thread). A daemon's programs are not counted.\n")
	p("- Every process the bench starts is tracked by pid and stopped (SIGTERM, then SIGKILL to its process group); the bench is a child subreaper, so a program its daemon left behind comes back to it and is killed and reported below. All files live in one work dir, removed at the end.\n")
	p("- The machine is shared with whatever else runs on it; medians damp that, and the load average before and after is shown below.\n\n")

	p("## Machine\n\n")
	p("| | |\n|---|---|\n")
	p("| CPU | %s, %d cores |\n", cpuModel(), runtime.NumCPU())
	p("| memory | %d MiB |\n", memTotal())
	p("| OS, kernel | %s, Linux %s |\n", osName(), osRelease())
	p("| Go | %s |\n", b.versions["go"])
	p("| supervisord | %s (%s, Debian's supervisor package) |\n", b.versions["supervisord"], b.versions["python"])
	roostV := b.versions["roost"]
	if c := b.versions["commit"]; c != "" {
		roostV += " at commit " + c
	}
	p("| roost | %s |\n", roostV)
	p("| open files limit (soft, both daemons) | %s |\n", b.versions["nofile"])
	p("| load average | %s before, %s after |\n\n", loadBefore, loadAfter)

	notes := append([]string(nil), b.res.notes...)
	for _, pr := range b.res.problems(b.expected()) {
		notes = append(notes, "no number: "+pr)
	}
	if interrupted {
		notes = append(notes, "the run was interrupted")
	}
	if len(notes) > 0 {
		p("## Notes from this run\n\n")
		for _, n := range notes {
			p("- %s\n", oneLine(n, 400))
		}
		p("\n")
	}
	return w.Bytes()
}

// medianCell renders just the median, or a dash.
func medianCell(s summary, u unit) string {
	if !s.ok() {
		return "—"
	}
	return u.format(s.median)
}

// readmeMarker starts the one README line the bench keeps up to date.
const readmeMarker = "Benchmarks against supervisord:"

// headline is that README line: the headline ratios and the link.
func (b *bench) headline() string {
	if b.roostWhy != "" {
		return readmeMarker + " [BENCHMARKS.md](BENCHMARKS.md) (`go run ./bench` regenerates it; roost's figures are " + b.roostWhy + ")."
	}
	type h struct {
		label, fig   string
		lower, upper string // the comparison when roost's median is lower or higher
	}
	var parts []string
	seen := map[string]bool{}
	for _, x := range []h{
		{"idle memory (PSS, 1000 programs)", "pss.1000", "smaller", "larger"},
		{"idle memory (PSS, 100 programs)", "pss.100", "smaller", "larger"},
		{"`status` (1000 programs)", "status.1000", "faster", "slower"},
		{"`status` (100 programs)", "status.100", "faster", "slower"},
		{"`restart`", "restart.100", "faster", "slower"},
		{"100 programs up", "start.100", "faster", "slower"},
		{"kill -9 → replacement", figKill, "faster", "slower"},
		{"log capture", figLogRate, "slower", "faster"},
	} {
		r, sp := b.res.get(x.fig, vRoost), b.res.get(x.fig, vSup)
		family := strings.Fields(x.label)[0]
		if !r.ok() || !sp.ok() || sp.median == 0 || r.median == 0 || seen[family] {
			continue // the bigger N of the same figure is already there
		}
		seen[family] = true
		if r.median < sp.median {
			parts = append(parts, fmt.Sprintf("%s %s× %s", x.label, sig3(sp.median/r.median), x.lower))
		} else {
			parts = append(parts, fmt.Sprintf("%s %s× %s", x.label, sig3(r.median/sp.median), x.upper))
		}
	}
	return readmeMarker + " [BENCHMARKS.md](BENCHMARKS.md) — roost against supervisord 4.2.5 on one machine, medians: " +
		strings.Join(parts, ", ") + "."
}

// updateReadme rewrites the README's benchmark line, if it has one.
func (b *bench) updateReadme() error {
	path := filepath.Join(b.root, "README.md")
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("update README: %w", err)
	}
	lines := strings.Split(string(data), "\n")
	for i, l := range lines {
		if strings.HasPrefix(l, readmeMarker) {
			lines[i] = b.headline()
			return writeFileAtomic(path, []byte(strings.Join(lines, "\n")))
		}
	}
	return nil
}
