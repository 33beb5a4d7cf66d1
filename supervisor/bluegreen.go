package supervisor

import (
	"context"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"

	"roost/config"
	"roost/supervisor/api"
)

// Blue-green restarts: a RUNNING process of a numprocs=1 program behind a
// [proxy:*] section (TCP, not socket=), whose configuration has a spare
// port (config/ports.go: under the master, with room in the block), is
// restarted without a moment with nothing listening:
//
//  1. a new process object of the same name starts on the other port
//     (the spare, or the program's own port when the old one runs on the
//     spare), outside the group: nothing routes to it yet;
//  2. it must be RUNNING and ready (rolling.go's probe: health_path, else
//     a TCP connection) within the readiness timeout, else it is stopped
//     and the old one keeps serving;
//  3. its port joins the route beside the old one (Proxy reports both,
//     EventProxyChanged makes the master read them again) and, when a
//     master routes the program, the restart waits for the master's
//     verdict on that reading (ProxyInfo.Generation, echoed in the
//     verdict) to say nginx runs it: served, nothing pending. If that
//     does not come within the timeout, the new process is stopped and
//     the route is as before;
//  4. the new process takes the old one's place in the group and the
//     route drops the old port; the old process keeps running until the
//     master's verdict says nginx runs that too, then gets its
//     stopsignal (requests in flight finish on it). At that moment every
//     nginx worker still alive runs a configuration with a live upstream:
//     the new one's, or the two-upstream one, whose refused connection to
//     the old port is retried on the new one (proxy_next_upstream,
//     max_fails=0). nginx's reload being asynchronous, waiting for the
//     two-upstream configuration alone would not do.
//
// The result is one process of that name, RUNNING, on the other port; the
// next restart goes back. `roost restart --rolling`, the deploy's restart
// and `roost env set` use this path through RollingRestart, and `update`
// of a changed numprocs=1 program behind a proxy too.

// blueGreenPlan returns the configuration the new process runs: of next
// and next.Spare, the one on the port p does not run on; nil when p does
// not restart blue-green.
func (s *Supervisor) blueGreenPlan(p *process, next *config.Process, cfg *config.Config) *config.Process {
	cur := p.view()
	if next == nil || next.Spare == nil || next.Numprocs != 1 || cur.state != api.Running {
		return nil
	}
	for _, px := range cfg.Proxies {
		if px.Program == next.Program && px.Socket != "" {
			return nil
		}
	}
	port, _ := proxyTarget(cfg, cur.cfg)
	if port == 0 {
		return nil
	}
	if p1, _ := proxyTarget(cfg, next); p1 == port {
		return next.Spare
	}
	return next
}

// blueGreen replaces old, RUNNING, by a new process running next (the
// other port), as the comment above says. The caller holds opMu. On an
// error old still runs and serves; the new process is gone.
func (s *Supervisor) blueGreen(ctx context.Context, old *process, next *config.Process, cfg *config.Config) error {
	oldView := old.view()
	newPort, _ := proxyTarget(cfg, next)
	oldPort, _ := proxyTarget(cfg, oldView.cfg)
	old.logf(slog.LevelInfo, "blue-green restart of %s: a new process on port %d while pid %d serves on %d", old.namespec(), newPort, oldView.pid, oldPort)
	np := newProcess(s, next, s.openLogs(next, oldView.logs))
	np.cgAlt = !old.cgAlt // a group of its own: old's stop kills old's group
	abandon := func(err error) error {
		s.setExtra(next.Program, 0)
		<-np.shutdown()
		logs := np.view().logs
		np.remove()
		closeUnusedLogs(logs, old.view().logs)
		old.logf(slog.LevelWarn, "blue-green restart of %s abandoned, pid %d keeps serving: %v", old.namespec(), oldView.pid, err)
		return err
	}
	ch, err := np.start(true)
	if err == nil {
		err = waitResult(ctx, ch)
	}
	if err == nil {
		err = s.ready(ctx, np, cfg)
	}
	if err != nil {
		return abandon(err)
	}
	// Phase 1: the route lists both; nginx must run that before the
	// swap.
	served := s.servedSections(next.Program, cfg)
	gen := s.setExtra(next.Program, newPort)
	if err := s.awaitRoute(ctx, served, gen, func(ups []string) bool { return slices.Contains(ups, upstream(newPort)) }); err != nil {
		return abandon(err)
	}
	// Phase 2: the new process takes the old one's place; the route
	// drops the old port. The old process serves until nginx runs that
	// too: every nginx worker, of any configuration still alive, then
	// has a live upstream (one of the two-upstream configuration retries
	// the refused old port on the new one).
	s.mu.Lock()
	if g := s.groups[old.group]; g != nil {
		for i, p := range g.procs {
			if p == old {
				g.procs[i] = np
			}
		}
	}
	delete(s.extra, next.Program)
	gen = s.proxyGen.Add(1)
	s.mu.Unlock()
	s.events.publish(api.Event{Time: time.Now().UnixNano(), Type: api.EventProxyChanged})
	if err := s.awaitRoute(ctx, served, gen, func(ups []string) bool { return !slices.Contains(ups, upstream(oldPort)) }); err != nil {
		np.logf(slog.LevelWarn, "blue-green restart of %s: %v; stopping pid %d anyway (the new process serves)", np.namespec(), err, oldView.pid)
	}
	<-old.shutdown()
	logs := old.view().logs
	old.remove()
	closeUnusedLogs(logs, np.view().logs)
	np.logf(slog.LevelInfo, "blue-green restart of %s done: pid %d on port %d serves", np.namespec(), np.view().pid, newPort)
	return nil
}

// setExtra adds port (0: none) to program's route beside its process,
// and tells the master. It returns the routes' new generation.
func (s *Supervisor) setExtra(program string, port int) uint64 {
	s.mu.Lock()
	if s.extra == nil {
		s.extra = map[string]int{}
	}
	if port == 0 {
		delete(s.extra, program)
	} else {
		s.extra[program] = port
	}
	// Bumped after the change, read before the ports (Proxy): a reading
	// of this generation has the change.
	gen := s.proxyGen.Add(1)
	s.mu.Unlock()
	s.events.publish(api.Event{Time: time.Now().UnixNano(), Type: api.EventProxyChanged})
	return gen
}

// servedSections are the [proxy:*] sections routing program that the
// master's last verdict says nginx serves: the ones a blue-green restart
// waits for. None without a verdict (no master).
func (s *Supervisor) servedSections(program string, cfg *config.Config) []string {
	st := s.proxyStatus.Load()
	if st == nil {
		return nil
	}
	var out []string
	for _, px := range cfg.Proxies {
		if px.Program != program {
			continue
		}
		for _, rs := range st.Routes {
			if rs.Section == "proxy:"+px.Name && rs.Served {
				out = append(out, rs.Section)
			}
		}
	}
	return out
}

// awaitRoute waits until a verdict of the master on routes of generation
// gen or later says that nginx runs every section (served, nothing
// pending) with upstreams that want accepts; bounded by the readiness
// timeout. No sections: nothing to wait for.
func (s *Supervisor) awaitRoute(ctx context.Context, sections []string, gen uint64, want func([]string) bool) error {
	if len(sections) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, s.readyTimeout)
	defer cancel()
	for {
		verdict := s.nextVerdict()
		st := s.proxyStatus.Load()
		if routes(st, sections, gen, want) {
			return nil
		}
		select {
		case <-ctx.Done():
			why := ""
			if st != nil && st.Pending != "" {
				why = " (" + st.Pending + ")"
			}
			return api.Errorf(api.AbnormalTermination, "nginx did not run the new route of %s within %v%s", strings.Join(sections, ", "), s.readyTimeout, why)
		case <-verdict:
		}
	}
}

// routes reports whether verdict st, on routes of generation gen or
// later, has nginx run every section with upstreams want accepts.
func routes(st *api.ProxyStatus, sections []string, gen uint64, want func([]string) bool) bool {
	if st == nil || st.Generation < gen {
		return false
	}
	for _, sec := range sections {
		i := slices.IndexFunc(st.Routes, func(rs api.ProxyRouteStatus) bool { return rs.Section == sec })
		if i < 0 || !st.Routes[i].Served || st.Routes[i].Pending != "" || !want(st.Routes[i].Upstreams) {
			return false
		}
	}
	return true
}

// livePorts are the ports px routes to: its slice, except that a
// numprocs=1 program's is the port its process runs on now (after a
// blue-green restart, the spare), plus the port a blue-green restart is
// adding.
func (s *Supervisor) livePorts(px *config.Proxy) []int {
	if len(px.Ports) != 1 {
		return px.Ports
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	ports := slices.Clone(px.Ports)
	for _, g := range s.order {
		for _, p := range g.procs {
			if pc := p.view().cfg; pc.Program == px.Program && pc.Numprocs == 1 {
				if v, ok := pc.Environment.Lookup(config.EnvPort); ok {
					if n, err := strconv.Atoi(v); err == nil {
						ports[0] = n
					}
				}
			}
		}
	}
	if e := s.extra[px.Program]; e != 0 && e != ports[0] {
		ports = append(ports, e)
	}
	return ports
}
