package supervisor

import (
	"os"
	"sync"
	"syscall"

	"roost/cgroup"
	"roost/internal/procfs"
	"roost/supervisor/api"
)

// Out-of-memory, said plainly: when a program dies of SIGKILL and the
// kernel's OOM-kill count of the supervisor's memory cgroup (the user's
// group the master made, with the admin's memory_max) went up since the
// last exit looked at, the exit is reported as an OOM kill. The group is
// the user's whole tree, so two programs SIGKILLed at the same moment
// could swap the label; per-program groups would make it exact.
type oomWatch struct {
	c     *cgroup.MemoryGroup // nil: no memory cgroup to read
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

// Usage implements api.UsageBackend: the supervisor's live descendants
// (it is a subreaper: a program's daemon stays one), summed by process
// group. A scan of /proc, on request only (roost status --json). The
// memory peak is the program's own memory cgroup's when it has one (not
// the supervisor's group), else the sum of its processes' VmHWM.
func (s *Supervisor) Usage() map[int]api.Usage {
	ds, err := procfs.Descendants(os.Getpid(), nil)
	if err != nil {
		return nil
	}
	page := int64(os.Getpagesize())
	out := map[int]api.Usage{}
	for _, d := range ds {
		u, err := procfs.ReadUsage(d.PID)
		if err != nil {
			continue // gone
		}
		x := out[u.PGID]
		x.MemoryRSS += u.RSSPages * page
		x.CPUSeconds += float64(u.CPUTicks) / 100
		x.Pids += u.Threads
		if hwm, err := procfs.PeakRSS(d.PID); err == nil {
			x.MemoryPeak += hwm
		}
		x.PeakFrom = "vmhwm"
		out[u.PGID] = x
	}
	mr, err := cgroup.NewMemoryReader()
	if err != nil {
		return out
	}
	for pgid, x := range out {
		if cur, peak, ok := mr.Own(pgid); ok && peak > 0 {
			x.MemoryCurrent, x.MemoryPeak, x.PeakFrom = cur, peak, "cgroup"
			out[pgid] = x
		}
	}
	return out
}
