package cgroup

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
)

// V1Controllers are the v1 controllers roost uses, each mounted in its own
// hierarchy (cpu and cpuacct may share one: then both names point at it).
var V1Controllers = []string{"memory", "pids", "cpu", "cpuacct", "freezer", "blkio"}

// V1 is a tree on cgroup v1: the same group made in each controller's
// hierarchy. Roots maps a controller to the tree's top directory in its
// hierarchy, e.g. "memory" to /sys/fs/cgroup/memory/roost; a controller
// absent from Roots is not used (its limits are errors).
type V1 struct {
	Roots map[string]string
}

// Mode implements Tree.
func (t *V1) Mode() string { return "v1" }

func (t *V1) dir(ctl, rel string) (string, bool, error) {
	if err := checkRel(rel); err != nil {
		return "", false, err
	}
	r, ok := t.Roots[ctl]
	if !ok {
		return "", false, nil
	}
	return filepath.Join(r, rel), true, nil
}

// dirs lists the group's directory in every hierarchy, once each
// (sorted, for stable errors).
func (t *V1) dirs(rel string) ([]string, error) {
	if err := checkRel(rel); err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	var out []string
	for _, r := range t.Roots {
		d := filepath.Join(r, rel)
		if !seen[d] {
			seen[d] = true
			out = append(out, d)
		}
	}
	sort.Strings(out)
	return out, nil
}

// Create implements Tree.
func (t *V1) Create(rel string) error {
	ds, err := t.dirs(rel)
	if err != nil {
		return err
	}
	for _, d := range ds {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return fmt.Errorf("cgroup: %w", err)
		}
	}
	return nil
}

// SetLimits implements Tree: memory.limit_in_bytes (and memsw, so swap is
// no way around it), memory.soft_limit_in_bytes, pids.max,
// cpu.cfs_quota_us over a 100ms cpu.cfs_period_us, cpu.shares (weight 100
// is 1024 shares), blkio.weight (10..1000).
func (t *V1) SetLimits(rel string, l Limits) error {
	var errs []error
	set := func(ctl, file, value string) {
		d, ok, err := t.dir(ctl, rel)
		if err == nil && !ok {
			err = fmt.Errorf("no %s controller here (it is not mounted)", ctl)
		} else if err == nil {
			err = writeFile(filepath.Join(d, file), value)
			if err != nil {
				err = missing(file, err)
			}
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	mem := "-1"
	if l.MemoryMax > 0 {
		mem = strconv.FormatInt(l.MemoryMax, 10)
	}
	if d, ok, _ := t.dir("memory", rel); ok || l.MemoryMax > 0 {
		// memsw must stay >= the limit: lift it first, then lower both.
		sw := filepath.Join(d, "memory.memsw.limit_in_bytes")
		_, haveSw := os.Stat(sw)
		if ok && haveSw == nil {
			_ = writeFile(sw, "-1")
		}
		set("memory", "memory.limit_in_bytes", mem)
		if ok && haveSw == nil && l.MemoryMax > 0 {
			set("memory", "memory.memsw.limit_in_bytes", mem)
		}
	}
	if l.MemoryHigh > 0 {
		set("memory", "memory.soft_limit_in_bytes", strconv.FormatInt(l.MemoryHigh, 10))
	}
	if _, ok, _ := t.dir("pids", rel); ok || l.PidsMax > 0 {
		set("pids", "pids.max", maxOr(l.PidsMax))
	}
	if _, ok, _ := t.dir("cpu", rel); ok || l.CPUMax > 0 {
		quota := int64(-1)
		if l.CPUMax > 0 {
			quota = cpuQuota(l.CPUMax)
		}
		set("cpu", "cpu.cfs_period_us", strconv.Itoa(cpuPeriod))
		set("cpu", "cpu.cfs_quota_us", strconv.FormatInt(quota, 10))
	}
	if l.CPUWeight > 0 {
		set("cpu", "cpu.shares", strconv.Itoa(max(2, l.CPUWeight*1024/100)))
	}
	if l.IOWeight > 0 {
		set("blkio", "blkio.weight", strconv.Itoa(min(1000, max(10, l.IOWeight*10))))
	}
	if len(errs) > 0 {
		return fmt.Errorf("cgroup %s: %w", rel, errors.Join(errs...))
	}
	return nil
}

// Add implements Tree: the process joins the group in every hierarchy.
func (t *V1) Add(rel string, pid int) error {
	return t.add(rel, "cgroup.procs", pid)
}

// AddThread moves one thread (not its process) into the group in every
// hierarchy: a process the thread forks is born there. Only v1 can (its
// "tasks" file); the master's fork thread uses it so that a user's
// supervisor never runs a single instruction outside its groups.
func (t *V1) AddThread(rel string, tid int) error {
	return t.add(rel, "tasks", tid)
}

func (t *V1) add(rel, file string, id int) error {
	ds, err := t.dirs(rel)
	if err != nil {
		return err
	}
	for _, d := range ds {
		if err := writeFile(filepath.Join(d, file), strconv.Itoa(id)); err != nil {
			return fmt.Errorf("cgroup: %w", err)
		}
	}
	return nil
}

// PIDs implements Tree; the freezer (or else any) hierarchy says.
func (t *V1) PIDs(rel string) ([]int, error) {
	for _, ctl := range []string{"freezer", "pids", "memory"} {
		if d, ok, err := t.dir(ctl, rel); err != nil || ok {
			if err != nil {
				return nil, err
			}
			return walkPIDs(d)
		}
	}
	ds, err := t.dirs(rel)
	if err != nil || len(ds) == 0 {
		return nil, err
	}
	return walkPIDs(ds[0])
}

// Kill implements Tree: freeze the group (freezer.state FROZEN, so no
// process forks or exits meanwhile), SIGKILL every process, thaw (the
// kills land), and wait until the group is empty.
func (t *V1) Kill(ctx context.Context, rel string) (int, error) {
	d, ok, err := t.dir("freezer", rel)
	if err != nil {
		return 0, err
	}
	if !ok {
		return 0, errors.New("cgroup: no freezer controller: cannot kill a group at once")
	}
	if _, err := os.Stat(d); errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	state := filepath.Join(d, "freezer.state")
	list := func() ([]int, error) { return walkPIDs(d) }
	if err := writeFile(state, "FROZEN"); err != nil {
		return 0, fmt.Errorf("cgroup: kill: %w", err)
	}
	n := 0
	err = waitFrozen(ctx, state, "FROZEN")
	if err == nil {
		n, err = killListed(list)
	}
	if terr := writeFile(state, "THAWED"); err == nil {
		err = terr
	}
	if err == nil {
		// Forks were impossible while frozen; anything left is dying.
		err = waitEmpty(ctx, list)
	}
	if err != nil {
		return n, fmt.Errorf("cgroup %s: kill: %w", d, err)
	}
	return n, nil
}

// Stats implements Tree.
func (t *V1) Stats(rel string) (Stats, error) {
	var s Stats
	ds, err := t.dirs(rel)
	if err != nil {
		return s, err
	}
	for _, d := range ds {
		if _, err := os.Stat(d); err != nil {
			return s, fmt.Errorf("cgroup: %w", err)
		}
	}
	if d, ok, err := t.dir("memory", rel); err != nil {
		return s, err
	} else if ok {
		s.MemoryCurrent, _ = readInt(filepath.Join(d, "memory.usage_in_bytes"))
		s.MemoryPeak, _ = readInt(filepath.Join(d, "memory.max_usage_in_bytes"))
		s.OOMKills = sumBelow(d, "memory.oom_control", "oom_kill")
	}
	if d, ok, _ := t.dir("pids", rel); ok {
		s.Pids, _ = readInt(filepath.Join(d, "pids.current"))
	}
	if d, ok, _ := t.dir("cpuacct", rel); ok {
		if ns, err := readInt(filepath.Join(d, "cpuacct.usage")); err == nil {
			s.CPUSeconds = float64(ns) / 1e9
		}
	}
	return s, nil
}

// Delegate implements Tree: in each hierarchy the directory, cgroup.procs
// and tasks.
func (t *V1) Delegate(rel string, uid, gid int) error {
	ds, err := t.dirs(rel)
	if err != nil {
		return err
	}
	for _, d := range ds {
		if err := delegate(d, []string{"cgroup.procs", "tasks"}, uid, gid); err != nil {
			return err
		}
	}
	return nil
}

// Remove implements Tree.
func (t *V1) Remove(rel string) error {
	ds, err := t.dirs(rel)
	if err != nil {
		return err
	}
	var errs []error
	for _, d := range ds {
		if err := removeAll(d); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// ReturnThread moves a thread AddThread moved back to the group the tree
// was made in (the parent of each root: the caller's own group).
func (t *V1) ReturnThread(tid int) error {
	seen := map[string]bool{}
	for _, r := range t.Roots {
		p := filepath.Dir(r)
		if seen[p] {
			continue
		}
		seen[p] = true
		if err := writeFile(filepath.Join(p, "tasks"), strconv.Itoa(tid)); err != nil {
			return fmt.Errorf("cgroup: %w", err)
		}
	}
	return nil
}

// sumBelow adds up key of file in dir and every group below it: v1
// counts an event (oom_kill) in the group where it happened only, v2 in
// its ancestors too.
func sumBelow(dir, file, key string) int64 {
	var sum int64
	_ = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			n, _ := readKey(filepath.Join(p, file), key)
			sum += n
		}
		return nil
	})
	return sum
}
