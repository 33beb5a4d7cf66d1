package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"roost/internal/procfs"
)

// clockTick is USER_HZ: /proc/PID/stat counts CPU time in these.
const clockTick = 100

// memUsage is a process's memory from /proc, in KiB.
type memUsage struct {
	RSS     int64 // /proc/PID/status VmRSS
	PSS     int64 // /proc/PID/smaps_rollup Pss
	PSSAnon int64 // /proc/PID/smaps_rollup Pss_Anon: heap and stacks, the process's own
}

// readMem reads the RSS and PSS of one process.
func readMem(pid int) (memUsage, error) {
	var m memUsage
	rss, err := kbField(fmt.Sprintf("/proc/%d/status", pid), "VmRSS:")
	if err != nil {
		return m, err
	}
	pss, err := kbField(fmt.Sprintf("/proc/%d/smaps_rollup", pid), "Pss:")
	if err != nil {
		return m, err
	}
	anon, err := kbField(fmt.Sprintf("/proc/%d/smaps_rollup", pid), "Pss_Anon:")
	if err != nil {
		return m, err
	}
	return memUsage{RSS: rss, PSS: pss, PSSAnon: anon}, nil
}

// kbField returns the number after key in a "Key:   123 kB" file.
func kbField(path, key string) (int64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, fmt.Errorf("read %s: %w", path, err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, key); ok {
			f := strings.Fields(rest)
			if len(f) == 0 {
				break
			}
			return strconv.ParseInt(f[0], 10, 64)
		}
	}
	return 0, fmt.Errorf("%s: no %q line", path, key)
}

// cpuUsage is the CPU a process has used so far, and how often its threads
// were switched out.
type cpuUsage struct {
	// Ticks is utime+stime from /proc/PID/stat, in seconds (10 ms
	// resolution; counts exited threads too).
	Ticks float64
	// Sched is the sum over live threads of /proc/PID/task/TID/schedstat's
	// run time, in seconds (nanosecond resolution).
	Sched float64
	// Threads is how many threads were summed.
	Threads int
	// Voluntary and Involuntary are context switches summed over threads
	// (/proc/PID/task/TID/status); a voluntary switch is a sleep, so each
	// is followed by a wakeup.
	Voluntary, Involuntary int64
	// TIDs are the threads that were summed.
	TIDs map[int]bool
}

// readCPU samples a process's CPU time and context switches.
func readCPU(pid int) (cpuUsage, error) {
	var u cpuUsage
	st, err := readStat(pid)
	if err != nil {
		return u, err
	}
	u.Ticks = float64(st.utime+st.stime) / clockTick
	u.TIDs = map[int]bool{}
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		return u, fmt.Errorf("list threads of %d: %w", pid, err)
	}
	for _, t := range tasks {
		tid, err := strconv.Atoi(t.Name())
		if err != nil {
			continue
		}
		dir := fmt.Sprintf("/proc/%d/task/%d/", pid, tid)
		ss, err := os.ReadFile(dir + "schedstat")
		if err != nil {
			continue // the thread exited meanwhile
		}
		f := strings.Fields(string(ss))
		if len(f) < 1 {
			continue
		}
		ns, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return u, fmt.Errorf("parse %sschedstat %q: %w", dir, ss, err)
		}
		vol, err1 := kbField(dir+"status", "voluntary_ctxt_switches:")
		invol, err2 := kbField(dir+"status", "nonvoluntary_ctxt_switches:")
		if err1 != nil || err2 != nil {
			continue
		}
		u.Sched += float64(ns) / 1e9
		u.Voluntary += vol
		u.Involuntary += invol
		u.Threads++
		u.TIDs[tid] = true
	}
	return u, nil
}

// cpuDelta is what a process used between two samples.
type cpuDelta struct {
	CPU      float64 // seconds
	Switches int64   // voluntary + involuntary context switches
	// Exact is false when a thread exited between the samples, so the
	// per-thread sums could not be subtracted and Ticks was used instead.
	Exact bool
}

// sub returns what the process used from a to b.
func (b cpuUsage) sub(a cpuUsage) cpuDelta {
	for tid := range a.TIDs {
		if !b.TIDs[tid] {
			return cpuDelta{CPU: b.Ticks - a.Ticks, Switches: -1}
		}
	}
	return cpuDelta{
		CPU:      b.Sched - a.Sched,
		Switches: (b.Voluntary + b.Involuntary) - (a.Voluntary + a.Involuntary),
		Exact:    true,
	}
}

// procStat is the part of /proc/PID/stat that internal/procfs does not
// read: the command name and the CPU time.
type procStat struct {
	comm         string
	utime, stime int64
}

// readStat parses /proc/PID/stat.
func readStat(pid int) (procStat, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return procStat{}, err
	}
	return parseStat(b)
}

// parseStat parses the contents of a /proc/PID/stat file. The command name
// is in parentheses and may itself contain spaces and parentheses.
func parseStat(b []byte) (procStat, error) {
	var s procStat
	open, end := bytes.IndexByte(b, '('), bytes.LastIndexByte(b, ')')
	if open < 0 || end < open {
		return s, fmt.Errorf("malformed stat %q", b)
	}
	s.comm = string(b[open+1 : end])
	f := strings.Fields(string(b[end+1:]))
	// f[0] is field 3 (state); utime and stime are fields 14 and 15.
	if len(f) < 13 {
		return s, fmt.Errorf("malformed stat %q", b)
	}
	var errs [2]error
	s.utime, errs[0] = strconv.ParseInt(f[11], 10, 64)
	s.stime, errs[1] = strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(errs[:]...); err != nil {
		return s, fmt.Errorf("malformed stat %q: %w", b, err)
	}
	return s, nil
}

// children returns the live (not zombie) child processes of pid. This
// kernel has no /proc/PID/task/TID/children, so it scans /proc.
func children(pid int) ([]int, error) {
	ps, err := procfs.Descendants(pid, func(p procfs.Proc) bool { return p.PPID != pid })
	return pids(ps), err
}

// userHZ is the unit of start times in /proc/PID/stat (USER_HZ, 100 on
// every Linux architecture).
const userHZ = 100

// oldestChild returns the live child of pid that has run longest, and how
// long it has run.
func oldestChild(pid int) (int, time.Duration, error) {
	ps, err := procfs.Descendants(pid, func(p procfs.Proc) bool { return p.PPID != pid })
	if err != nil || len(ps) == 0 {
		return 0, 0, fmt.Errorf("no child of pid %d (%v)", pid, err)
	}
	old := ps[0]
	for _, p := range ps[1:] {
		if p.Start < old.Start {
			old = p
		}
	}
	b, err := os.ReadFile("/proc/uptime")
	if err != nil {
		return 0, 0, fmt.Errorf("read /proc/uptime: %w", err)
	}
	up, err := strconv.ParseFloat(strings.Fields(string(b))[0], 64)
	if err != nil {
		return 0, 0, fmt.Errorf("parse /proc/uptime %q: %w", b, err)
	}
	age := time.Duration(up*float64(time.Second)) - time.Duration(old.Start)*time.Second/userHZ
	return old.PID, age, nil
}

// descendants returns every live process below pid.
func descendants(pid int) []int {
	ps, _ := procfs.Descendants(pid, nil)
	return pids(ps)
}

// pids lists the processes' ids.
func pids(ps []procfs.Proc) []int {
	out := make([]int, len(ps))
	for i, p := range ps {
		out[i] = p.PID
	}
	return out
}

// lastPID reads the pid the kernel allocated most recently.
func lastPID() (int, error) {
	b, err := os.ReadFile("/proc/sys/kernel/ns_last_pid")
	if err != nil {
		return 0, fmt.Errorf("read ns_last_pid: %w", err)
	}
	return strconv.Atoi(strings.TrimSpace(string(b)))
}

// pidMax reads the largest pid before the kernel wraps around.
func pidMax() int {
	b, err := os.ReadFile("/proc/sys/kernel/pid_max")
	if err != nil {
		return 1 << 22
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return 1 << 22
	}
	return n
}

// pidWatcher finds a parent's new children as the kernel allocates their
// pids: it follows /proc/sys/kernel/ns_last_pid and looks at each new pid
// once, so it costs a few microseconds per process created on the machine
// instead of a scan of /proc.
type pidWatcher struct {
	parent  int
	last    int
	wrap    int
	pending map[int]time.Time // allocated pids not visible in /proc yet
}

// newPIDWatcher starts watching for children of parent created from now on.
func newPIDWatcher(parent int) (*pidWatcher, error) {
	last, err := lastPID()
	if err != nil {
		return nil, err
	}
	return &pidWatcher{parent: parent, last: last, wrap: pidMax(), pending: map[int]time.Time{}}, nil
}

// poll returns the children of parent among the pids allocated since the
// last call.
func (w *pidWatcher) poll() ([]int, error) {
	cur, err := lastPID()
	if err != nil {
		return nil, err
	}
	now := time.Now()
	for w.last != cur {
		w.last++
		if w.last >= w.wrap {
			w.last = 300 // the kernel wraps to RESERVED_PIDS
		}
		w.pending[w.last] = now
	}
	var out []int
	for p, seen := range w.pending {
		// Look before checking: a pid shows in /proc only once fork has
		// attached its task (milliseconds, on a busy machine), and it
		// must not count as someone else's for appearing in between.
		visible := fileExists("/proc/" + strconv.Itoa(p))
		switch {
		case isChild(p, w.parent):
			out = append(out, p)
			delete(w.pending, p)
		case visible || now.Sub(seen) > time.Second:
			delete(w.pending, p) // someone else's process or thread, or gone already
		}
	}
	return out, nil
}

// isChild reports whether pid is a live process (not a thread) whose
// parent is parent.
func isChild(pid, parent int) bool {
	p, err := procfs.Read(pid)
	if err != nil || p.PPID != parent || p.State == 'Z' {
		return false
	}
	// /proc/TID is reachable for threads too; a thread's Tgid differs.
	tgid, err := kbField("/proc/"+strconv.Itoa(pid)+"/status", "Tgid:")
	return err == nil && int(tgid) == pid
}

// becomeSubreaper makes this process the one that inherits orphaned
// descendants, so nothing the bench starts can escape its clean-up.
func becomeSubreaper() error {
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("prctl(PR_SET_CHILD_SUBREAPER): %w", err)
	}
	return nil
}

// killGroup sends sig to the process group led by pgid, ignoring a group
// that no longer exists.
func killGroup(pgid int, sig syscall.Signal) {
	if pgid > 1 {
		_ = syscall.Kill(-pgid, sig)
	}
}

// killPID sends sig to one process, ignoring one that is gone.
func killPID(pid int, sig syscall.Signal) error {
	if pid <= 1 {
		return fmt.Errorf("refusing to signal pid %d", pid)
	}
	if err := syscall.Kill(pid, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("kill %d: %w", pid, err)
	}
	return nil
}

// reap collects the exit status of an orphan the bench inherited as
// subreaper; exec.Cmd reaps the processes it started itself.
func reap(pid int) {
	var ws unix.WaitStatus
	_, _ = unix.Wait4(pid, &ws, unix.WNOHANG, nil)
}

// monotonicNow is CLOCK_MONOTONIC in nanoseconds: the clock the writer
// stamps its start with, comparable across processes.
func monotonicNow() int64 {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return ts.Nano()
}

// fileExists reports whether path exists.
func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// osRelease is the kernel version.
func osRelease() string {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return "unknown"
	}
	return unix.ByteSliceToString(u.Release[:]) + " " + unix.ByteSliceToString(u.Machine[:])
}

// cpuModel is the first "model name" of /proc/cpuinfo.
func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown"
	}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}

// memTotal is the machine's memory in MiB.
func memTotal() int64 {
	kb, err := kbField("/proc/meminfo", "MemTotal:")
	if err != nil {
		return 0
	}
	return kb / 1024
}

// loadAvg is the first three fields of /proc/loadavg.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

// osName is PRETTY_NAME from /etc/os-release.
func osName() string {
	b, err := os.ReadFile(filepath.Join("/etc", "os-release"))
	if err != nil {
		return "unknown"
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "PRETTY_NAME="); ok {
			return strings.Trim(v, `"`)
		}
	}
	return "unknown"
}

// raiseNoFile sets the soft RLIMIT_NOFILE to the hard limit (at most 1<<20)
// and returns it. Calling Setrlimit also stops Go from restoring the
// original soft limit in the processes it starts, so both daemons inherit
// this one: 1000 programs need a few thousand descriptors.
func raiseNoFile() (uint64, error) {
	var l unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &l); err != nil {
		return 0, fmt.Errorf("getrlimit(RLIMIT_NOFILE): %w", err)
	}
	l.Cur = min(l.Max, 1<<20)
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &syscall.Rlimit{Cur: l.Cur, Max: l.Max}); err != nil {
		return 0, fmt.Errorf("setrlimit(RLIMIT_NOFILE): %w", err)
	}
	return l.Cur, nil
}
