package cgroup

import (
	"errors"
	"fmt"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// Writable reports whether the calling process may make groups below its
// own, as a supervisor needs for a group per program: the cgroup v2
// group's directory (a systemd user session delegates one), or on a v1
// host its memory and pids groups' directories. The error says why not,
// in words for a warning.
func Writable() error {
	if isCgroup2("/sys/fs/cgroup") {
		self, err := Self()
		if err != nil {
			return err
		}
		return writableDir(filepath.Join("/sys/fs/cgroup", self))
	}
	mounts, err := v1Mounts()
	if err != nil {
		return err
	}
	groups, err := groupsOf("self")
	if err != nil {
		return err
	}
	found := false
	for _, ctl := range []string{"memory", "pids"} {
		m, ok := mounts[ctl]
		if !ok {
			continue
		}
		found = true
		if err := writableDir(filepath.Join(m, groups[ctl])); err != nil {
			return err
		}
	}
	if !found {
		return errors.New("neither a cgroup v2 hierarchy at /sys/fs/cgroup nor the v1 memory and pids controllers are mounted")
	}
	return nil
}

func writableDir(dir string) error {
	if err := unix.Faccessat(unix.AT_FDCWD, dir, unix.W_OK, unix.AT_EACCESS); err != nil {
		return fmt.Errorf("the cgroup %s is not writable by this user (%w): nothing delegated it", dir, err)
	}
	return nil
}

// Rlimit is one resource limit of a process, soft and hard alike.
type Rlimit struct {
	Resource int    // unix.RLIMIT_DATA...
	Name     string // "RLIMIT_DATA"
	Value    uint64
}

// Rlimits are the nearest rlimits to l, for a process that cannot have a
// cgroup of its own. They are approximations, and documented as such:
//
//   - MemoryMax becomes RLIMIT_DATA: the process's private writable memory
//     (heap, anonymous maps), counted when mapped, not when touched, and
//     per process rather than for the program and its children together.
//     An allocation past it fails (ENOMEM) rather than the kernel killing
//     the program, so it is not reported as an OOM kill.
//   - PidsMax has none: RLIMIT_NPROC counts every process and thread of
//     the user's real uid, not the program's, so a program given it could
//     not fork at all once the user's other programs reached it.
//   - CPUMax, CPUWeight, IOWeight and MemoryHigh have no rlimit: RLIMIT_CPU
//     is a total, not a rate, so they are left out.
func Rlimits(l Limits) []Rlimit {
	var out []Rlimit
	if l.MemoryMax > 0 {
		out = append(out, Rlimit{Resource: unix.RLIMIT_DATA, Name: "RLIMIT_DATA", Value: uint64(l.MemoryMax)})
	}
	return out
}

// SetRlimits sets rl on the running process pid (prlimit(2)): soft and
// hard, so the process cannot raise them again. The caller must run as
// pid's user (a supervisor and its programs) or hold CAP_SYS_RESOURCE,
// which also a limit above pid's hard one needs; an error names each
// limit it could not set.
func SetRlimits(pid int, rl []Rlimit) error {
	var errs []error
	for _, r := range rl {
		v := unix.Rlimit{Cur: r.Value, Max: r.Value}
		if err := unix.Prlimit(pid, r.Resource, &v, nil); err != nil {
			errs = append(errs, fmt.Errorf("set %s of pid %d to %d: %w", r.Name, pid, r.Value, err))
		}
	}
	return errors.Join(errs...)
}
