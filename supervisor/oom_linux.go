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
// kernel's OOM-kill count of its memory cgroup went up since the last
// exit looked at, the exit is reported as an OOM kill. The group is the
// program's own when the supervisor has per-program groups
// (cgroup_linux.go), with the lower of its limit and the admin's; else
// the supervisor's own group, whose count any program's kill raises (two
// programs SIGKILLed at the same moment could swap the label).
type oomWatch struct {
	c      *cgroup.MemoryGroup // nil: no memory cgroup to read
	mu     sync.Mutex
	seen   int64
	groups map[string]*groupOOM // per-program groups, by name
}

// groupOOM is one program group's counter and what was seen of it.
type groupOOM struct {
	c    *cgroup.MemoryGroup
	seen int64
}

// newOOMWatch reads the current count, so kills before the start are
// never reported.
func newOOMWatch() *oomWatch {
	w := &oomWatch{groups: map[string]*groupOOM{}}
	c, err := cgroup.SelfOOM()
	if err != nil {
		return w
	}
	if w.seen, err = c.Kills(); err == nil {
		w.c = c
	}
	return w
}

// baseline starts counting a program group's OOM kills (once: the group
// and its count outlive a restart).
func (w *oomWatch) baseline(p *cgroup.Programs, group string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if _, ok := w.groups[group]; ok {
		return
	}
	c := p.OOM(group)
	if c == nil {
		return
	}
	n, err := c.Kills()
	if err != nil {
		return
	}
	w.groups[group] = &groupOOM{c: c, seen: n}
}

// check is called for each program exit: for a SIGKILL while the count
// of its group went up, it returns "out of memory, limit 256M" (or
// without the limit when the group has none); "" otherwise.
func (w *oomWatch) check(ws syscall.WaitStatus, group string) string {
	if w == nil {
		return ""
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	c, seen, own := w.c, &w.seen, false
	if g, ok := w.groups[group]; ok {
		c, seen, own = g.c, &g.seen, true
	}
	if c == nil {
		return ""
	}
	n, err := c.Kills()
	if err != nil || n <= *seen {
		return ""
	}
	if !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		return "" // the count is left for the exit it belongs to
	}
	if own {
		*seen = n // the group's other kills (the leader's children) go with the leader
	} else {
		*seen++ // one each: the group is shared by every program
	}
	if l := c.Limit(); l > 0 {
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
