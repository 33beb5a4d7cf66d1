package deploy

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"roost/internal/testutil"
	"roost/supervisor/api"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testutil.RemoveRoostBinary()
	os.Exit(code)
}

const goodConf = "[program:web]\ncommand=/bin/sleep 1000\n"

// layout is a deploy layout in a temp home, with no supervisor running.
func layout(t *testing.T) Layout {
	t.Helper()
	home := t.TempDir()
	return Layout{Home: home, Repo: filepath.Join(home, "repo.git"), Current: filepath.Join(home, "current"),
		Releases: filepath.Join(home, "releases"), LogDir: filepath.Join(home, "log"), Branch: "main", Keep: 3,
		Timeout: time.Minute, Socket: filepath.Join(home, "no-supervisor.sock"), Roost: testutil.RoostBinary(t, nil)}
}

// tree writes files (name → content; a name ending in "*" is executable).
func tree(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		mode := os.FileMode(0o644)
		if n, ok := strings.CutSuffix(name, "*"); ok {
			name, mode = n, 0o755
		}
		p := filepath.Join(dir, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(body), mode); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func deployDir(t *testing.T, l Layout, dir string) (Release, string, error) {
	t.Helper()
	var out bytes.Buffer
	r, err := Deploy(context.Background(), l, Source{Dir: dir}, &out, Options{Env: os.Environ()})
	return r, out.String(), err
}

func TestBuildSteps(t *testing.T) {
	roost := "/usr/bin/roost"
	for _, tt := range []struct {
		files map[string]string
		path  string
		want  []string
	}{
		{map[string]string{"supervisord.conf": goodConf}, "/usr/bin:/bin", []string{"check: /usr/bin/roost check -c DIR/supervisord.conf"}},
		{map[string]string{"package.json": "{}", "package-lock.json": "{}"}, "/usr/bin:/bin", []string{"npm ci: npm ci (package.json and its lock file)", "check"}},
		{map[string]string{"package.json": "{}"}, "/usr/bin:/bin", []string{"npm install: npm install --omit=dev", "check"}},
		{map[string]string{"package.json": "{}"}, "/nonexistent", []string{"npm install: npm install --omit=dev (package.json without a lock file) [npm is not installed]", "check"}},
		{map[string]string{"go.mod": "module x\n"}, "/usr/bin", []string{"go mod download: go mod download (go.mod)", "check"}},
		{map[string]string{"requirements.txt": "x\n"}, "/usr/bin", []string{"venv: python3 -m venv .venv", "pip install: .venv/bin/pip install -r requirements.txt", "check"}},
		{map[string]string{"Makefile.PL": "x\n", "cpanfile": "x\n"}, "/nonexistent", []string{"cpanm: cpanm --notest --installdeps -L local . (cpanfile) [cpanm is not installed]", "check"}},
		{map[string]string{"Build.PL": "x\n"}, "/nonexistent", []string{"cpanm: cpanm --notest --installdeps -L local . (Build.PL)", "check"}},
		{map[string]string{"Gemfile": "x\n"}, "/nonexistent", []string{"bundle install: bundle install (Gemfile) [bundle is not installed]", "check"}},
		{map[string]string{"postinstall*": "#!/bin/sh\n"}, "/usr/bin", []string{"postinstall: ./postinstall", "check"}},
	} {
		dir := tree(t, tt.files)
		steps := buildSteps(Layout{Roost: roost}, dir, tt.path)
		var got []string
		for _, s := range steps {
			got = append(got, strings.ReplaceAll(s.String(), dir, "DIR"))
		}
		if len(got) != len(tt.want) {
			t.Errorf("%v: steps %q, want %q", tt.files, got, tt.want)
			continue
		}
		for i := range got {
			if !strings.HasPrefix(got[i], tt.want[i]) {
				t.Errorf("%v: step %d = %q, want %q…", tt.files, i, got[i], tt.want[i])
			}
		}
	}
	if _, err := exec.LookPath("go"); err == nil {
		dir := tree(t, map[string]string{"go.mod": "module x\n"})
		if s := buildSteps(Layout{Roost: roost}, dir, os.Getenv("PATH"))[0]; s.Missing != "" {
			t.Errorf("go is installed but the step says %q is missing", s.Missing)
		}
	}
}

// A missing tool fails the build naming the tool, the file that wants it
// and the command that would have run.
func TestMissingTool(t *testing.T) {
	l := layout(t)
	dir := tree(t, map[string]string{"supervisord.conf": goodConf, "cpanfile": "requires 'strict';\n"})
	var out bytes.Buffer
	_, err := Deploy(context.Background(), l, Source{Dir: dir}, &out, Options{Env: []string{"PATH=/nonexistent"}})
	if err == nil || !strings.Contains(err.Error(), "cpanm is needed (cpanfile) but not installed on this host: it would run `cpanm --notest --installdeps -L local .`") {
		t.Fatalf("err %v\n%s", err, out.String())
	}
	if _, err := os.Lstat(l.Current); err == nil {
		t.Error("a failed build made current")
	}
}

func TestDeployDirectory(t *testing.T) {
	l := layout(t)
	dir := tree(t, map[string]string{
		"supervisord.conf": goodConf,
		"postinstall*":     "#!/bin/sh\nset -e\necho building in $(pwd)\necho built > built.txt\n",
		"static/a.txt":     "a\n",
	})
	os.Symlink("static/a.txt", filepath.Join(dir, "link"))
	r, out, err := deployDir(t, l, dir)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	rel := filepath.Join(l.Releases, r.ID)
	if target, _ := os.Readlink(l.Current); target != filepath.Join("releases", r.ID) {
		t.Errorf("current -> %q, want releases/%s", target, r.ID)
	}
	if b, _ := os.ReadFile(filepath.Join(l.Current, "built.txt")); string(b) != "built\n" {
		t.Errorf("postinstall did not run in the release: %q", b)
	}
	if b, _ := os.ReadFile(filepath.Join(l.Current, "link")); string(b) != "a\n" {
		t.Errorf("symlink not kept: %q", b)
	}
	for _, want := range []string{"-----> unpack", "-----> postinstall", "building in " + rel, "-----> check", "valid",
		"postinstall done (", "no supervisor of yours answers", "deployed " + r.ID} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(l.LogDir, "deploy", r.ID+".log")); string(b) != out {
		t.Errorf("the build log differs from what the pusher saw:\n%s", b)
	}
	rels, err := Releases(l)
	if err != nil || len(rels) != 1 || rels[0].State != StateCurrent || rels[0].Source != dir {
		t.Errorf("releases: %+v %v", rels, err)
	}
}

// A failing postinstall, a broken supervisord.conf, a missing one and a
// build that times out: each is refused with its reason, removes its
// release, records it as failed, and leaves current as it was.
func TestFailedBuildsChangeNothing(t *testing.T) {
	l := layout(t)
	pidFile := filepath.Join(t.TempDir(), "daemon.pid")
	good, out, err := deployDir(t, l, tree(t, map[string]string{"supervisord.conf": goodConf}))
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for _, tt := range []struct {
		name  string
		files map[string]string
		want  []string
	}{
		{"postinstall fails", map[string]string{"supervisord.conf": goodConf, "postinstall*": "#!/bin/sh\necho compiling assets\necho 'assets: syntax error' >&2\nexit 3\n"},
			[]string{"compiling assets", "assets: syntax error", "postinstall failed: `./postinstall` failed: exit status 3"}},
		{"postinstall not executable", map[string]string{"supervisord.conf": goodConf, "postinstall": "#!/bin/sh\n"},
			[]string{"postinstall is not an executable file: make it one (chmod +x postinstall"}},
		{"broken supervisord.conf", map[string]string{"supervisord.conf": "[program:web]\ncommand=/bin/sleep 1\nstartsecs=1o\n"},
			[]string{"supervisord.conf:3", "startsecs", "check failed"}},
		{"broken cron", map[string]string{"supervisord.conf": goodConf, "cron": "* * * *\n"},
			[]string{"cron:1", "check failed"}},
		{"no supervisord.conf", map[string]string{"app.py": "\n"},
			[]string{"the release has no supervisord.conf at its root"}},
		{"timeout", map[string]string{"supervisord.conf": goodConf, "postinstall*": "#!/bin/sh\n(sleep 1000 & echo $! > " + pidFile + ")\nexec sleep 1000\n"},
			[]string{"postinstall failed: timed out"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			l := l
			if tt.name == "timeout" {
				l.Timeout = 3 * time.Second
			}
			start := time.Now()
			r, out, err := deployDir(t, l, tree(t, tt.files))
			if err == nil {
				t.Fatalf("deployed:\n%s", out)
			}
			if time.Since(start) > 30*time.Second {
				t.Errorf("took %v", time.Since(start))
			}
			for _, w := range append(tt.want, "deploy of "+r.ID+" refused: "+l.Current+" and what runs are untouched") {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
			if currentID(l) != good.ID {
				t.Errorf("current is %q, want %q", currentID(l), good.ID)
			}
			if _, err := os.Lstat(filepath.Join(l.Releases, r.ID)); err == nil {
				t.Error("the failed release's directory is still there")
			}
			rels, _ := Releases(l)
			last := rels[len(rels)-1]
			if last.ID != r.ID || last.State != StateFailed || last.Error == "" {
				t.Errorf("record: %+v", last)
			}
		})
	}
	// The daemon the timed-out postinstall left was killed with its group.
	b, err := os.ReadFile(pidFile)
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		t.Fatalf("the daemon's pid: %q %v", b, err)
	}
	testutil.Eventually(t, 10*time.Second, "the daemon to be gone", func() bool {
		// Gone, or a zombie its new parent has not reaped yet: dead.
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			return true
		}
		_, after, _ := strings.Cut(string(b), ") ")
		return strings.HasPrefix(after, "Z") || strings.HasPrefix(after, "X")
	})
}

// A first deploy over a real ~/current directory keeps it as a release;
// rollback goes back to it; pruning keeps keep_releases, current and
// previous.
func TestMoveAsideRollbackPrune(t *testing.T) {
	l := layout(t)
	l.Keep = 2
	os.MkdirAll(l.Current, 0o755)
	os.WriteFile(filepath.Join(l.Current, "supervisord.conf"), []byte(goodConf), 0o644)
	os.WriteFile(filepath.Join(l.Current, "hand-made"), []byte("x"), 0o644)
	r1, out, err := deployDir(t, l, tree(t, map[string]string{"supervisord.conf": goodConf, "v": "1"}))
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if !strings.Contains(out, "is kept as release") {
		t.Errorf("output:\n%s", out)
	}
	rels, _ := Releases(l)
	if len(rels) != 2 || rels[0].State != StatePrevious || !strings.HasSuffix(rels[0].ID, "-before") {
		t.Fatalf("releases: %+v", rels)
	}
	if _, err := os.Stat(filepath.Join(l.Releases, rels[0].ID, "hand-made")); err != nil {
		t.Error("the hand-made project was not kept")
	}
	var buf bytes.Buffer
	back, err := Rollback(context.Background(), l, "", &buf)
	if err != nil || back.ID != rels[0].ID || currentID(l) != rels[0].ID {
		t.Fatalf("rollback: %+v %v\n%s", back, err, buf.String())
	}
	if _, err := Rollback(context.Background(), l, rels[0].ID, &buf); err == nil || !strings.Contains(err.Error(), "already current") {
		t.Errorf("rollback to current: %v", err)
	}
	if _, err := Rollback(context.Background(), l, r1.ID, &buf); err != nil || currentID(l) != r1.ID {
		t.Fatalf("rollback to %s: %v", r1.ID, err)
	}
	var ids []string
	for i := 2; i <= 5; i++ {
		r, out, err := deployDir(t, l, tree(t, map[string]string{"supervisord.conf": goodConf, "v": string(rune('0' + i))}))
		if err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		ids = append(ids, r.ID)
	}
	rels, _ = Releases(l)
	onDisk := map[string]string{}
	for _, r := range rels {
		if _, err := os.Stat(filepath.Join(l.Releases, r.ID)); err == nil {
			onDisk[r.ID] = r.State
		} else if r.State != StatePruned {
			t.Errorf("%s is %s but not on disk", r.ID, r.State)
		}
	}
	if len(onDisk) != 2 || onDisk[ids[3]] != StateCurrent || onDisk[ids[2]] != StatePrevious {
		t.Errorf("on disk after pruning: %v (releases %+v)", onDisk, rels)
	}
	if _, err := Rollback(context.Background(), l, ids[0], &buf); err == nil || !strings.Contains(err.Error(), "pruned") {
		t.Errorf("rollback to a pruned release: %v", err)
	}
}

// A dry run builds a scratch release (its postinstall runs), says whether
// it builds, removes it, and records and switches nothing.
func TestDryRun(t *testing.T) {
	l := layout(t)
	good, out, err := deployDir(t, l, tree(t, map[string]string{"supervisord.conf": goodConf}))
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	before, _ := Releases(l)
	ran := filepath.Join(t.TempDir(), "ran")
	dry := func(files map[string]string) (Release, string, error) {
		var out bytes.Buffer
		r, err := Deploy(context.Background(), l, Source{Dir: tree(t, files)}, &out, Options{DryRun: true, Env: os.Environ()})
		return r, out.String(), err
	}
	unchanged := func(what string, r Release) {
		t.Helper()
		if currentID(l) != good.ID {
			t.Errorf("%s: current is %q", what, currentID(l))
		}
		if _, err := os.Stat(filepath.Join(l.Releases, r.ID)); err == nil {
			t.Errorf("%s: the scratch release is left", what)
		}
		if after, _ := Releases(l); len(after) != len(before) {
			t.Errorf("%s: releases %+v", what, after)
		}
	}
	r, out, err := dry(map[string]string{"supervisord.conf": goodConf,
		"postinstall*": "#!/bin/sh\nset -e\ntest -f supervisord.conf\npwd > " + ran + "\n"})
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for _, w := range []string{"1. postinstall: ./postinstall", "2. check: ", "3. switch " + l.Current, "(not in a dry run)",
		"-----> postinstall", "postinstall done", "check done", "dry run: release " + r.ID + " builds"} {
		if !strings.Contains(out, w) {
			t.Errorf("dry run lacks %q:\n%s", w, out)
		}
	}
	if b, err := os.ReadFile(ran); err != nil || strings.TrimSpace(string(b)) != filepath.Join(l.Releases, r.ID) {
		t.Errorf("postinstall did not run in the scratch release: %q %v", b, err)
	}
	unchanged("a dry run that builds", r)

	r, out, err = dry(map[string]string{"supervisord.conf": "[program:web]\ncommand=/bin/sleep 1\nstartsecs=1o\n"})
	if err == nil {
		t.Fatalf("a broken dry run succeeded:\n%s", out)
	}
	for _, w := range []string{"supervisord.conf:3", "dry run of " + r.ID + ": the build fails; nothing was switched"} {
		if !strings.Contains(out, w) {
			t.Errorf("failed dry run lacks %q:\n%s", w, out)
		}
	}
	unchanged("a dry run that fails", r)
}

// A build that fills the disk: the releases live on a 16 MiB tmpfs, the
// postinstall writes more. The push is refused saying the disk is full,
// the partial release is removed (the space is free again), current and
// the running program (a real supervisor on current) are untouched.
func TestDiskFull(t *testing.T) {
	testutil.RequireRoot(t)
	l := layout(t)
	if err := os.MkdirAll(l.Releases, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("tmpfs", l.Releases, "tmpfs", syscall.MS_NOSUID|syscall.MS_NODEV, "size=16m,mode=0755"); err != nil {
		testutil.Require(t, false, "a tmpfs mount (root with CAP_SYS_ADMIN): "+err.Error())
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(l.Releases, syscall.MNT_DETACH); err != nil {
			t.Errorf("umount %s: %v", l.Releases, err)
		}
	})
	conf := fmt.Sprintf("[unix_http_server]\nfile=%s\n[supervisord]\nlogfile=%s\npidfile=%s\n[program:web]\ncommand=/bin/sleep 1000\nstartsecs=0\n",
		l.Socket, filepath.Join(l.Home, "roost.log"), filepath.Join(l.Home, "roost.pid"))
	good, out, err := deployDir(t, l, tree(t, map[string]string{"supervisord.conf": conf}))
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	sup := exec.Command(l.Roost, "run", "-c", filepath.Join(l.Current, "supervisord.conf"))
	sup.Dir = l.Home
	if err := sup.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sup.Process.Signal(syscall.SIGTERM); sup.Wait() })
	pid := func() int {
		c, err := api.Dial(l.Socket)
		if err != nil {
			return 0
		}
		defer c.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		ps, err := c.Processes(ctx)
		if err != nil || len(ps) != 1 || ps[0].State != api.Running {
			return 0
		}
		return ps[0].PID
	}
	testutil.Eventually(t, 30*time.Second, "web running under the supervisor", func() bool { return pid() > 0 })
	running := pid()

	r, out, err := deployDir(t, l, tree(t, map[string]string{"supervisord.conf": conf,
		"postinstall*": "#!/bin/sh\nset -e\necho building assets\nhead -c 64m /dev/zero > assets.bin\n"}))
	t.Logf("%s", out)
	if err == nil {
		t.Fatal("a build that fills the disk deployed")
	}
	for _, w := range []string{"building assets", "postinstall failed", "the file system of " + l.Releases + " is full",
		"the partial release is removed", "deploy of " + r.ID + " refused: " + l.Current + " and what runs are untouched"} {
		if !strings.Contains(out, w) {
			t.Errorf("output lacks %q", w)
		}
	}
	if currentID(l) != good.ID {
		t.Errorf("current is %q, want %q", currentID(l), good.ID)
	}
	if _, err := os.Lstat(filepath.Join(l.Releases, r.ID)); err == nil {
		t.Error("the partial release is still there")
	}
	var st syscall.Statfs_t
	if err := syscall.Statfs(l.Releases, &st); err != nil || st.Bavail*uint64(st.Bsize) < 8<<20 {
		t.Errorf("the space is not free again: %d bytes free (%v)", st.Bavail*uint64(st.Bsize), err)
	}
	if got := pid(); got != running {
		t.Errorf("web is pid %d, was %d: the program was touched", got, running)
	}
	rels, _ := Releases(l)
	if last := rels[len(rels)-1]; last.ID != r.ID || last.State != StateFailed || !strings.Contains(last.Error, "is full") {
		t.Errorf("record: %+v", last)
	}
}

// Two deploys at once: the second waits for the first (here the test,
// holding the lock), says so, and deploys once the first is done.
func TestConcurrentDeploys(t *testing.T) {
	l := layout(t)
	os.MkdirAll(l.Releases, 0o755)
	unlock, err := lock(l, io.Discard, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	out := &testutil.Buffer{}
	done := make(chan error, 1)
	src := tree(t, map[string]string{"supervisord.conf": goodConf})
	go func() {
		_, err := Deploy(context.Background(), l, Source{Dir: src}, out, Options{Env: os.Environ()})
		done <- err
	}()
	testutil.Eventually(t, 30*time.Second, "the second deploy to say it waits", func() bool {
		return strings.Contains(out.String(), "another deploy of yours is running: waiting for it")
	})
	if _, err := os.Lstat(l.Current); err == nil {
		t.Error("the waiting deploy switched")
	}
	unlock()
	if err := <-done; err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	rels, _ := Releases(l)
	if len(rels) != 1 || rels[0].State != StateCurrent || rels[0].Source != src {
		t.Errorf("releases: %+v", rels)
	}
}

// The hook deploys the branch, stores other refs, and rejects a push whose
// build fails.
func TestHook(t *testing.T) {
	l := layout(t)
	var out bytes.Buffer
	if err := Init(l, "/usr/bin/roost", "/etc/roost/roost.toml", &out); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	hook, _ := os.ReadFile(filepath.Join(l.Repo, "hooks", "pre-receive"))
	if !strings.Contains(string(hook), "exec '/usr/bin/roost' deploy --hook --master-config '/etc/roost/roost.toml'") {
		t.Errorf("hook:\n%s", hook)
	}
	out.Reset()
	if err := Init(l, "/usr/bin/roost", "/etc/roost/roost.toml", &out); err != nil || !strings.Contains(out.String(), "exists") || !strings.Contains(out.String(), "up to date") {
		t.Errorf("second init: %v\n%s", err, out.String())
	}
	os.WriteFile(filepath.Join(l.Repo, "hooks", "pre-receive"), []byte("#!/bin/sh\nmine\n"), 0o755)
	if err := Init(l, "/usr/bin/roost", "/etc/roost/roost.toml", &out); err == nil || !strings.Contains(err.Error(), "roost did not write it") {
		t.Errorf("init over a foreign hook: %v", err)
	}
	os.Remove(filepath.Join(l.Repo, "hooks", "pre-receive")) // the commits below go in without a hook

	work := tree(t, map[string]string{"supervisord.conf": goodConf, "index.html": "v1\n"})
	git := func(args ...string) string {
		t.Helper()
		cmd := exec.Command("git", args...)
		cmd.Dir = work
		cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@x", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@x")
		b, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, b)
		}
		return strings.TrimSpace(string(b))
	}
	git("init", "-q", "-b", "main")
	git("add", ".")
	git("commit", "-qm", "v1")
	v1 := git("rev-parse", "HEAD")
	// The objects go in beside main (as a push's quarantine holds them);
	// main moves only when the hook said yes, as git moves it.
	git("push", "-q", l.Repo, "main:refs/incoming/main", "main:feature")
	zero := strings.Repeat("0", 40)

	out.Reset()
	in := strings.NewReader(zero + " " + v1 + " refs/heads/feature\n" + zero + " " + v1 + " refs/heads/main\n")
	if err := Hook(context.Background(), l, in, &out, Options{Env: os.Environ()}); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "refs/heads/feature stored, not deployed (pushes to main deploy)") {
		t.Errorf("output:\n%s", out.String())
	}
	rels, _ := Releases(l)
	if len(rels) != 1 || rels[0].Commit != v1 || rels[0].State != StateCurrent || !strings.HasSuffix(rels[0].ID, "-"+v1[:7]) {
		t.Fatalf("releases: %+v", rels)
	}
	if b, _ := os.ReadFile(filepath.Join(l.Current, "index.html")); string(b) != "v1\n" {
		t.Errorf("index.html: %q", b)
	}
	git("--git-dir="+l.Repo, "update-ref", "refs/heads/main", v1)

	os.WriteFile(filepath.Join(work, "supervisord.conf"), []byte("[program:web]\ncommand=\n"), 0o644)
	git("commit", "-qam", "broken")
	v2 := git("rev-parse", "HEAD")
	git("push", "-q", "-f", l.Repo, "main:refs/incoming/main")
	out.Reset()
	err := Hook(context.Background(), l, strings.NewReader(v1+" "+v2+" refs/heads/main\n"), &out, Options{Env: os.Environ()})
	if err == nil || !strings.Contains(out.String(), "supervisord.conf:2") || currentID(l) != rels[0].ID {
		t.Errorf("a broken push: %v, current %s\n%s", err, currentID(l), out.String())
	}
	// A push that waited behind another one to the same branch is refused:
	// main is no longer where it began (git would refuse its ref update).
	out.Reset()
	err = Hook(context.Background(), l, strings.NewReader(zero+" "+v2+" refs/heads/main\n"), &out, Options{Env: os.Environ()})
	if err == nil || !strings.Contains(out.String(), "refs/heads/main moved to "+v1[:12]+" while this push waited") {
		t.Errorf("a push racing another: %v\n%s", err, out.String())
	}
	if err := Hook(context.Background(), l, strings.NewReader("junk\n"), &out, Options{}); err == nil {
		t.Error("junk input accepted")
	}
}

// A tar stream (git archive's output) cannot write outside the release.
func TestExtractRefusesEscapes(t *testing.T) {
	for _, name := range []string{"../evil", "/etc/evil", "a/../../evil"} {
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: 1, Typeflag: tar.TypeReg})
		tw.Write([]byte("x"))
		tw.Close()
		dir := filepath.Join(t.TempDir(), "rel")
		os.Mkdir(dir, 0o755)
		if err := extractTar(&buf, dir); err == nil || !strings.Contains(err.Error(), "leaves the release") {
			t.Errorf("%q: %v", name, err)
		}
		if _, err := os.Stat(filepath.Join(filepath.Dir(dir), "evil")); err == nil {
			t.Errorf("%q was written outside the release", name)
		}
	}
}
