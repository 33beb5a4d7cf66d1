package main

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"roost/supervisor/api"
)

// daemon is one of the two supervisors under comparison. Both run the same
// workload file in the foreground; their ctl commands run in the workload's
// directory, where both find supervisord.conf the way supervisorctl does.
type daemon interface {
	// name is "supervisord" or "roost".
	name() string
	// command returns the command line that runs the daemon on conf in the
	// foreground.
	command(conf string) []string
	// ctl returns the command line of the daemon's own ctl verb.
	ctl(args ...string) []string
	// states asks the running daemon for every process's state.
	states(ctx context.Context, w *workload) ([]procState, error)
}

// env is the environment of every daemon and ctl command: fixed, so runs
// are reproducible and nothing from the caller's shell leaks in.
func env() []string {
	return []string{
		"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"HOME=/root", "LANG=C.UTF-8", "USER=root", "LOGNAME=root",
	}
}

// supervisordDaemon is Debian's supervisor package.
type supervisordDaemon struct {
	supervisord, supervisorctl string
}

func (supervisordDaemon) name() string { return "supervisord" }

func (s supervisordDaemon) command(conf string) []string {
	return []string{s.supervisord, "-n", "-c", conf}
}

func (s supervisordDaemon) ctl(args ...string) []string {
	return append([]string{s.supervisorctl}, args...)
}

func (supervisordDaemon) states(ctx context.Context, w *workload) ([]procState, error) {
	return newRPCClient(w.Sock).allProcessInfo(ctx)
}

// roostDaemon is roost built from this tree.
type roostDaemon struct {
	bin string
}

func (roostDaemon) name() string { return "roost" }

func (r roostDaemon) command(conf string) []string {
	return []string{r.bin, "run", "-c", conf}
}

func (r roostDaemon) ctl(args ...string) []string {
	return append([]string{r.bin}, args...)
}

// states asks roost's JSON API through its Go client (what `roost status
// --json` prints), in-process, so polling costs no fork.
func (roostDaemon) states(ctx context.Context, w *workload) ([]procState, error) {
	c, err := api.Dial(w.Sock)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	infos, err := c.Processes(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]procState, len(infos))
	for i, p := range infos {
		out[i] = procState{Name: p.Namespec(), State: p.StateName, PID: p.PID}
	}
	return out, nil
}

// running is a daemon started on a workload.
type running struct {
	d       daemon
	w       *workload
	p       *proc
	started time.Time // just before fork
}

// launch starts d on w, in w.Dir emptied by resetDir, its output going to
// w.Dir/daemon.out.
func launch(t *tracker, d daemon, w *workload) (*running, error) {
	if err := w.resetDir(); err != nil {
		return nil, err
	}
	argv := d.command(w.Conf)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = w.Dir
	cmd.Env = env()
	out, err := logTo(filepath.Join(w.Dir, "daemon.out"))
	if err != nil {
		return nil, err
	}
	defer out.Close() // the child has its own copy
	cmd.Stdout, cmd.Stderr = out, out
	t0 := time.Now()
	p, err := t.start(cmd)
	if err != nil {
		return nil, fmt.Errorf("launch %s: %w", d.name(), err)
	}
	return &running{d: d, w: w, p: p, started: t0}, nil
}

// pid is the daemon's process id.
func (r *running) pid() int { return r.p.pid() }

// waitStates polls the daemon's API until ok accepts the states, and
// returns when that was first seen. Between calls it waits as long as the
// last call took, from 5 to 50 ms, so the poller takes at most about half
// of a single-threaded daemon's time while keeping the error small.
func (r *running) waitStates(ctx context.Context, timeout time.Duration, ok func([]procState) bool) (time.Time, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var last error
	for {
		if r.p.exited() {
			return time.Time{}, fmt.Errorf("%s exited (%v); see %s", r.d.name(), r.p.err, filepath.Join(r.w.Dir, "daemon.out"))
		}
		t0 := time.Now()
		st, err := r.d.states(ctx, r.w)
		now := time.Now()
		if err == nil && ok(st) {
			return now, nil
		}
		if err != nil {
			last = err
		} else {
			last = fmt.Errorf("not yet: %s", summarize(st))
		}
		pause := min(max(5*time.Millisecond, now.Sub(t0)), 50*time.Millisecond)
		select {
		case <-ctx.Done():
			if errors.Is(context.Cause(ctx), context.Canceled) {
				return time.Time{}, ctx.Err()
			}
			return time.Time{}, fmt.Errorf("%s: waited %s: %w", r.d.name(), timeout, last)
		case <-time.After(pause):
		}
	}
}

// allIn returns a predicate that holds when every one of names is in state.
func allIn(names []string, state string) func([]procState) bool {
	return func(st []procState) bool {
		if len(st) < len(names) {
			return false
		}
		seen := make(map[string]string, len(st))
		for _, s := range st {
			seen[s.Name] = s.State
		}
		for _, n := range names {
			if seen[n] != state {
				return false
			}
		}
		return true
	}
}

// summarize counts processes by state, e.g. "RUNNING=98 STARTING=2".
func summarize(st []procState) string {
	n := map[string]int{}
	var order []string
	for _, s := range st {
		if n[s.State] == 0 {
			order = append(order, s.State)
		}
		n[s.State]++
	}
	parts := make([]string, 0, len(order))
	for _, k := range order {
		parts = append(parts, fmt.Sprintf("%s=%d", k, n[k]))
	}
	if len(parts) == 0 {
		return "no processes"
	}
	return strings.Join(parts, " ")
}
