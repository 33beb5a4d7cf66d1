package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"roost/config"
	"roost/supervisor/api"
)

// `roost restart web` with numprocs=2 means both processes, as --rolling does.
func TestProgramNames(t *testing.T) {
	all := []api.ProcessInfo{
		{Group: "web", Name: "web_0"}, {Group: "web", Name: "web_1"},
		{Group: "api", Name: "api"}, {Group: "workers", Name: "worker"},
	}
	got := programNames(all, []string{"web", "api", "workers", "web:web_1", "all", "nope"})
	want := []string{"web:*", "api", "workers:*", "web:web_1", "all", "nope"}
	if !slices.Equal(got, want) {
		t.Errorf("programNames = %v, want %v", got, want)
	}
}

// A broken roost.toml still gives run_dir (its line, else the default),
// so root's admin verbs reach the running master.
func TestBrokenMasterRunDir(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct{ body, want string }{
		{"run_dir = \"/srv/roost/run\"  # here\n[users\nnames = [\n", "/srv/roost/run"},
		{"[users\nrun_dir = \"/elsewhere\"\n", config.DefaultRunDir},
		{"run_dir = \"relative\"\n[[[\n", config.DefaultRunDir},
		{"run_dir = \"/a/../b\"\n[[[\n", config.DefaultRunDir},
	} {
		f := filepath.Join(dir, "roost.toml")
		os.WriteFile(f, []byte(c.body), 0o644)
		if got, ok := brokenMasterRunDir(f); !ok || got != c.want {
			t.Errorf("%q: run_dir %q %v, want %q", c.body, got, ok, c.want)
		}
	}
	if _, ok := brokenMasterRunDir(filepath.Join(dir, "missing.toml")); ok {
		t.Error("a missing file gave a run_dir")
	}
}

// A missing socket is explained, by where it was looked for.
func TestSocketHint(t *testing.T) {
	if h := socketHint(filepath.Join(api.RunDir, "alice", "roost.sock")); !strings.Contains(h, "BACKOFF") || !strings.Contains(h, "roost admin users") {
		t.Errorf("managed socket hint: %q", h)
	}
	if h := socketHint(api.DefaultSocket()); !strings.Contains(h, "roost run") {
		t.Errorf("default socket hint: %q", h)
	}
	if h := socketHint("/nowhere/x.sock"); !strings.Contains(h, "no supervisor serves this socket") {
		t.Errorf("other socket hint: %q", h)
	}
	_, errOut, code := roost(t, "-s", "/nowhere/x.sock", "status")
	if code != exitStatusUnknown || !strings.Contains(errOut, "hint:") {
		t.Errorf("status on a missing socket: exit %d, stderr %q", code, errOut)
	}
}
