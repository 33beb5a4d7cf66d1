package supervisor

import (
	"context"
	"fmt"
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
func (s *Supervisor) reread() (*config.Config, config.Changes, error) {
	cfg, err := s.load()
	if err != nil {
		s.noteBroken(err)
		s.logConfigError(err)
		return nil, config.Changes{}, &api.Error{Code: api.CantReread, Detail: err.Error()}
	}
	s.noteLoaded()
	s.mu.Lock()
	s.read = cfg
	active := s.activeConfigLocked()
	s.mu.Unlock()
	return cfg, config.Diff(active, cfg), nil
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

// apiChanges names the groups of ch, as reloadConfig reports them. Groups
// roost does not run (FastCGI) are left out, as they are never active.
func apiChanges(ch config.Changes) api.Changes {
	out := api.Changes{Added: []string{}, Changed: []string{}, Removed: []string{}}
	for _, g := range ch.Added {
		if runnable(g) {
			out.Added = append(out.Added, g.Name)
		}
	}
	for _, gc := range ch.Changed {
		if runnable(gc.New) {
			out.Changed = append(out.Changed, gc.New.Name)
		}
	}
	for _, g := range ch.Removed {
		if runnable(g) {
			out.Removed = append(out.Removed, g.Name)
		}
	}
	return out
}

// runnable reports whether roost runs a group of this kind.
func runnable(g *config.Group) bool {
	return g.Kind == "" || g.Kind == config.KindProgram || g.Kind == config.KindEventListener
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
	unlock, err := s.beginOp()
	if err != nil {
		return api.Changes{}, err
	}
	defer unlock()
	if slices.Contains(names, "all") {
		names = nil
	}
	if len(names) == 0 {
		// The cron file is re-read whether or not the configuration is valid.
		s.cron.reload()
	}
	cfg, ch, err := s.reread()
	if err != nil {
		return api.Changes{}, err
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
		ch.Added = slices.DeleteFunc(ch.Added, func(g *config.Group) bool { return !slices.Contains(names, g.Name) })
		ch.Removed = slices.DeleteFunc(ch.Removed, func(g *config.Group) bool { return !slices.Contains(names, g.Name) })
		ch.Changed = slices.DeleteFunc(ch.Changed, func(gc config.GroupChange) bool { return !slices.Contains(names, gc.New.Name) })
	}
	out := apiChanges(ch)
	if len(out.Added)+len(out.Changed)+len(out.Removed) > 0 {
		s.log.Info(fmt.Sprintf("applying configuration: added %v, changed %v, removed %v", out.Added, out.Changed, out.Removed))
	}
	for _, gc := range ch.Removed {
		s.stopAndRemoveGroup(gc.Name)
	}
	for _, gc := range ch.Changed {
		if gc.New.Kind == config.KindEventListener {
			// As supervisord updates every changed group: removed and added
			// again, so the pool's subscription and buffer are the new
			// file's (a listener's events come from PROCESS_GROUP_*).
			s.stopAndRemoveGroup(gc.New.Name)
			_ = s.addGroupLocked(gc.New)
			continue
		}
		s.updateGroup(ctx, cfg, gc)
	}
	for _, gc := range ch.Added {
		if runnable(gc) {
			_ = s.addGroupLocked(gc) // not active before the update: cannot be ALREADY_ADDED
		}
	}
	if len(names) == 0 {
		// The [supervisord] section (and what it folds into processes)
		// now comes from the new file.
		s.mu.Lock()
		old := s.cfg
		s.cfg = cfg
		s.mu.Unlock()
		s.cron.configure(cfg)
		s.noteProxies(old, cfg)
		s.noteApplied()
		s.noteWarnings(old, cfg)
		if s.opts.Applied != nil {
			s.opts.Applied(cfg)
		}
	}
	return out, nil
}

// needsRestart reports whether a changed process must restart: any change
// but its priority and depends_on does (the start and stop orders read
// those from the running configuration). A changed healthcheck restarts
// it: the health room arms a check when the process becomes RUNNING.
func needsRestart(old, cur *config.Process) bool {
	x := *cur
	x.Priority, x.DependsOn = old.Priority, old.DependsOn
	return !config.SameProcess(old, &x)
}

// stopAndRemoveGroup stops an active group's processes, waits for them and
// removes the group. The caller holds opMu.
func (s *Supervisor) stopAndRemoveGroup(name string) {
	s.mu.RLock()
	g := s.groups[name]
	s.mu.RUnlock()
	if g == nil {
		return
	}
	s.stopGroupAndWait(g, false)
	s.mu.Lock()
	delete(s.groups, name)
	s.sortGroups()
	s.mu.Unlock()
	s.dropGroup(g)
	s.events.publish(api.Event{Time: time.Now().UnixNano(), Type: "PROCESS_GROUP_REMOVED", Group: name})
}

// updateGroup applies a changed group's new configuration process by
// process; the changed processes of a program with numprocs >= 2 that were
// running are replaced one at a time (rollGroup). The caller holds opMu.
func (s *Supervisor) updateGroup(ctx context.Context, cfg *config.Config, gc config.GroupChange) {
	if !runnable(gc.New) {
		return
	}
	s.mu.RLock()
	g := s.groups[gc.New.Name]
	s.mu.RUnlock()
	if g == nil {
		_ = s.addGroupLocked(gc.New)
		return
	}
	byName := map[string]*process{}
	for _, p := range g.procs {
		byName[p.name] = p
	}
	changed := map[string]bool{}
	for _, pc := range gc.Changed {
		changed[pc.Name] = true
	}
	var procs, restart []*process
	var rolling []rollStep
	for _, pc := range gc.New.Processes {
		p := byName[pc.Name]
		delete(byName, pc.Name)
		switch {
		case p == nil: // added
			np := newProcess(s, pc, s.openLogs(pc, nil))
			procs = append(procs, np)
			restart = append(restart, np)
		case !changed[pc.Name]:
			procs = append(procs, p) // the same to supervisord: keep as it runs
		case !needsRestart(p.view().cfg, pc):
			p.setConfig(pc) // priority only: reorder, no restart
			procs = append(procs, p)
		case pc.Spare != nil && !needsRestart(p.view().cfg, pc.Spare):
			p.setConfig(pc.Spare) // the same, on the spare port (bluegreen.go)
			procs = append(procs, p)
		case pc.Numprocs >= 2 && p.view().state.IsRunning(), s.blueGreenPlan(p, pc, cfg) != nil:
			// One process at a time, after the rest of the update
			// (rolling.go): the others keep serving meanwhile.
			procs = append(procs, p)
			rolling = append(rolling, rollStep{old: p, cfg: pc})
		default:
			// A changed process is a new process, as in supervisord
			// (whose update makes new Subprocess objects), keeping its
			// log sinks where the paths did not change.
			old := p.view()
			<-p.shutdown()
			logs := s.openLogs(pc, old.logs)
			closeUnusedLogs(old.logs, logs)
			p.remove()
			np := newProcess(s, pc, logs)
			procs = append(procs, np)
			restart = append(restart, np)
		}
	}
	for _, p := range byName { // removed from the group
		<-p.shutdown()
		s.dropProcess(p)
	}
	sortProcs(procs)
	s.mu.Lock()
	g.cfg = gc.New
	g.procs = procs
	s.sortGroups()
	s.mu.Unlock()
	for _, p := range restart {
		s.autostart(p)
	}
	if len(rolling) > 0 {
		s.rollGroup(ctx, cfg, g, rolling)
	}
}

// addGroupLocked activates a group and starts its autostart processes. The
// caller holds opMu.
func (s *Supervisor) addGroupLocked(gc *config.Group) error {
	if !runnable(gc) {
		return api.Errorf(api.Failed, "%s: [%s:%s] is not supported yet", gc.Pos, gc.Kind, gc.Name)
	}
	s.mu.Lock()
	if s.groups[gc.Name] != nil {
		s.mu.Unlock()
		return api.Errorf(api.AlreadyAdded, "%s", gc.Name)
	}
	g := s.makeGroup(gc)
	s.groups[gc.Name] = g
	s.sortGroups()
	s.mu.Unlock()
	s.events.publish(api.Event{Time: time.Now().UnixNano(), Type: "PROCESS_GROUP_ADDED", Group: gc.Name})
	for _, p := range g.procs {
		s.autostart(p)
	}
	return nil
}

// beginOp takes opMu for an operation on the running configuration,
// refusing (SHUTDOWN_STATE) before it waits for the lock and again after:
// a shutdown may have begun while it waited. The caller calls unlock.
func (s *Supervisor) beginOp() (unlock func(), err error) {
	if err := s.checkMood(); err != nil {
		return nil, err
	}
	s.opMu.Lock()
	if err := s.checkMood(); err != nil {
		s.opMu.Unlock()
		return nil, err
	}
	return s.opMu.Unlock, nil
}

// AddGroup activates a group of the last configuration read (supervisord's
// addProcessGroup): BAD_NAME if there is none of that name, ALREADY_ADDED if
// it is active.
func (s *Supervisor) AddGroup(name string) error {
	unlock, err := s.beginOp()
	if err != nil {
		return err
	}
	defer unlock()
	s.mu.RLock()
	gc := s.read.Group(name)
	s.mu.RUnlock()
	if gc == nil {
		return api.Errorf(api.BadName, "%s", name)
	}
	return s.addGroupLocked(gc)
}

// RemoveGroup removes an active group whose processes are all stopped
// (supervisord's removeProcessGroup): BAD_NAME, or STILL_RUNNING.
func (s *Supervisor) RemoveGroup(name string) error {
	unlock, err := s.beginOp()
	if err != nil {
		return err
	}
	defer unlock()
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
