package supervisor

// TEMPORARY seam until config.Load and config.Diff land on main: replace
// defaultLoad with config.Load(file, config.LoadOptions{}) and diffConfigs
// with config.Diff, and delete this file.

import (
	"fmt"
	"reflect"

	"roost/config"
)

func defaultLoad(file string) (*config.Config, error) {
	return nil, fmt.Errorf("load %s: config.Load is not available in this build yet", file)
}

// configChanges is the shape config.Diff promises: group-level changes, and
// for each changed group the processes added, changed and removed.
type configChanges struct {
	Added, Changed, Removed []string
	Groups                  map[string]groupChanges
}

type groupChanges struct {
	Added, Changed, Removed []string
}

func diffConfigs(old, cur *config.Config) configChanges {
	var ch configChanges
	ch.Groups = map[string]groupChanges{}
	for _, g := range cur.Groups {
		og := old.Group(g.Name)
		if og == nil {
			ch.Added = append(ch.Added, g.Name)
			continue
		}
		var gc groupChanges
		oldp := map[string]*config.Process{}
		for _, p := range og.Processes {
			oldp[p.Name] = p
		}
		newp := map[string]bool{}
		for _, p := range g.Processes {
			newp[p.Name] = true
			op, ok := oldp[p.Name]
			switch {
			case !ok:
				gc.Added = append(gc.Added, p.Name)
			case !sameProcess(op, p):
				gc.Changed = append(gc.Changed, p.Name)
			}
		}
		for _, p := range og.Processes {
			if !newp[p.Name] {
				gc.Removed = append(gc.Removed, p.Name)
			}
		}
		if og.Priority != g.Priority || len(gc.Added)+len(gc.Changed)+len(gc.Removed) > 0 || !samePriorities(og, g) {
			ch.Changed = append(ch.Changed, g.Name)
			ch.Groups[g.Name] = gc
		}
	}
	for _, g := range old.Groups {
		if cur.Group(g.Name) == nil {
			ch.Removed = append(ch.Removed, g.Name)
		}
	}
	return ch
}

func samePriorities(a, b *config.Group) bool {
	pa := map[string]int{}
	for _, p := range a.Processes {
		pa[p.Name] = p.Priority
	}
	for _, p := range b.Processes {
		if v, ok := pa[p.Name]; ok && v != p.Priority {
			return false
		}
	}
	return true
}

func sameProcess(a, b *config.Process) bool {
	x, y := *a, *b
	x.Pos, y.Pos = config.Pos{}, config.Pos{}
	x.Priority, y.Priority = 0, 0
	return reflect.DeepEqual(x, y)
}
