package master

import (
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"roost/config"
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
