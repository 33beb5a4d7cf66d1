package supervisor

import (
	"os"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"roost/internal/procfs"
	"roost/internal/reap"
)

// The reaper: roost is a child subreaper (PR_SET_CHILD_SUBREAPER), so a
// program's descendants that lose their parent (a daemon that double-forks,
// a shell's background job) are reparented to the supervisor instead of init.
// When they exit they must be reaped, or they stay zombies.
//
// Reaping must never steal the exit of a child that exec.Cmd.Wait is waiting
// for. One goroutine per OS process runs reap.Loop (shared with the master),
// which reports each zombie child without reaping it; this file decides
// whose it is from a registry of the children roost started itself:
//
//   - registered: one of roost's own children. The reaper is what sees its
//     exit (child.exitSeen): a goroutine started then reaps it with
//     cmd.Wait and reports the exit to its process; the reaper waits for
//     the reap (a channel closed after it), then looks again. So no
//     goroutine, thread or descriptor waits per running child;
//   - not registered, in the supervisor's own process group: a child some
//     other code of this process started (an exec.Command in cmd/ or a
//     test, which inherits the supervisor's group; programs never do, they
//     get groups of their own). Its own Wait reaps it; the reaper waits for
//     that (a pidfd polled for POLLHUP, which the kernel reports when the
//     zombie is reaped), then looks again;
//   - anything else: an adopted orphan; the reaper reaps it with wait4.
//
// A spawn holds reg.mu (shared) from fork until the pid is registered, and
// the reaper takes it exclusively before deciding, so a just-forked child is
// never mistaken for an orphan. The registry is per OS process, not per
// Supervisor: several Supervisors in one process (tests) share it.
//
// A child started elsewhere in the process with its own process group
// (Setpgid) would be taken for an orphan: start such children through
// startChild.

// reg is the process-wide registry of roost's own children.
var reg = struct {
	mu       sync.RWMutex
	children map[int]*child // by pid, while not reaped
	owners   map[*Supervisor]struct{}
	kick     chan struct{} // a child was registered: the reaper may have to wake from ECHILD
	reaped   chan struct{} // closed and replaced each time the reaper reaps an orphan
	subErr   error         // from PR_SET_CHILD_SUBREAPER
	subOnce  sync.Once
	loopOnce sync.Once
}{
	children: map[int]*child{},
	owners:   map[*Supervisor]struct{}{},
	kick:     make(chan struct{}, 1),
	reaped:   make(chan struct{}),
}

// becomeSubreaper marks this process as a child subreaper, once, and starts
// the reaper goroutine.
func becomeSubreaper() error {
	reg.subOnce.Do(func() { reg.subErr = reap.BecomeSubreaper() })
	startReaper()
	return reg.subErr
}

// startReaper starts the reaper goroutine, once: it sees the exit of
// every child of the process, roost's own included (child.exitSeen).
func startReaper() {
	reg.loopOnce.Do(func() {
		go reap.Loop(reap.Policy{Lock: &reg.mu, Kick: reg.kick, Owner: owner, Reaped: orphanReaped})
	})
}

// siginfoChild is the SIGCHLD layout of siginfo_t, for waitid.
type siginfoChild = reap.Siginfo

// owner tells the reaper (holding reg.mu) whose zombie pid is: a
// registered child's or a foreign child's, whose reap it awaits; nil for an
// orphan.
func owner(pid int) func() {
	if c, ok := reg.children[pid]; ok {
		c.exitSeen()
		return func() { <-c.reapedc } // reaped by c.reap
	}
	if pi, err := procfs.Read(pid); err == nil && pi.PGID == syscall.Getpgrp() {
		return func() { awaitForeignReap(pid) }
	}
	return nil
}

// orphanReaped wakes the sweeps awaiting a reap and tells every running
// Supervisor about the orphan.
func orphanReaped(pid int, ws syscall.WaitStatus) {
	reg.mu.Lock()
	close(reg.reaped)
	reg.reaped = make(chan struct{})
	owners := make([]*Supervisor, 0, len(reg.owners))
	for o := range reg.owners {
		owners = append(owners, o)
	}
	reg.mu.Unlock()
	_, msg := decodeWaitStatus(ws)
	for _, o := range owners {
		o.orphanReaped(pid, msg, ws.Signaled())
	}
}

// foreignGrace is how long the reaper leaves a foreign zombie to the code
// that started it before concluding that nobody will ever wait for it.
const foreignGrace = 10 * time.Second

// awaitForeignReap waits until the zombie pid, a child started by other
// code of this process, has been reaped by that code's Wait. The kernel
// reports the reap as POLLHUP on a pidfd (polled with no other events); a
// kernel that does not is looked at every 200 ms instead. A zombie nobody reaps
// within foreignGrace is reaped here, so it cannot stall orphan reaping.
func awaitForeignReap(pid int) {
	deadline := time.Now().Add(foreignGrace)
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return // already reaped
	}
	defer unix.Close(fd)
	for time.Now().Before(deadline) {
		fds := []unix.PollFd{{Fd: int32(fd), Events: 0}}
		n, err := unix.Poll(fds, 200)
		if err == nil && n > 0 && fds[0].Revents&unix.POLLHUP != 0 {
			return
		}
		if pi, err := procfs.Read(pid); err != nil || pi.State != 'Z' || pi.PPID != os.Getpid() {
			return
		}
	}
	reg.mu.Lock()
	defer reg.mu.Unlock()
	var ws syscall.WaitStatus
	_, _ = syscall.Wait4(pid, &ws, syscall.WNOHANG, nil)
}

// addOwner and removeOwner keep the set of running Supervisors: the reaper
// tells them about the orphans it reaps, and the leftover sweep at shutdown
// spares the process groups of the others.
func addOwner(s *Supervisor) {
	reg.mu.Lock()
	reg.owners[s] = struct{}{}
	reg.mu.Unlock()
}

func removeOwner(s *Supervisor) {
	reg.mu.Lock()
	delete(reg.owners, s)
	reg.mu.Unlock()
}

// reapedSignal returns a channel closed at the reaper's next orphan reap.
func reapedSignal() <-chan struct{} {
	reg.mu.RLock()
	defer reg.mu.RUnlock()
	return reg.reaped
}

// leftovers returns the live descendants of this process that the sweep
// at s's shutdown must kill: all of them but s's own registered children
// (their exits are reported to them), the process groups of other Supervisors'
// children, and children other code of the process started (in the
// supervisor's own process group), with what they started.
func leftovers(s *Supervisor) ([]procfs.Proc, error) {
	spare := map[int]bool{} // pgids of other Supervisors' children
	mine := map[int]bool{}
	reg.mu.Lock()
	for pid, c := range reg.children {
		if c.owner == s {
			mine[pid] = true
		} else {
			spare[pid] = true
		}
	}
	reg.mu.Unlock()
	self, pgrp := os.Getpid(), syscall.Getpgrp()
	ds, err := procfs.Descendants(self, func(p procfs.Proc) bool {
		foreign := p.PPID == self && p.PGID == pgrp && !mine[p.PID]
		return foreign || spare[p.PGID]
	})
	if err != nil {
		return nil, err
	}
	var out []procfs.Proc
	for _, d := range ds {
		if !mine[d.PID] {
			out = append(out, d)
		}
	}
	return out, nil
}

// killIdentified sends SIGKILL to pi if it is still the same process (same
// pid and start time), through a pidfd so a reused pid is never hit.
func killIdentified(pi procfs.Proc) error {
	fd, err := procfs.Kill(pi, syscall.SIGKILL)
	if fd >= 0 {
		unix.Close(fd)
	}
	return err
}
