package xmlrpc

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"roost/internal/testutil"
)

var update = flag.Bool("update", false, "rewrite testdata/compat/session.golden from the real supervisord")

// The acceptance test of issue 4: the real supervisorctl runs one scripted
// session, covering every command it has and its error cases, against the
// same configuration under the real supervisord and under `roost run`, and
// the two transcripts (output and exit status of every command, pids,
// uptimes, dates and versions normalised) must be identical.
//
// The supervisord transcript is also kept in testdata/compat/session.golden
// (go test -run TestSupervisorctlCompat -update rewrites it), which shows
// the session and its normalisation are deterministic.

// compatConfA is the configuration the session starts with; compatConfB the
// one it edits it into before reread/update. Every program ignores HUP,
// USR1 and USR2 (ignored signals survive exec), so signalling it changes
// nothing. "once" lives a second: long enough that its start always sees it
// RUNNING (a process that exits before supervisord's first look is an
// ABNORMAL_TERMINATION instead), short enough to wait for. "crash" has 10
// startsecs, so that even on a loaded machine it exits too quickly.
const compatConfA = `[unix_http_server]
file=%(here)s/run/sv.sock

[supervisord]
logfile=%(here)s/log/supervisord.log
pidfile=%(here)s/run/supervisord.pid
childlogdir=%(here)s/log
identifier=compat

[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface

[supervisorctl]
serverurl=unix://%(here)s/run/sv.sock

[program:web]
command=/bin/sh -c 'trap "" HUP USR1 USR2; echo "web says hello"; echo "web complains" >&2; exec sleep 1000'
priority=10
stdout_logfile=%(here)s/log/web.out
stderr_logfile=%(here)s/log/web.err

[program:worker]
command=/bin/sh -c 'trap "" HUP USR1 USR2; echo "worker %(process_num)d ready"; exec sleep 1000'
process_name=%(program_name)s_%(process_num)d
numprocs=2
redirect_stderr=true
stdout_logfile=%(here)s/log/%(program_name)s_%(process_num)d.out

[group:pool]
programs=worker

[program:once]
command=/bin/sh -c 'echo "once ran"; exec sleep 1'
autostart=false
autorestart=false
startsecs=0
stdout_logfile=%(here)s/log/once.out
stderr_logfile=%(here)s/log/once.err
`

var compatConfB = strings.NewReplacer(
	"web says hello", "web v2 says hello",
	`[program:once]
command=/bin/sh -c 'echo "once ran"; exec sleep 1'
autostart=false
autorestart=false
startsecs=0
stdout_logfile=%(here)s/log/once.out
stderr_logfile=%(here)s/log/once.err
`, `[program:crash]
command=/bin/sh -c 'echo "crash is crashing"; exit 3'
autostart=false
startsecs=10
startretries=0
autorestart=false
stdout_logfile=%(here)s/log/crash.out
stderr_logfile=%(here)s/log/crash.err

[program:missing]
command=/nonexistent/program
autostart=false
stdout_logfile=%(here)s/log/missing.out
stderr_logfile=%(here)s/log/missing.err

[program:extra]
command=/bin/sh -c 'trap "" HUP USR1 USR2; echo "extra is up"; exec sleep 1000'
stdout_logfile=%(here)s/log/extra.out
stderr_logfile=%(here)s/log/extra.err
`).Replace(compatConfA)

// step is one line of the session: a supervisorctl command, or an action
// between commands.
type step struct {
	args      []string // supervisorctl's arguments
	unordered bool     // results arrive in completion order: sort the lines
	mainLog   bool     // the output is the main log, whose text is the implementation's own
	version   bool     // the output is the version, which is the implementation's own
	follow    bool     // tail -f / maintail -f: read until the log is shown, then Ctrl-C
	action    string   // an action instead of a command, named in the transcript
	do        func(s *session)
}

func ctlStep(args ...string) step { return step{args: args} }

var compatSession = []step{
	{action: "wait until no process is in a transitional state", do: (*session).settle},
	{args: []string{"version"}, version: true},
	ctlStep("status"),
	ctlStep("status", "web"),
	ctlStep("status", "pool:*"),
	ctlStep("status", "web", "pool:worker_1"),
	ctlStep("status", "nope"),
	ctlStep("status", "nope:*"),
	ctlStep("pid"),
	ctlStep("pid", "web"),
	ctlStep("pid", "all"),
	ctlStep("pid", "nope"),
	ctlStep("avail"),
	ctlStep("start"),
	ctlStep("start", "web"),
	ctlStep("start", "nope"),
	ctlStep("start", "nope:*"),
	ctlStep("stop", "once"),
	ctlStep("stop", "nope"),
	ctlStep("start", "once"),
	{action: "wait until no process is in a transitional state", do: (*session).settle},
	ctlStep("status", "once"),
	ctlStep("tail", "once"),
	ctlStep("stop", "web"),
	ctlStep("status", "web"),
	ctlStep("start", "web"),
	ctlStep("restart", "web"),
	{args: []string{"restart", "pool:*"}, unordered: true},
	{args: []string{"stop", "all"}, unordered: true},
	ctlStep("status"),
	{args: []string{"start", "all"}, unordered: true},
	{action: "wait until no process is in a transitional state", do: (*session).settle},
	ctlStep("status"),
	ctlStep("signal", "HUP", "web"),
	ctlStep("signal", "USR1", "pool:*"),
	ctlStep("signal", "USR2", "all"),
	ctlStep("signal", "BOGUS", "web"),
	ctlStep("signal", "HUP", "once"),
	ctlStep("signal", "HUP", "nope"),
	ctlStep("signal", "HUP", "nope:*"),
	ctlStep("signal", "HUP"),
	ctlStep("tail", "web"),
	ctlStep("tail", "-16", "web"),
	ctlStep("tail", "web", "stderr"),
	ctlStep("tail", "pool:worker_0"),
	ctlStep("tail", "pool:worker_0", "stderr"),
	ctlStep("tail", "nope"),
	ctlStep("tail", "web", "bogus"),
	{args: []string{"tail", "-f", "web"}, follow: true},
	{args: []string{"tail", "-f", "pool:worker_1", "stdout"}, follow: true},
	{args: []string{"maintail"}, mainLog: true},
	{args: []string{"maintail", "-f"}, mainLog: true, follow: true},
	ctlStep("clear", "web"),
	ctlStep("tail", "web"),
	ctlStep("clear", "nope"),
	ctlStep("clear", "all"),
	ctlStep("tail", "pool:worker_1"),
	{action: "edit supervisord.conf: change web, remove once, add crash, missing and extra", do: func(s *session) { s.writeConf(compatConfB) }},
	ctlStep("reread"),
	ctlStep("avail"),
	ctlStep("add", "crash"),
	ctlStep("start", "crash"),
	{action: "wait until no process is in a transitional state", do: (*session).settle},
	ctlStep("status", "crash"),
	ctlStep("add", "missing"),
	ctlStep("start", "missing"),
	ctlStep("status", "missing"),
	ctlStep("add", "crash"),
	ctlStep("add", "nope"),
	ctlStep("remove", "crash"),
	ctlStep("remove", "web"),
	ctlStep("remove", "nope"),
	ctlStep("update"),
	{action: "wait until no process is in a transitional state", do: (*session).settle},
	ctlStep("status"),
	ctlStep("tail", "web"),
	ctlStep("reread"),
	ctlStep("update", "nope"),
	ctlStep("reload"),
	{action: "wait until the supervisor is back and settled", do: (*session).settle},
	ctlStep("status"),
	ctlStep("avail"),
	ctlStep("shutdown"),
	{action: "wait for the supervisor to exit", do: (*session).waitExit},
	ctlStep("status"),
	ctlStep("shutdown"),
}

// session runs compatSession against one supervisor.
type session struct {
	t          *testing.T
	ctl        string
	dir, conf  string
	daemon     *exec.Cmd
	daemonDone chan error
	transcript bytes.Buffer
}

func TestSupervisorctlCompat(t *testing.T) {
	testutil.RequireBinary(t, "supervisorctl")
	supervisord := testutil.RequireBinary(t, "supervisord")

	var want string
	t.Run("supervisord", func(t *testing.T) {
		want = runSession(t, []string{supervisord, "-n", "-c"})
		golden := filepath.Join("testdata", "compat", "session.golden")
		if *update {
			if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(golden, []byte(want), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		if g, err := os.ReadFile(golden); err != nil {
			t.Errorf("no golden transcript (run with -update): %v", err)
		} else if d := cmp.Diff(string(g), want); d != "" {
			t.Errorf("supervisord's session differs from %s (-golden +now):\n%s", golden, d)
		}
	})
	t.Run("roost", func(t *testing.T) {
		roost := testutil.RoostBinary(t, nil)
		if want == "" {
			t.Fatal("no supervisord transcript to compare with")
		}
		// --no-watch: the session edits the file and expects supervisord's
		// semantics (nothing changes before reread/update); roost run
		// applies saved changes by itself unless told not to.
		got := runSession(t, []string{roost, "run", "--no-watch", "-c"})
		if d := cmp.Diff(want, got); d != "" {
			t.Errorf("supervisorctl against roost differs from against supervisord (-supervisord +roost):\n%s", d)
		}
	})
}

// runSession starts the supervisor (daemon argv, then the config's path) in
// a fresh project directory, runs the session and returns its normalised
// transcript.
func runSession(t *testing.T, daemon []string) string {
	s := &session{t: t, ctl: testutil.RequireBinary(t, "supervisorctl"), dir: t.TempDir()}
	s.conf = filepath.Join(s.dir, "supervisord.conf")
	for _, d := range []string{"run", "log"} {
		if err := os.Mkdir(filepath.Join(s.dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	s.writeConf(compatConfA)
	s.startDaemon(append(daemon, s.conf))
	for _, st := range compatSession {
		if st.do != nil {
			fmt.Fprintf(&s.transcript, "# %s\n", st.action)
			st.do(s)
			continue
		}
		var out string
		var code int
		if st.follow {
			out, code = s.follow(st.args)
		} else {
			out, code = s.run(st.args...)
		}
		out = s.normalize(out, st)
		fmt.Fprintf(&s.transcript, "$ supervisorctl %s\n%s[exit %d]\n", strings.Join(st.args, " "), out, code)
	}
	return s.transcript.String()
}

func (s *session) writeConf(text string) {
	if err := os.WriteFile(s.conf, []byte(text), 0o644); err != nil {
		s.t.Fatal(err)
	}
}

func (s *session) startDaemon(argv []string) {
	s.t.Helper()
	log, err := os.Create(filepath.Join(s.dir, "daemon.out"))
	if err != nil {
		s.t.Fatal(err)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = s.dir
	cmd.Stdout, cmd.Stderr = log, log
	// Its own process group, so that cleanup can reach its children.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	s.daemon = cmd
	s.daemonDone = make(chan error, 1)
	go func() { s.daemonDone <- cmd.Wait(); log.Close() }()
	s.t.Cleanup(func() {
		select {
		case <-s.daemonDone:
			return
		default:
		}
		syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-s.daemonDone:
		case <-time.After(30 * time.Second):
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-s.daemonDone
		}
		if s.t.Failed() {
			out, _ := os.ReadFile(filepath.Join(s.dir, "daemon.out"))
			s.t.Logf("supervisor output:\n%s", out)
		}
	})
}

func (s *session) command(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, s.ctl, append([]string{"-c", s.conf}, args...)...)
	cmd.Dir = s.dir
	cmd.Env = append(os.Environ(), "PYTHONUNBUFFERED=1", "LANG=C.UTF-8")
	return cmd
}

// run runs one supervisorctl command: its stdout then stderr, exit status.
func (s *session) run(args ...string) (string, int) {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := s.command(ctx, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case ctx.Err() != nil:
		s.t.Fatalf("supervisorctl %v did not finish in 2 minutes", args)
	case errors.As(err, &ee):
		return stdout.String() + stderr.String(), ee.ExitCode()
	case err != nil:
		s.t.Fatalf("supervisorctl %v: %v", args, err)
	}
	return stdout.String() + stderr.String(), 0
}

// follow runs `tail -f` or `maintail -f` until it has shown the log as it
// stands (what the same command without -f prints), then interrupts it
// as Ctrl-C would.
func (s *session) follow(args []string) (string, int) {
	s.t.Helper()
	plain := make([]string, 0, len(args))
	for _, a := range args {
		if a != "-f" {
			plain = append(plain, a)
		}
	}
	current, _ := s.run(plain...)
	want := strings.TrimSuffix(current, "\n") // supervisorctl adds a newline
	if len(want) > TailBytes {
		want = want[len(want)-TailBytes:] // the stream starts with the last 1024 bytes
	}
	const banner = "==> Press Ctrl-C to exit <==\n"
	f := startFollow(s.t, s.command(context.Background(), args...))
	if plain[0] == "maintail" {
		// The main log is the implementation's own and may grow with
		// every request: wait for one whole line of it.
		f.waitUntil("a line of the main log", func(out string) bool {
			rest, ok := strings.CutPrefix(out, banner)
			return ok && strings.Contains(rest, "\n")
		})
	} else {
		f.waitFor(banner + want)
	}
	f.interrupt()
	f.mu.Lock()
	defer f.mu.Unlock()
	return interrupted(f.out.String()), f.cmd.ProcessState.ExitCode()
}

// interruptRE is what supervisorctl prints when Ctrl-C lands inside its
// HTTP client's handler rather than around it.
var interruptRE = regexp.MustCompile(`\n[^\n]* Cannot connect, error: <class 'KeyboardInterrupt'> \(\)\n$`)

// interrupted normalises how supervisorctl ends on Ctrl-C, which depends on
// where in its loop the signal lands: an empty line, or an error naming
// KeyboardInterrupt. Both become "^C".
func interrupted(out string) string {
	if loc := interruptRE.FindStringIndex(out); loc != nil {
		return out[:loc[0]+1] + "^C\n"
	}
	return strings.TrimSuffix(out, "\n") + "^C\n"
}

// settle waits until `status` answers and shows no process STARTING,
// BACKOFF or STOPPING, and "once" not RUNNING (it is about to exit). The
// supervisor is another process whose states this test cannot subscribe
// to, so this polls, with a deadline.
func (s *session) settle() {
	s.t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		out, code := s.run("status")
		if code == 0 || code == 3 {
			stable := true
			for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
				f := strings.Fields(line)
				if len(f) < 2 || !(f[1] == "RUNNING" || f[1] == "STOPPED" || f[1] == "EXITED" || f[1] == "FATAL") ||
					f[0] == "once" && f[1] == "RUNNING" {
					stable = false
				}
			}
			if stable {
				return
			}
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("the supervisor did not settle in a minute; last status (exit %d):\n%s", code, out)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func (s *session) waitExit() {
	s.t.Helper()
	select {
	case err := <-s.daemonDone:
		s.daemonDone <- err // for cleanup
		if err != nil {
			s.t.Errorf("the supervisor exited with %v after shutdown", err)
		}
	case <-time.After(time.Minute):
		s.t.Fatal("the supervisor did not exit in a minute after shutdown")
	}
}

var (
	uptimeRE = regexp.MustCompile(`pid [0-9]+, uptime [0-9]+(?: days?, [0-9]+)?:[0-9]{2}:[0-9]{2}`)
	dateRE   = regexp.MustCompile(`[A-Z][a-z]{2} [0-9]{2} [0-9]{2}:[0-9]{2} [AP]M`)
	pidRE    = regexp.MustCompile(`(?m)^[1-9][0-9]*$`)
)

// normalize replaces what legitimately differs between runs and between
// implementations: the project directory, pids, uptimes, stop dates, the
// version, the main log's text and the order of results that complete
// concurrently.
func (s *session) normalize(out string, st step) string {
	out = strings.ReplaceAll(out, s.dir, "$DIR")
	out = uptimeRE.ReplaceAllString(out, "pid PID, uptime UPTIME")
	out = dateRE.ReplaceAllString(out, "DATE")
	out = pidRE.ReplaceAllString(out, "PID")
	switch {
	case st.version:
		out = "VERSION\n"
	case st.mainLog:
		banner := ""
		if st.follow {
			banner = "==> Press Ctrl-C to exit <==\n"
		}
		if strings.TrimSpace(strings.TrimPrefix(out, banner)) != "" {
			out = banner + "<the main log>\n"
		}
	case st.unordered:
		lines := strings.SplitAfter(out, "\n")
		sort.Strings(lines)
		out = strings.Join(lines, "")
	}
	return out
}
