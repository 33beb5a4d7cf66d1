package master

import (
	"context"
	"errors"
	"log/slog"
	"os"

	"roost/cgroup"
	"roost/config"
)

// Resource limits, kill by cgroup and usage: each user's supervisor, and
// so its programs and cron jobs, lives in the user's group of a second
// tree, rooted where the bind filter's is (see cgroups_linux.go): on a
// cgroup v2 host the very same directories; on a hybrid or v1 host the
// v1 controllers (memory, pids, cpu, cpuacct, freezer, blkio), each in
// <mount>/<the master's group>/<NAME>/<user>. The master writes the
// user's [limits] there (root's files: the user cannot raise them),
// kills by group when the supervisor is gone, and reads usage for
// `roost admin users`.
//
// v1 has no CLONE_INTO_CGROUP, but it can move a single thread: the
// master's fork thread joins the user's v1 groups just for the fork
// (spawnIn), so the supervisor is born inside them, and goes back.

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
	log.Info("cgroups: "+mode+" for limits, kill and usage; one group per user holding its supervisor, programs and cron jobs",
		"mode", t.Mode())
	return t
}

// limitsOf converts roost.toml's limits.
func limitsOf(l config.Limits) cgroup.Limits {
	return cgroup.Limits{MemoryMax: l.MemoryMax, MemoryHigh: l.MemoryHigh, PidsMax: l.PidsMax,
		CPUMax: l.CPUMax, CPUWeight: l.CPUWeight, IOWeight: l.IOWeight}
}

// prepareRes creates the user's group and writes its limits. It returns
// the thread move for the fork on v1 (nil otherwise). A limit the host
// cannot apply is an error the caller logs: the user still starts.
func (c *userCgroups) prepareRes(name string, l config.Limits) (*threadMove, error) {
	if c == nil || c.res == nil || config.ValidateUserName(name) != nil {
		return nil, nil
	}
	if err := c.res.Create(name); err != nil {
		return nil, err
	}
	var mv *threadMove
	if v1, ok := c.res.(*cgroup.V1); ok {
		mv = &threadMove{
			into: func(tid int) error { return v1.AddThread(name, tid) },
			out:  v1.ReturnThread,
		}
	}
	return mv, c.res.SetLimits(name, limitsOf(l))
}

// setLimits rewrites the limits of a user whose group exists (roost.toml
// changed; the supervisor keeps running).
func (c *userCgroups) setLimits(name string, l config.Limits) error {
	if c == nil || c.res == nil || config.ValidateUserName(name) != nil {
		return nil
	}
	if _, err := c.res.Stats(name); err != nil {
		return nil // never started
	}
	return c.res.SetLimits(name, limitsOf(l))
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
