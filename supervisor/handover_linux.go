package supervisor

import (
	"fmt"
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// A child's side of a handover (handover.go): its waiter stopped without
// reaping, restarted if the exec does not happen, and a child of the
// previous image taken over.

// detach ends the child's waiter without reaping the child, for a
// handover: the next image adopts it. It reports false when the waiter has
// already taken the exit (its report comes), or the child has no pidfd
// (its waiter cannot be woken).
func (c *child) detach() bool {
	if c.pidfd == nil {
		return false
	}
	c.mu.Lock()
	if c.reaped {
		c.mu.Unlock()
		return false
	}
	c.detached = true
	c.mu.Unlock()
	_ = c.pidfd.SetReadDeadline(time.Now())
	<-c.waiterDone
	return true
}

// reattach undoes detach (the handover failed): a new waiter reports the
// exit, which may already have happened meanwhile.
func (c *child) reattach(report func(syscall.WaitStatus, time.Time)) {
	c.mu.Lock()
	c.detached = false
	c.mu.Unlock()
	_ = c.pidfd.SetReadDeadline(time.Time{})
	c.watch(report)
}

// adoptChild registers pid, a child the previous image of this process
// started (handover.go), as if startChild had started it now. The pid must
// still be this process's child, alive or a zombie nobody reaped: the
// caller checks its start time.
func adoptChild(owner *Supervisor, pid int, started time.Time) (*child, error) {
	fd, err := unix.PidfdOpen(pid, unix.PIDFD_NONBLOCK)
	if err != nil {
		return nil, fmt.Errorf("pidfd of %d: %w", pid, err)
	}
	c := &child{
		pid:     pid,
		owner:   owner,
		started: started,
		pidfd:   os.NewFile(uintptr(fd), "pidfd"),
		reapedc: make(chan struct{}),
	}
	reg.mu.RLock()
	regMapMu.Lock()
	reg.children[pid] = c
	regMapMu.Unlock()
	reg.mu.RUnlock()
	return c, nil
}
