package supervisor

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"roost/internal/testutil"
	"strings"
	"testing"
	"time"

	"roost/config"
	"roost/supervisor/api"
)

// jsonLoader reads a config.Config stored as JSON: the watcher tests need a
// file format, not supervisord's (the parser is tested in package config).
func jsonLoader(path string) func() (*config.Config, error) {
	return func() (*config.Config, error) {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		var c config.Config
		if err := json.Unmarshal(b, &c); err != nil {
			return nil, fmt.Errorf("%s:1: %v", path, err)
		}
		return &c, nil
	}
}

// saveLikeAnEditor writes cfg to its file the way editors do: a temporary
// file (and a swap file) in the same directory, renamed over the old one.
func saveLikeAnEditor(t *testing.T, path string, data []byte) {
	t.Helper()
	dir := filepath.Dir(path)
	swap := filepath.Join(dir, "."+filepath.Base(path)+".swp")
	os.WriteFile(swap, []byte("swap"), 0o644)
	tmp := filepath.Join(dir, "4913")
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
	os.Remove(swap)
}

func marshal(t *testing.T, cfg *config.Config) []byte {
	t.Helper()
	b, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestWatcherAppliesSavedConfigAndKeepsRunningOnBadOne(t *testing.T) {
	cfg := testConfig(t, homog(sleeper("a"), sleeper("b"))...)
	if err := os.WriteFile(cfg.File, marshal(t, cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	h := start(t, cfg, func(o *Options) {
		o.Load = jsonLoader(cfg.File)
		o.Watch = true
	})
	h.waitState(5*time.Second, 0, "a", api.Running)
	h.waitState(5*time.Second, 0, "b", api.Running)
	pa, pb := h.info("a").PID, h.info("b").PID

	// Change a's command and save like an editor: a restarts, b does not.
	a2 := sleeper("a")
	setArgv(a2, "/bin/sleep", "2000")
	cfg2 := *cfg
	cfg2.Groups = homog(a2, sleeper("b"))
	n := h.eventCount()
	saveLikeAnEditor(t, cfg.File, marshal(t, &cfg2))
	i, _ := h.waitState(10*time.Second, n, "a", api.Stopped)
	h.waitState(10*time.Second, i, "a", api.Running)
	if h.info("a").PID == pa || h.info("b").PID != pb {
		t.Errorf("after save: a %d (was %d), b %d (was %d)", h.info("a").PID, pa, h.info("b").PID, pb)
	}

	// A broken file: logged with file:line, nothing changes.
	pa = h.info("a").PID
	saveLikeAnEditor(t, cfg.File, []byte("{ this is not json"))
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(h.mainLog(), "ERRO config: "+cfg.File+":1:") {
		if time.Now().After(deadline) {
			t.Fatalf("no error logged for the broken file:\n%s", h.mainLog())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if h.info("a").PID != pa || h.info("b").PID != pb || h.info("a").State != api.Running {
		t.Errorf("a broken config changed the running processes")
	}

	// Fixed again, with b removed: b goes.
	cfg3 := *cfg
	cfg3.Groups = homog(a2)
	n = h.eventCount()
	saveLikeAnEditor(t, cfg.File, marshal(t, &cfg3))
	h.waitState(10*time.Second, n, "b", api.Stopped)
	deadline = time.Now().Add(10 * time.Second)
	for {
		if _, err := h.s.ProcessInfo("b"); api.CodeOf(err) == api.BadName {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("b not removed")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if h.info("a").PID != pa {
		t.Errorf("a restarted although unchanged")
	}
}

func TestWatchSetRelevance(t *testing.T) {
	ws := watchSet{
		files:       map[string]bool{"/p/supervisord.conf": true, "/p/conf.d/a.conf": true},
		includeDirs: map[string]bool{"/p/conf.d": true},
		includeExts: map[string]bool{".conf": true},
	}
	for name, want := range map[string]bool{
		"/p/supervisord.conf":           true,
		"/p/conf.d/a.conf":              true,
		"/p/conf.d/new.conf":            true, // a new include
		"/p/conf.d/.new.conf.swp":       false,
		"/p/conf.d/a.conf~":             false,
		"/p/4913":                       false,
		"/p/other.conf":                 false, // not an include directory
		"/p/logs/web.log":               false,
		"/p/conf.d/#a.conf#":            false,
		"/p/conf.d/.#a.conf":            false,
		"/p/.supervisord.conf.swp":      false,
		"/p/conf.d/../supervisord.conf": true,
	} {
		if got := ws.relevant(name); got != want {
			t.Errorf("relevant(%q) = %v, want %v", name, got, want)
		}
	}
}

// TestRealConfigEditedWhileRunning drives the watcher with a real
// supervisord.conf read by config.Load (the default loader).
func TestRealConfigEditedWhileRunning(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "supervisord.conf")
	write := func(worker string) {
		t.Helper()
		saveLikeAnEditor(t, conf, []byte(`[supervisord]
logfile=%(here)s/supervisord.log
childlogdir=%(here)s
pidfile=%(here)s/supervisord.pid
loglevel=info
silent=true

[program:web]
command=/bin/sleep 1000
startsecs=0

[program:worker]
command=`+worker+`
startsecs=0
`))
	}
	write("/bin/sleep 1001")
	cfg, err := config.Load(conf, config.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	h := start(t, cfg, func(o *Options) { o.Watch = true })
	h.waitState(5*time.Second, 0, "web", api.Running)
	h.waitState(5*time.Second, 0, "worker", api.Running)
	web, worker := h.info("web").PID, h.info("worker").PID
	if got := h.info("web").StdoutLogfile; got != filepath.Join(dir, "web-stdout---supervisor.log") {
		t.Errorf("AUTO stdout log %q", got)
	}

	n := h.eventCount()
	write("/bin/sleep 1002")
	i, _ := h.waitState(10*time.Second, n, "worker", api.Stopped)
	h.waitState(10*time.Second, i, "worker", api.Running)
	if h.info("web").PID != web || h.info("worker").PID == worker {
		t.Errorf("web %d→%d, worker %d→%d: only worker changed", web, h.info("web").PID, worker, h.info("worker").PID)
	}
	worker = h.info("worker").PID

	// Made invalid on disk: the error names file:line, nothing changes.
	saveLikeAnEditor(t, conf, []byte("[supervisord]\n[program:web]\ncommand=/bin/sleep 1\nstartsecs=1o\n"))
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(h.mainLog(), "ERRO config: "+conf+":4:") {
		if time.Now().After(deadline) {
			t.Fatalf("no file:line error logged:\n%s", h.mainLog())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if h.info("web").PID != web || h.info("worker").PID != worker {
		t.Errorf("an invalid config changed running processes")
	}
	if _, err := h.s.Reread(); api.CodeOf(err) != api.CantReread || !strings.Contains(err.Error(), conf+":4:") {
		t.Errorf("Reread of the invalid file: %v", err)
	}
}

// startWatching starts a supervisor that watches conf, which may not exist
// yet (then it runs with an empty configuration, as the master's idle
// supervisor does).
func startWatching(t *testing.T, home, conf string) *harness {
	t.Helper()
	load := func() (*config.Config, error) {
		if _, err := os.Stat(conf); os.IsNotExist(err) {
			return config.LoadEmpty(conf, config.LoadOptions{Dir: home})
		}
		return config.Load(conf, config.LoadOptions{Dir: home})
	}
	cfg, err := load()
	if err != nil {
		t.Fatal(err)
	}
	return start(t, cfg, func(o *Options) {
		o.Load = load
		o.Watch = true
	})
}

// A project that does not exist yet is waited for, and a "current" symlink
// re-pointed to a new release is followed: what the master's idle
// supervisor relies on.
func TestWatcherWaitsForProjectAndFollowsSymlink(t *testing.T) {
	home := t.TempDir()
	conf := filepath.Join(home, "current", "supervisord.conf")
	h := startWatching(t, home, conf)
	release := func(name, program string) {
		t.Helper()
		dir := filepath.Join(home, "releases", name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		body := "[supervisord]\nlogfile=" + home + "/roost.log\nchildlogdir=" + home + "\nsilent=true\n" +
			"[program:" + program + "]\ncommand=/bin/sleep 1000\nstartsecs=0\n"
		if err := os.WriteFile(filepath.Join(dir, "supervisord.conf"), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		// Deploy like a release tool: a new symlink renamed over "current".
		tmp := filepath.Join(home, ".current.tmp")
		if err := os.Symlink(filepath.Join("releases", name), tmp); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, filepath.Join(home, "current")); err != nil {
			t.Fatal(err)
		}
	}
	if len(h.s.AllProcessInfo()) != 0 {
		t.Fatal("programs before the project exists")
	}
	n := h.eventCount()
	start := time.Now()
	release("r1", "web")
	h.waitState(10*time.Second, n, "web", api.Running)
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("the new project ran after %v, want within 2s", d)
	}
	n = h.eventCount()
	release("r2", "worker")
	h.waitState(10*time.Second, n, "worker", api.Running)
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := h.s.ProcessInfo("web"); api.CodeOf(err) == api.BadName {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("r1's web still configured after current moved to r2")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A plain project directory is watched alone (no wakeup for files written
// beside it); only a symlinked one has its parent watched too, to see the
// link re-pointed.
func TestWatchPoints(t *testing.T) {
	home := t.TempDir()
	os.MkdirAll(filepath.Join(home, "a"), 0o755)
	if err := os.Symlink("a", filepath.Join(home, "current")); err != nil {
		t.Fatal(err)
	}
	for dir, want := range map[string][]string{
		filepath.Join(home, "a"):           {filepath.Join(home, "a")},
		filepath.Join(home, "current"):     {filepath.Join(home, "current"), home},
		filepath.Join(home, "a", "b", "c"): {filepath.Join(home, "a")},
		"/":                                {"/"},
	} {
		if got := watchPoints(dir); strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("watchPoints(%s) = %v, want %v", dir, got, want)
		}
	}
}

// Without a watch on its parent, a plain project directory that is removed
// and made again (a fresh clone) is still followed: its own watch reports
// the removal and the watcher falls back to the home.
func TestWatcherFollowsProjectRemovedAndRecreated(t *testing.T) {
	home := t.TempDir()
	dir := filepath.Join(home, "proj")
	conf := filepath.Join(dir, "supervisord.conf")
	write := func(program string) {
		t.Helper()
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		body := "[supervisord]\nlogfile=" + home + "/roost.log\nchildlogdir=" + home + "\nsilent=true\n" +
			"[program:" + program + "]\ncommand=/bin/sleep 1000\nstartsecs=0\n"
		if err := os.WriteFile(conf, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("web")
	h := startWatching(t, home, conf)
	h.waitState(10*time.Second, 0, "web", api.Running)
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 10*time.Second, "web removed with its project", func() bool {
		_, err := h.s.ProcessInfo("web")
		return api.CodeOf(err) == api.BadName
	})
	n := h.eventCount()
	write("worker")
	h.waitState(10*time.Second, n, "worker", api.Running)
}
