package cgroup

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Limits bound a group and everything below it. A zero field is unset:
// the group has no limit of its own there.
type Limits struct {
	MemoryMax  int64 `json:"memory_max,omitempty"`  // bytes; the OOM killer acts past it
	MemoryHigh int64 `json:"memory_high,omitempty"` // bytes; reclaim pressure (v2), soft limit (v1)
	PidsMax    int64 `json:"pids_max,omitempty"`    // tasks (processes and threads)
	CPUMax     int   `json:"cpu_max,omitempty"`     // percent of one CPU: 150 is one and a half
	CPUWeight  int   `json:"cpu_weight,omitempty"`  // 1..10000, 100 is everyone's default
	IOWeight   int   `json:"io_weight,omitempty"`   // 1..10000, 100 is the default
}

// Stats is a group's usage, its children included.
type Stats struct {
	MemoryCurrent int64   `json:"memory_current"` // bytes
	MemoryPeak    int64   `json:"memory_peak"`    // bytes; 0 where the kernel does not say
	CPUSeconds    float64 `json:"cpu_seconds"`
	Pids          int64   `json:"pids"`
	OOMKills      int64   `json:"oom_kills"`
}

// Tree is one hierarchy of groups below a root directory that its owner
// (the master) made: the cgroup v2 hierarchy, or the v1 controllers each
// in their own. Every name is a relative, clean path of validated
// components ("alice", "alice/web"); "" is the root itself.
type Tree interface {
	// Mode is "v2" or "v1".
	Mode() string
	// Create makes the group and its parents (mode 0755, the caller's).
	Create(rel string) error
	// SetLimits writes the limits into the group's files; a limit whose
	// controller is absent is an error naming it (the others are written).
	SetLimits(rel string, l Limits) error
	// Add moves a process into the group.
	Add(rel string, pid int) error
	// PIDs lists the processes in the group and below it.
	PIDs(rel string) ([]int, error)
	// Kill kills every process in the group and below it and waits until
	// none is left, or ctx ends. It returns how many it sent SIGKILL.
	Kill(ctx context.Context, rel string) (int, error)
	// Stats reads the group's usage.
	Stats(rel string) (Stats, error)
	// Delegate gives the group's directory, and the files a process may
	// write to manage groups below it, to uid:gid; the limit files stay
	// the caller's.
	Delegate(rel string, uid, gid int) error
	// Remove removes the group and the groups below it; the kernel refuses
	// a group with a process inside. A missing group is not an error.
	Remove(rel string) error
}

// checkRel refuses a name that is not a relative, clean path.
func checkRel(rel string) error {
	if rel == "" {
		return nil
	}
	if filepath.IsAbs(rel) || filepath.Clean(rel) != rel || rel == ".." || strings.HasPrefix(rel, "../") {
		return fmt.Errorf("cgroup: invalid group name %q", rel)
	}
	return nil
}

// writeFile writes one value into an existing control file (never
// creating it: a missing file is a missing controller).
func writeFile(path, value string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		return err
	}
	_, err = f.WriteString(value)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write %q to %s: %w", value, path, err)
	}
	return nil
}

// readInt reads a file holding one integer ("max" reads as -1).
func readInt(path string) (int64, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	s := strings.TrimSpace(string(data))
	if s == "max" {
		return -1, nil
	}
	return strconv.ParseInt(s, 10, 64)
}

// readKey reads "key value" lines (memory.events, cpu.stat) for key.
func readKey(path, key string) (int64, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	for _, l := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(l, key+" "); ok {
			return strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		}
	}
	return 0, fmt.Errorf("%s: no %q", path, key)
}

// readPIDs reads a cgroup.procs file.
func readPIDs(path string) ([]int, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out []int
	for _, f := range strings.Fields(string(data)) {
		if pid, err := strconv.Atoi(f); err == nil {
			out = append(out, pid)
		}
	}
	return out, nil
}

// walkPIDs lists cgroup.procs of dir and every group below it.
func walkPIDs(dir string) ([]int, error) {
	var out []int
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return nil // removed meanwhile
			}
			return err
		}
		if !d.IsDir() {
			return nil
		}
		pids, err := readPIDs(filepath.Join(p, "cgroup.procs"))
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		out = append(out, pids...)
		return nil
	})
	return out, err
}

// removeAll removes dir's groups bottom-up (rmdir only: a cgroup's files
// go with its directory).
func removeAll(dir string) error {
	var dirs []string
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return nil
			}
			return err
		}
		if d.IsDir() {
			dirs = append(dirs, p)
		}
		return nil
	})
	if err != nil {
		return err
	}
	var errs []error
	for i := len(dirs) - 1; i >= 0; i-- {
		if err := rmdir(dirs[i]); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// killListed sends SIGKILL to every process list gives (the caller's own
// process excepted): for a frozen group, whose pids cannot be reused.
func killListed(list func() ([]int, error)) (int, error) {
	pids, err := list()
	if err != nil {
		return 0, err
	}
	self, n := os.Getpid(), 0
	for _, pid := range pids {
		if pid != self && killPID(pid) == nil {
			n++
		}
	}
	return n, nil
}

// waitEmpty waits until the group list reads is empty, polling every
// 20ms (a kill is rare and short; the killed need a moment to exit), or
// until ctx ends.
func waitEmpty(ctx context.Context, list func() ([]int, error)) error {
	for {
		pids, err := list()
		if err != nil {
			return err
		}
		if len(pids) == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("cgroup: %d processes are left: %w", len(pids), ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// cpuQuota is the CFS quota, in µs per 100ms period, for a percentage of
// one CPU.
const cpuPeriod = 100000

func cpuQuota(percent int) int64 { return int64(percent) * cpuPeriod / 100 }

// waitFrozen polls file (cgroup.events, freezer.state) until it holds
// want, or ctx ends.
func waitFrozen(ctx context.Context, file, want string) error {
	for {
		data, err := os.ReadFile(file)
		if err != nil {
			return err
		}
		for _, l := range strings.Split(string(data), "\n") {
			if strings.TrimSpace(l) == want {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("not frozen: %w", ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
