// Package top is `roost top`'s model and renderer: it turns two samples
// of a supervisor's processes (GET /api/v1/processes?usage=1, taken an
// interval apart) into one row per program, with the CPU percentage from
// the difference of their CPU seconds, and draws the rows as a table that
// fits a terminal's width. It reads no socket and no terminal itself:
// cmd/roost takes the samples and owns the screen.
package top

import (
	"cmp"
	"fmt"
	"slices"
	"time"

	"roost/supervisor/api"
)

// Sample is the processes as one request saw them, and when.
type Sample struct {
	At    time.Time
	Procs []api.ProcessInfo
}

// Row is one program in a frame. CPUPercent is of one CPU (a program
// busy on two CPUs shows 200); it is -1 when unknown: the first sample,
// or a program that was not running with the same pid in both.
type Row struct {
	Name       string  `json:"name"`
	State      string  `json:"state"`
	PID        int     `json:"pid"`
	CPUPercent float64 `json:"cpu_percent"`
	CPUSeconds float64 `json:"cpu_seconds"`
	Memory     int64   `json:"memory"`      // bytes: the program's cgroup's current memory, else its processes' RSS
	MemoryPeak int64   `json:"memory_peak"` // bytes: its cgroup's peak, else its processes' VmHWM summed
	Pids       int     `json:"pids"`        // tasks (threads) of its processes
	Restarts   int     `json:"restarts"`
	Uptime     int64   `json:"uptime_seconds"` // 0 unless running
	OOMKills   int     `json:"oom_kills"`
}

// Frame is what one refresh shows.
type Frame struct {
	At       time.Time `json:"time"`
	Interval float64   `json:"interval_seconds"` // between the two samples; 0 for a first frame
	Rows     []Row     `json:"programs"`
}

// Sort orders rows: "name" keeps the supervisor's order (its status
// order), "cpu" and "mem" put the largest first.
type Sort string

// The orders Sort takes.
const (
	ByName   Sort = "name"
	ByCPU    Sort = "cpu"
	ByMemory Sort = "mem"
)

// ParseSort checks an order's name.
func ParseSort(s string) (Sort, error) {
	switch Sort(s) {
	case ByName, ByCPU, ByMemory:
		return Sort(s), nil
	}
	return "", fmt.Errorf("unknown order %q: use name, cpu or mem", s)
}

// Build makes the frame of cur, with CPU percentages against prev (a zero
// prev gives none).
func Build(prev, cur Sample, order Sort) Frame {
	f := Frame{At: cur.At, Rows: make([]Row, 0, len(cur.Procs))}
	elapsed := cur.At.Sub(prev.At).Seconds()
	if prev.At.IsZero() || elapsed <= 0 {
		elapsed = 0
	}
	f.Interval = elapsed
	before := map[string]api.ProcessInfo{}
	for _, p := range prev.Procs {
		before[p.Namespec()] = p
	}
	for _, p := range cur.Procs {
		r := Row{Name: p.Namespec(), State: p.StateName, PID: p.PID, CPUPercent: -1,
			Restarts: p.Restarts, OOMKills: p.OOMKills}
		if p.State == api.Running && p.Start > 0 && p.Now >= p.Start {
			r.Uptime = p.Now - p.Start
		}
		if u := p.Usage; u != nil && p.PID > 0 {
			r.CPUSeconds, r.Pids, r.MemoryPeak = u.CPUSeconds, u.Pids, u.MemoryPeak
			r.Memory = u.MemoryRSS
			if u.MemoryCurrent > 0 {
				r.Memory = u.MemoryCurrent
			}
			if b, ok := before[r.Name]; ok && elapsed > 0 && b.PID == p.PID && b.Usage != nil {
				// A child that exited takes its CPU seconds with it: never below 0.
				r.CPUPercent = max(0, (u.CPUSeconds-b.Usage.CPUSeconds)/elapsed*100)
			}
		}
		f.Rows = append(f.Rows, r)
	}
	switch order {
	case ByCPU:
		slices.SortStableFunc(f.Rows, func(a, b Row) int { return cmp.Compare(b.CPUPercent, a.CPUPercent) })
	case ByMemory:
		slices.SortStableFunc(f.Rows, func(a, b Row) int { return cmp.Compare(b.Memory, a.Memory) })
	}
	return f
}
