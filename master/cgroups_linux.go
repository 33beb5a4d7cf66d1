package master

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"

	"roost/cgroup"
	"roost/config"
)

// Port squat protection, first line: each user's supervisor is born in a
// cgroup of its own (CLONE_INTO_CGROUP), to which the master attaches a
// bind filter (package cgroup): inside the admin's [ports] range, the
// user's processes can bind only their own block; any other bind there
// fails with EPERM. The second line, for kernels without it (and for
// processes outside roost, such as a user's ssh session), is the router's
// continuous owner check (router_verify.go).
//
// The groups live in <cgroup2 mount><the master's own group>/NAME/USER:
// under systemd that is inside roost.service's group (the unit sets
// Delegate=yes), elsewhere <mount>/NAME. On a cgroup v2 host the master
// first moves itself (and whatever shares its group) into the leaf
// <own group>/roost-master beside NAME (takeLeaf), so that its own group
// can enable the controllers NAME's limits need. NAME is "roost" for the default
// run_dir and "roost-" plus a digest of run_dir otherwise, so two masters
// (tests) never share a user's group. The master logs once which mode it
// uses; `roost admin users` shows nothing different either way.

// defaultRunDir is the run_dir whose cgroups are simply named "roost".
const defaultRunDir = "/run/roost"

// userCgroups is the master's per-user cgroups and their bind filters.
type userCgroups struct {
	log  *slog.Logger
	root *cgroup.Group // nil: no cgroups (detection only)
	mu   sync.Mutex    // serialises attaches
	// res holds the users' limits, kill and usage (cgroups_limits_linux.go):
	// the v1 controllers on a hybrid host, the same v2 groups as the bind
	// filter's on a unified one; nil when neither is usable.
	res cgroup.Tree
}

// newUserCgroups finds the cgroup hierarchies, creates the master's root
// group and checks that the kernel loads the bind filter; it logs the
// modes it settles on, once.
func newUserCgroups(runDir string, log *slog.Logger) *userCgroups {
	takeLeaf(log)
	res := newResourceTree(runDir, log)
	c := &userCgroups{log: log, res: res}
	root, err := cgroupRoot(runDir)
	if err == nil {
		err = cgroup.BindFilterSupported()
	}
	if err == nil {
		c.root, err = cgroup.Create(root)
	}
	if err != nil {
		log.Warn("port squat protection: detection only (the router re-checks every routed port's owner every second); "+
			"the kernel bind filter is unavailable", "err", err)
		return &userCgroups{log: log, res: res}
	}
	log.Info("port squat protection: kernel bind filter (cgroup/bind4+bind6) on each user's cgroup, and the router's owner checks",
		"cgroup", root)
	return c
}

// unifiedMount is where a cgroup v2 host (not a hybrid one) mounts its
// only hierarchy.
const unifiedMount = "/sys/fs/cgroup"

// takeLeaf moves the master into cgroup.MasterLeaf on a cgroup v2 host
// (cgroup.Vacate), before either tree is made beside the leaf, and logs
// what it did, once. Nothing to do on a hybrid or v1 host (the limits are
// the v1 controllers'; the unified hierarchy there has none to enable),
// nor in the root group, which may hold processes and enable
// controllers. A master re-executed in place is in its leaf already.
func takeLeaf(log *slog.Logger) {
	if mnt, err := cgroup.Mount(); err != nil || mnt != unifiedMount {
		return
	}
	v, err := cgroup.TakeLeaf(unifiedMount)
	if err == nil && v.Leaf == "" {
		return // the root group
	}
	if err != nil {
		log.Warn("cgroups: cannot keep the master's own group free of processes, so the users' groups may get no limits "+
			"(under systemd the unit needs Delegate=yes)", "err", err, "moved", v.Moved)
		return
	}
	log.Info("cgroups: the master lives in a leaf of its own group, its tree beside it (v2 enables controllers only for a group without processes)",
		"leaf", v.Leaf, "moved", v.Moved, "enabled", v.Enabled)
}

// cgroupRoot is where the master's user groups live (see above).
func cgroupRoot(runDir string) (string, error) {
	mnt, err := cgroup.Mount()
	if err != nil {
		return "", err
	}
	home, err := cgroup.Home()
	if err != nil {
		return "", err
	}
	return filepath.Join(mnt, home, cgroupName(runDir)), nil
}

// cgroupName is the master's top group's name, in every hierarchy.
func cgroupName(runDir string) string {
	name := "roost"
	if filepath.Clean(runDir) != defaultRunDir {
		sum := sha256.Sum256([]byte(filepath.Clean(runDir)))
		name += "-" + hex.EncodeToString(sum[:6])
	}
	return name
}

// enabled reports whether users get cgroups with a bind filter.
func (c *userCgroups) enabled() bool { return c != nil && c.root != nil }

// prepare creates the user's group and attaches its bind filter; it
// returns the group's directory for SysProcAttr.CgroupFD, or nil when
// cgroups are off.
func (c *userCgroups) prepare(name string, rng config.PortRange, b Block) (*os.File, error) {
	if !c.enabled() {
		return nil, nil
	}
	g, err := c.attach(name, rng, b)
	if err != nil {
		return nil, err
	}
	// Born in the user's supervisor leaf (cgroup.SupervisorLeaf), below
	// the filter: v2 lets processes live in leaves only.
	leaf, err := cgroup.Create(filepath.Join(g.Path, cgroup.SupervisorLeaf))
	if err != nil {
		return nil, err
	}
	return leaf.Open()
}

// attach (re)attaches the user's filter for the range and block.
func (c *userCgroups) attach(name string, rng config.PortRange, b Block) (*cgroup.Group, error) {
	if config.ValidateUserName(name) != nil {
		return nil, fmt.Errorf("cgroup: invalid user name %q", name)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	g, err := cgroup.Create(filepath.Join(c.root.Path, name))
	if err != nil {
		return nil, err
	}
	f := cgroup.BindFilter{Managed: cgroup.Ports{First: rng.First, Last: rng.Last}, Own: cgroup.Ports{First: b.Base, Last: b.Last()}}
	if err := g.AttachBindFilter(f); err != nil {
		return nil, err
	}
	return g, nil
}

// refresh re-attaches the filters of running users after the range
// changed (a user whose block changed is restarted and prepared anew).
func (c *userCgroups) refresh(rng config.PortRange, blocks map[string]Block) {
	if !c.enabled() {
		return
	}
	for name, b := range blocks {
		if _, err := os.Stat(filepath.Join(c.root.Path, name)); err != nil {
			continue // never started
		}
		if _, err := c.attach(name, rng, b); err != nil {
			c.log.Error("cannot update the user's bind filter", "user", name, "err", err)
		}
	}
}

// remove removes a user's groups once they are empty (best effort).
func (c *userCgroups) remove(name string) {
	if c == nil || config.ValidateUserName(name) != nil {
		return
	}
	c.removeRes(name)
	if !c.enabled() {
		return
	}
	if err := (&cgroup.V2{Root: c.root.Path}).Remove(name); err != nil {
		c.log.Warn("cannot remove the user's cgroup", "user", name, "err", err)
	}
}

// removeAll removes every user group and the root group (at shutdown,
// after the final sweep).
func (c *userCgroups) removeAll() {
	if c == nil {
		return
	}
	c.removeAllRes()
	if !c.enabled() {
		return
	}
	ents, _ := os.ReadDir(c.root.Path)
	for _, e := range ents {
		if e.IsDir() {
			c.remove(e.Name())
		}
	}
	if err := c.root.Remove(); err != nil {
		c.log.Warn("cannot remove the master's cgroup", "err", err)
	}
}
