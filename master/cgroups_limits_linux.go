package master

import (
	"context"
	"errors"
	"log/slog"
	"os"

	"roost/cgroup"
	"roost/config"
)

// Resource limits, kill by cgroup and usage: each user has a tree of a
// second hierarchy, rooted where the bind filter's is (see
// cgroups_linux.go): on a cgroup v2 host the very same directories; on a
// hybrid or v1 host the v1 controllers (memory, pids, cpu, cpuacct,
// freezer, blkio), each in <mount>/<the master's group>/<NAME>/<user>.
// The tree (cgroup/programs_linux.go has the picture) keeps the user's
// supervisor in a leaf of its own, beside the programs group that holds
// every program's and the cron jobs' groups and the admin's memory and
// pids limits: a program's OOM kill or fork bomb is the programs group's
// business, and never picks the supervisor. The CPU and IO limits bound
// the user's whole group, supervisor included (throttling kills no one).
// The master writes the limits (root's files: the user cannot raise
// them), delegates the programs group to the user (its directory and
// cgroup.procs; on v2 also the user group's cgroup.procs, the common
// ancestor CLONE_INTO_CGROUP needs), kills by group when the supervisor
// is gone, and reads usage for `roost admin users`.
//
// v1 has no CLONE_INTO_CGROUP, but it can move a single thread: the
// master's fork thread joins the user's supervisor leaf just for the fork
// (spawnIn), so the supervisor is born inside it, and goes back.

// The supervisor leaf's own bound, when the admin set one for the user:
// roost's code needs a few MiB and a few dozen threads, and its user can
// make it do anything (ptrace), so it gets the admin's limit or this,
// whichever is lower, beside the programs' (DESIGN.md, "Cgroups").
const (
	supervisorMemoryMax = 256 << 20
	supervisorPidsMax   = 256
)

// killTimeout bounds a kill by cgroup.
const killTimeout = sweepTimeout

// newResourceTree finds the hierarchy for limits and creates the master's
// top group there; nil (after one warning) when there is none.
func newResourceTree(runDir string, log *slog.Logger) cgroup.Tree {
	t, mode, err := cgroup.Detect(cgroupName(runDir))
	if err == nil {
		err = t.Create("")
	}
	if err != nil {
		log.Warn("cgroups: unavailable, so no [limits], no kill by cgroup and no usage; "+
			"a stopped user's processes are still found by uid and killed", "err", err)
		return nil
	}
	log.Info("cgroups: "+mode+" for limits, kill and usage; per user a tree: the supervisor's leaf, and the programs group (delegated) with a group per program and one for cron jobs",
		"mode", t.Mode())
	return t
}

// splitLimits places the admin's limits in the user's tree: CPU and IO
// on the user's group, memory and pids on the programs group, and the
// supervisor leaf's own bound.
func splitLimits(l config.Limits) (user, sup, progs cgroup.Limits) {
	user = cgroup.Limits{CPUMax: l.CPUMax, CPUWeight: l.CPUWeight, IOWeight: l.IOWeight}
	progs = cgroup.Limits{MemoryMax: l.MemoryMax, MemoryHigh: l.MemoryHigh, PidsMax: l.PidsMax}
	if l.MemoryMax > 0 {
		sup.MemoryMax = min(l.MemoryMax, supervisorMemoryMax)
	}
	if l.PidsMax > 0 {
		sup.PidsMax = min(l.PidsMax, supervisorPidsMax)
	}
	return user, sup, progs
}

// writeLimits writes the three parts of the user's limits.
func (c *userCgroups) writeLimits(name string, l config.Limits) error {
	user, sup, progs := splitLimits(l)
	return errors.Join(c.res.SetLimits(name, user),
		c.res.SetLimits(name+"/"+cgroup.SupervisorLeaf, sup),
		c.res.SetLimits(name+"/"+cgroup.ProgramsGroup, progs))
}

// prepareRes creates the user's tree, writes its limits and delegates
// the programs group to uid:gid. It returns the thread move for the fork
// on v1 (nil otherwise). A limit the host cannot apply is an error the
// caller logs: the user still starts.
func (c *userCgroups) prepareRes(name string, l config.Limits, uid, gid int) (*threadMove, error) {
	if c == nil || c.res == nil || config.ValidateUserName(name) != nil {
		return nil, nil
	}
	leaf, progs := name+"/"+cgroup.SupervisorLeaf, name+"/"+cgroup.ProgramsGroup
	for _, g := range []string{leaf, progs} {
		if err := c.res.Create(g); err != nil {
			return nil, err
		}
	}
	if err := c.res.Delegate(progs, uid, gid); err != nil {
		return nil, err
	}
	var mv *threadMove
	switch t := c.res.(type) {
	case *cgroup.V1:
		mv = &threadMove{
			into: func(tid int) error { return t.AddThread(leaf, tid) },
			out:  t.ReturnThread,
		}
	case *cgroup.V2:
		if err := t.DelegateProcs(name, uid, gid); err != nil {
			return nil, err
		}
	}
	return mv, c.writeLimits(name, l)
}

// setLimits rewrites the limits of a user whose group exists (roost.toml
// changed; the supervisor keeps running).
func (c *userCgroups) setLimits(name string, l config.Limits) error {
	if c == nil || c.res == nil || config.ValidateUserName(name) != nil {
		return nil
	}
	if _, err := c.res.Stats(name + "/" + cgroup.ProgramsGroup); err != nil {
		return nil // never started
	}
	return c.writeLimits(name, l)
}

// kill kills everything in the user's groups: what a double-forking
// daemon left after its supervisor is gone, too. It returns how many
// processes it killed.
func (c *userCgroups) kill(name string) (int, error) {
	if c == nil || config.ValidateUserName(name) != nil {
		return 0, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), killTimeout)
	defer cancel()
	var trees []cgroup.Tree
	if c.res != nil {
		trees = append(trees, c.res)
	}
	if c.enabled() {
		if v2, ok := c.res.(*cgroup.V2); !ok || v2.Root != c.root.Path {
			trees = append(trees, &cgroup.V2{Root: c.root.Path})
		}
	}
	total := 0
	var errs []error
	for _, t := range trees {
		n, err := t.Kill(ctx, name)
		total += n
		errs = append(errs, err)
	}
	return total, errors.Join(errs...)
}

// stats reads the user's usage; false when there is none to read.
func (c *userCgroups) stats(name string) (cgroup.Stats, bool) {
	if c == nil || c.res == nil || config.ValidateUserName(name) != nil {
		return cgroup.Stats{}, false
	}
	s, err := c.res.Stats(name)
	return s, err == nil
}

// removeRes removes the user's resource groups (empty by now).
func (c *userCgroups) removeRes(name string) {
	if c.res == nil {
		return
	}
	if err := c.res.Remove(name); err != nil {
		c.log.Warn("cannot remove the user's cgroup", "user", name, "err", err)
	}
}

// removeAllRes removes the master's whole resource tree at shutdown.
func (c *userCgroups) removeAllRes() {
	if c.res == nil {
		return
	}
	if err := c.res.Remove(""); err != nil && !errors.Is(err, os.ErrNotExist) {
		c.log.Warn("cannot remove the master's cgroups", "err", err)
	}
}
