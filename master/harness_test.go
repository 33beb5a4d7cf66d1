package master

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"roost/internal/procfs"
	"roost/internal/testutil"
)

// The helper-process pattern: in the unit tests the master runs this test
// binary (copied where every user can run it) instead of `roost run
// --managed`. The helper reads its script from the -c file, as a real user
// supervisor reads its supervisord.conf, as the user, one step a line:
//
//	fork           start a program: `sleep 1000` in its own process group
//	exit N         print "boom: failing on purpose" on stderr and exit N
//	ignore-term    ignore SIGTERM
//	daemon         start `sleep 1000` double-forked out of its session (a
//	               daemon that no process group kill reaches)
//	proxy FILE     serve the control API on --socket, answering
//	               GET /api/v1/proxy with FILE's JSON (read at each request,
//	               whatever it holds: a hostile supervisor) and writing the
//	               master's verdict to verdict.json beside the socket
//
// Without a file (or steps) it idles. On SIGTERM it kills its programs'
// groups and exits 0, as a supervisor stops its programs.

// helperExe is the test binary's copy every user can execute.
var helperExe string

func TestMain(m *testing.M) {
	if len(os.Args) > 2 && os.Args[1] == "run" && slices.Contains(os.Args, "--managed") {
		os.Exit(helperMain(os.Args[2:]))
	}
	if len(os.Args) == 3 && os.Args[1] == "hog" {
		os.Exit(hog(os.Args[2]))
	}
	if len(os.Args) == 2 && os.Args[1] == "serve-http" {
		os.Exit(serveHTTP())
	}
	if len(os.Args) == 4 && os.Args[1] == "squat" {
		os.Exit(squat(os.Args[2], os.Args[3]))
	}
	if len(os.Args) == 3 && os.Args[1] == "serve-unix" {
		os.Exit(serveUnix(os.Args[2]))
	}
	if len(os.Args) == 3 && os.Args[1] == "probe-socket" {
		os.Exit(probeSocket(os.Args[2]))
	}
	dir, err := os.MkdirTemp("", "roost-master-test-")
	if err == nil {
		os.Chmod(dir, 0o755)
		helperExe = filepath.Join(dir, "roost-helper")
		err = copyFile(os.Args[0], helperExe, 0o755)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "setup:", err)
		os.Exit(1)
	}
	code := m.Run()
	testutil.RemoveRoostBinary()
	os.RemoveAll(dir)
	os.Exit(code)
}

func copyFile(from, to string, mode os.FileMode) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// flagValue returns the value after flag in args.
func flagValue(args []string, flag string) string {
	for i, a := range args {
		if a == flag && i+1 < len(args) {
			return args[i+1]
		}
	}
	return ""
}

func helperMain(args []string) int {
	conf := flagValue(args, "-c")
	term := make(chan os.Signal, 1)
	signal.Notify(term, syscall.SIGTERM)
	var kids []*exec.Cmd
	data, _ := os.ReadFile(conf)
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		switch f[0] {
		case "fork":
			c := exec.Command("/bin/sleep", "1000")
			c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
			if err := c.Start(); err != nil {
				fmt.Fprintln(os.Stderr, "fork:", err)
				return 2
			}
			kids = append(kids, c)
		case "exit":
			n, _ := strconv.Atoi(f[1])
			fmt.Fprintln(os.Stderr, "boom: failing on purpose")
			return n
		case "daemon":
			if err := exec.Command("/bin/sh", "-c", "(setsid /bin/sleep 1000 &)").Run(); err != nil {
				fmt.Fprintln(os.Stderr, "daemon:", err)
				return 2
			}
		case "ignore-term":
			signal.Reset(syscall.SIGTERM)
			signal.Ignore(syscall.SIGTERM)
		case "proxy":
			stop, err := serveFakeProxy(flagValue(args, "--socket"), f[1])
			if err != nil {
				fmt.Fprintln(os.Stderr, "proxy:", err)
				return 2
			}
			defer stop()
		}
	}
	fmt.Println("helper up")
	<-term
	for _, k := range kids {
		syscall.Kill(-k.Process.Pid, syscall.SIGTERM)
		k.Wait()
	}
	return 0
}

// env is one test's master: its files, and the master running on them.
type env struct {
	t        *testing.T
	dir      string // temp dir, traversable by users
	conf     string // roost.toml
	runDir   string
	stateDir string
	project  string // project dir name, relative to the homes
	users    []testutil.Account
	exe      string
	logs     *testutil.Buffer

	m      *Master
	cancel context.CancelFunc
	done   chan error
}

var projectSeq atomic.Int32

// newEnv prepares a roost.toml for the given users (real throwaway users),
// a fresh run and state dir and a project dir name unique to the test.
func newEnv(t *testing.T, users ...string) *env {
	t.Helper()
	testutil.RequireRoot(t)
	e := &env{t: t, exe: helperExe, logs: &testutil.Buffer{}}
	for _, u := range users {
		e.users = append(e.users, testutil.RequireUser(t, u))
	}
	dir, err := os.MkdirTemp("", "rm-")
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(dir, 0o755)
	t.Cleanup(func() { os.RemoveAll(dir) })
	e.dir = dir
	e.conf = filepath.Join(dir, "roost.toml")
	e.runDir = filepath.Join(dir, "run")
	e.stateDir = filepath.Join(dir, "state")
	e.project = fmt.Sprintf(".roost-test-%d-%d", os.Getpid(), projectSeq.Add(1))
	for _, a := range e.users {
		p := filepath.Join(a.Home, e.project)
		t.Cleanup(func() { os.RemoveAll(p) })
	}
	return e
}

// writeConf writes roost.toml with the standard header and extra lines.
func (e *env) writeConf(names []string, extra string) {
	e.t.Helper()
	tmp := e.conf + ".tmp"
	if err := os.WriteFile(tmp, []byte(e.confBody(names, extra)), 0o644); err != nil {
		e.t.Fatal(err)
	}
	if err := os.Rename(tmp, e.conf); err != nil {
		e.t.Fatal(err)
	}
}

// confBody is roost.toml with the standard header and extra lines.
func (e *env) confBody(names []string, extra string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = strconv.Quote(n)
	}
	return fmt.Sprintf("run_dir = %q\nstate_dir = %q\n[users]\nnames = [%s]\nproject = %q\n%s",
		e.runDir, e.stateDir, strings.Join(q, ", "), e.project, extra)
}

// script writes the helper script (the "supervisord.conf") of a user, as
// the user owns it.
func (e *env) script(a testutil.Account, project string, lines ...string) {
	e.t.Helper()
	dir := filepath.Join(a.Home, project)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		e.t.Fatal(err)
	}
	os.Chown(dir, a.UID, a.GID)
	f := filepath.Join(dir, "supervisord.conf")
	if err := os.WriteFile(f, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		e.t.Fatal(err)
	}
	os.Chown(f, a.UID, a.GID)
}

// start runs the master until the test ends.
func (e *env) start() {
	e.t.Helper()
	m, err := New(Options{ConfigFile: e.conf, Executable: e.exe,
		Logger: slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		e.t.Fatal(err)
	}
	e.m = m
	ctx, cancel := context.WithCancel(context.Background())
	e.cancel = cancel
	e.done = make(chan error, 1)
	go func() { e.done <- m.Run(ctx) }()
	e.t.Cleanup(func() { e.stop() })
}

// stop stops the master and waits for Run to return.
func (e *env) stop() error {
	if e.cancel == nil {
		return nil
	}
	e.cancel()
	e.cancel = nil
	select {
	case err := <-e.done:
		if e.t.Failed() {
			e.t.Logf("master log:\n%s", e.logs.String())
		}
		return err
	case <-time.After(90 * time.Second):
		e.t.Fatalf("master did not stop; log:\n%s", e.logs.String())
	}
	return nil
}

// status returns a user's published status.
func (e *env) status(name string) (UserStatus, bool) {
	for _, st := range e.m.statuses() {
		if st.Name == name {
			return st, true
		}
	}
	return UserStatus{}, false
}

// waitState waits for a user's state and returns the status.
func (e *env) waitState(name string, want UserState, timeout time.Duration) UserStatus {
	e.t.Helper()
	var st UserStatus
	testutil.Eventually(e.t, timeout, fmt.Sprintf("user %s to be %s", name, want), func() bool {
		var ok bool
		st, ok = e.status(name)
		return ok && st.State == want
	})
	return st
}

// procStatus returns the fields of /proc/PID/status.
func procStatus(t *testing.T, pid int) map[string]string {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatalf("status of %d: %v", pid, err)
	}
	out := map[string]string{}
	for _, l := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(l, ":")
		if ok {
			out[k] = strings.Join(strings.Fields(v), " ")
		}
	}
	return out
}

// procEnviron returns /proc/PID/environ.
func procEnviron(t *testing.T, pid int) []string {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
	if err != nil {
		t.Fatalf("environ of %d: %v", pid, err)
	}
	var out []string
	for _, kv := range strings.Split(string(b), "\x00") {
		if kv != "" {
			out = append(out, kv)
		}
	}
	slices.Sort(out)
	return out
}

// procFDs returns fd number → readlink target of /proc/PID/fd.
func procFDs(t *testing.T, pid int) map[int]string {
	t.Helper()
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatalf("fds of %d: %v", pid, err)
	}
	out := map[int]string{}
	for _, e := range ents {
		n, _ := strconv.Atoi(e.Name())
		target, _ := os.Readlink(filepath.Join(dir, e.Name()))
		out[n] = target
	}
	return out
}

// userProcs returns this process's live descendants running as uid whose
// command name is comm ("" for any).
func userProcs(t *testing.T, uid int, comm string) []procfs.Proc {
	t.Helper()
	ds, err := procfs.Descendants(os.Getpid(), nil)
	if err != nil {
		t.Fatal(err)
	}
	var out []procfs.Proc
	for _, d := range ds {
		if d.RUID != uid {
			continue
		}
		if comm != "" {
			b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", d.PID))
			if strings.TrimSpace(string(b)) != comm {
				continue
			}
		}
		out = append(out, d)
	}
	return out
}

// alive reports whether p (pid and start time) still runs.
func alive(p procfs.Proc) bool {
	now, err := procfs.Read(p.PID)
	return err == nil && now.Start == p.Start && now.State != 'Z'
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }
