package master

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"roost/config"
	"roost/internal/testutil"
)

// systemd/roost.service keeps the promises the master relies on.
func TestSystemdUnit(t *testing.T) {
	b, err := os.ReadFile("../systemd/roost.service")
	if err != nil {
		t.Fatal(err)
	}
	keys := map[string][]string{}
	for _, l := range strings.Split(string(b), "\n") {
		l = strings.TrimSpace(l)
		if l == "" || l[0] == '#' || l[0] == '[' {
			continue
		}
		k, v, ok := strings.Cut(l, "=")
		if !ok {
			t.Errorf("not a key=value line: %q", l)
			continue
		}
		keys[k] = append(keys[k], v)
	}
	want := map[string]string{
		"Type": "notify", "KillMode": "process", "Restart": "on-failure",
		"RuntimeDirectory": "roost", "RuntimeDirectoryMode": "0755",
		"StateDirectory": "roost", "StateDirectoryMode": "0700",
		// A master that dies leaves the users' supervisors and their
		// sockets for the next one to adopt (adopt.go).
		"RuntimeDirectoryPreserve": "restart",
		// The master's cgroup tree lives in the unit's group, beside the
		// leaf it moves itself into (cgroup.Vacate).
		"Delegate": "yes",
	}
	for k, v := range want {
		if got := keys[k]; len(got) != 1 || got[0] != v {
			t.Errorf("%s=%v, want %s", k, got, v)
		}
	}
	if got := keys["ExecStart"]; len(got) != 1 || !strings.Contains(got[0], "roost master -c /etc/roost/roost.toml") {
		t.Errorf("ExecStart=%v", got)
	}
	// Reload re-executes the master in place (reexec.go), after a check.
	if got := keys["ExecReload"]; len(got) != 2 || !strings.Contains(got[0], "master --check") || !strings.Contains(got[1], "roost admin reexec") {
		t.Errorf("ExecReload=%v, want the check, then roost admin reexec", got)
	}
	// The stop timeout covers a user supervisor's stopwaitsecs and the sweep.
	secs, err := strconv.Atoi(strings.Join(keys["TimeoutStopSec"], ""))
	if err != nil {
		t.Fatalf("TimeoutStopSec=%v: %v", keys["TimeoutStopSec"], err)
	}
	if min := config.DefaultStopWaitSecs*time.Second + sweepTimeout; time.Duration(secs)*time.Second <= min {
		t.Errorf("TimeoutStopSec=%d, want more than %v", secs, min)
	}
}

// systemd-analyze verify accepts the unit (KillMode=process, the reload
// through roost admin reexec, RuntimeDirectoryPreserve=…), with the roost
// binary where the unit names it and its man pages on MANPATH
// (Documentation=).
func TestSystemdUnitVerifies(t *testing.T) {
	analyze := testutil.RequireBinary(t, "systemd-analyze")
	testutil.RequireBinary(t, "man")
	bin := roostBinary(t)
	dir := t.TempDir()
	pages := filepath.Join(dir, "pages")
	os.Mkdir(pages, 0o755)
	// Through the master's spawn: this test process reaps orphans.
	if out, ps, err := runRegistered(exec.Command(bin, "man", "--dir", pages)); err != nil || !ps.Success() {
		t.Fatalf("roost man: %v %v\n%s", err, ps, out)
	}
	ents, err := os.ReadDir(pages)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		sect := filepath.Join(dir, "man", "man"+filepath.Ext(e.Name())[1:])
		os.MkdirAll(sect, 0o755)
		if err := os.Rename(filepath.Join(pages, e.Name()), filepath.Join(sect, e.Name())); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile("../systemd/roost.service")
	if err != nil {
		t.Fatal(err)
	}
	unit := filepath.Join(dir, "roost.service")
	if err := os.WriteFile(unit, []byte(strings.ReplaceAll(string(b), "/usr/local/bin/roost", bin)), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(analyze, "verify", unit)
	cmd.Env = append(os.Environ(), "MANPATH="+filepath.Join(dir, "man"))
	if out, ps, err := runRegistered(cmd); err != nil || !ps.Success() || len(strings.TrimSpace(string(out))) > 0 {
		t.Errorf("systemd-analyze verify: %v %v\n%s", err, ps, out)
	}
}
