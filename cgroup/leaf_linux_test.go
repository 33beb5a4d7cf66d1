package cgroup

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
)

// On a fake cgroupfs: the controllers the group offers are enabled for
// its children, the leaf is made, and a group without cgroup.events (a
// hierarchy's root) is refused before anything is written.
func TestVacateFakeTree(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "system.slice", "roost.service")
	fakeGroup(t, dir, "cgroup.events", "cgroup.procs", "cgroup.subtree_control")
	os.WriteFile(filepath.Join(dir, "cgroup.controllers"), []byte("cpuset cpu io memory hugetlb pids rdma misc\n"), 0o644)
	v, err := Vacate(dir, os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	wantFile(t, filepath.Join(dir, "cgroup.subtree_control"), "+memory +pids +cpu +io")
	if want := []string{"+memory", "+pids", "+cpu", "+io"}; !reflect.DeepEqual(v.Enabled, want) || len(v.Moved) != 0 || v.Leaf != filepath.Join(dir, MasterLeaf) {
		t.Errorf("Vacate = %+v, want %v enabled, nothing moved", v, want)
	}
	if st, err := os.Stat(v.Leaf); err != nil || !st.IsDir() {
		t.Errorf("leaf: %v", err)
	}
	// Again (a restarted master): the leaf is there already.
	if _, err := Vacate(dir, os.Getpid()); err != nil {
		t.Errorf("Vacate again: %v", err)
	}

	// Only what is offered is asked for.
	some := filepath.Join(t.TempDir(), "some")
	fakeGroup(t, some, "cgroup.events", "cgroup.procs", "cgroup.subtree_control")
	os.WriteFile(filepath.Join(some, "cgroup.controllers"), []byte("pids cpuset\n"), 0o644)
	if v, err := Vacate(some, 1); err != nil || !reflect.DeepEqual(v.Enabled, []string{"+pids"}) {
		t.Errorf("Vacate with pids alone: %+v, %v", v, err)
	}
	wantFile(t, filepath.Join(some, "cgroup.subtree_control"), "+pids")
	// None offered: nothing written.
	none := filepath.Join(t.TempDir(), "none")
	fakeGroup(t, none, "cgroup.events", "cgroup.procs", "cgroup.subtree_control", "cgroup.controllers")
	if v, err := Vacate(none, 1); err != nil || len(v.Enabled) != 0 {
		t.Errorf("Vacate without controllers: %+v, %v", v, err)
	}
	wantFile(t, filepath.Join(none, "cgroup.subtree_control"), "")

	// A root group is never vacated.
	root := filepath.Join(t.TempDir(), "root")
	fakeGroup(t, root, "cgroup.procs", "cgroup.subtree_control", "cgroup.controllers")
	if _, err := Vacate(root, 1); err == nil || !strings.Contains(err.Error(), "root group") {
		t.Errorf("Vacate of a root group: %v", err)
	}
	if _, err := os.Stat(filepath.Join(root, MasterLeaf)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a leaf was made in a root group: %v", err)
	}
	if _, err := Vacate("rel/path", 1); err == nil {
		t.Error("Vacate of a relative path: no error")
	}
}

func TestFirstOf(t *testing.T) {
	for _, c := range []struct {
		in    []int
		first int
		want  []int
	}{
		{[]int{1, 2, 3}, 3, []int{3, 1, 2}},
		{[]int{1, 2, 3}, 1, []int{1, 2, 3}},
		{[]int{1, 2, 3}, 9, []int{1, 2, 3}},
		{nil, 9, nil},
	} {
		if got := firstOf(append([]int(nil), c.in...), c.first); !reflect.DeepEqual(got, c.want) {
			t.Errorf("firstOf(%v, %d) = %v, want %v", c.in, c.first, got, c.want)
		}
	}
}

// A master in its leaf (re-executed in place) builds beside it.
func TestHomeOf(t *testing.T) {
	for self, want := range map[string]string{
		"/system.slice/roost.service/roost-master": "/system.slice/roost.service",
		"/system.slice/roost.service":              "/system.slice/roost.service",
		"/roost-master":                            "/",
		"/":                                        "/",
		"/a/roost-master/b":                        "/a/roost-master/b",
	} {
		if got := homeOf(self); got != want {
			t.Errorf("homeOf(%q) = %q, want %q", self, got, want)
		}
	}
}

// sleepIn starts a sleep born in the group dir (CLONE_INTO_CGROUP),
// killed at the end, and returns its pid.
func sleepIn(t *testing.T, dir *os.File) int {
	t.Helper()
	cmd := exec.Command("sleep", "300")
	cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: int(dir.Fd())}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go cmd.Wait()
	t.Cleanup(func() { cmd.Process.Kill() })
	return cmd.Process.Pid
}

// groupOf reads a process's v2 group.
func groupOf(t *testing.T, pid int) string {
	t.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(data), "\n") {
		if p, ok := strings.CutPrefix(l, "0::"); ok {
			return p
		}
	}
	t.Fatalf("pid %d: no v2 line in %q", pid, data)
	return ""
}

// On the real unified hierarchy (here without controllers): a scratch
// group standing for the master's own, holding two real processes (the
// test process itself is never moved), is vacated into its leaf, the
// "master" first, and a tree is made beside the leaf.
func TestVacateRealUnified(t *testing.T) {
	home := unifiedTree(t, "vacate", "") // killed and removed at the end, leaf and tree too
	mnt, _ := Mount()
	rel := strings.TrimPrefix(home.Root, mnt)
	self, err := Self()
	if err != nil {
		t.Fatal(err)
	}
	g := &Group{Path: home.Root}
	fd, err := g.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer fd.Close()
	pids := []int{sleepIn(t, fd), sleepIn(t, fd)}
	master := pids[1]

	v, err := Vacate(home.Root, master)
	if err != nil {
		t.Fatal(err)
	}
	if len(v.Moved) != 2 || v.Moved[0] != master {
		t.Errorf("moved %v, want both of %v, %d first", v.Moved, pids, master)
	}
	leafRel := filepath.Join(rel, MasterLeaf)
	for _, pid := range pids {
		if got := groupOf(t, pid); got != leafRel {
			t.Errorf("pid %d is in %s, want %s", pid, got, leafRel)
		}
	}
	if left, err := g.PIDs(); err != nil || len(left) != 0 {
		t.Errorf("left in the group: %v, %v", left, err)
	}
	if got := groupOf(t, os.Getpid()); got != self {
		t.Errorf("the test process moved: %s, want %s", got, self)
	}
	// The controllers: none on a hybrid host's unified hierarchy; on a
	// unified host those offered are enabled for the tree.
	offered, _ := os.ReadFile(filepath.Join(home.Root, "cgroup.controllers"))
	if len(v.Enabled) == 0 {
		for _, c := range v2Controllers {
			if strings.Contains(" "+string(offered)+" ", " "+c+" ") {
				t.Errorf("%s is offered (%q) but not enabled", c, offered)
			}
		}
		t.Logf("no controllers offered here (%q): the move alone is checked", strings.TrimSpace(string(offered)))
	} else {
		on, _ := os.ReadFile(filepath.Join(home.Root, "cgroup.subtree_control"))
		for _, c := range v.Enabled {
			if !strings.Contains(string(on), strings.TrimPrefix(c, "+")) {
				t.Errorf("%s enabled, but subtree_control has %q", c, on)
			}
		}
	}

	// The tree beside the leaf, as the master makes it.
	tr := &V2{Root: filepath.Join(home.Root, "roost")}
	if err := tr.Create("alice"); err != nil {
		t.Fatal(err)
	}
	if !isCgroup2(filepath.Join(tr.Root, "alice")) {
		t.Errorf("%s/alice is not a cgroup", tr.Root)
	}
	// A restarted master finds the leaf there: nothing left to move.
	if v, err := Vacate(home.Root, master); err != nil || len(v.Moved) != 0 {
		t.Errorf("Vacate again: %+v, %v", v, err)
	}
}

// leafProbe is the test binary as a master on the unified hierarchy,
// born in a scratch group standing for its own: it takes its leaf and
// prints "pid P moved M… home H", then (round 1) re-executes itself in
// place, as the master's re-exec does (same pid), and takes it again.
func leafProbe(round string) int {
	mnt, err := Mount()
	if err == nil {
		var v Vacated
		if v, err = TakeLeaf(mnt); err == nil {
			home, _ := Home()
			fmt.Println("pid", os.Getpid(), "moved", fmt.Sprint(v.Moved), "home", home)
		}
	}
	if err != nil {
		fmt.Println("error:", err)
		return 1
	}
	if round == "1" {
		err = syscall.Exec(os.Args[0], []string{os.Args[0], "leaf-probe", "2"}, os.Environ())
		fmt.Println("exec:", err)
		return 1
	}
	return 0
}

// A real process takes its leaf: it and the other process of its group
// move, itself first; after an exec (same pid, same group) it finds
// itself in the leaf, keeps the same home, and moves nothing.
func TestTakeLeafThenReexec(t *testing.T) {
	home := unifiedTree(t, "takeleaf", "")
	mnt, _ := Mount()
	rel := strings.TrimPrefix(home.Root, mnt)
	fd, err := (&Group{Path: home.Root}).Open()
	if err != nil {
		t.Fatal(err)
	}
	defer fd.Close()
	other := sleepIn(t, fd)
	probe := exec.Command(os.Args[0], "leaf-probe", "1")
	probe.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: int(fd.Fd())}
	out, err := probe.CombinedOutput()
	if err != nil {
		t.Fatalf("leaf-probe: %v\n%s", err, out)
	}
	pid := probe.Process.Pid
	want := fmt.Sprintf("pid %d moved [%d %d] home %s\npid %d moved [] home %s\n", pid, pid, other, rel, pid, rel)
	if string(out) != want {
		t.Errorf("leaf-probe said\n%s\nwant\n%s", out, want)
	}
	if got := groupOf(t, other); got != filepath.Join(rel, MasterLeaf) {
		t.Errorf("the other process is in %s", got)
	}
}
