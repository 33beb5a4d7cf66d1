package supervisor

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"

	"roost/config"
	"roost/supervisor/api"
)

// depends_on= (a roost extension): a process starts only once every
// process of the programs it depends on is RUNNING, and healthy when that
// program has a healthcheck=; it stops before them.
//
// With priority= the two combine this way: the start order is
// supervisord's priority order, except that a process never comes before
// its dependencies (startOrder: the first process in priority order whose
// dependencies are placed goes next). The stop order is its reverse. At
// autostart, priority levels are spawned as supervisord spawns them, and a
// process with dependencies waits for them in a goroutine of its own
// (starting those that are not running), so a dependency of a higher
// priority number still starts first.

// hasDeps reports whether any of ps has a depends_on.
func hasDeps(ps []*process) bool {
	return slices.ContainsFunc(ps, func(p *process) bool { return len(p.view().cfg.DependsOn) > 0 })
}

// startOrder sorts ps (given in priority order) so that every process
// comes after the processes of the programs it depends on, keeping the
// priority order otherwise. Dependencies outside ps are ignored here.
func startOrder(ps []*process) []*process {
	if !hasDeps(ps) {
		return ps
	}
	byProgram := map[string][]*process{}
	for _, p := range ps {
		prog := p.view().cfg.Program
		byProgram[prog] = append(byProgram[prog], p)
	}
	placed := make(map[*process]bool, len(ps))
	out := make([]*process, 0, len(ps))
	for len(out) < len(ps) {
		progress := false
		for _, p := range ps {
			if placed[p] {
				continue
			}
			ready := true
			for _, dep := range p.view().cfg.DependsOn {
				for _, d := range byProgram[dep] {
					ready = ready && placed[d]
				}
			}
			if ready {
				placed[p] = true
				out = append(out, p)
				progress = true
				break // the first ready one in priority order, then look again
			}
		}
		if !progress { // a cycle (config refuses them): keep the rest as they are
			for _, p := range ps {
				if !placed[p] {
					out = append(out, p)
				}
			}
			break
		}
	}
	return out
}

// stopBatches splits ps, in stop order (dependents first), into batches
// stopped one after the other: a batch ends before a process that one in
// it depends on, and, with byGroup, where the group changes (shutdown
// stops one group at a time, as supervisord).
func stopBatches(ps []*process, byGroup bool) [][]*process {
	var out [][]*process
	var cur []*process
	needed := map[string]bool{} // programs the current batch depends on
	for _, p := range ps {
		cfg := p.view().cfg
		if len(cur) > 0 && (needed[cfg.Program] || byGroup && cur[0].group != p.group) {
			out = append(out, cur)
			cur, needed = nil, map[string]bool{}
		}
		cur = append(cur, p)
		for _, d := range cfg.DependsOn {
			needed[d] = true
		}
	}
	if len(cur) > 0 {
		out = append(out, cur)
	}
	return out
}

// depProcs returns the active processes of the programs cfg depends on.
func (s *Supervisor) depProcs(cfg *config.Process) []*process {
	var out []*process
	for _, p := range s.allProcesses(false) {
		if slices.Contains(cfg.DependsOn, p.view().cfg.Program) {
			out = append(out, p)
		}
	}
	return out
}

// depsReady reports whether every one of deps is RUNNING (and healthy when
// it has a check), or why waiting for them is pointless.
func depsReady(deps []*process) (bool, error) {
	ready := true
	for _, d := range deps {
		v := d.view()
		switch {
		case v.state == api.Fatal || v.state == api.Stopped:
			return false, fmt.Errorf("dependency %s is %s", d.namespec(), v.state)
		case v.state != api.Running || v.cfg.Health != nil && v.health != api.HealthHealthy:
			ready = false
		}
	}
	return ready, nil
}

// awaitDeps starts p's dependencies that are not running (and theirs,
// first) and waits until all are ready, p is removed, or ctx ends. The
// error is a FAILED fault naming the dependency.
func (s *Supervisor) awaitDeps(ctx context.Context, p *process) error {
	cfg := p.view().cfg
	if len(cfg.DependsOn) == 0 {
		return nil
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	events := s.events.subscribe(ctx) // before looking: no change is missed
	deps := s.depProcs(cfg)
	if !p.moodAllowsStart() {
		// A shutdown or a restart: nothing is started any more.
		return api.Errorf(api.ShutdownState, "%s", p.namespec())
	}
	for _, d := range deps {
		if st := d.view().state; st == api.Stopped || st == api.Exited || st == api.Fatal {
			if _, err := s.startProcess(ctx, d, false); err != nil && api.CodeOf(err) != api.AlreadyStarted {
				return api.Errorf(api.Failed, "%s: dependency %s: %v", p.namespec(), d.namespec(), err)
			}
		}
	}
	logged := false
	for {
		ready, err := depsReady(deps)
		if err != nil {
			return api.Errorf(api.Failed, "%s: %v", p.namespec(), err)
		}
		if ready {
			return nil
		}
		if !logged {
			p.logf(slog.LevelInfo, "%s waits for %v (depends_on)", p.name, cfg.DependsOn)
			logged = true
		}
		select {
		case <-events:
		case <-p.done:
			return api.Errorf(api.BadName, "%s", p.namespec())
		case <-ctx.Done():
			return api.Errorf(api.Failed, "%s: dependencies not ready: %v", p.namespec(), ctx.Err())
		}
	}
}

// startProcess is start with the dependencies first: the one start every
// path takes (roost start NAME, a group, all).
func (s *Supervisor) startProcess(ctx context.Context, p *process, wait bool) (<-chan error, error) {
	if err := s.awaitDeps(ctx, p); err != nil {
		return nil, err
	}
	return p.start(wait)
}

// autostart is process.autostart, after the dependencies when p has any:
// then in a goroutine of its own (see the comment at the top), bounded by
// the supervisor's life.
func (s *Supervisor) autostart(p *process) {
	cfg := p.view().cfg
	if len(cfg.DependsOn) == 0 || !cfg.Autostart {
		p.autostart()
		return
	}
	s.depWG.Add(1)
	go func() {
		defer s.depWG.Done()
		p.do(func() { p.waiting = "waiting for " + strings.Join(cfg.DependsOn, ", ") + " (depends_on)" })
		err := s.awaitDeps(s.life, p)
		p.do(func() { p.waiting = "" })
		if err != nil {
			if s.life.Err() == nil && p.moodAllowsStart() && api.CodeOf(err) != api.BadName {
				p.logf(slog.LevelWarn, "%s not started: %v", p.name, err)
			}
			return
		}
		p.autostart()
	}()
}
