package supervisor

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"time"

	"roost/config"
	"roost/supervisor/api"
)

// Configuration changes: reread, update, add, remove.
//
// supervisorctl's update stops, removes and re-adds every changed group,
// restarting all of its processes. roost's Update (also HUP and the
// watcher) is finer: within a changed group only processes whose own
// configuration changed are restarted, new ones are added, removed ones
// stopped; a change of priority alone reorders without restarting.
// (supervisorctl driving roost over XML-RPC still gets supervisord's
// behaviour, since it calls stop/remove/add itself.)

// reread loads the configuration, remembers it as the last one read, and
// diffs it against the active groups. A load error is CANT_REREAD, logged
// with every file:line.
func (s *Supervisor) reread() (*config.Config, configChanges, error) {
	cfg, err := s.load()
	if err != nil {
		s.logConfigError(err)
		return nil, configChanges{}, &api.Error{Code: api.CantReread, Detail: err.Error()}
	}
	s.mu.Lock()
	s.read = cfg
	active := s.activeConfigLocked()
	s.mu.Unlock()
	return cfg, diffConfigs(active, cfg), nil
}

// activeConfigLocked is the configuration of the active groups (what
// supervisord's diff_to_active compares with). Callers hold s.mu.
func (s *Supervisor) activeConfigLocked() *config.Config {
	c := *s.cfg
	c.Groups = nil
	for _, g := range s.order {
		c.Groups = append(c.Groups, g.cfg)
	}
	return &c
}

func apiChanges(ch configChanges) api.Changes {
	nz := func(x []string) []string {
		if x == nil {
			return []string{}
		}
		return x
	}
	return api.Changes{Added: nz(ch.Added), Changed: nz(ch.Changed), Removed: nz(ch.Removed)}
}

// Reread parses the configuration on disk and reports which groups differ
// from the running ones, changing nothing (supervisord's reloadConfig).
func (s *Supervisor) Reread() (api.Changes, error) {
	if err := s.checkMood(); err != nil {
		return api.Changes{}, err
	}
	_, ch, err := s.reread()
	if err != nil {
		return api.Changes{}, err
	}
	return apiChanges(ch), nil
}

// Reload is what HUP does: Update of every group.
func (s *Supervisor) Reload(ctx context.Context) (api.Changes, error) {
	return s.Update(ctx, nil)
}

// Update re-reads the configuration and applies it: removed groups are
// stopped and removed, added groups added (and their autostart processes
// started), and in changed groups only the processes whose configuration
// changed are restarted. names limits it to those groups; empty means all.
func (s *Supervisor) Update(ctx context.Context, names []string) (api.Changes, error) {
	if err := s.checkMood(); err != nil {
		return api.Changes{}, err
	}
	s.opMu.Lock()
	defer s.opMu.Unlock()
	if err := s.checkMood(); err != nil { // a shutdown may have begun while we waited
		return api.Changes{}, err
	}
	cfg, ch, err := s.reread()
	if err != nil {
		return api.Changes{}, err
	}
	if slices.Contains(names, "all") {
		names = nil
	}
	if len(names) > 0 {
		s.mu.RLock()
		for _, n := range names {
			if s.groups[n] == nil && cfg.Group(n) == nil {
				s.mu.RUnlock()
				return api.Changes{}, api.Errorf(api.BadName, "%s", n)
			}
		}
		s.mu.RUnlock()
		keep := func(xs []string) []string {
			var out []string
			for _, x := range xs {
				if slices.Contains(names, x) {
					out = append(out, x)
				}
			}
			return out
		}
		ch.Added, ch.Changed, ch.Removed = keep(ch.Added), keep(ch.Changed), keep(ch.Removed)
	}
	if len(ch.Added)+len(ch.Changed)+len(ch.Removed) > 0 {
		s.log.Info(fmt.Sprintf("applying configuration: added %v, changed %v, removed %v", ch.Added, ch.Changed, ch.Removed))
	}
	for _, name := range ch.Removed {
		s.mu.RLock()
		g := s.groups[name]
		s.mu.RUnlock()
		if g == nil {
			continue
		}
		s.stopGroupAndWait(g, false)
		s.mu.Lock()
		delete(s.groups, name)
		s.sortGroups()
		s.mu.Unlock()
		s.dropGroup(g)
		s.events.publish(api.Event{Time: time.Now().UnixNano(), Type: "PROCESS_GROUP_REMOVED", Group: name})
	}
	for _, name := range ch.Changed {
		s.updateGroup(ctx, cfg.Group(name))
	}
	for _, name := range ch.Added {
		s.addGroupLocked(cfg.Group(name))
	}
	s.mu.Lock()
	if len(names) == 0 {
		// The [supervisord] section (and what it folds into processes)
		// now comes from the new file.
		s.cfg = cfg
	}
	s.mu.Unlock()
	return apiChanges(ch), nil
}

// needsRestart reports whether a process's configuration changed in a way
// that needs a restart: anything but its position in the file and its
// priority.
func needsRestart(a, b *config.Process) bool {
	x, y := *a, *b
	x.Pos, y.Pos = config.Pos{}, config.Pos{}
	x.Priority, y.Priority = 0, 0
	return !reflect.DeepEqual(x, y)
}

// updateGroup applies a changed group's new configuration process by
// process. The caller holds opMu.
func (s *Supervisor) updateGroup(ctx context.Context, gc *config.Group) {
	if gc == nil {
		return
	}
	s.mu.RLock()
	g := s.groups[gc.Name]
	s.mu.RUnlock()
	if g == nil {
		s.addGroupLocked(gc)
		return
	}
	byName := map[string]*process{}
	for _, p := range g.procs {
		byName[p.name] = p
	}
	var procs []*process
	var restart []*process
	for _, pc := range gc.Processes {
		p := byName[pc.Name]
		delete(byName, pc.Name)
		if p == nil {
			p = newProcess(s, pc, s.openLogs(pc, nil))
			procs = append(procs, p)
			restart = append(restart, p)
			continue
		}
		v := p.view()
		if !needsRestart(v.cfg, pc) {
			p.setConfig(pc) // priority, positions: no restart
			procs = append(procs, p)
			continue
		}
		// A changed process is a new process, as in supervisord (whose
		// update makes new Subprocess objects), keeping its log sinks
		// where the paths did not change.
		<-p.shutdown()
		logs := s.openLogs(pc, v.logs)
		closeUnusedLogs(v.logs, logs)
		p.remove()
		np := newProcess(s, pc, logs)
		procs = append(procs, np)
		restart = append(restart, np)
	}
	// Processes no longer in the group.
	for _, p := range byName {
		<-p.shutdown()
		s.dropProcess(p)
	}
	sortProcs(procs)
	s.mu.Lock()
	g.cfg = gc
	g.procs = procs
	s.sortGroups()
	s.mu.Unlock()
	for _, p := range restart {
		p.autostart()
	}
}

// addGroupLocked activates a group and starts its autostart processes. The
// caller holds opMu.
func (s *Supervisor) addGroupLocked(gc *config.Group) bool {
	if gc == nil {
		return false
	}
	s.mu.Lock()
	if s.groups[gc.Name] != nil {
		s.mu.Unlock()
		return false
	}
	g := s.makeGroup(gc)
	if g == nil {
		s.mu.Unlock()
		return true
	}
	s.groups[gc.Name] = g
	s.sortGroups()
	s.mu.Unlock()
	s.events.publish(api.Event{Time: time.Now().UnixNano(), Type: "PROCESS_GROUP_ADDED", Group: gc.Name})
	for _, p := range g.procs {
		p.autostart()
	}
	return true
}

// AddGroup activates a group of the last configuration read (supervisord's
// addProcessGroup): BAD_NAME if there is none of that name, ALREADY_ADDED if
// it is active.
func (s *Supervisor) AddGroup(name string) error {
	if err := s.checkMood(); err != nil {
		return err
	}
	s.opMu.Lock()
	defer s.opMu.Unlock()
	if err := s.checkMood(); err != nil { // a shutdown may have begun while we waited
		return err
	}
	s.mu.RLock()
	gc := s.read.Group(name)
	s.mu.RUnlock()
	if gc == nil {
		return api.Errorf(api.BadName, "%s", name)
	}
	if !s.addGroupLocked(gc) {
		return api.Errorf(api.AlreadyAdded, "%s", name)
	}
	return nil
}

// RemoveGroup removes an active group whose processes are all stopped
// (supervisord's removeProcessGroup): BAD_NAME, or STILL_RUNNING.
func (s *Supervisor) RemoveGroup(name string) error {
	if err := s.checkMood(); err != nil {
		return err
	}
	s.opMu.Lock()
	defer s.opMu.Unlock()
	if err := s.checkMood(); err != nil { // a shutdown may have begun while we waited
		return err
	}
	s.mu.Lock()
	g := s.groups[name]
	if g == nil {
		s.mu.Unlock()
		return api.Errorf(api.BadName, "%s", name)
	}
	for _, p := range g.procs {
		if !p.view().state.IsStopped() {
			s.mu.Unlock()
			return api.Errorf(api.StillRunning, "%s", name)
		}
	}
	delete(s.groups, name)
	s.sortGroups()
	s.mu.Unlock()
	s.dropGroup(g)
	s.events.publish(api.Event{Time: time.Now().UnixNano(), Type: "PROCESS_GROUP_REMOVED", Group: name})
	return nil
}
