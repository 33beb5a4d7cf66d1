package cgroup

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// MasterLeaf is the group a root master keeps itself in on a cgroup v2
// host. Its tree is a child of its own group (under systemd the unit's,
// which Delegate=yes hands over), and v2 enables controllers for a
// group's children only while the group holds no process of its own (the
// no-internal-processes rule, EBUSY): so the master moves itself, and
// whatever shares its group, into <own group>/MasterLeaf (Vacate), and
// its trees go beside the leaf.
const MasterLeaf = "roost-master"

// Home is the master's own v2 group: Self, or Self's parent when the
// caller already sits in MasterLeaf (a master re-executed in place keeps
// its pid, and so its leaf). A master restarted by systemd starts in the
// unit's group again, and moves once more.
func Home() (string, error) {
	self, err := Self()
	if err != nil {
		return "", err
	}
	return homeOf(self), nil
}

func homeOf(self string) string {
	if filepath.Base(self) == MasterLeaf {
		return filepath.Dir(self)
	}
	return self
}

// TakeLeaf puts the calling master in MasterLeaf of its home group on the
// v2 hierarchy mounted at mnt (Vacate), and returns what it did; in the
// root group, which may hold processes and enable controllers, it does
// nothing (an empty Leaf). Called again, by the same process after an
// exec or by a master started in the leaf, it moves nothing new.
func TakeLeaf(mnt string) (Vacated, error) {
	home, err := Home()
	if err != nil || home == "/" {
		return Vacated{}, err
	}
	return Vacate(filepath.Join(mnt, home), os.Getpid())
}

// Vacated is what Vacate did.
type Vacated struct {
	Leaf    string   // dir/MasterLeaf
	Moved   []int    // the processes moved there, first among them
	Enabled []string // written to dir's cgroup.subtree_control ("+memory", …); none offered: empty
}

// vacateRounds bounds Vacate's moves: a process forked meanwhile is born
// in the group and moved on a later round.
const vacateRounds = 50

// Vacate empties dir, a group of the v2 hierarchy (never its root, which
// is exempt from the rule and holds the host's processes), so that
// controllers can be enabled for its children: it makes dir/MasterLeaf,
// moves every process of dir's cgroup.procs into it (first, the master,
// before the others), round after round until none is left, and then
// enables in dir's cgroup.subtree_control the controllers dir offers of
// memory, pids, cpu and io. An exited process is no error; a process the
// kernel refuses to move is, after the last round.
func Vacate(dir string, first int) (Vacated, error) {
	v := Vacated{Leaf: filepath.Join(dir, MasterLeaf)}
	if !filepath.IsAbs(dir) || filepath.Clean(dir) != dir {
		return v, fmt.Errorf("cgroup %q: want an absolute, clean path", dir)
	}
	// Every group but a hierarchy's root has cgroup.events.
	if _, err := os.Stat(filepath.Join(dir, "cgroup.events")); err != nil {
		return v, fmt.Errorf("cgroup %s: not a child group (the root group is never vacated): %w", dir, err)
	}
	if err := os.Mkdir(v.Leaf, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
		return v, fmt.Errorf("cgroup: %w", err)
	}
	leaf := &Group{Path: v.Leaf}
	var left []int
	for round := 0; round < vacateRounds; round++ {
		pids, err := readPIDs(filepath.Join(dir, "cgroup.procs"))
		if err != nil {
			return v, fmt.Errorf("cgroup %s: %w", dir, err)
		}
		if len(pids) == 0 {
			left = nil
			break
		}
		left = left[:0]
		for _, pid := range firstOf(pids, first) {
			switch err := leaf.AddPID(pid); {
			case err == nil:
				v.Moved = append(v.Moved, pid)
			case !errors.Is(err, syscall.ESRCH): // gone meanwhile: nothing to move
				left = append(left, pid)
			}
		}
		if len(left) > 0 {
			time.Sleep(10 * time.Millisecond) // a refusal may be passing (a process mid-exec)
		}
	}
	if len(left) > 0 {
		return v, fmt.Errorf("cgroup %s: processes %v cannot be moved into %s", dir, left, MasterLeaf)
	}
	on, err := enableControllers(dir)
	v.Enabled = on
	if err != nil {
		return v, fmt.Errorf("cgroup %s: enable controllers: %w", dir, err)
	}
	return v, nil
}

// firstOf puts first at the head of pids when it is there.
func firstOf(pids []int, first int) []int {
	for i, pid := range pids {
		if pid == first {
			out := append([]int{first}, pids[:i]...)
			return append(out, pids[i+1:]...)
		}
	}
	return pids
}
