package supervisor

import (
	"fmt"
	"syscall"
	"time"
)

// A child's side of a handover (handover.go): its exit kept from being
// reaped or reported, given back if the exec does not happen, and a child
// of the previous image taken over.

// detach keeps the child's exit from being reaped or reported, for a
// handover: the next image adopts it. It reports false when the exit has
// already been taken (its report comes).
func (c *child) detach() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.reaped || c.finishing {
		return false
	}
	c.detached = true
	return true
}

// reattach undoes detach (the handover failed): the exit is reported to
// report, at once if it happened meanwhile.
func (c *child) reattach(report func(syscall.WaitStatus, time.Time)) {
	c.mu.Lock()
	c.detached = false
	c.mu.Unlock()
	c.watch(report)
}

// adoptChild registers pid, a child the previous image of this process
// started (handover.go), as if startChild had started it now. The pid must
// still be this process's child, alive or a zombie nobody reaped: the
// caller checks its start time.
func adoptChild(owner *Supervisor, pid int, started time.Time) (*child, error) {
	if err := syscall.Kill(pid, 0); err != nil { // a zombie answers too
		return nil, fmt.Errorf("adopt %d: %w", pid, err)
	}
	// The reaper is not started here: Run starts it once every child of
	// the previous image is registered, so none is taken for an orphan.
	c := newChild(owner, nil, pid, started)
	reg.mu.RLock()
	regMapMu.Lock()
	reg.children[pid] = c
	regMapMu.Unlock()
	reg.mu.RUnlock()
	return c, nil
}
