package supervisor

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"roost/config"
	"roost/internal/procfs"
	"roost/internal/testutil"
	"roost/supervisor/api"
)

func TestDaemonizingProgramLeavesNoZombie(t *testing.T) {
	dir := t.TempDir()
	short := filepath.Join(dir, "short.pid")
	long := filepath.Join(dir, "long.pid")
	// One daemon exits on its own after 300 ms, while the supervisor runs:
	// the reaper must reap it. The other lives until the shutdown, which
	// must kill it.
	p := prog("daemonizer", "daemon:"+short+":300ms", "daemon:"+long+":0", "sleep")
	p.StartSecs = 0
	h := start(t, testConfig(t, homog(p)...))
	h.waitState(5*time.Second, 0, "daemonizer", api.Running)
	spid, lpid := readPid(t, short), readPid(t, long)
	if pi, err := procfs.Read(spid); err == nil && pi.PPID != os.Getpid() {
		// Reparented to us (the subreaper) once its parent exited.
		t.Logf("daemon %d has ppid %d (test pid %d)", spid, pi.PPID, os.Getpid())
	}
	procGone(t, spid, 10*time.Second) // exited and reaped: not even a zombie
	if !strings.Contains(h.mainLog(), fmt.Sprintf("reaped unknown pid %d (exit status 0)", spid)) {
		t.Errorf("no reap line for %d:\n%s", spid, h.mainLog())
	}
	if !alive(lpid) {
		t.Fatalf("long daemon %d died early", lpid)
	}
	h.stop()
	procGone(t, lpid, 10*time.Second)
	if !strings.Contains(h.mainLog(), "killing leftover processes: ") {
		t.Errorf("no sweep line:\n%s", h.mainLog())
	}
}

// TestStopOfShellProgramIsQuiet stops an `sh -c` program whose shell keeps
// a child (a compound command is not exec'd): the sweep kills the child,
// which the reaper then reaps as an orphan. That reap is the stop's own
// doing, so the main log tells it at debug level, not as an INFO line on
// every stop (issue 12: noise).
func TestStopOfShellProgramIsQuiet(t *testing.T) {
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "child.pid")
	p := shprog("web", "sleep 1000 & echo $! > "+pidFile+"; wait")
	p.StartSecs = 0
	h := start(t, testConfig(t, homog(p)...))
	h.waitState(10*time.Second, 0, "web", api.Running)
	var child int
	testutil.Eventually(t, 10*time.Second, "the shell's child pid", func() bool {
		b, err := os.ReadFile(pidFile)
		child, _ = strconv.Atoi(strings.TrimSpace(string(b)))
		return err == nil && child > 0
	})
	if err := h.s.StopProcess(context.Background(), "web", true); err != nil {
		t.Fatalf("stop web: %v", err)
	}
	procGone(t, child, 10*time.Second)
	reap := fmt.Sprintf("reaped unknown pid %d (", child)
	testutil.Eventually(t, 10*time.Second, "the reap of "+strconv.Itoa(child)+" in the main log", func() bool {
		return strings.Contains(h.mainLog(), reap)
	})
	for _, line := range strings.Split(h.mainLog(), "\n") {
		if strings.Contains(line, reap) && !strings.Contains(line, " DEBG ") {
			t.Errorf("the reap of the stopped program's child is not debug-level: %q", line)
		}
	}
}

func TestShutdownStopsInReversePriorityAndLeavesNothing(t *testing.T) {
	dir := t.TempDir()
	var ps []*config.Process
	for i, name := range []string{"db", "app", "web"} {
		p := prog(name, "grandchild:"+filepath.Join(dir, name+".gc"), "sleep")
		p.StartSecs = 0
		p.Priority = 10 * (i + 1)
		ps = append(ps, p)
	}
	// A [group:x] with two processes of different priorities.
	w1, w2 := prog("w1", "sleep"), prog("w2", "sleep")
	w1.StartSecs, w2.StartSecs = 0, 0
	w1.Group, w2.Group = "workers", "workers"
	w1.Priority, w2.Priority = 5, 6
	workers := &config.Group{Name: "workers", Priority: 15, Kind: config.KindProgram, Explicit: true,
		Programs: []string{"w1", "w2"}, Processes: []*config.Process{w1, w2}}
	h := start(t, testConfig(t, append(homog(ps...), workers)...))
	for _, n := range []string{"db", "app", "web", "w1", "w2"} {
		h.waitState(10*time.Second, 0, n, api.Running)
	}
	var pids []int
	for _, n := range []string{"db", "app", "web", "workers:w1", "workers:w2"} {
		pids = append(pids, h.info(n).PID)
	}
	for _, n := range []string{"db", "app", "web"} {
		pids = append(pids, readPid(t, filepath.Join(dir, n+".gc")))
	}
	h.stop()
	for _, pid := range pids {
		procGone(t, pid, 10*time.Second)
	}

	// Start order: priority ascending (db 10, workers 15 (w1, w2), app 20,
	// web 30). Stop order: the reverse, group by group.
	var starts, stops []string
	h.mu.Lock()
	for _, ev := range h.events {
		if !strings.HasPrefix(ev.Type, "PROCESS_STATE_") {
			continue
		}
		switch ev.To {
		case api.Starting:
			starts = append(starts, ev.Name)
		case api.Stopping:
			stops = append(stops, ev.Name)
		case api.Stopped:
			stops = append(stops, ev.Name+".")
		}
	}
	h.mu.Unlock()
	if want := []string{"db", "w1", "w2", "app", "web"}; !slices.Equal(starts, want) {
		t.Errorf("start order %v, want %v", starts, want)
	}
	// Within a group stop requests go out in reverse priority, and the next
	// group starts stopping only when the previous one is stopped.
	wantStops := [][]string{{"web", "web."}, {"app", "app."}, {"w2", "w1", "w2.", "w1."}, {"db", "db."}}
	i := 0
	for _, grp := range wantStops {
		if i+len(grp) > len(stops) {
			t.Fatalf("stop events %v", stops)
		}
		got := stops[i : i+len(grp)]
		var requests, wantRequests []string
		for _, x := range got {
			if !strings.HasSuffix(x, ".") {
				requests = append(requests, x)
			}
		}
		for _, x := range grp {
			if !strings.HasSuffix(x, ".") {
				wantRequests = append(wantRequests, x)
			}
		}
		if !slices.Equal(requests, wantRequests) || !sameSet(got, grp) {
			t.Errorf("stop events %v, want groups %v", stops, wantStops)
			break
		}
		i += len(grp)
	}
}

func sameSet(a, b []string) bool {
	x, y := slices.Clone(a), slices.Clone(b)
	slices.Sort(x)
	slices.Sort(y)
	return slices.Equal(x, y)
}

func TestThousandPrograms(t *testing.T) {
	const n = 1000
	var ps []*config.Process
	for i := 0; i < n; i++ {
		p := prog(fmt.Sprintf("p%04d", i))
		setArgv(p, "/bin/sleep", "1000")
		p.StartSecs = 0
		ps = append(ps, p)
	}
	h := start(t, testConfig(t, homog(ps...)...))
	running := func() int {
		c := 0
		for _, pi := range h.s.AllProcessInfo() {
			if pi.State == api.Running {
				c++
			}
		}
		return c
	}
	// Every process reaches RUNNING.
	for i := 0; i < n; i++ {
		h.waitState(60*time.Second, 0, ps[i].Name, api.Running)
	}
	if c := running(); c != n {
		t.Fatalf("%d RUNNING, want %d", c, n)
	}
	pids := map[int]bool{}
	for _, pi := range h.s.AllProcessInfo() {
		pids[pi.PID] = true
	}
	if len(pids) != n {
		t.Fatalf("%d distinct pids", len(pids))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	rs := h.s.StopAll(ctx, true)
	if len(rs) != n {
		t.Fatalf("StopAll: %d results", len(rs))
	}
	for _, r := range rs {
		if r.Status != api.Success {
			t.Fatalf("StopAll: %+v", r)
		}
	}
	for _, pi := range h.s.AllProcessInfo() {
		if pi.State != api.Stopped {
			t.Fatalf("%s: %v", pi.Name, pi.State)
		}
	}
	for pid := range pids {
		procGone(t, pid, 10*time.Second)
	}
	// And they all start again.
	rs = h.s.StartAll(ctx, true)
	ok := 0
	for _, r := range rs {
		if r.Status == api.Success {
			ok++
		}
	}
	if ok != n {
		t.Fatalf("StartAll: %d of %d succeeded", ok, n)
	}
}

func TestRunAsUserDropsEverything(t *testing.T) {
	alice := testutil.RequireUser(t, testutil.UserA)
	t.Setenv("ROOST_ROOT_SECRET", "do-not-leak")
	p := prog("as-alice")
	setArgv(p, "sleep", "1000")
	p.Environment = config.Environment{{Name: "APP_MODE", Value: "prod"}}
	p.User = testutil.UserA
	p.Directory = alice.Home
	p.StartSecs = 0
	cfg := testConfig(t, homog(p)...)
	cfg.Supervisord.Environment = config.Environment{{Name: "GLOBAL", Value: "1"}}
	h := start(t, cfg)
	h.waitState(5*time.Second, 0, "as-alice", api.Running)
	pid := h.info("as-alice").PID

	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	field := func(name string) []string {
		for _, line := range strings.Split(string(status), "\n") {
			if v, ok := strings.CutPrefix(line, name+":"); ok {
				return strings.Fields(v)
			}
		}
		return nil
	}
	uid, gid := strconv.Itoa(alice.UID), strconv.Itoa(alice.GID)
	if got := field("Uid"); !slices.Equal(got, []string{uid, uid, uid, uid}) {
		t.Errorf("Uid %v, want %s", got, uid)
	}
	if got := field("Gid"); !slices.Equal(got, []string{gid, gid, gid, gid}) {
		t.Errorf("Gid %v, want %s", got, gid)
	}
	var want []string
	for _, g := range alice.Groups {
		want = append(want, strconv.Itoa(g))
	}
	if got := field("Groups"); !sameSet(got, want) {
		t.Errorf("Groups %v, want %v (the user's, with %s)", got, want, testutil.SharedGroup)
	}
	env, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
	if err != nil {
		t.Fatal(err)
	}
	vars := strings.Split(strings.TrimRight(string(env), "\x00"), "\x00")
	for _, w := range []string{
		"HOME=" + alice.Home, "USER=" + testutil.UserA, "LOGNAME=" + testutil.UserA,
		"SUPERVISOR_ENABLED=1", "SUPERVISOR_PROCESS_NAME=as-alice", "SUPERVISOR_GROUP_NAME=as-alice",
		"APP_MODE=prod",
	} {
		if !slices.Contains(vars, w) {
			t.Errorf("environ lacks %s: %v", w, vars)
		}
	}
	for _, v := range vars {
		if strings.HasPrefix(v, "ROOST_ROOT_SECRET=") || strings.HasPrefix(v, "GOROOT=") {
			t.Errorf("root's environment leaked: %s", v)
		}
	}
	if cwd, _ := os.Readlink(fmt.Sprintf("/proc/%d/cwd", pid)); cwd != alice.Home {
		t.Errorf("cwd %q, want %q", cwd, alice.Home)
	}
}

func TestUmaskAndEnvironment(t *testing.T) {
	dir := t.TempDir()
	os.Chmod(dir, 0o777)
	tight := prog("tight", "touch:"+filepath.Join(dir, "tight"), "env:"+filepath.Join(dir, "tight.env"), "sleep")
	tight.Umask = 0o077
	tight.StartSecs = 0
	tight.Environment = append(tight.Environment, config.EnvVar{Name: "SUPERVISOR_PROCESS_NAME", Value: "overridden"})
	loose := prog("loose", "touch:"+filepath.Join(dir, "loose"), "sleep")
	loose.Umask = 0o002
	loose.StartSecs = 0
	inherit := prog("inherit", "touch:"+filepath.Join(dir, "inherit"), "sleep")
	inherit.StartSecs = 0
	cfg := testConfig(t, homog(tight, loose, inherit)...)
	cfg.UnixHTTPServer = &config.UnixHTTPServer{File: "/run/test/roost.sock"}
	h := start(t, cfg)
	for _, n := range []string{"tight", "loose", "inherit"} {
		h.waitState(5*time.Second, 0, n, api.Running)
	}
	old := syscall.Umask(0)
	syscall.Umask(old)
	for name, want := range map[string]os.FileMode{"tight": 0o600, "loose": 0o664, "inherit": 0o666 &^ os.FileMode(old)} {
		path := filepath.Join(dir, name)
		deadline := time.Now().Add(10 * time.Second)
		var st os.FileInfo
		var err error
		for {
			if st, err = os.Stat(path); err == nil || time.Now().After(deadline) {
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
		if err != nil {
			t.Fatal(err)
		}
		if got := st.Mode().Perm(); got != want {
			t.Errorf("%s: mode %v, want %v", name, got, want)
		}
	}
	env := string(waitFile(t, filepath.Join(dir, "tight.env")))
	if !strings.Contains(env, "SUPERVISOR_PROCESS_NAME=overridden\n") {
		t.Errorf("environment= does not override SUPERVISOR_PROCESS_NAME:\n%s", env)
	}
}

func TestEnvironmentContents(t *testing.T) {
	dir := t.TempDir()
	envFile := filepath.Join(dir, "env")
	p := prog("envy", "env:"+envFile, "sleep")
	p.StartSecs = 0
	p.Group = "grp"
	p.Environment = append(p.Environment, config.EnvVar{Name: "SUPERVISOR_GROUP_NAME", Value: "mine"})
	g := &config.Group{Name: "grp", Priority: 999, Kind: config.KindProgram, Explicit: true,
		Programs: []string{"envy"}, Processes: []*config.Process{p}}
	cfg := testConfig(t, g)
	cfg.UnixHTTPServer = &config.UnixHTTPServer{File: "/run/x/roost.sock"}
	t.Setenv("ROOST_PARENT_VAR", "parent")
	h := start(t, cfg)
	h.waitState(5*time.Second, 0, "envy", api.Running)
	vars := strings.Split(string(waitFile(t, envFile)), "\n")
	for _, w := range []string{
		"SUPERVISOR_ENABLED=1", "SUPERVISOR_PROCESS_NAME=envy", "SUPERVISOR_GROUP_NAME=mine",
		"SUPERVISOR_SERVER_URL=unix:///run/x/roost.sock", "ROOST_TEST_HELPER=1",
	} {
		if !slices.Contains(vars, w) {
			t.Errorf("environment lacks %s: %v", w, vars)
		}
	}
	// As root nothing of the supervisor's environment passes; as a user
	// all of it does, as with supervisord.
	leaked := slices.Contains(vars, "ROOST_PARENT_VAR=parent")
	if root := os.Geteuid() == 0; leaked == root {
		t.Errorf("root=%v, parent variable passed=%v", root, leaked)
	}
	if os.Geteuid() == 0 && !slices.Contains(vars, "HOME=/root") {
		t.Errorf("root program without HOME=/root: %v", vars)
	}
}

func TestSendProcessStdin(t *testing.T) {
	p := prog("echo", "echo")
	p.StartSecs = 0
	h := start(t, testConfig(t, homog(p)...))
	h.waitState(5*time.Second, 0, "echo", api.Running)
	if err := h.s.SendProcessStdin("echo", []byte("hello roost\n")); err != nil {
		t.Fatal(err)
	}
	path := h.info("echo").StdoutLogfile
	if filepath.Dir(path) != h.cfg.Supervisord.Childlogdir || filepath.Base(path) != "echo-stdout---supervisor.log" {
		t.Errorf("AUTO log path %q", path)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, _ := os.ReadFile(path)
		if strings.Contains(string(b), "hello roost\n") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("log %s: %q", path, b)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := h.s.SendProcessStdin("nope", []byte("x")); api.CodeOf(err) != api.BadName {
		t.Errorf("stdin to unknown: %v", err)
	}
}

func TestGroupOperations(t *testing.T) {
	a, b := prog("a", "sleep"), prog("b", "sleep")
	a.Group, b.Group = "g", "g"
	a.StartSecs, b.StartSecs = 0, 0
	a.Autostart, b.Autostart = false, false
	g := &config.Group{Name: "g", Priority: 999, Kind: config.KindProgram, Explicit: true,
		Programs: []string{"a", "b"}, Processes: []*config.Process{a, b}}
	h := start(t, testConfig(t, g))
	ctx := context.Background()
	rs, err := h.s.StartGroup(ctx, "g", true)
	if err != nil || len(rs) != 2 || rs[0].Status != api.Success || rs[1].Status != api.Success {
		t.Fatalf("StartGroup: %+v %v", rs, err)
	}
	rs, _ = h.s.StartGroup(ctx, "g", true)
	if len(rs) != 0 {
		t.Errorf("StartGroup of running group: %+v (supervisord skips running processes)", rs)
	}
	if _, err := h.s.StartGroup(ctx, "nope", true); api.CodeOf(err) != api.BadName {
		t.Errorf("StartGroup(nope): %v", err)
	}
	rs, _ = h.s.SignalGroup("g", syscall.SIGCONT)
	if len(rs) != 2 || rs[0].Status != api.Success {
		t.Errorf("SignalGroup: %+v", rs)
	}
	if info := h.info("g:a"); info.Group != "g" || info.Name != "a" || info.State != api.Running {
		t.Errorf("g:a = %+v", info)
	}
	if _, err := h.s.ProcessInfo("a"); api.CodeOf(err) != api.BadName {
		t.Errorf("ProcessInfo(a) in group g: %v", err)
	}
	if err := h.s.StopProcess(ctx, "g:*", true); err != nil {
		t.Errorf("stop g:*: %v", err)
	}
	for _, n := range []string{"g:a", "g:b"} {
		if st := h.info(n).State; st != api.Stopped {
			t.Errorf("%s: %v", n, st)
		}
	}
	all := h.s.AllProcessInfo()
	if len(all) != 2 || all[0].Name != "a" || all[1].Name != "b" {
		t.Errorf("AllProcessInfo: %+v", all)
	}
	ci := h.s.AllConfigInfo()
	if len(ci) != 2 || ci[0].Name != "a" || !ci[0].InUse || ci[0].StdoutLogfile != "auto" || ci[0].UID != "none" {
		t.Errorf("AllConfigInfo: %+v", ci)
	}
}

// loader is an Options.Load that returns whatever the test set last.
type loader struct {
	mu  sync.Mutex
	cfg *config.Config
	err error
}

func (l *loader) set(cfg *config.Config, err error) {
	l.mu.Lock()
	l.cfg, l.err = cfg, err
	l.mu.Unlock()
}

func (l *loader) load() (*config.Config, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err != nil {
		return nil, l.err
	}
	return l.cfg, nil
}

func groupOf(name string, prio int, ps ...*config.Process) *config.Group {
	g := &config.Group{Name: name, Priority: prio, Kind: config.KindProgram, Explicit: true}
	for _, p := range ps {
		p.Group = name
		g.Programs = append(g.Programs, p.Name)
		g.Processes = append(g.Processes, p)
	}
	return g
}

func sleeper(name string) *config.Process {
	p := prog(name)
	setArgv(p, "/bin/sleep", "1000")
	p.StartSecs = 0
	return p
}

func TestUpdateRestartsOnlyWhatChanged(t *testing.T) {
	cfg1 := testConfig(t, append([]*config.Group{groupOf("g", 999, sleeper("a"), sleeper("b"))},
		homog(sleeper("solo"), sleeper("gone"))...)...)
	ld := &loader{cfg: cfg1}
	h := start(t, cfg1, func(o *Options) { o.Load = ld.load })
	for _, n := range []string{"a", "b", "solo", "gone"} {
		h.waitState(5*time.Second, 0, n, api.Running)
	}
	pid := func(n string) int { return h.info(n).PID }
	pa, pb, psolo := pid("g:a"), pid("g:b"), pid("solo")

	// Nothing changed: no changes, nothing restarted.
	ch, err := h.s.Update(context.Background(), nil)
	if err != nil || len(ch.Added)+len(ch.Changed)+len(ch.Removed) != 0 {
		t.Fatalf("Update with the same config: %+v %v", ch, err)
	}

	a2 := sleeper("a")
	setArgv(a2, "/bin/sleep", "2000")
	solo2 := sleeper("solo")
	solo2.Priority = 5
	cfg2 := *cfg1
	cfg2.Groups = append([]*config.Group{groupOf("g", 999, a2, sleeper("b"), sleeper("c"))},
		homog(solo2, sleeper("new"))...)
	sortConfigGroups(cfg2.Groups)
	ld.set(&cfg2, nil)

	got, err := h.s.Reread()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got.Added, []string{"new"}) || !sameSet(got.Changed, []string{"g", "solo"}) || !slices.Equal(got.Removed, []string{"gone"}) {
		t.Errorf("Reread: %+v", got)
	}
	if pid("g:a") != pa {
		t.Fatalf("Reread changed something")
	}
	n := h.eventCount()
	if _, err := h.s.Update(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	h.waitState(5*time.Second, n, "a", api.Running)
	h.waitState(5*time.Second, n, "c", api.Running)
	h.waitState(5*time.Second, n, "new", api.Running)
	if pid("g:a") == pa {
		t.Errorf("a changed but was not restarted")
	}
	if pid("g:b") != pb {
		t.Errorf("b did not change but was restarted")
	}
	if pid("solo") != psolo {
		t.Errorf("solo's priority changed and it was restarted")
	}
	if _, err := h.s.ProcessInfo("gone"); api.CodeOf(err) != api.BadName {
		t.Errorf("gone still there: %v", err)
	}
	// solo (priority 5) now comes first in start order.
	if ps := h.s.allProcesses(false); ps[0].name != "solo" {
		t.Errorf("order after update: first is %s", ps[0].name)
	}

	// An invalid configuration changes nothing.
	ld.set(nil, fmt.Errorf("supervisord.conf:3: [program:a] startsecs: \"1o\" is not an integer\nsupervisord.conf:9: [program:b] bogus"))
	before := h.s.AllProcessInfo()
	if _, err := h.s.Update(context.Background(), nil); api.CodeOf(err) != api.CantReread ||
		!strings.Contains(err.Error(), "supervisord.conf:3:") || !strings.Contains(err.Error(), "supervisord.conf:9:") {
		t.Errorf("Update with a broken config: %v", err)
	}
	after := h.s.AllProcessInfo()
	for i := range before {
		if before[i].PID != after[i].PID || before[i].State != after[i].State {
			t.Errorf("%s changed: %+v -> %+v", before[i].Name, before[i], after[i])
		}
	}
	if log := h.mainLog(); !strings.Contains(log, "ERRO config: supervisord.conf:3: [program:a]") ||
		!strings.Contains(log, "ERRO config: supervisord.conf:9:") {
		t.Errorf("main log lacks the diagnostics:\n%s", log)
	}
}

func TestRereadAddRemoveGroup(t *testing.T) {
	cfg1 := testConfig(t, homog(sleeper("base"))...)
	ld := &loader{cfg: cfg1}
	h := start(t, cfg1, func(o *Options) { o.Load = ld.load })
	h.waitState(5*time.Second, 0, "base", api.Running)
	cfg2 := *cfg1
	cfg2.Groups = append(homog(sleeper("base")), groupOf("extra", 999, sleeper("x")))
	ld.set(&cfg2, nil)
	if err := h.s.AddGroup("extra"); api.CodeOf(err) != api.BadName {
		t.Errorf("AddGroup before reread: %v", err)
	}
	ch, err := h.s.Reread()
	if err != nil || !slices.Equal(ch.Added, []string{"extra"}) {
		t.Fatalf("Reread: %+v %v", ch, err)
	}
	if err := h.s.AddGroup("extra"); err != nil {
		t.Fatal(err)
	}
	h.waitState(5*time.Second, 0, "x", api.Running)
	if err := h.s.AddGroup("extra"); api.CodeOf(err) != api.AlreadyAdded {
		t.Errorf("AddGroup twice: %v", err)
	}
	if err := h.s.RemoveGroup("extra"); api.CodeOf(err) != api.StillRunning {
		t.Errorf("RemoveGroup running: %v", err)
	}
	if _, err := h.s.StopGroup(context.Background(), "extra", true); err != nil {
		t.Fatal(err)
	}
	if err := h.s.RemoveGroup("extra"); err != nil {
		t.Errorf("RemoveGroup: %v", err)
	}
	if err := h.s.RemoveGroup("extra"); api.CodeOf(err) != api.BadName {
		t.Errorf("RemoveGroup twice: %v", err)
	}
	if ci := h.s.AllConfigInfo(); len(ci) != 2 || ci[1].Name != "x" || ci[1].InUse {
		t.Errorf("AllConfigInfo: %+v", ci)
	}
}

func TestRestartRereadsAndStartsAgain(t *testing.T) {
	cfg1 := testConfig(t, homog(sleeper("one"))...)
	ld := &loader{cfg: cfg1}
	h := start(t, cfg1, func(o *Options) { o.Load = ld.load })
	h.waitState(5*time.Second, 0, "one", api.Running)
	pid := h.info("one").PID
	cfg2 := *cfg1
	cfg2.Groups = homog(sleeper("one"), sleeper("two"))
	ld.set(&cfg2, nil)
	n := h.eventCount()
	if err := h.s.Restart(); err != nil {
		t.Fatal(err)
	}
	h.waitState(10*time.Second, n, "one", api.Running)
	h.waitState(10*time.Second, n, "two", api.Running)
	if h.info("one").PID == pid {
		t.Errorf("one was not restarted")
	}
	procGone(t, pid, 5*time.Second)
	if h.s.State() != api.SupervisorRunning {
		t.Errorf("state %v", h.s.State())
	}
}

func TestShutdownAPI(t *testing.T) {
	cfg := testConfig(t, homog(sleeper("s"))...)
	cfg.Supervisord.Pidfile = filepath.Join(t.TempDir(), "supervisord.pid")
	h := start(t, cfg)
	h.waitState(5*time.Second, 0, "s", api.Running)
	if b := waitFile(t, cfg.Supervisord.Pidfile); string(b) != strconv.Itoa(os.Getpid())+"\n" {
		t.Errorf("pidfile %q", b)
	}
	pid := h.info("s").PID
	if err := h.s.Shutdown(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-h.done:
		h.done <- err
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return after Shutdown")
	}
	procGone(t, pid, 5*time.Second)
	if _, err := os.Stat(cfg.Supervisord.Pidfile); !os.IsNotExist(err) {
		t.Errorf("pidfile left behind: %v", err)
	}
	if err := h.s.StartProcess(context.Background(), "s", true); api.CodeOf(err) != api.ShutdownState {
		t.Errorf("start after shutdown: %v", err)
	}
}
