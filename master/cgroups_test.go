package master

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"roost/cgroup"
	"roost/internal/testutil"
)

// requireV1 requires the resource tree to be cgroup v1 (this test
// machine, and CI: a hybrid host) and returns it.
func requireV1(t *testing.T, e *env) *cgroup.V1 {
	t.Helper()
	v1, ok := e.m.cg.res.(*cgroup.V1)
	testutil.Require(t, ok, "cgroup v1 controllers (a hybrid host)")
	return v1
}

func readTrim(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(data))
}

// The master writes roost.toml's limits into the user's groups, starts the
// supervisor inside them (its programs follow), and when the user leaves
// roost.toml kills by group, a double-forked daemon included, and removes
// the groups; at shutdown its whole tree goes.
func TestCgroupLimitsMembershipAndRemoval(t *testing.T) {
	e := newEnv(t, "roost-alice")
	alice := e.users[0]
	e.writeConf([]string{"roost-alice"}, "[limits]\npids_max = 64\ncpu_max = \"200%\"\n"+
		"[user.roost-alice.limits]\nmemory_max = \"256M\"\ncpu_max = \"50%\"\n")
	e.script(alice, e.project, "fork", "daemon")
	e.start()
	st := e.waitState("roost-alice", UserRunning, 20*time.Second)
	v1 := requireV1(t, e)
	dir := func(ctl string) string { return filepath.Join(v1.Roots[ctl], "roost-alice") }
	// The tree: memory and pids on programs (delegated to the user), CPU
	// on the user's group, the supervisor alone in its leaf.
	progs := func(ctl string) string { return filepath.Join(dir(ctl), cgroup.ProgramsGroup) }
	leaf := func(ctl string) string { return filepath.Join(dir(ctl), cgroup.SupervisorLeaf) }
	if got := readTrim(t, filepath.Join(progs("pids"), "pids.max")); got != "64" {
		t.Errorf("pids.max = %s, want 64", got)
	}
	if got := readTrim(t, filepath.Join(progs("memory"), "memory.limit_in_bytes")); got != "268435456" {
		t.Errorf("memory.limit_in_bytes = %s, want 268435456", got)
	}
	if got := readTrim(t, filepath.Join(leaf("pids"), "pids.max")); got != "64" {
		t.Errorf("the supervisor leaf's pids.max = %s, want 64 (the admin's, below roost's own 256)", got)
	}
	for _, ctl := range []string{"memory", "pids"} {
		for _, f := range []string{"memory.limit_in_bytes", "pids.max", "cgroup.procs", "tasks", ""} {
			p := filepath.Join(progs(ctl), f)
			var st syscall.Stat_t
			if err := syscall.Stat(p, &st); err != nil {
				continue // another controller's file
			}
			owned := int(st.Uid) == alice.UID
			if want := f == "" || f == "cgroup.procs" || f == "tasks"; owned != want {
				t.Errorf("%s: owned by uid %d; delegated to the user: %v", p, st.Uid, want)
			}
		}
	}
	if got := readTrim(t, filepath.Join(dir("cpu"), "cpu.cfs_quota_us")); got != "50000" {
		t.Errorf("cpu.cfs_quota_us = %s, want 50000 (the user's 50%% over [limits]' 200%%)", got)
	}
	var sleeps []int
	testutil.Eventually(t, 10*time.Second, "the program and the daemon", func() bool {
		sleeps = sleeps[:0]
		for _, p := range userProcs(t, alice.UID, "sleep") {
			sleeps = append(sleeps, p.PID)
		}
		return len(sleeps) == 2
	})
	for _, ctl := range []string{"memory", "pids", "cpu", "freezer"} {
		pids, err := (&cgroup.Group{Path: leaf(ctl)}).PIDs()
		if err != nil {
			t.Fatal(err)
		}
		for _, pid := range append([]int{st.PID}, sleeps...) {
			if !slices.Contains(pids, pid) {
				t.Errorf("%s: pid %d is not in %s (%v)", ctl, pid, leaf(ctl), pids)
			}
		}
		if slices.Contains(pids, os.Getpid()) {
			t.Errorf("%s: the master's own process is in the user's group", ctl)
		}
	}
	// Raising a limit in roost.toml applies at reload, without a restart.
	e.writeConf([]string{"roost-alice"}, "[limits]\npids_max = 80\n")
	if err := e.m.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := readTrim(t, filepath.Join(progs("pids"), "pids.max")); got != "80" {
		t.Errorf("after reload: pids.max = %s, want 80", got)
	}
	if got := readTrim(t, filepath.Join(progs("memory"), "memory.limit_in_bytes")); got == "268435456" {
		t.Errorf("after reload: memory limit still %s", got)
	}
	if st2, _ := e.status("roost-alice"); st2.PID != st.PID {
		t.Errorf("the supervisor restarted for a limit change: pid %d, then %d", st.PID, st2.PID)
	}

	// The user leaves roost.toml: nothing of theirs is left, the daemon
	// included, and the uid sweep found nothing the group kill missed.
	e.writeConf(nil, "")
	if err := e.m.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 30*time.Second, "the user's groups to be removed", func() bool {
		_, err := os.Stat(dir("freezer"))
		return errors.Is(err, os.ErrNotExist)
	})
	if left := userProcs(t, alice.UID, ""); len(left) != 0 {
		t.Errorf("processes of roost-alice left: %+v", left)
	}
	if !strings.Contains(e.logs.String(), "killed leftover processes of the user's previous supervisor\" user=roost-alice count=1 by=cgroup") ||
		strings.Contains(e.logs.String(), "by=uid") {
		t.Errorf("the uid sweep had to kill what the group kill should have:\n%s", e.logs.String())
	}
	if err := e.stop(); err != nil {
		t.Fatal(err)
	}
	for ctl, r := range v1.Roots {
		if _, err := os.Stat(r); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s: the master's group %s is left after shutdown: %v", ctl, r, err)
		}
	}
}
