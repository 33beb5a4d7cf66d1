// Package procfs reads what roost needs from /proc about processes, and
// kills a process only if it is still the one that was read: the runtime
// and the master both sweep the processes a supervisor left behind.
package procfs

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Proc is what /proc/PID/stat and /proc/PID/status say about a process.
type Proc struct {
	PID, PPID, PGID, SID int
	// Start is the start time in clock ticks since boot: with PID, an
	// identity that survives pid reuse.
	Start uint64
	State byte // 'R', 'S', 'Z'...
	// RUID and EUID are the real and effective uids (-1 when unknown).
	RUID, EUID int
}

// Read parses /proc/PID/stat and the Uid line of /proc/PID/status.
func Read(pid int) (Proc, error) {
	p, err := readStat(pid)
	if err != nil {
		return Proc{}, err
	}
	return p, readUIDs(&p)
}

// statFields reads /proc/PID/stat from field 3 (state) on: f[0] is
// field 3, so starttime (22) is f[19] and rss (24) is f[21].
func statFields(pid int) ([]string, error) {
	dir := "/proc/" + strconv.Itoa(pid)
	b, err := os.ReadFile(dir + "/stat")
	if err != nil {
		return nil, err
	}
	// comm is in parentheses and may hold anything: split at the last ')'.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return nil, fmt.Errorf("parse %s/stat: no ')'", dir)
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 22 {
		return nil, fmt.Errorf("parse %s/stat: %d fields", dir, len(f))
	}
	return f, nil
}

// readStat parses /proc/PID/stat.
func readStat(pid int) (Proc, error) {
	f, err := statFields(pid)
	if err != nil {
		return Proc{}, err
	}
	p := Proc{PID: pid, State: f[0][0], RUID: -1, EUID: -1}
	p.PPID, _ = strconv.Atoi(f[1])
	p.PGID, _ = strconv.Atoi(f[2])
	p.SID, _ = strconv.Atoi(f[3])
	p.Start, _ = strconv.ParseUint(f[19], 10, 64)
	return p, nil
}

// Usage is what /proc/PID/stat says a process uses.
type Usage struct {
	PGID     int
	CPUTicks uint64 // utime + stime, in clock ticks (USER_HZ, 100 on Linux)
	Threads  int
	RSSPages int64
}

// ReadUsage parses the usage fields of /proc/PID/stat.
func ReadUsage(pid int) (Usage, error) {
	f, err := statFields(pid)
	if err != nil {
		return Usage{}, err
	}
	var u Usage
	u.PGID, _ = strconv.Atoi(f[2])
	ut, _ := strconv.ParseUint(f[11], 10, 64)
	st, _ := strconv.ParseUint(f[12], 10, 64)
	u.CPUTicks = ut + st
	u.Threads, _ = strconv.Atoi(f[17])
	u.RSSPages, _ = strconv.ParseInt(f[21], 10, 64)
	return u, nil
}

// PeakRSS returns the process's peak resident memory in bytes: VmHWM of
// /proc/PID/status (0 for a kernel thread, which has none).
func PeakRSS(pid int) (int64, error) {
	st, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(st), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("parse /proc/%d/status: VmHWM %q", pid, rest)
			}
			return kb << 10, nil
		}
	}
	return 0, nil
}

// readUIDs fills p's uids from /proc/PID/status.
func readUIDs(p *Proc) error {
	st, err := os.ReadFile("/proc/" + strconv.Itoa(p.PID) + "/status")
	if err != nil {
		return err
	}
	for _, line := range strings.Split(string(st), "\n") {
		if rest, ok := strings.CutPrefix(line, "Uid:"); ok {
			if u := strings.Fields(rest); len(u) >= 2 {
				p.RUID, _ = strconv.Atoi(u[0])
				p.EUID, _ = strconv.Atoi(u[1])
			}
			break
		}
	}
	return nil
}

// Descendants returns every live (non-zombie) descendant of root, found by
// walking the ppid links of /proc (a kernel may lack
// /proc/PID/task/TID/children), leaving out the subtree of every process
// skip says yes to (skip may be nil). It is a scan of /proc (one stat file
// per process on the machine, the uids of the descendants only): call it
// on an event (an exit, a shutdown), never in a loop. skip sees no uids.
func Descendants(root int, skip func(Proc) bool) ([]Proc, error) {
	d, err := os.Open("/proc")
	if err != nil {
		return nil, fmt.Errorf("list /proc: %w", err)
	}
	names, err := d.Readdirnames(-1)
	d.Close()
	if err != nil {
		return nil, fmt.Errorf("list /proc: %w", err)
	}
	kids := map[int][]Proc{}
	for _, n := range names {
		pid, err := strconv.Atoi(n)
		if err != nil {
			continue
		}
		p, err := readStat(pid)
		if err != nil {
			continue // gone
		}
		kids[p.PPID] = append(kids[p.PPID], p)
	}
	var out []Proc
	seen := map[int]bool{}
	var walk func(pid int)
	walk = func(pid int) {
		for _, k := range kids[pid] {
			if seen[k.PID] || (skip != nil && skip(k)) {
				continue
			}
			seen[k.PID] = true
			if k.State != 'Z' && readUIDs(&k) == nil {
				out = append(out, k)
			}
			walk(k.PID)
		}
	}
	walk(root)
	return out, nil
}

// Kill sends sig to p through a pidfd, if p is still the process that was
// read (same pid and start time), and returns the pidfd (the caller closes
// it; it becomes readable when the process exits), or -1 when p is gone.
func Kill(p Proc, sig syscall.Signal) (int, error) {
	fd, err := unix.PidfdOpen(p.PID, 0)
	if err != nil {
		if errors.Is(err, syscall.ESRCH) {
			return -1, nil
		}
		return -1, fmt.Errorf("pidfd_open %d: %w", p.PID, err)
	}
	now, err := Read(p.PID)
	if err != nil || now.Start != p.Start {
		unix.Close(fd)
		return -1, nil // exited (and maybe reused) since the scan
	}
	if err := unix.PidfdSendSignal(fd, sig, nil, 0); err != nil {
		unix.Close(fd)
		if errors.Is(err, syscall.ESRCH) {
			return -1, nil
		}
		return -1, fmt.Errorf("kill %d: %w", p.PID, err)
	}
	return fd, nil
}

// AwaitExits waits until every pidfd reports its process's exit, or ctx
// ends. It blocks in poll(2): no sleeping, no probing.
func AwaitExits(ctx context.Context, fds []int) error {
	pending := fds
	for len(pending) > 0 {
		timeout := -1
		if dl, ok := ctx.Deadline(); ok {
			timeout = int(time.Until(dl).Milliseconds())
			if timeout <= 0 {
				return fmt.Errorf("%d processes did not exit: %w", len(pending), context.DeadlineExceeded)
			}
		}
		pfds := make([]unix.PollFd, len(pending))
		for i, fd := range pending {
			pfds[i] = unix.PollFd{Fd: int32(fd), Events: unix.POLLIN}
		}
		if _, err := unix.Poll(pfds, timeout); err != nil && !errors.Is(err, syscall.EINTR) {
			return fmt.Errorf("poll pidfds: %w", err)
		}
		var still []int
		for i, p := range pfds {
			if p.Revents == 0 {
				still = append(still, pending[i])
			}
		}
		pending = still
		if err := ctx.Err(); err != nil && len(pending) > 0 {
			return fmt.Errorf("%d processes did not exit: %w", len(pending), err)
		}
	}
	return nil
}

// CloseAll closes pidfds.
func CloseAll(fds []int) {
	for _, fd := range fds {
		unix.Close(fd)
	}
}
