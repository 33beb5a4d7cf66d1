package health

import (
	"context"
	"fmt"
	"strings"
	"time"

	"roost/config"
	"roost/supervisor/api"
)

// Runtime is what the checker needs of the supervisor: its event stream,
// each process's check, a place to record health (status, log, events) and
// its ordinary stop and start.
type Runtime interface {
	Subscribe(ctx context.Context) <-chan api.Event
	// HealthCheck returns the named process's check now and the runner
	// for exec checks; nil when it has none or is gone.
	HealthCheck(name string) (*config.HealthCheck, Runner)
	// SetHealth records a RUNNING process's health; it reports false when
	// the process is no longer RUNNING (the result is stale).
	SetHealth(name string, h api.Health, detail string) bool
	// Running lists the processes RUNNING now (their namespecs): at the
	// start, those that became RUNNING before, such as the programs an
	// upgrade's new image took over, get their timers too.
	Running() []string
	StopProcess(ctx context.Context, name string, wait bool) error
	StartProcess(ctx context.Context, name string, wait bool) error
}

// watch is one RUNNING process's check: its timer and its failures in a
// row. gen tells this RUNNING period's timer and results from a former
// one's.
type watch struct {
	gen      uint64
	timer    *time.Timer
	failures int
	healthy  bool      // healthy was reported in this RUNNING period
	started  time.Time // the current probe's start, for the next one's time
}

type fired struct {
	name string
	gen  uint64
}

type outcome struct {
	fired
	err error
	hc  *config.HealthCheck
}

// Start subscribes to rt's events now (so no RUNNING of a process started
// after it returns is missed) and checks the processes of rt until ctx
// ends; the channel is closed then. It arms a process's
// timer when the process becomes RUNNING (the first check runs at once)
// and disarms it when it leaves RUNNING; idle, it waits on the event
// stream and on those timers only.
func Start(ctx context.Context, rt Runtime) <-chan struct{} {
	events := rt.Subscribe(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		run(ctx, rt, events)
	}()
	return done
}

func run(ctx context.Context, rt Runtime, events <-chan api.Event) {
	fires := make(chan fired)
	results := make(chan outcome)
	watches := map[string]*watch{}
	var gen uint64
	arm := func(name string, w *watch, d time.Duration) {
		f := fired{name, w.gen}
		w.timer = time.AfterFunc(d, func() {
			select {
			case fires <- f:
			case <-ctx.Done():
			}
		})
	}
	defer func() {
		for _, w := range watches {
			w.timer.Stop()
		}
	}()
	for _, name := range rt.Running() {
		if hc, _ := rt.HealthCheck(name); hc != nil {
			gen++
			w := &watch{gen: gen}
			watches[name] = w
			arm(name, w, 0)
		}
	}
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-events:
			if !ok {
				return
			}
			if !strings.HasPrefix(ev.Type, "PROCESS_STATE_") {
				continue
			}
			name := namespec(ev.Group, ev.Name)
			if w := watches[name]; w != nil {
				w.timer.Stop()
				delete(watches, name)
			}
			if ev.To != api.Running {
				continue
			}
			if hc, _ := rt.HealthCheck(name); hc == nil {
				continue // no check: no timer
			}
			gen++
			w := &watch{gen: gen}
			watches[name] = w
			arm(name, w, 0)
		case f := <-fires:
			w := watches[f.name]
			if w == nil || w.gen != f.gen {
				continue
			}
			hc, run := rt.HealthCheck(f.name)
			if hc == nil {
				delete(watches, f.name) // the check was removed by an update
				continue
			}
			w.started = time.Now()
			go func() {
				err := Probe(ctx, hc, run)
				select {
				case results <- outcome{f, err, hc}:
				case <-ctx.Done():
				}
			}()
		case r := <-results:
			w := watches[r.name]
			if w == nil || w.gen != r.gen {
				continue // the process left RUNNING meanwhile
			}
			if r.err == nil {
				if !w.healthy && !rt.SetHealth(r.name, api.HealthHealthy, "") {
					delete(watches, r.name)
					continue
				}
				w.healthy, w.failures = true, 0
			} else {
				w.failures++
				detail := fmt.Sprintf("%v (%d of %d failures in a row)", r.err, w.failures, r.hc.Retries)
				if w.failures >= r.hc.Retries {
					delete(watches, r.name)
					if rt.SetHealth(r.name, api.HealthUnhealthy, detail) {
						go Restart(ctx, rt, r.name)
					}
					continue
				}
				w.healthy = false
				if !rt.SetHealth(r.name, api.HealthFailing, detail) {
					delete(watches, r.name)
					continue
				}
			}
			// The next check starts one interval after this one started,
			// or at once when this one took longer.
			arm(r.name, w, max(0, time.Until(w.started.Add(r.hc.Interval))))
		}
	}
}

// Restart restarts a process with its ordinary stop (and its stop
// recipe), then start: what an unhealthy process gets (and a notify
// program whose watchdog expired). A process that is no longer running by
// then (it exited, a user stopped it) is left alone.
func Restart(ctx context.Context, rt Runtime, name string) {
	if err := rt.StopProcess(ctx, name, true); err != nil {
		return
	}
	_ = rt.StartProcess(ctx, name, false)
}

// namespec is supervisorctl's name for a process.
func namespec(group, name string) string {
	if group == name || group == "" {
		return name
	}
	return group + ":" + name
}
