package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// errAt returns the error diagnostics of err, failing when it is not a *Error.
func errAt(t *testing.T, err error) []Diagnostic {
	t.Helper()
	var ce *Error
	if !errors.As(err, &ce) {
		t.Fatalf("want a *config.Error, got %v", err)
	}
	return ce.Diagnostics
}

// hasDiag reports whether a diagnostic is at pos (file:line) and its text
// contains sub.
func hasDiag(ds []Diagnostic, pos, sub string) bool {
	for _, d := range ds {
		if d.Pos.String() == pos && strings.Contains(d.String(), sub) {
			return true
		}
	}
	return false
}

func TestModelTypes(t *testing.T) {
	cfg, err := loadMem(map[string]string{"supervisord.conf": `[supervisord]
environment=G="1"
[program:web]
command=/bin/echo "%(ENV_PORT)s"
process_name=web-%(process_num)d
numprocs=2
numprocs_start=3
startsecs=2
stopwaitsecs=0
stopsignal=usr1
exitcodes=1,2
autorestart=true
umask=002
environment=A="x",G="2"
redirect_stderr=true
stdout_logfile=logs/%(program_name)s.log
stdout_logfile_maxbytes=5MB
`}, "/p/logs")
	if err != nil {
		t.Fatal(err)
	}
	g := cfg.Group("web")
	if g == nil || len(g.Processes) != 2 || g.Pos.String() != "supervisord.conf:3" {
		t.Fatalf("group: %+v", g)
	}
	p := g.Processes[0]
	want := Process{
		Name: "web-3", Group: "web", Program: "web", ProcessNum: 3, Numprocs: 2,
		Command: `/bin/echo "8000"`, Argv: []string{"/bin/echo", "8000"}, Umask: 0o002, Priority: 999,
		Autostart: true, Autorestart: AutorestartTrue, StartSecs: 2 * time.Second, StartRetries: 3,
		StopSignal: syscall.SIGUSR1, StopWaitSecs: 0, ExitCodes: []int{1, 2}, RedirectStderr: true,
		Stdout:      LogConfig{File: "/p/logs/web.log", MaxBytes: 5 << 20, Backups: 10},
		Stderr:      LogConfig{MaxBytes: 50 << 20, Backups: 10},
		Environment: Environment{{"G", "2"}, {"A", "x"}},
		Pos:         Pos{File: "supervisord.conf", Line: 3},
	}
	if diff := cmpProcess(*p, want); diff != "" {
		t.Error(diff)
	}
	if p.Namespec() != "web:web-3" || g.Processes[1].Name != "web-4" {
		t.Errorf("namespec %s, second %s", p.Namespec(), g.Processes[1].Name)
	}
	if got := cfg.ProcessesOf("web"); len(got) != 2 {
		t.Errorf("ProcessesOf: %d", len(got))
	}
	if cfg.Supervisord.Umask != 0o22 || cfg.Supervisord.LogLevel != "info" || cfg.Supervisord.Logfile != "/p/supervisord.log" ||
		cfg.Supervisord.Childlogdir != "/tmp" || cfg.Supervisord.Identifier != "supervisor" {
		t.Errorf("supervisord defaults: %+v", cfg.Supervisord)
	}
}

func cmpProcess(got, want Process) string {
	var diffs []string
	if got.Name != want.Name || got.Group != want.Group || got.Program != want.Program || got.ProcessNum != want.ProcessNum || got.Numprocs != want.Numprocs {
		diffs = append(diffs, "identity")
	}
	if got.Command != want.Command || strings.Join(got.Argv, "|") != strings.Join(want.Argv, "|") {
		diffs = append(diffs, "command")
	}
	if !SameProcess(&got, &want) || got.Stdout != want.Stdout || got.Stderr != want.Stderr {
		diffs = append(diffs, "options")
	}
	if strings.Join(got.Environment.Strings(), ",") != strings.Join(want.Environment.Strings(), ",") {
		diffs = append(diffs, "environment order")
	}
	if got.Pos != want.Pos {
		diffs = append(diffs, "pos")
	}
	if diffs == nil {
		return ""
	}
	return fmt.Sprintf("process differs in %s:\n%+v\nwant\n%+v", strings.Join(diffs, ", "), got, want)
}

func TestPositions(t *testing.T) {
	// The line of a key is where the key starts; a merged section reports
	// its winning key; a [DEFAULT] key reports the [DEFAULT] line; a missing
	// option reports the section header.
	_, err := loadMem(map[string]string{
		"supervisord.conf": `[DEFAULT]
startretries=x

[supervisord]
[program:a]
command=/bin/true
startsecs=1
[program:b]
command=
    /bin/true
    %(nope)s
[program:a]
startsecs=bad
[program:c]
[include]
files=conf.d/*.conf
`,
		"conf.d/x.conf": "\n[program:a]\nstopsignal=NOPE\n",
	})
	ds := errAt(t, err)
	for _, want := range []struct{ pos, sub string }{
		{"supervisord.conf:2", "[program:a] startretries: \"x\" is not an integer"},
		{"supervisord.conf:9", "[program:b] command: %(nope)"},
		{"supervisord.conf:13", "[program:a] startsecs: \"bad\""},
		{"supervisord.conf:14", "[program:c] command: required"},
		{"conf.d/x.conf:3", "[program:a] stopsignal"},
	} {
		if !hasDiag(ds, want.pos, want.sub) {
			t.Errorf("no error at %s containing %q; got:\n%s", want.pos, want.sub, diagLines(ds))
		}
	}
	// Sorted by file, then line.
	if ds[len(ds)-1].Pos.File != "conf.d/x.conf" {
		t.Errorf("diagnostics not sorted by file:\n%s", diagLines(ds))
	}
}

func TestIncludesOnDisk(t *testing.T) {
	dir := t.TempDir()
	write := func(rel, text string) {
		t.Helper()
		p := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("supervisord.conf", "[supervisord]\n[include]\nfiles=conf.d/*.conf\n")
	write("conf.d/a.conf", "[program:a]\ncommand=/bin/echo %(here)s\n")
	write("elsewhere/real.conf", "[program:linked]\ncommand=/bin/true\n")
	if err := os.Symlink(filepath.Join(dir, "elsewhere/real.conf"), filepath.Join(dir, "conf.d/b.conf")); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "conf.d/dir.conf"), 0o755); err != nil {
		t.Fatal(err)
	}
	opts := LoadOptions{Env: []string{"HOME=/tmp"}, Hostname: "h", Dir: dir}

	cfg, err := Load(filepath.Join(dir, "supervisord.conf"), opts)
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Processes()) != 2 || cfg.Group("a").Processes[0].Command != "/bin/echo "+filepath.Join(dir, "conf.d") {
		t.Errorf("processes: %+v", cfg.Processes())
	}
	wantFiles := []string{filepath.Join(dir, "supervisord.conf"), filepath.Join(dir, "conf.d/a.conf"), filepath.Join(dir, "conf.d/b.conf")}
	if strings.Join(cfg.Files, ",") != strings.Join(wantFiles, ",") {
		t.Errorf("files %v, want %v", cfg.Files, wantFiles)
	}
	if !hasDiag(cfg.Warnings, "supervisord.conf:3", "is a directory") {
		t.Errorf("no warning about the directory match:\n%s", diagLines(cfg.Warnings))
	}

	// A FIFO must not block the loader, and is refused.
	if err := syscall.Mkfifo(filepath.Join(dir, "conf.d/fifo.conf"), 0o644); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := Load(filepath.Join(dir, "supervisord.conf"), opts)
		done <- err
	}()
	select {
	case err := <-done:
		if !hasDiag(errAt(t, err), "supervisord.conf:3", "not a regular file") {
			t.Errorf("FIFO include: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Load blocked on a FIFO include")
	}
	os.Remove(filepath.Join(dir, "conf.d/fifo.conf"))

	// Too large a file is refused before it is read whole.
	write("conf.d/huge.conf", "[program:huge]\ncommand=/bin/true\n"+strings.Repeat(";\n", maxFileSize))
	if _, err := Load(filepath.Join(dir, "supervisord.conf"), opts); !hasDiag(errAt(t, err), "supervisord.conf:3", "limit") {
		t.Errorf("huge include: %v", err)
	}
	os.Remove(filepath.Join(dir, "conf.d/huge.conf"))

	// A relative path resolves against Dir, and diagnostics name files
	// relative to it.
	write("conf.d/bad.conf", "[program:bad]\ncommand=/bin/true\nstartsecs=x\n")
	_, err = Load("supervisord.conf", opts)
	if !hasDiag(errAt(t, err), "conf.d/bad.conf:3", "startsecs") {
		t.Errorf("relative load: %v", err)
	}
	_, err = Load("nope.conf", opts)
	if !hasDiag(errAt(t, err), "nope.conf", "no such file") {
		t.Errorf("missing file: %v", err)
	}
}

func TestEnvironmentFirstValueWins(t *testing.T) {
	l, err := newLoader(LoadOptions{Env: []string{"A=1", "A=2", "noequals", "=x", "B="}, Hostname: "h", Dir: "/"}, newMemSystem(nil))
	if err != nil {
		t.Fatal(err)
	}
	if l.env["A"] != "1" || l.env["B"] != "" || len(l.env) != 2 {
		t.Errorf("env %v", l.env)
	}
}

func TestValidationErrors(t *testing.T) {
	cases := []struct {
		name, conf, pos, sub string
	}{
		{"numprocs limit", "[program:a]\ncommand=/bin/true\nnumprocs=1001\nprocess_name=%(process_num)d", "supervisord.conf:4", "between 0 and 1000"},
		{"negative startsecs", "[program:a]\ncommand=/bin/true\nstartsecs=-1", "supervisord.conf:4", "0 or more"},
		{"signal zero", "[program:a]\ncommand=/bin/true\nstopsignal=0", "supervisord.conf:4", "not a valid signal number"},
		{"negative umask", "[program:a]\ncommand=/bin/true\numask=-1", "supervisord.conf:4", "out of range"},
		{"empty command", "[program:a]\ncommand=", "supervisord.conf:3", "command is empty"},
		{"bad expanded process name", "[program:a]\ncommand=/bin/true\nprocess_name=%(ENV_USER)s:x", "supervisord.conf:4", "may not contain ':'"},
		{"env name with equals", "[program:a]\ncommand=/bin/true\nenvironment===1", "supervisord.conf:4", "not a valid environment variable name"},
		{"width limit", "[program:a]\ncommand=/bin/echo %(here)99999s", "supervisord.conf:3", "limit"},
		{"whole-dict format", "[program:a]\ncommand=/bin/echo %s", "supervisord.conf:3", "has no name"},
		{"eventlistener buffer", "[eventlistener:e]\ncommand=/bin/cat\nevents=TICK_5\nbuffer_size=0", "supervisord.conf:5", "buffer_size"},
		{"unknown event", "[eventlistener:e]\ncommand=/bin/cat\nevents=TICK_7", "supervisord.conf:4", "unknown event type TICK_7"},
		{"fcgi relative socket", "[fcgi-program:f]\ncommand=/bin/cat\nsocket=unix://rel.sock", "supervisord.conf:4", "not an absolute path"},
		{"fcgi bad socket", "[fcgi-program:f]\ncommand=/bin/cat\nsocket=tcp://host", "supervisord.conf:4", "bad socket format"},
		{"chown unknown", "[unix_http_server]\nfile=/tmp/s.sock\nchown=nosuch:nogroup", "supervisord.conf:4", "no such user"},
		{"inet port", "[inet_http_server]\nport=127.0.0.1:0\nusername=u\npassword=p", "supervisord.conf:3", "out of range"},
		{"inet without password", "[inet_http_server]\nport=127.0.0.1:9001", "supervisord.conf:2", "set username= and password="},
		{"rpcinterface without factory", "[rpcinterface:x]\nfoo=1", "supervisord.conf:2", "required"},
		{"supervisord directory", "directory=/nonexistent", "supervisord.conf:2", "not an existing directory"},
		{"invalid utf8", "[program:a]\ncommand=/bin/echo \xff", "supervisord.conf:3", "UTF-8"},
		{"nul byte", "[program:a]\ncommand=/bin/echo \x00", "supervisord.conf:3", "NUL"},
		{"empty option name", "[program:a]\n= 1", "supervisord.conf:3", "no name"},
		{"empty section name", "[]", "supervisord.conf:2", "empty section name"},
		{"program memory_max", "[program:a]\ncommand=/bin/true\nmemory_max=12Q", "supervisord.conf:4", `"12Q" is not a size`},
		{"program memory_max tiny", "[program:a]\ncommand=/bin/true\nmemory_max=1000", "supervisord.conf:4", "at least 1M"},
		{"program pids_max", "[program:a]\ncommand=/bin/true\npids_max=0", "supervisord.conf:4", "between 1 and 4194304"},
		{"program cpu_max", "[program:a]\ncommand=/bin/true\ncpu_max=half", "supervisord.conf:4", "not a share of CPU"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { wantErrorAt(t, c.conf, c.pos, c.sub) })
	}
}

// wantErrorAt loads "[supervisord]" and conf and wants an error at pos
// (file:line) whose text contains sub.
func wantErrorAt(t *testing.T, conf, pos, sub string) {
	t.Helper()
	conf = "[supervisord]\n" + conf + "\n"
	_, err := loadMem(map[string]string{"supervisord.conf": conf})
	if err == nil {
		t.Fatalf("accepted:\n%s", conf)
	}
	if ds := errAt(t, err); !hasDiag(ds, pos, sub) {
		t.Errorf("want an error at %s containing %q, got:\n%s", pos, sub, diagLines(ds))
	}
}

func TestWarnings(t *testing.T) {
	cfg, err := loadMem(map[string]string{"supervisord.conf": `[supervisord]
[program:a]
autostrat=false
command=/bin/cat
  startsecs=5
stdout_logfile_maxbytes=0
[progam:b]
command=/bin/true
[inet_http_server]
port=:9001
username=u
password=p
[rpcinterface:other]
supervisor.rpcinterface_factory = my.module:factory
[group:empty]
[default]
[supervisor]
`})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []struct{ pos, sub string }{
		{"supervisord.conf:3", "autostrat: unknown option (did you mean autostart?)"},
		{"supervisord.conf:5", "read as part of command's value"},
		{"supervisord.conf:6", "AUTO logging without rollover"},
		{"supervisord.conf:7", "unknown section; supervisord ignores it (did you mean [program:b]?)"},
		{"supervisord.conf:14", "my.module:factory is ignored"},
		{"supervisord.conf:15", "lists no programs"},
		{"supervisord.conf:16", "did you mean [DEFAULT]?"},
		{"supervisord.conf:17", "did you mean [supervisord]?"},
	} {
		if !hasDiag(cfg.Warnings, want.pos, want.sub) {
			t.Errorf("no warning at %s containing %q; got:\n%s", want.pos, want.sub, diagLines(cfg.Warnings))
		}
	}
}

func TestParseSignal(t *testing.T) {
	for in, want := range map[string]syscall.Signal{
		"TERM": syscall.SIGTERM, "sigterm": syscall.SIGTERM, " Hup ": syscall.SIGHUP, "9": syscall.SIGKILL,
		"SIGUSR2": syscall.SIGUSR2, "rtmin": syscall.Signal(34), "cld": syscall.SIGCHLD,
	} {
		if got, err := ParseSignal(in); err != nil || got != want {
			t.Errorf("ParseSignal(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "0", "32", "FOO", "SIG_DFL", "_DFL", "-15"} {
		if _, err := ParseSignal(in); err == nil {
			t.Errorf("ParseSignal(%q) accepted", in)
		}
	}
	if SignalName(syscall.SIGCHLD) != "CHLD" || SignalName(syscall.SIGTERM) != "TERM" || SignalName(syscall.SIGABRT) != "ABRT" || SignalName(syscall.Signal(50)) != "50" {
		t.Error("SignalName")
	}
}

func TestFind(t *testing.T) {
	dir := t.TempDir()
	paths := []string{filepath.Join(dir, "supervisord.conf"), filepath.Join(dir, "etc", "supervisord.conf")}
	_, err := find(paths)
	if err == nil || !strings.Contains(err.Error(), paths[0]+", "+paths[1]) {
		t.Errorf("error should list the searched paths: %v", err)
	}
	os.MkdirAll(filepath.Join(dir, "etc"), 0o755)
	os.WriteFile(paths[1], nil, 0o644)
	if p, err := find(paths); err != nil || p != paths[1] {
		t.Errorf("find = %q, %v", p, err)
	}
	os.Symlink(filepath.Join(dir, "missing"), paths[0]) // dangling: does not count
	if p, _ := find(paths); p != paths[1] {
		t.Errorf("a dangling symlink was found: %q", p)
	}
	got := SearchPaths("/w")
	want := []string{"/w/supervisord.conf", "/w/etc/supervisord.conf", "/etc/supervisord.conf", "/etc/supervisor/supervisord.conf"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("SearchPaths = %v", got)
	}
}

func TestNoWarningForEnvironmentContinuation(t *testing.T) {
	cfg, err := loadMem(map[string]string{"supervisord.conf": `[supervisord]
[program:a]
command=/bin/env
environment=
    HOME="/home/bob",
    USER="bob"
`})
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Warnings) != 0 {
		t.Errorf("unexpected warnings:\n%s", diagLines(cfg.Warnings))
	}
	if v, _ := cfg.Processes()[0].Environment.Lookup("USER"); v != "bob" {
		t.Errorf("environment: %v", cfg.Processes()[0].Environment)
	}
}

func TestChildlogdirSet(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		section string
		set     bool
	}{
		{"[supervisord]\n", false},
		{"[supervisord]\nchildlogdir=" + dir + "\n", true},
	} {
		conf := filepath.Join(dir, "supervisord.conf")
		if err := os.WriteFile(conf, []byte(tc.section), 0o644); err != nil {
			t.Fatal(err)
		}
		cfg, err := Load(conf, LoadOptions{Dir: dir})
		if err != nil {
			t.Fatal(err)
		}
		if s := cfg.Supervisord; s.ChildlogdirSet != tc.set || s.Childlogdir == "" {
			t.Errorf("%q: childlogdir %q, set %v; want set %v", tc.section, s.Childlogdir, s.ChildlogdirSet, tc.set)
		}
	}
}

// roost's [program:x] limits: read (cpu_max with supervisord's "%%" too),
// no warning (they are documented keys), and a change restarts the
// process.
func TestProgramLimits(t *testing.T) {
	cfg := mustLoad(t, "[program:a]\ncommand=/bin/true\nmemory_max=256M\npids_max=50\ncpu_max=50%%\n"+
		"[program:b]\ncommand=/bin/true\ncpu_max=150%\n")
	a, b := cfg.Groups[0].Processes[0], cfg.Groups[1].Processes[0]
	if want := (Limits{MemoryMax: 256 << 20, PidsMax: 50, CPUMax: 50}); a.Limits != want {
		t.Errorf("a: %+v, want %+v", a.Limits, want)
	}
	if b.Limits != (Limits{CPUMax: 150}) {
		t.Errorf("b: %+v", b.Limits)
	}
	for _, w := range cfg.Warnings {
		if strings.Contains(w.Message, "_max") {
			t.Errorf("warning: %v", w)
		}
	}
	c := *a
	c.Limits.MemoryMax = 128 << 20
	if SameProcess(a, &c) {
		t.Error("a memory_max change leaves the process as it is")
	}
}
