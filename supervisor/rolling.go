package supervisor

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"roost/config"
	"roost/health"
	"roost/supervisor/api"
)

// Rolling restarts: one implementation for `roost restart --rolling`, the
// JSON API (restart?rolling=true) and `update` of a changed program with
// numprocs >= 2. Processes go one at a time: stop, start, wait until
// RUNNING and ready, then the next. While one is down nginx sends its
// requests to the others (the upstream lists every process, and
// proxy_next_upstream retries a refused connection on the next one).
//
// Ready means, for a process behind a [proxy:*] section, that it answers:
// a GET of the section's health_path with a 2xx or 3xx status, or, without
// a health path, a TCP connection to its PORT. A process with a
// healthcheck= is ready when that check passes. Other processes are ready
// once RUNNING. The probe is a readiness check bounded by a minute,
// retried with a short backoff; it is not a supervision loop.
//
// supervisorctl's restart keeps supervisord's semantics (stop all, then
// start all).

// Readiness probe timing.
const (
	defaultReadyTimeout = 60 * time.Second
	probeTimeout        = 2 * time.Second
	probeFirstDelay     = 20 * time.Millisecond
	probeMaxDelay       = 500 * time.Millisecond
)

var _ api.RollingBackend = (*Supervisor)(nil)

// RollingRestart restarts one process, a group ("web", "web:*") or a
// program's processes one at a time. It stops at the first process that
// does not come back ready, leaving the rest running: the results hold one
// entry per process it restarted, the failing one last.
func (s *Supervisor) RollingRestart(ctx context.Context, name string) ([]api.Result, error) {
	unlock, err := s.beginOp()
	if err != nil {
		return nil, err
	}
	defer unlock()
	procs, err := s.rollingTargets(name)
	if err != nil {
		return nil, err
	}
	var out []api.Result
	s.mu.RLock()
	cfg := s.cfg
	s.mu.RUnlock()
	for _, p := range procs {
		err := s.restartOne(ctx, p, cfg)
		out = append(out, result(p, err))
		if err != nil {
			s.log.Warn(fmt.Sprintf("rolling restart of %s stopped at %s: %v", name, p.namespec(), err), "program", p.namespec())
			break
		}
	}
	return out, nil
}

// rollingTargets resolves a rolling restart's name: a process namespec, a
// group ("web" or "web:*"), or a program inside a [group:x].
func (s *Supervisor) rollingTargets(name string) ([]*process, error) {
	g, p, err := s.lookup(name)
	if err == nil && p != nil {
		return []*process{p}, nil
	}
	if err == nil {
		return s.groupProcs(g.cfg.Name)
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if g := s.groups[name]; g != nil {
		return append([]*process(nil), g.procs...), nil
	}
	var out []*process
	for _, g := range s.order {
		for _, p := range g.procs {
			if p.view().cfg.Program == name {
				out = append(out, p)
			}
		}
	}
	if len(out) == 0 {
		return nil, api.Errorf(api.BadName, "%s", name)
	}
	return out, nil
}

// restartOne stops p (when it runs), starts it and waits until it is
// RUNNING and ready; cfg holds the [proxy:*] sections that say how.
func (s *Supervisor) restartOne(ctx context.Context, p *process, cfg *config.Config) error {
	if next := s.blueGreenPlan(p, p.view().cfg, cfg); next != nil {
		return s.blueGreen(ctx, p, next, cfg) // numprocs=1 behind a proxy: bluegreen.go
	}
	ch, err := p.stop(true)
	if err != nil && api.CodeOf(err) != api.NotRunning {
		return err
	}
	if err := waitResult(ctx, ch); err != nil {
		return err
	}
	ch, err = p.start(true)
	if err != nil {
		return err
	}
	if err := waitResult(ctx, ch); err != nil {
		return err
	}
	return s.ready(ctx, p, cfg)
}

// ready waits until a RUNNING process answers its readiness check (see
// the comment at the top), or fails when it leaves RUNNING or the check
// times out. A process with a healthcheck= is ready when that check
// passes (the same probe the health room runs).
func (s *Supervisor) ready(ctx context.Context, p *process, cfg *config.Config) error {
	pc := p.view().cfg
	port, path := proxyTarget(cfg, pc)
	hc := pc.Health
	if hc == nil && port != 0 {
		// The proxy's own check: GET health_path, else a connection.
		hc = &config.HealthCheck{Kind: config.HealthTCP, Target: upstream(port), Timeout: probeTimeout}
		if path != "" {
			hc.Kind, hc.Target = config.HealthHTTP, "http://"+upstream(port)+path
		}
	}
	if hc == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, s.readyTimeout)
	defer cancel()
	run := s.checkRunner(pc)
	delay := probeFirstDelay
	timer := time.NewTimer(0)
	defer timer.Stop()
	var last error
	for {
		select {
		case <-ctx.Done():
			return api.Errorf(api.AbnormalTermination, "%s: not ready: no answer to %s within %v (last: %v)",
				p.namespec(), health.Describe(hc), s.readyTimeout, last)
		case <-timer.C:
		}
		if st := p.view().state; st != api.Running {
			return api.Errorf(api.AbnormalTermination, "%s: %s while waiting for it to be ready", p.namespec(), st)
		}
		if last = health.Probe(ctx, hc, run); last == nil {
			p.logf(slog.LevelInfo, "%s is ready (%s)", p.name, health.Describe(hc))
			return nil
		}
		timer.Reset(delay)
		delay = min(2*delay, probeMaxDelay)
	}
}

// rollStep is one process an update replaces by rolling.
type rollStep struct {
	old *process
	cfg *config.Process
}

// rollGroup replaces a changed group's processes one at a time (update of
// a program with numprocs >= 2): stop the old process, start the new one,
// wait until it is RUNNING and ready, then the next. When one does not
// come back, the rest keep running their old configuration (the group's
// configuration says so, so that the next update tries them again). The
// caller holds opMu.
func (s *Supervisor) rollGroup(ctx context.Context, cfg *config.Config, g *group, steps []rollStep) {
	for i, st := range steps {
		if next := s.blueGreenPlan(st.old, st.cfg, cfg); next != nil {
			// numprocs=1 behind a proxy (bluegreen.go): on a failure the
			// old process runs on, with its configuration.
			if err := s.blueGreen(ctx, st.old, next, cfg); err != nil {
				s.log.Error(fmt.Sprintf("update of %s: %v; it keeps its old configuration", st.old.namespec(), err), "program", st.old.namespec())
				s.keepOld(g, steps[i:])
				return
			}
			continue
		}
		old := st.old.view()
		<-st.old.shutdown()
		logs := s.openLogs(st.cfg, old.logs)
		closeUnusedLogs(old.logs, logs)
		st.old.remove()
		np := newProcess(s, st.cfg, logs)
		s.mu.Lock()
		for j, p := range g.procs {
			if p == st.old {
				g.procs[j] = np
			}
		}
		s.mu.Unlock()
		var err error
		if st.cfg.Autostart && np.moodAllowsStart() {
			err = s.restartOne(ctx, np, cfg)
		}
		if err == nil {
			continue
		}
		s.log.Error(fmt.Sprintf("update of %s stopped: %s did not come back (%v); %d processes keep their old configuration",
			g.cfg.Name, np.namespec(), err, len(steps)-i-1), "program", np.namespec())
		s.keepOld(g, steps[i+1:])
		return
	}
}

// keepOld makes the group's configuration say that the processes of
// steps still run their old configuration, so that the next update tries
// them again.
func (s *Supervisor) keepOld(g *group, steps []rollStep) {
	keep := map[string]*config.Process{}
	for _, rest := range steps {
		keep[rest.cfg.Name] = rest.old.view().cfg
	}
	s.mu.Lock()
	gc := *g.cfg
	gc.Processes = nil
	for _, pc := range g.cfg.Processes {
		if o, ok := keep[pc.Name]; ok {
			pc = o
		}
		gc.Processes = append(gc.Processes, pc)
	}
	g.cfg = &gc
	s.mu.Unlock()
}
