package cgroup

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"roost/internal/testutil"
)

// realTree is a throwaway top group on this machine's hierarchy: the v1
// controllers on a hybrid host (as in CI), v2 on a unified one. It is
// killed and removed at the end.
func realTree(t *testing.T) Tree {
	t.Helper()
	testutil.RequireRoot(t)
	tr, mode, err := Detect(fmt.Sprintf("roost-cgtest-%d", os.Getpid()))
	testutil.Require(t, err == nil, fmt.Sprintf("cgroups: %v", err))
	t.Logf("mode: %s", mode)
	cleanTree(t, tr)
	return tr
}

func cleanTree(t *testing.T, tr Tree) {
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if _, err := tr.Kill(ctx, ""); err != nil {
			t.Error(err)
		}
		if err := tr.Remove(""); err != nil {
			t.Error(err)
		}
	})
}

// startHeld starts sh as uid, reading one line on stdin before it runs
// script: the caller puts it in a group first, so everything the script
// forks is born inside.
func startHeld(t *testing.T, uid int, script string) (*exec.Cmd, io.WriteCloser) {
	t.Helper()
	cmd := exec.Command("/bin/sh", "-c", "read go; "+script)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if uid > 0 {
		cmd.SysProcAttr.Credential = &syscall.Credential{Uid: uint32(uid), Gid: uint32(uid)}
	}
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go cmd.Wait()
	t.Cleanup(func() { cmd.Process.Kill() })
	return cmd, in
}

// doubleFork detaches a sleeper from its parent and session, as a daemon
// does, and leaves a plain child behind too: sh, sleep, sleep.
const doubleFork = `(setsid sh -c 'sleep 300 & exit 0' &); sleep 300 & wait`

// fillAndKill runs doubleFork in the group at rel, kills the group at
// top, and checks that none of the script's processes is left.
func fillAndKill(t *testing.T, tr Tree, rel, top string) {
	t.Helper()
	cmd, in := startHeld(t, 0, doubleFork)
	if err := tr.Add(rel, cmd.Process.Pid); err != nil {
		t.Fatal(err)
	}
	fmt.Fprintln(in, "go")
	var pids []int
	// Its steady state: sh and its two sleeps (the daemon's parents come
	// and go on the way, and must not be counted for it).
	testutil.Eventually(t, 10*time.Second, "the script's sh and 2 sleeps in the group", func() bool {
		pids, _ = tr.PIDs(top)
		sleeps := 0
		for _, pid := range pids {
			if comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid)); strings.TrimSpace(string(comm)) == "sleep" {
				sleeps++
			}
		}
		return len(pids) == 3 && sleeps == 2
	})
	if s, err := tr.Stats(top); err != nil || (tr.Mode() == "v1" && (s.Pids < 3 || s.MemoryCurrent <= 0)) {
		t.Fatalf("Stats = %+v, %v", s, err)
	}
	if n, err := tr.Kill(t.Context(), top); err != nil || n < 3 {
		t.Fatalf("Kill: %d killed, %v", n, err)
	}
	for _, pid := range pids {
		if alive(pid) {
			t.Errorf("pid %d survived the kill", pid)
		}
	}
	if left, _ := tr.PIDs(top); len(left) != 0 {
		t.Fatalf("after Kill: %v", left)
	}
}

func alive(pid int) bool {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	return err == nil && !strings.Contains(string(data), ") Z ")
}

func TestRealTreeLimitsMembershipKill(t *testing.T) {
	tr := realTree(t)
	if err := tr.Create("alice"); err != nil {
		t.Fatal(err)
	}
	l := Limits{MemoryMax: 64 << 20, PidsMax: 16, CPUMax: 50}
	if err := tr.SetLimits("alice", l); err != nil {
		if tr.Mode() == "v2" {
			t.Skipf("v2 without the controllers delegated here: %v", err) // the unified-only test covers v2
		}
		t.Fatal(err)
	}
	fillAndKill(t, tr, "alice", "alice")
	if err := tr.Remove(""); err != nil {
		t.Fatal(err)
	}
	if v1, ok := tr.(*V1); ok {
		for ctl, r := range v1.Roots {
			if _, err := os.Stat(r); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("%s: %s is left: %v", ctl, r, err)
			}
		}
	}
}

// A user cannot raise the limit the master wrote: the files are root's,
// and the kernel checks the file's mode, also in a group delegated to the
// user (the directory and cgroup.procs are theirs, the limits are not).
func TestUserCannotRaiseLimit(t *testing.T) {
	alice := testutil.RequireUser(t, "roost-alice")
	tr := realTree(t)
	if err := tr.Create("alice"); err != nil {
		t.Fatal(err)
	}
	if err := tr.SetLimits("alice", Limits{PidsMax: 32}); err != nil && tr.Mode() == "v1" {
		t.Fatal(err)
	}
	if err := tr.Delegate("alice", alice.UID, alice.GID); err != nil {
		t.Fatal(err)
	}
	var files []string
	switch tr := tr.(type) {
	case *V1:
		files = []string{filepath.Join(tr.Roots["pids"], "alice", "pids.max"), filepath.Join(tr.Roots["memory"], "alice", "memory.limit_in_bytes")}
		owner := func(p string) uint32 {
			var st syscall.Stat_t
			if err := syscall.Stat(p, &st); err != nil {
				t.Fatal(err)
			}
			return st.Uid
		}
		d := filepath.Join(tr.Roots["pids"], "alice")
		if owner(d) != uint32(alice.UID) || owner(filepath.Join(d, "cgroup.procs")) != uint32(alice.UID) || owner(filepath.Join(d, "pids.max")) != 0 {
			t.Errorf("after Delegate: %s, its cgroup.procs and pids.max owned by %d, %d, %d", d,
				owner(d), owner(filepath.Join(d, "cgroup.procs")), owner(filepath.Join(d, "pids.max")))
		}
	case *V2:
		files = []string{filepath.Join(tr.Root, "alice", "pids.max"), filepath.Join(tr.Root, "alice", "memory.max")}
	}
	for _, f := range files {
		cmd := exec.Command("/bin/sh", "-c", `echo 999999 > "$1" || exit 3; chmod 666 "$1" || exit 4`, "sh", f)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(alice.UID), Gid: uint32(alice.GID)}}
		out, err := cmd.CombinedOutput()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 3 || !strings.Contains(string(out), "Permission denied") {
			t.Errorf("roost-alice writing %s: %v %s, want a refusal", f, err, out)
		}
	}
	if tr, ok := tr.(*V1); ok {
		wantFile(t, filepath.Join(tr.Roots["pids"], "alice", "pids.max"), "32\n")
	}
}

// unifiedTree is a throwaway V2 tree on the unified hierarchy (on a
// hybrid host, without controllers) holding the group rel; it is killed
// and removed at the end.
func unifiedTree(t *testing.T, name, rel string) *V2 {
	t.Helper()
	testutil.RequireRoot(t)
	mnt, err := Mount()
	testutil.Require(t, err == nil, fmt.Sprintf("a cgroup v2 mount: %v", err))
	self, err := Self()
	if err != nil {
		t.Fatal(err)
	}
	tr := &V2{Root: filepath.Join(mnt, self, fmt.Sprintf("roost-cgtest-%s-%d", name, os.Getpid()))}
	cleanTree(t, tr)
	if err := tr.Create(rel); err != nil {
		t.Fatal(err)
	}
	return tr
}

// The v2 code path on the unified hierarchy, which on a hybrid host has
// no controllers: membership, kill, removal.
func TestV2MembershipAndKill(t *testing.T) {
	tr := unifiedTree(t, "v2", "alice/web")
	fillAndKill(t, tr, "alice/web", "alice")
	if err := tr.Remove(""); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(tr.Root); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("%s is left: %v", tr.Root, err)
	}
}

// After a kill, a process born in the group through CLONE_INTO_CGROUP
// lives: the master restarts a user's supervisor in the group it killed.
func TestV2KillThenCloneInto(t *testing.T) {
	tr := unifiedTree(t, "clone", "alice")
	fillAndKill(t, tr, "alice", "alice")
	dir, err := (&Group{Path: filepath.Join(tr.Root, "alice")}).Open()
	if err != nil {
		t.Fatal(err)
	}
	defer dir.Close()
	cmd := exec.Command("/bin/sh", "-c", "exit 7")
	cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: int(dir.Fd())}
	err = cmd.Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 7 {
		t.Fatalf("a process born in the group after its kill: %v, want exit status 7", err)
	}
}

// A process in a group of its own (a per-program group) has its memory
// read from the group, peak included; one in the caller's group has none.
func TestMemoryReaderOwnGroup(t *testing.T) {
	tr := realTree(t)
	if err := tr.Create("prog"); err != nil {
		t.Fatal(err)
	}
	// 8 MB held in a shell variable, then asleep.
	cmd, in := startHeld(t, 0, `x=$(head -c 8000000 /dev/zero | tr '\0' a); echo ready; exec sleep 300`)
	if err := tr.Add("prog", cmd.Process.Pid); err != nil {
		t.Fatal(err)
	}
	r, err := NewMemoryReader()
	if err != nil {
		t.Fatal(err)
	}
	if _, _, ok := r.Own(os.Getpid()); ok {
		t.Error("Own(self): ok, want false (the caller's own group)")
	}
	fmt.Fprintln(in, "go")
	var cur, peak int64
	testutil.Eventually(t, 20*time.Second, "the group's peak past 8 MB", func() bool {
		var ok bool
		cur, peak, ok = r.Own(cmd.Process.Pid)
		return ok && cur > 0 && (peak >= 8<<20 || (tr.Mode() == "v2" && peak == 0))
	})
	if peak != 0 && peak < cur {
		t.Errorf("peak %d < current %d", peak, cur)
	}
	t.Logf("current %d, peak %d", cur, peak)
	// The admin's per-user figure reads the same files.
	if st, err := tr.Stats("prog"); err != nil || (tr.Mode() == "v1" && st.MemoryPeak < 8<<20) {
		t.Errorf("Stats(prog) = %+v, %v: want its peak past 8 MB", st, err)
	}
	if _, _, ok := r.Own(1 << 30); ok {
		t.Error("Own(no such pid): ok")
	}
}
