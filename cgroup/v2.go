package cgroup

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// V2 is a tree on the cgroup v2 (unified) hierarchy: Root is its top
// directory, e.g. /sys/fs/cgroup/roost.
type V2 struct {
	Root string
}

// Mode implements Tree.
func (t *V2) Mode() string { return "v2" }

func (t *V2) dir(rel string) (string, error) {
	if err := checkRel(rel); err != nil {
		return "", err
	}
	return filepath.Join(t.Root, rel), nil
}

// v2Controllers are the controllers roost's limits use.
var v2Controllers = []string{"memory", "pids", "cpu", "io"}

// Create implements Tree. It also enables, in the subtree_control of the
// root and of each parent on the way, the controllers the parent has, so
// the group gets its limit files: v2's "no internal processes" rule is
// kept by leaving processes only in leaves (the caller's job).
func (t *V2) Create(rel string) error {
	d, err := t.dir(rel)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(d, 0o755); err != nil {
		return fmt.Errorf("cgroup: %w", err)
	}
	parts := []string{}
	if rel != "" {
		parts = strings.Split(rel, "/")
	}
	p := t.Root
	for _, part := range parts {
		t.enable(p)
		p = filepath.Join(p, part)
	}
	return nil
}

// enable turns on, in dir's subtree_control, what dir's cgroup.controllers
// offers of v2Controllers (best effort: a group with processes of its own
// refuses, and then its children have no limits).
func (t *V2) enable(dir string) { _, _ = enableControllers(dir) }

// enableControllers writes, into dir's cgroup.subtree_control, "+c" for
// each of v2Controllers that dir's cgroup.controllers offers, and returns
// what it wrote (nothing when none is offered).
func enableControllers(dir string) ([]string, error) {
	data, err := os.ReadFile(filepath.Join(dir, "cgroup.controllers"))
	if err != nil {
		return nil, err
	}
	have := strings.Fields(string(data))
	var on []string
	for _, c := range v2Controllers {
		for _, h := range have {
			if h == c {
				on = append(on, "+"+c)
			}
		}
	}
	if len(on) == 0 {
		return nil, nil
	}
	if err := writeFile(filepath.Join(dir, "cgroup.subtree_control"), strings.Join(on, " ")); err != nil {
		return nil, err
	}
	return on, nil
}

// SetLimits implements Tree: memory.max, memory.high, pids.max, cpu.max
// ("QUOTA PERIOD"), cpu.weight, io.weight.
func (t *V2) SetLimits(rel string, l Limits) error {
	d, err := t.dir(rel)
	if err != nil {
		return err
	}
	var errs []error
	set := func(file, value string) {
		err := writeFile(filepath.Join(d, file), value)
		if err != nil && (value != "max" && value != cpuUnlimited || !errors.Is(err, os.ErrNotExist)) {
			// Lifting a limit where the controller is off is no error.
			errs = append(errs, missing(file, err))
		}
	}
	set("memory.max", maxOr(l.MemoryMax))
	if l.MemoryMax > 0 {
		// What the kernel cannot put in memory must not go to swap
		// instead: the limit is the limit.
		if _, err := os.Stat(filepath.Join(d, "memory.swap.max")); err == nil {
			set("memory.swap.max", "0")
		}
	}
	if l.MemoryHigh > 0 {
		set("memory.high", maxOr(l.MemoryHigh))
	}
	set("pids.max", maxOr(l.PidsMax))
	if l.CPUMax > 0 {
		set("cpu.max", fmt.Sprintf("%d %d", cpuQuota(l.CPUMax), cpuPeriod))
	} else {
		set("cpu.max", cpuUnlimited)
	}
	if l.CPUWeight > 0 {
		set("cpu.weight", strconv.Itoa(l.CPUWeight))
	}
	if l.IOWeight > 0 {
		set("io.weight", "default "+strconv.Itoa(l.IOWeight))
	}
	if len(errs) > 0 {
		return fmt.Errorf("cgroup %s: %w", d, errors.Join(errs...))
	}
	return nil
}

// cpuUnlimited is cpu.max without a quota.
var cpuUnlimited = "max " + strconv.Itoa(cpuPeriod)

// maxOr writes an unset limit as "max", so lowering roost.toml's limit
// away also lifts it in the group.
func maxOr(n int64) string {
	if n <= 0 {
		return "max"
	}
	return strconv.FormatInt(n, 10)
}

// missing names the controller behind a control file the kernel does not
// offer.
func missing(file string, err error) error {
	if errors.Is(err, os.ErrNotExist) {
		ctl, _, _ := strings.Cut(file, ".")
		return fmt.Errorf("no %s controller here (%s is missing)", ctl, file)
	}
	return err
}

// Add implements Tree.
func (t *V2) Add(rel string, pid int) error {
	d, err := t.dir(rel)
	if err != nil {
		return err
	}
	return (&Group{Path: d}).AddPID(pid)
}

// PIDs implements Tree.
func (t *V2) PIDs(rel string) ([]int, error) {
	d, err := t.dir(rel)
	if err != nil {
		return nil, err
	}
	return walkPIDs(d)
}

// Kill implements Tree: the group is frozen (cgroup.freeze, so nothing
// in it forks or exits meanwhile, and no pid is reused), every process is
// sent SIGKILL (a fatal signal reaches a frozen task), the group thaws,
// and Kill waits until it is empty. Only without cgroup.freeze does it
// write cgroup.kill: after a cgroup.kill, kernels with the kill_seq
// mismatch (this test machine's 6.18 among them) SIGKILL every process
// later born in the group through CLONE_INTO_CGROUP, so a restarted
// supervisor would die at birth (TestV2KillThenCloneInto).
func (t *V2) Kill(ctx context.Context, rel string) (int, error) {
	d, err := t.dir(rel)
	if err != nil {
		return 0, err
	}
	if _, err := os.Stat(d); errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	list := func() ([]int, error) { return walkPIDs(d) }
	n := 0
	freeze := filepath.Join(d, "cgroup.freeze")
	if err := writeFile(freeze, "1"); err != nil {
		pids, _ := list()
		if err := writeFile(filepath.Join(d, "cgroup.kill"), "1"); err != nil {
			return 0, fmt.Errorf("cgroup %s: kill: neither cgroup.freeze nor cgroup.kill: %w", d, err)
		}
		n = len(pids)
	} else {
		err := waitFrozen(ctx, filepath.Join(d, "cgroup.events"), "frozen 1")
		if err == nil {
			n, err = killListed(list)
		}
		if terr := writeFile(freeze, "0"); err == nil {
			err = terr
		}
		if err != nil {
			return n, fmt.Errorf("cgroup %s: kill: %w", d, err)
		}
	}
	if err := waitEmpty(ctx, list); err != nil {
		return n, fmt.Errorf("cgroup %s: kill: %w", d, err)
	}
	return n, nil
}

// Stats implements Tree. A controller that is off reads as zero.
func (t *V2) Stats(rel string) (Stats, error) {
	d, err := t.dir(rel)
	if err != nil {
		return Stats{}, err
	}
	if _, err := os.Stat(d); err != nil {
		return Stats{}, fmt.Errorf("cgroup: %w", err)
	}
	var s Stats
	s.MemoryCurrent, _ = readInt(filepath.Join(d, "memory.current"))
	s.MemoryPeak, _ = readInt(filepath.Join(d, "memory.peak"))
	s.OOMKills, _ = readKey(filepath.Join(d, "memory.events"), "oom_kill")
	s.Pids, _ = readInt(filepath.Join(d, "pids.current"))
	if us, err := readKey(filepath.Join(d, "cpu.stat"), "usage_usec"); err == nil {
		s.CPUSeconds = float64(us) / 1e6
	}
	return s, nil
}

// v2DelegateFiles are what a delegated group's owner must be able to
// write (cgroup-v2.rst, "Delegation Containment").
var v2DelegateFiles = []string{"cgroup.procs", "cgroup.threads", "cgroup.subtree_control"}

// Delegate implements Tree.
func (t *V2) Delegate(rel string, uid, gid int) error {
	d, err := t.dir(rel)
	if err != nil {
		return err
	}
	return delegate(d, v2DelegateFiles, uid, gid)
}

// Remove implements Tree.
func (t *V2) Remove(rel string) error {
	d, err := t.dir(rel)
	if err != nil {
		return err
	}
	return removeAll(d)
}

// delegate chowns dir and its files in names to uid:gid.
func delegate(dir string, names []string, uid, gid int) error {
	if err := os.Lchown(dir, uid, gid); err != nil {
		return fmt.Errorf("cgroup: delegate: %w", err)
	}
	for _, n := range names {
		if err := os.Lchown(filepath.Join(dir, n), uid, gid); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("cgroup: delegate: %w", err)
		}
	}
	return nil
}
