package top

import (
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"roost/supervisor/api"
)

func proc(name string, state api.State, pid int, cpu float64, rss int64) api.ProcessInfo {
	p := api.ProcessInfo{Name: name, Group: name, State: state, StateName: state.String(), PID: pid,
		Start: 1000, Now: 1000 + 3725, Restarts: 2}
	if pid > 0 {
		p.Usage = &api.Usage{CPUSeconds: cpu, MemoryRSS: rss, MemoryPeak: 2 * rss, Pids: 3}
	}
	return p
}

func TestBuildCPUPercent(t *testing.T) {
	t0 := time.Unix(5000, 0)
	prev := Sample{At: t0, Procs: []api.ProcessInfo{
		proc("busy", api.Running, 10, 1.0, 1<<20),
		proc("idle", api.Running, 11, 0.5, 1<<20),
		proc("restarted", api.Running, 12, 9.0, 1<<20),
		proc("forked", api.Running, 13, 5.0, 1<<20),
	}}
	cur := Sample{At: t0.Add(2 * time.Second), Procs: []api.ProcessInfo{
		proc("busy", api.Running, 10, 2.5, 1<<20),      // 1.5 s in 2 s
		proc("idle", api.Running, 11, 0.5, 1<<20),      // none
		proc("restarted", api.Running, 99, 0.1, 1<<20), // a new pid: unknown
		proc("forked", api.Running, 13, 4.0, 1<<20),    // a child exited with its seconds: 0, not below
		proc("new", api.Running, 14, 0.2, 1<<20),       // not in prev
		proc("stopped", api.Stopped, 0, 0, 0),
	}}
	f := Build(prev, cur, ByName)
	want := map[string]float64{"busy": 75, "idle": 0, "restarted": -1, "forked": 0, "new": -1, "stopped": -1}
	for _, r := range f.Rows {
		if w := want[r.Name]; r.CPUPercent < w-0.001 || r.CPUPercent > w+0.001 {
			t.Errorf("%s: CPU %.3f%%, want %.1f", r.Name, r.CPUPercent, w)
		}
	}
	if f.Interval != 2 || f.Rows[0].Name != "busy" || f.Rows[0].Uptime != 3725 || f.Rows[5].Uptime != 0 {
		t.Errorf("frame %+v", f)
	}
	if first := Build(Sample{}, cur, ByName); first.Interval != 0 || first.Rows[0].CPUPercent != -1 {
		t.Errorf("first frame %+v: no CPU%% without a previous sample", first)
	}
	if byCPU := Build(prev, cur, ByCPU); byCPU.Rows[0].Name != "busy" {
		t.Errorf("--sort cpu: first %q", byCPU.Rows[0].Name)
	}
	cur.Procs[1].Usage.MemoryRSS = 1 << 30
	if byMem := Build(prev, cur, ByMemory); byMem.Rows[0].Name != "idle" {
		t.Errorf("--sort mem: first %q", byMem.Rows[0].Name)
	}
	cur.Procs[1].Usage.MemoryCurrent = 5 << 30 // a cgroup of its own: its figure wins
	if r := Build(prev, cur, ByName).Rows[1]; r.Memory != 5<<30 {
		t.Errorf("memory with a cgroup figure: %d", r.Memory)
	}
	if _, err := ParseSort("pid"); err == nil {
		t.Error(`ParseSort("pid"): no error`)
	}
}

func frame(n int, nameLen int) Frame {
	f := Frame{At: time.Unix(5000, 0), Interval: 2}
	for i := range n {
		name := fmt.Sprintf("p%02d_%s", i, strings.Repeat("x", nameLen))
		f.Rows = append(f.Rows, Row{Name: name, State: "RUNNING", PID: 100 + i, CPUPercent: 12.5,
			Memory: 300 << 20, MemoryPeak: 2 << 30, Pids: 12, Restarts: 3, Uptime: 90000})
	}
	return f
}

// Every line fits every width, down to the narrowest; the name, state and
// CPU% always show, the other columns go in order.
func TestRenderWidths(t *testing.T) {
	for _, nameLen := range []int{1, 10, 60} {
		f := frame(3, nameLen)
		for w := 1; w <= 160; w++ {
			lines := Render(f, w, 0, "q quits")
			if len(lines) != 5 {
				t.Fatalf("width %d: %d lines", w, len(lines))
			}
			for _, l := range lines {
				if n := utf8.RuneCountInString(l); n > max(w, MinWidth) {
					t.Errorf("name %d, width %d: %d runes: %q", nameLen, w, n, l)
				}
			}
			head := lines[1]
			if w >= 30 && !(strings.HasPrefix(head, "NAME") && strings.Contains(head, "STATE") && strings.Contains(head, "CPU%")) {
				t.Errorf("width %d: titles %q", w, head)
			}
			if w >= 30 && !strings.Contains(lines[2], "12.5") {
				t.Errorf("width %d: row without its CPU: %q", w, lines[2])
			}
		}
	}
	wide := Render(frame(1, 10), 200, 0, "")
	for _, col := range []string{"NAME", "STATE", "CPU%", "MEM", "PEAK", "PIDS", "RESTARTS", "UPTIME"} {
		if !strings.Contains(wide[1], col) {
			t.Errorf("wide: no %s in %q", col, wide[1])
		}
	}
	if !strings.Contains(wide[2], "300M") || !strings.Contains(wide[2], "2.0G") || !strings.Contains(wide[2], "1d01h") {
		t.Errorf("wide row %q", wide[2])
	}
	// 50 columns: PEAK and RESTARTS go first.
	mid := Render(frame(1, 10), 50, 0, "")[1]
	if strings.Contains(mid, "PEAK") || strings.Contains(mid, "RESTARTS") || !strings.Contains(mid, "MEM") {
		t.Errorf("width 50: %q", mid)
	}
	long := Render(frame(1, 60), 80, 0, "")[2]
	if !strings.Contains(long, "…") {
		t.Errorf("a long name is cut with …: %q", long)
	}
}

func TestRenderHeight(t *testing.T) {
	f := frame(30, 3)
	lines := Render(f, 80, 10, "")
	if len(lines) != 10 || !strings.HasPrefix(lines[9], "… 23 more") {
		t.Fatalf("height 10: %d lines, last %q", len(lines), lines[len(lines)-1])
	}
	if lines := Render(f, 80, 1, ""); len(lines) != 1 {
		t.Errorf("height 1: %d lines", len(lines))
	}
	if lines := Render(f, 80, 0, ""); len(lines) != 32 {
		t.Errorf("no height: %d lines", len(lines))
	}
}

func TestBytesUptime(t *testing.T) {
	for n, want := range map[int64]string{0: "0", 1023: "1023", 4096: "4K", 12 << 20: "12.0M", 300 << 20: "300M", 3 << 30: "3.0G", 200 << 30: "200G"} {
		if got := Bytes(n); got != want {
			t.Errorf("Bytes(%d) = %q, want %q", n, got, want)
		}
	}
	for s, want := range map[int64]string{0: "-", 45: "45s", 725: "12m05s", 3725: "1h02m", 90000: "1d01h", 200 * 86400: "200d"} {
		if got := Uptime(s); got != want {
			t.Errorf("Uptime(%d) = %q, want %q", s, got, want)
		}
	}
}
