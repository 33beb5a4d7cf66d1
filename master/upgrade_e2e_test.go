package master

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"roost/internal/testutil"
)

// TestE2EAdminUpgradeAll: under the master as root, with real users, a
// new roost installed over the binary and `roost admin upgrade --all`
// re-execute each user's supervisor in place: same supervisor pids, same
// program pids, no second supervisor, the new version answering; a user
// named alone works too, and an unknown one is refused.
func TestE2EAdminUpgradeAll(t *testing.T) {
	e := newEnv(t, testutil.UserA, testutil.UserB)
	alice, bob := e.users[0], e.users[1]
	for _, a := range e.users {
		e.writeProject(a, sleepConf(1700))
	}
	e.writeConf([]string{alice.Name, bob.Name}, "")
	const newVersion = "9.9.9-admin-upgrade"
	newBin := testutil.RoostBinaryVersion(t, func(cmd *exec.Cmd) ([]byte, error) {
		out, ps, err := runRegistered(cmd)
		if err == nil && !ps.Success() {
			err = fmt.Errorf("%v", ps)
		}
		return out, err
	}, newVersion)
	dir, err := os.MkdirTemp("", "roost-upgrade-") // users must reach the binary
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755)
	bin := filepath.Join(dir, "roost")
	installBinary(t, roostBinary(t), bin)
	x := startMasterBin(t, e, bin)

	before := map[string]UserStatus{}
	programs := map[string]int{}
	for _, a := range e.users {
		before[a.Name] = x.waitUser(t, a.Name, 30*time.Second, "running its program", func(s UserStatus) bool {
			return running(s) && s.ProgramsRunning == 1
		})
		programs[a.Name] = sleepPID(t, a.UID)
	}

	installBinary(t, newBin, bin)
	out, code := x.roost(t, "admin", "upgrade", "--all")
	if code != 0 || strings.Count(out, "-> "+newVersion) != 2 {
		t.Fatalf("roost admin upgrade --all: exit %d\n%s", code, out)
	}
	for _, a := range e.users {
		st := x.waitUser(t, a.Name, 30*time.Second, "running after the upgrade", func(s UserStatus) bool {
			return running(s) && s.ProgramsRunning == 1
		})
		if st.PID != before[a.Name].PID || st.Restarts != before[a.Name].Restarts {
			t.Errorf("%s: supervisor pid %d (restarts %d), before %d (%d)", a.Name, st.PID, st.Restarts, before[a.Name].PID, before[a.Name].Restarts)
		}
		if pid := sleepPID(t, a.UID); pid != programs[a.Name] {
			t.Errorf("%s: program pid %d, before %d", a.Name, pid, programs[a.Name])
		}
		if n := len(userProcs(t, a.UID, "roost")); n != 1 {
			t.Errorf("%s: %d roost processes, want 1", a.Name, n)
		}
		v, code := x.roost(t, "--user", a.Name, "version")
		if code != 0 || strings.TrimSpace(v) != newVersion {
			t.Errorf("%s's supervisor answers version %q (exit %d), want %s", a.Name, v, code, newVersion)
		}
	}
	// One user by name (the same binary again: a no-op upgrade).
	out, code = x.roost(t, "admin", "upgrade", alice.Name)
	if code != 0 || !strings.Contains(out, alice.Name+": upgraded") || strings.Contains(out, bob.Name) {
		t.Errorf("roost admin upgrade %s: exit %d\n%s", alice.Name, code, out)
	}
	if out, code := x.roost(t, "admin", "upgrade", "nobody-here"); code == 0 || !strings.Contains(out, "no such user") {
		t.Errorf("upgrade of an unknown user: exit %d\n%s", code, out)
	}
}

// installBinary copies src over dst by a rename, as a package upgrade does.
func installBinary(t *testing.T, src, dst string) {
	t.Helper()
	if err := copyFile(src, dst+".new", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(dst+".new", dst); err != nil {
		t.Fatal(err)
	}
}

// sleepPID is the pid of the one `sleep` uid runs.
func sleepPID(t *testing.T, uid int) int {
	t.Helper()
	ps := userProcs(t, uid, "sleep")
	if len(ps) != 1 {
		t.Fatalf("uid %d runs %d sleep processes, want 1", uid, len(ps))
	}
	return ps[0].PID
}
