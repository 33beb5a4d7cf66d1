package master

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

// proc is what /proc says about one process.
type proc struct {
	pid, ppid, pgid int
	start           uint64 // starttime in clock ticks since boot: with pid, an identity
	state           byte
	ruid, euid      int
}

// readProc parses /proc/PID/stat and the Uid line of /proc/PID/status.
func readProc(pid int) (proc, error) {
	dir := "/proc/" + strconv.Itoa(pid)
	b, err := os.ReadFile(dir + "/stat")
	if err != nil {
		return proc{}, err
	}
	// comm is in parentheses and may hold anything: split at the last ')'.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return proc{}, fmt.Errorf("parse %s/stat: no ')'", dir)
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 20 { // f[0] is field 3 (state); starttime is field 22
		return proc{}, fmt.Errorf("parse %s/stat: %d fields", dir, len(f))
	}
	p := proc{pid: pid, state: f[0][0], ruid: -1, euid: -1}
	p.ppid, _ = strconv.Atoi(f[1])
	p.pgid, _ = strconv.Atoi(f[2])
	p.start, _ = strconv.ParseUint(f[19], 10, 64)
	st, err := os.ReadFile(dir + "/status")
	if err != nil {
		return proc{}, err
	}
	for _, line := range strings.Split(string(st), "\n") {
		if rest, ok := strings.CutPrefix(line, "Uid:"); ok {
			u := strings.Fields(rest)
			if len(u) >= 2 {
				p.ruid, _ = strconv.Atoi(u[0])
				p.euid, _ = strconv.Atoi(u[1])
			}
			break
		}
	}
	return p, nil
}

// descendants returns every live (non-zombie) descendant of root, found by
// walking the ppid links of /proc (this kernel may lack
// /proc/PID/task/TID/children), and for each the pid of root's child it
// descends from.
func descendants(root int) (map[int]proc, map[int]int, error) {
	d, err := os.Open("/proc")
	if err != nil {
		return nil, nil, fmt.Errorf("list /proc: %w", err)
	}
	names, err := d.Readdirnames(-1)
	d.Close()
	if err != nil {
		return nil, nil, fmt.Errorf("list /proc: %w", err)
	}
	kids := map[int][]proc{}
	for _, n := range names {
		pid, err := strconv.Atoi(n)
		if err != nil {
			continue
		}
		p, err := readProc(pid)
		if err != nil {
			continue // gone
		}
		kids[p.ppid] = append(kids[p.ppid], p)
	}
	out := map[int]proc{}
	branch := map[int]int{}
	var walk func(pid, top int)
	walk = func(pid, top int) {
		for _, k := range kids[pid] {
			if _, seen := out[k.pid]; seen {
				continue
			}
			t := top
			if pid == root {
				t = k.pid
			}
			if k.state != 'Z' {
				out[k.pid] = k
				branch[k.pid] = t
			}
			walk(k.pid, t)
		}
	}
	walk(root, 0)
	return out, branch, nil
}

// killLeftovers kills every descendant of the master that runs as uid
// (real or effective) and does not descend from a child the master still
// runs (a live supervisor), or every descendant at all when uid is -1.
// It repeats until none is left, since a killed process's children are
// reparented to the master in turn, or until ctx ends. Each kill goes
// through a pidfd after checking the process is still the one scanned, so
// a reused pid is never hit, and the wait for the deaths is a poll on the
// pidfds, not a sleep. It returns how many processes it killed.
func killLeftovers(ctx context.Context, uid int) (int, error) {
	self := os.Getpid()
	killed := 0
	for {
		ds, branch, err := descendants(self)
		if err != nil {
			return killed, err
		}
		live := registeredPIDs()
		var fds []int
		for pid, p := range ds {
			if live[branch[pid]] || (uid >= 0 && p.ruid != uid && p.euid != uid) {
				continue
			}
			fd, err := pidfdKill(p)
			if err != nil {
				closeAll(fds)
				return killed, err
			}
			if fd >= 0 {
				fds = append(fds, fd)
				killed++
			}
		}
		if len(fds) == 0 {
			return killed, nil
		}
		err = awaitExits(ctx, fds)
		closeAll(fds)
		if err != nil {
			return killed, err
		}
	}
}

// pidfdKill sends SIGKILL to p if it is still the process scanned (same
// pid and start time) and returns its pidfd, or -1 when it is gone.
func pidfdKill(p proc) (int, error) {
	fd, err := unix.PidfdOpen(p.pid, 0)
	if err != nil {
		if errors.Is(err, syscall.ESRCH) {
			return -1, nil
		}
		return -1, fmt.Errorf("pidfd_open %d: %w", p.pid, err)
	}
	now, err := readProc(p.pid)
	if err != nil || now.start != p.start {
		unix.Close(fd)
		return -1, nil // exited (and maybe reused) since the scan
	}
	if err := unix.PidfdSendSignal(fd, unix.SIGKILL, nil, 0); err != nil {
		unix.Close(fd)
		if errors.Is(err, syscall.ESRCH) {
			return -1, nil
		}
		return -1, fmt.Errorf("kill %d: %w", p.pid, err)
	}
	return fd, nil
}

// awaitExits waits until every pidfd reports its process's exit.
func awaitExits(ctx context.Context, fds []int) error {
	pending := fds
	for len(pending) > 0 {
		timeout := -1
		if dl, ok := ctx.Deadline(); ok {
			timeout = int(time.Until(dl).Milliseconds())
			if timeout <= 0 {
				return fmt.Errorf("%d processes did not die after SIGKILL: %w", len(pending), context.DeadlineExceeded)
			}
		}
		pfds := make([]unix.PollFd, len(pending))
		for i, fd := range pending {
			pfds[i] = unix.PollFd{Fd: int32(fd), Events: unix.POLLIN}
		}
		_, err := unix.Poll(pfds, timeout)
		if err != nil && !errors.Is(err, syscall.EINTR) {
			return fmt.Errorf("poll pidfds: %w", err)
		}
		var still []int
		for i, p := range pfds {
			if p.Revents == 0 {
				still = append(still, pending[i])
			}
		}
		pending = still
		if ctx.Err() != nil && len(pending) > 0 {
			return fmt.Errorf("%d processes did not die after SIGKILL: %w", len(pending), ctx.Err())
		}
	}
	return nil
}

func closeAll(fds []int) {
	for _, fd := range fds {
		unix.Close(fd)
	}
}
