package supervisor

import (
	"sync"
	"syscall"

	"roost/cgroup"
)

// Out-of-memory, said plainly: when a program dies of SIGKILL and the
// kernel's OOM-kill count of the supervisor's memory cgroup (the user's
// group the master made, with the admin's memory_max) went up since the
// last exit looked at, the exit is reported as an OOM kill. The group is
// the user's whole tree, so two programs SIGKILLed at the same moment
// could swap the label; per-program groups would make it exact.
type oomWatch struct {
	c     *cgroup.OOMCounter // nil: no memory cgroup to read
	mu    sync.Mutex
	seen  int64
	limit int64
}

// newOOMWatch reads the current count, so kills before the start are
// never reported.
func newOOMWatch() *oomWatch {
	c, err := cgroup.SelfOOM()
	if err != nil {
		return &oomWatch{}
	}
	n, err := c.Kills()
	if err != nil {
		return &oomWatch{}
	}
	return &oomWatch{c: c, seen: n}
}

// check is called for each program exit: for a SIGKILL while the count
// went up, it returns "out of memory, limit 256M" (or without the limit
// when the group has none of its own); "" otherwise.
func (w *oomWatch) check(ws syscall.WaitStatus) string {
	if w == nil || w.c == nil {
		return ""
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	n, err := w.c.Kills()
	if err != nil || n <= w.seen {
		return ""
	}
	if !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		return "" // the count is left for the exit it belongs to
	}
	w.seen++
	if l := w.c.Limit(); l > 0 {
		return "out of memory, limit " + cgroup.FormatBytes(l)
	}
	return "out of memory"
}
