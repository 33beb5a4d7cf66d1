package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"roost/config"
	"roost/internal/testutil"
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

// A program name stands for all its processes: `roost tail web` and
// `roost restart web` with numprocs=2, against a real `roost run`.
func TestProgramNameVerbs(t *testing.T) {
	conf, sock := project(t, "", "[program:web]\ncommand=/bin/sh -c 'echo hello from $SUPERVISOR_PROCESS_NAME; exec sleep 1000'\n"+
		"process_name=web_%(process_num)d\nnumprocs=2\nstartsecs=0\n")
	p := startProc(t, roostCmd("run", "-c", conf))
	c := dialWhenUp(t, sock, p)
	infos := waitState(t, c, "both running", allRunning("web:web_0", "web:web_1"))
	var out string
	testutil.Eventually(t, 30*time.Second, "roost tail web shows both processes", func() bool {
		out, _, _ = roost(t, "-s", sock, "tail", "web")
		return strings.Contains(out, "web:web_0 | hello from web_0") && strings.Contains(out, "web:web_1 | hello from web_1")
	})
	out, errOut, code := roost(t, "-s", sock, "restart", "web")
	if code != 0 || !strings.Contains(out, "web:web_0: started") || !strings.Contains(out, "web:web_1: started") {
		t.Errorf("roost restart web: exit %d\n%s%s", code, out, errOut)
	}
	after := waitState(t, c, "both running again", allRunning("web:web_0", "web:web_1"))
	for _, n := range []string{"web:web_0", "web:web_1"} {
		if pidOf(after, n) == pidOf(infos, n) {
			t.Errorf("%s was not restarted", n)
		}
	}
}

// The last good configuration: saved when it still loads, loaded back from
// the copy whatever the disk holds, never saved from a file broken since.
func TestLastGood(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "supervisord.conf")
	state := filepath.Join(dir, "state", "roost", "last-good.json")
	good := "[program:web]\ncommand=/bin/sleep 1000\n"
	os.WriteFile(conf, []byte(good), 0o644)
	opts := config.LoadOptions{Dir: dir, Env: []string{}}
	cfg, err := config.Load(conf, opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := saveLastGood(state, cfg, opts); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(state); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("state file: %v %v", fi, err)
	}
	os.WriteFile(conf, []byte("[program:web]\ncommand=/bin/sleep 1000\nstartsecs=1o\n"), 0o644)
	if err := saveLastGood(state, cfg, opts); err == nil {
		t.Error("a file broken since it was applied was saved")
	}
	saved, err := loadLastGood(state, conf, opts)
	if err != nil || saved.Group("web") == nil {
		t.Fatalf("loadLastGood: %v", err)
	}
	if _, err := loadLastGood(state, filepath.Join(dir, "other.conf"), opts); err == nil {
		t.Error("the saved copy of one file was used for another")
	}
}
