package master

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"

	"roost/internal/reap"
)

// How the master starts and reaps processes.
//
// The master is a child subreaper (PR_SET_CHILD_SUBREAPER): when a user
// supervisor dies, whatever it left running is reparented to the master,
// not to init, so the master can find it (it is among its descendants) and
// kill it before the next supervisor starts.
//
// Orphans that exit must be reaped, but never a child an exec.Cmd.Wait is
// waiting for. As in the runtime, one goroutine runs reap.Loop, which
// reports each zombie without reaping it; a child in the registry of those
// the master started is left to its own Wait (the reaper waits for that),
// anything else is an orphan and is reaped. Every spawn holds reg.mu from
// fork until the pid is registered, and the reaper holds it while deciding,
// so a new child is never taken for an orphan.
//
// Every fork happens on one goroutine locked to its OS thread for the life
// of the process (a v1 cgroup move is per thread, spawnIn). User
// supervisors get no Pdeathsig: a master that dies or re-executes itself
// leaves them running, to be adopted (adopt.go).

// reg is the registry of the master's own children.
var reg = struct {
	mu       sync.Mutex
	children map[int]*child
	kick     chan struct{} // a child was registered: wake a reaper that saw ECHILD
	once     sync.Once
	err      error
	forks    chan forkReq
}{
	children: map[int]*child{},
	kick:     make(chan struct{}, 1),
}

// child is one process the master started, or adopted (adopt.go), reaped
// once, by wait.
type child struct {
	cmd *exec.Cmd // nil for an adopted process
	pid int
	// own: an adopted process is the master's child (it crossed the
	// master's re-exec), so wait reaps it; otherwise (adopted after a
	// master died) its new parent reaps it and wait only sees it end.
	own bool
	// start and exe identify the process for the next master (handover.go):
	// its /proc start time, the device and inode of its executable.
	start          uint64
	exeDev, exeIno uint64
	pidfd          *os.File   // pollable; nil when pidfd_open failed (then wait blocks a thread)
	mu             sync.Mutex // held to signal; reaped is set under it
	done           chan struct{}
	// reaped is set once Wait has reaped the pid: it is never signalled after.
	reaped bool
}

type forkReq struct {
	cmd   *exec.Cmd
	mv    *threadMove // nil: fork where the master is
	reply chan forkReply
}

type forkReply struct {
	c   *child
	err error
	// outErr: the fork thread could not go back to the master's own
	// groups (it stays in the user's until the next move).
	outErr error
}

// threadMove puts the fork thread into a user's cgroups (v1) for one
// fork, so the child is born there, and takes it out again.
type threadMove struct {
	into, out func(tid int) error
}

// startReaper makes the process a child subreaper and starts the reaper
// and the fork thread, once.
func startReaper() error {
	reg.once.Do(func() {
		if reg.err = reap.BecomeSubreaper(); reg.err != nil {
			return
		}
		reg.forks = make(chan forkReq)
		go forkThread()
		go reap.Loop(reap.Policy{Lock: &reg.mu, Kick: reg.kick, Owner: owner})
	})
	return reg.err
}

func forkThread() {
	runtime.LockOSThread() // never unlocked: this thread is every child's parent
	tid := unix.Gettid()
	if tid == unix.Getpid() {
		// The main thread leads the process: moved into a user's v1
		// groups it would take the master there (their OOM killer's
		// list, their memory charges). Fork from another; this one idles.
		go forkThread()
		select {}
	}
	for r := range reg.forks {
		if r.mv != nil {
			if err := r.mv.into(tid); err != nil {
				r.reply <- forkReply{err: fmt.Errorf("enter the user's cgroups: %w", err)}
				continue
			}
		}
		reg.mu.Lock()
		err := r.cmd.Start()
		var outErr error
		if r.mv != nil {
			outErr = r.mv.out(tid)
		}
		var c *child
		if err == nil {
			c = &child{cmd: r.cmd, pid: r.cmd.Process.Pid, done: make(chan struct{})}
			// Not reaped yet (the reaper needs reg.mu), so the pid is the child's.
			if fd, err := unix.PidfdOpen(c.pid, unix.PIDFD_NONBLOCK); err == nil {
				c.pidfd = os.NewFile(uintptr(fd), "pidfd")
			}
			reg.children[c.pid] = c
		}
		reg.mu.Unlock()
		if err == nil {
			select {
			case reg.kick <- struct{}{}:
			default:
			}
		}
		r.reply <- forkReply{c, err, outErr}
	}
}

// spawn starts cmd on the fork thread and registers it. cmd must not use
// Stdout/Stderr writers that need copying goroutines (use *os.File).
func spawn(cmd *exec.Cmd) (*child, error) {
	r := spawnIn(cmd, nil)
	return r.c, r.err
}

// spawnIn is spawn with the child born in the v1 cgroups mv moves the
// fork thread into.
func spawnIn(cmd *exec.Cmd, mv *threadMove) forkReply {
	if err := startReaper(); err != nil {
		return forkReply{err: err}
	}
	reply := make(chan forkReply, 1)
	reg.forks <- forkReq{cmd: cmd, mv: mv, reply: reply}
	return <-reply
}

// signal sends sig to the child, or to its process group, unless it has
// been reaped: a pid is never signalled after its Wait.
func (c *child) signal(sig syscall.Signal, group bool) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.reaped {
		return os.ErrProcessDone
	}
	if c.cmd == nil && !group && c.pidfd != nil {
		// Adopted and perhaps not the master's child: its pid may be
		// reaped and reused by someone else, never its pidfd.
		return pidfdSignal(c.pidfd, sig)
	}
	target := c.pid
	if group {
		target = -c.pid
	}
	return syscall.Kill(target, sig)
}

// wait blocks until the child has exited and reaps it.
func (c *child) wait() *os.ProcessState {
	// Wait for the exit without reaping, so signal can still use the pid
	// safely until reaped is set under c.mu.
	if c.cmd != nil || c.own {
		reap.AwaitExit(c.pidfd, c.pid)
	} else {
		awaitGone(c.pidfd)
	}
	c.mu.Lock()
	c.reaped = true
	c.mu.Unlock()
	var ps *os.ProcessState
	switch {
	case c.cmd != nil:
		_ = c.cmd.Wait() // a non-zero exit is an error here; the state says it all
		ps = c.cmd.ProcessState
	case c.own:
		ps = reapAdopted(c.pid)
	}
	if c.pidfd != nil {
		c.pidfd.Close()
	}
	reg.mu.Lock()
	delete(reg.children, c.pid)
	reg.mu.Unlock()
	close(c.done)
	return ps
}

// registered reports whether pid is one of the master's live children.
func registered(pid int) bool {
	reg.mu.Lock()
	defer reg.mu.Unlock()
	_, ok := reg.children[pid]
	return ok
}

// registeredPIDs returns the pids of the master's live children.
func registeredPIDs() map[int]bool {
	reg.mu.Lock()
	defer reg.mu.Unlock()
	out := make(map[int]bool, len(reg.children))
	for pid := range reg.children {
		out[pid] = true
	}
	return out
}

// owner tells the reaper (holding reg.mu) to leave a registered child's
// exit to its own wait, and awaits that; nil for an orphan.
func owner(pid int) func() {
	if c, ok := reg.children[pid]; ok {
		return func() { <-c.done }
	}
	return nil
}
