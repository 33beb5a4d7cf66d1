package supervisor

import (
	"context"
	"strings"
	"testing"
	"time"

	"roost/config"
	"roost/supervisor/api"
)

// A program that exits as soon as it starts (startsecs=0, autorestart=true)
// is restarted about once a second, as supervisord's 1-second loop
// restarts it, not as fast as the machine can fork: the crash-loop
// throttle. Between restarts it is EXITED; each restart is logged with its
// delay.
func TestCrashLoopThrottled(t *testing.T) {
	p := shprog("crash", "exit 1")
	p.StartSecs = 0
	p.Autorestart = config.AutorestartTrue
	h := start(t, testConfig(t, homog(p)...))

	first, ev := h.waitState(10*time.Second, 0, "crash", api.Starting)
	t0 := time.Unix(0, ev.Time)
	const window = 4 * time.Second
	time.Sleep(window) // a window to count restarts over, not a wait for an event
	var spawns []time.Time
	h.mu.Lock()
	for _, ev := range h.events[first:] {
		if ev.Name == "crash" && ev.To == api.Starting && time.Unix(0, ev.Time).Sub(t0) < window {
			spawns = append(spawns, time.Unix(0, ev.Time))
		}
	}
	h.mu.Unlock()
	// About one spawn a second: 4 or 5 in the window; far from the
	// hundreds an unthrottled loop makes.
	if len(spawns) < 2 || len(spawns) > 7 {
		t.Fatalf("%d spawns in %v, want about %d:%s", len(spawns), window, int(window/time.Second)+1, h.eventList())
	}
	for i := 1; i < len(spawns); i++ {
		if gap := spawns[i].Sub(spawns[i-1]); gap < 900*time.Millisecond {
			t.Errorf("spawn %d came %v after the previous one, want about 1s", i, gap)
		}
	}
	if info := h.info("crash"); info.State != api.Exited && info.State != api.Starting && info.State != api.Running {
		t.Errorf("state %v during the crash loop", info.State)
	}
	if log := h.mainLog(); !strings.Contains(log, "INFO crash exited ") || !strings.Contains(log, "ms after its start; restarting it in") {
		t.Errorf("the delay is not in the main log:\n%s", log)
	}

	// A stop while the restart is pending: supervisord's answer (not
	// running), and the loop ends.
	h.waitState(5*time.Second, h.eventCount(), "crash", api.Exited)
	err := h.s.StopProcess(context.Background(), "crash", true)
	if api.CodeOf(err) != api.NotRunning {
		// The restart may have happened between the EXITED event and the
		// stop: then the stop stopped it.
		if err != nil {
			t.Fatalf("stop during the crash loop: %v", err)
		}
	}
	n := h.eventCount()
	time.Sleep(1500 * time.Millisecond) // longer than the throttle: no restart may come
	h.mu.Lock()
	restarted := false
	for _, ev := range h.events[n:] {
		restarted = restarted || (ev.Name == "crash" && ev.To == api.Starting)
	}
	h.mu.Unlock()
	if restarted {
		t.Errorf("restarted after a stop:%s", h.eventList())
	}
}

// A program that ran longer than the throttle's second is restarted at
// once when it exits, as supervisord restarts it (EXITED → STARTING).
func TestLongRunRestartsAtOnce(t *testing.T) {
	p := shprog("worker", "sleep 1.2; exit 1")
	p.StartSecs = 0
	p.Autorestart = config.AutorestartTrue
	h := start(t, testConfig(t, homog(p)...))

	i, exited := h.waitState(10*time.Second, 0, "worker", api.Exited)
	_, ev := h.waitState(10*time.Second, i, "worker", api.Starting)
	if gap := time.Unix(0, ev.Time).Sub(time.Unix(0, exited.Time)); gap > 500*time.Millisecond {
		t.Errorf("restarted %v after its exit, want at once", gap)
	}
	if strings.Contains(h.mainLog(), "restarting it in") {
		t.Errorf("a program that ran 1.2 s was throttled:\n%s", h.mainLog())
	}
}
