package supervisor

import (
	"context"
	"log/slog"
	"slices"
	"strconv"
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
//     master routes the program, the restart waits for its verdict to
//     serve the new upstream: nginx runs it. If that does not come within
//     the timeout, the new process is stopped, the route is as before;
//  4. the new process takes the old one's place in the group, the route
//     drops the old port, and the old process gets its stopsignal:
//     requests in flight finish on it, and a connection nginx still makes
//     to it meets a closed port and is retried on the new one
//     (proxy_next_upstream, max_fails=0).
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
	served := s.servedSections(next.Program, cfg)
	verdict := s.nextVerdict()
	s.setExtra(next.Program, newPort)
	if err := s.awaitRoute(ctx, served, upstream(newPort), verdict); err != nil {
		return abandon(err)
	}
	s.mu.Lock()
	if g := s.groups[old.group]; g != nil {
		for i, p := range g.procs {
			if p == old {
				g.procs[i] = np
			}
		}
	}
	delete(s.extra, next.Program)
	s.mu.Unlock()
	s.events.publish(api.Event{Time: time.Now().UnixNano(), Type: api.EventProxyChanged})
	<-old.shutdown()
	logs := old.view().logs
	old.remove()
	closeUnusedLogs(logs, np.view().logs)
	np.logf(slog.LevelInfo, "blue-green restart of %s done: pid %d on port %d serves", np.namespec(), np.view().pid, newPort)
	return nil
}

// setExtra adds port (0: none) to program's route beside its process,
// and tells the master.
func (s *Supervisor) setExtra(program string, port int) {
	s.mu.Lock()
	if s.extra == nil {
		s.extra = map[string]int{}
	}
	changed := s.extra[program] != port
	if port == 0 {
		delete(s.extra, program)
	} else {
		s.extra[program] = port
	}
	s.mu.Unlock()
	if changed {
		s.events.publish(api.Event{Time: time.Now().UnixNano(), Type: api.EventProxyChanged})
	}
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

// awaitRoute waits until the master's verdicts say every section serves
// addr, taking verdict (the channel of the verdict after the change) and
// the ones after it; bounded by the readiness timeout.
func (s *Supervisor) awaitRoute(ctx context.Context, sections []string, addr string, verdict <-chan struct{}) error {
	if len(sections) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, s.readyTimeout)
	defer cancel()
	for {
		select {
		case <-ctx.Done():
			why := ""
			if st := s.proxyStatus.Load(); st != nil && st.Pending != "" {
				why = " (" + st.Pending + ")"
			}
			return api.Errorf(api.AbnormalTermination, "nginx did not route %s to %s within %v%s", sections, addr, s.readyTimeout, why)
		case <-verdict:
		}
		verdict = s.nextVerdict()
		if routes(s.proxyStatus.Load(), sections, addr) {
			return nil
		}
	}
}

// routes reports whether verdict st serves addr in every section.
func routes(st *api.ProxyStatus, sections []string, addr string) bool {
	if st == nil {
		return false
	}
	for _, sec := range sections {
		i := slices.IndexFunc(st.Routes, func(rs api.ProxyRouteStatus) bool { return rs.Section == sec })
		if i < 0 || !st.Routes[i].Served || !slices.Contains(st.Routes[i].Upstreams, addr) {
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
