package supervisor

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"roost/config"
	"roost/supervisor/api"
)

// TestNothingWaitsPerRunningProgram: a running program costs its owner
// goroutine and its copier, and no goroutine, thread or descriptor that
// waits for its exit (the reaper sees every exit). Measured as the
// difference between a supervisor of 45 programs and one of 5, so what
// every supervisor has once cancels out. The exits are still seen: one is
// killed and comes back.
func TestNothingWaitsPerRunningProgram(t *testing.T) {
	type cost struct{ goroutines, pidfds int }
	measure := func(n int) (cost, *harness) {
		var ps []*config.Process
		for i := range n {
			p := shprog(fmt.Sprintf("p%02d", i), "exec /bin/sleep 1000")
			p.StartSecs = 0
			p.Autorestart = config.AutorestartTrue
			p.RedirectStderr = true
			ps = append(ps, p)
		}
		before := cost{runtime.NumGoroutine(), pidfds(t)}
		h := start(t, testConfig(t, homog(ps...)...))
		for _, p := range ps {
			h.waitState(20*time.Second, 0, p.Name, api.Running)
		}
		time.Sleep(200 * time.Millisecond) // the spawns' short-lived goroutines end
		return cost{runtime.NumGoroutine() - before.goroutines, pidfds(t) - before.pidfds}, h
	}
	small, h := measure(5)
	h.stop()
	large, h := measure(45)
	per := func(a, b int) float64 { return float64(a-b) / 40 }
	g, fds := per(large.goroutines, small.goroutines), per(large.pidfds, small.pidfds)
	t.Logf("per running program: %.2f goroutines, %.2f pidfds", g, fds)
	// The owner and the stdout copier; os.Process's own pidfd.
	if g > 2.25 {
		t.Errorf("%.2f goroutines per running program, want 2 (owner, copier)", g)
	}
	if fds > 1.25 {
		t.Errorf("%.2f pidfds per running program, want 1 (os.Process's own)", fds)
	}

	// Exits are still seen, through the reaper.
	info := h.info("p07")
	from := h.eventCount()
	if err := syscall.Kill(info.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	h.waitState(10*time.Second, from, "p07", api.Exited)
	h.waitState(10*time.Second, from, "p07", api.Running)
	if again := h.info("p07"); again.PID == info.PID || again.PID == 0 {
		t.Errorf("p07 after kill -9: pid %d, was %d", again.PID, info.PID)
	}
}

// pidfds counts this process's pidfd descriptors.
func pidfds(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range ents {
		if l, err := os.Readlink(filepath.Join("/proc/self/fd", e.Name())); err == nil && strings.Contains(l, "pidfd") {
			n++
		}
	}
	return n
}
