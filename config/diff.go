package config

import (
	"slices"
)

// Changes is what Diff found between two configurations, with supervisord's
// reloadConfig semantics: groups are compared by name; a group present in
// both is changed when its priority, kind, listener or socket settings, or
// any of its process configurations differ.
type Changes struct {
	Added   []*Group      // groups only in the new configuration, in its order
	Changed []GroupChange // groups in both that differ, in the new configuration's order
	Removed []*Group      // groups only in the old configuration, in its order
	// Proxies is true when the [proxy:x] sections differ: the master must
	// re-render nginx, even if no process changed.
	Proxies bool
}

// Empty reports whether nothing changed.
func (c Changes) Empty() bool {
	return len(c.Added) == 0 && len(c.Changed) == 0 && len(c.Removed) == 0 && !c.Proxies
}

// GroupChange describes one changed group, down to its processes, so the
// runtime can restart only what changed. supervisord itself restarts the
// whole group; the lists let roost do better when it chooses to.
type GroupChange struct {
	Old, New *Group
	Added    []*Process // processes only in New, in New's order
	Changed  []*Process // processes in both whose configuration differs (from New)
	Removed  []*Process // processes only in Old, in Old's order
}

// Diff compares two configurations. old may be nil (everything is added).
func Diff(old, new *Config) Changes {
	var c Changes
	var oldGroups, newGroups []*Group
	var oldProxies, newProxies []*Proxy
	if old != nil {
		oldGroups, oldProxies = old.Groups, old.Proxies
	}
	if new != nil {
		newGroups, newProxies = new.Groups, new.Proxies
	}
	oldByName := map[string]*Group{}
	for _, g := range oldGroups {
		oldByName[g.Name] = g
	}
	newByName := map[string]*Group{}
	for _, g := range newGroups {
		newByName[g.Name] = g
		og, ok := oldByName[g.Name]
		if !ok {
			c.Added = append(c.Added, g)
			continue
		}
		if !sameGroup(og, g) {
			c.Changed = append(c.Changed, groupChange(og, g))
		}
	}
	for _, g := range oldGroups {
		if _, ok := newByName[g.Name]; !ok {
			c.Removed = append(c.Removed, g)
		}
	}
	c.Proxies = !slices.EqualFunc(oldProxies, newProxies, sameProxy)
	return c
}

func groupChange(og, ng *Group) GroupChange {
	gc := GroupChange{Old: og, New: ng}
	oldP := map[string]*Process{}
	for _, p := range og.Processes {
		oldP[p.Name] = p
	}
	newP := map[string]bool{}
	for _, p := range ng.Processes {
		newP[p.Name] = true
		switch op, ok := oldP[p.Name]; {
		case !ok:
			gc.Added = append(gc.Added, p)
		case !SameProcess(op, p):
			gc.Changed = append(gc.Changed, p)
		}
	}
	for _, p := range og.Processes {
		if !newP[p.Name] {
			gc.Removed = append(gc.Removed, p)
		}
	}
	return gc
}

// sameGroup is ProcessGroupConfig.__eq__ (and the event listener pool's and
// FastCGI group's): name, priority, kind, their extra settings and the
// process configurations in order. The fields of Group tagged `diff:"-"`
// are not compared (the model says why).
func sameGroup(a, b *Group) bool {
	if a.Name != b.Name || a.Priority != b.Priority || a.Kind != b.Kind {
		return false
	}
	if (a.Listener == nil) != (b.Listener == nil) || (a.FCGI == nil) != (b.FCGI == nil) {
		return false
	}
	if a.Listener != nil && (a.Listener.BufferSize != b.Listener.BufferSize ||
		a.Listener.ResultHandler != b.Listener.ResultHandler || !slices.Equal(a.Listener.Events, b.Listener.Events)) {
		return false
	}
	if a.FCGI != nil && *a.FCGI != *b.FCGI {
		return false
	}
	return slices.EqualFunc(a.Processes, b.Processes, SameProcess)
}

// SameProcess reports whether `update` leaves a process as it is: every
// field of Process that changes what runs or where its output goes is
// compared; those tagged `diff:"-"` are not (the model says why), and the
// environment is compared as a set of variables. TestDiffSeesEveryField
// holds every field to that.
//
// This is supervisord's rule (a program whose section changed in any way
// is removed and added again), kept more strictly than supervisord 4.2.5's
// ProcessConfig.__eq__, which skips an option that is AUTO on either side:
// there stdout_logfile changed from a file to AUTO is never applied, as
// the running configuration holds the file and the new one AUTO. Here AUTO
// is a value like any other: AUTO <-> file and file <-> AUTO both change
// the process, AUTO <-> AUTO does not.
func SameProcess(a, b *Process) bool {
	return a.Name == b.Name && a.Group == b.Group && a.Program == b.Program && a.ProcessNum == b.ProcessNum &&
		a.Command == b.Command && slices.Equal(a.Argv, b.Argv) && a.Directory == b.Directory &&
		a.Umask == b.Umask && a.Priority == b.Priority && a.Autostart == b.Autostart &&
		a.Autorestart == b.Autorestart && a.StartSecs == b.StartSecs && a.StartRetries == b.StartRetries &&
		a.StopSignal == b.StopSignal && a.StopWaitSecs == b.StopWaitSecs && a.StopAsGroup == b.StopAsGroup &&
		a.KillAsGroup == b.KillAsGroup && slices.Equal(a.ExitCodes, b.ExitCodes) && a.User == b.User &&
		a.RedirectStderr == b.RedirectStderr && sameLog(a.Stdout, b.Stdout) && sameLog(a.Stderr, b.Stderr) &&
		sameEnv(a.Environment, b.Environment) && a.ServerURL == b.ServerURL && a.Limits == b.Limits &&
		sameHealth(a.Health, b.Health) && slices.Equal(a.DependsOn, b.DependsOn) &&
		a.Notify == b.Notify && a.WatchdogSec == b.WatchdogSec
}

// sameHealth compares two health checks, nil meaning none.
func sameHealth(a, b *HealthCheck) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Kind == b.Kind && a.Target == b.Target && slices.Equal(a.Argv, b.Argv) &&
		a.Interval == b.Interval && a.Timeout == b.Timeout && a.Retries == b.Retries
}

// sameLog compares two streams' settings, the log path included whether
// it is AUTO, NONE or a file (see SameProcess).
func sameLog(a, b LogConfig) bool { return a == b }

func sameEnv(a, b Environment) bool {
	as, bs := a.Strings(), b.Strings()
	slices.Sort(as)
	slices.Sort(bs)
	return slices.Equal(as, bs)
}

// sameProxy compares two [proxy:x] sections: every field but those tagged
// `diff:"-"`, the ports included (a new port block or numprocs re-renders
// nginx).
func sameProxy(a, b *Proxy) bool {
	return a.Name == b.Name && a.Program == b.Program && slices.Equal(a.Hosts, b.Hosts) &&
		slices.EqualFunc(a.Static, b.Static, func(x, y StaticRoute) bool { return x.Prefix == y.Prefix && x.Dir == y.Dir }) &&
		a.Websocket == b.Websocket && a.MaxBodySize == b.MaxBodySize && a.HealthPath == b.HealthPath &&
		slices.Equal(a.Ports, b.Ports) && a.Socket == b.Socket
}
