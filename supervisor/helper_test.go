package supervisor

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
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

// The helper-process pattern: a program in these tests is this test binary
// run again with ROOST_TEST_HELPER=1 and a script of steps as arguments:
//
//	print:N          print N numbered lines on stdout
//	stderr:TEXT      print TEXT on stderr
//	ignore:TERM      ignore SIGTERM
//	sleep            sleep until killed
//	sleep:DUR        sleep DUR
//	exit:K           exit with status K
//	pidfile:F        write the pid to F
//	env:F            write the environment to F, one variable a line
//	grandchild:F     start a grandchild (same process group, inherits
//	                 stdout) that writes its pid to F and sleeps
//	daemon:F:DUR     double-fork a daemon (new session) that writes its pid
//	                 to F and lives DUR (0: until killed)
//	touch:F          create F (to check the umask)
//	echo             copy stdin to stdout, line by line
//	numbered:N:W     write N numbered lines of width W as fast as possible
//	http:DELAY:CODE  after DELAY, serve HTTP on $PORT: /healthz answers
//	                 CODE, anything else the process name and pid; on
//	                 SIGTERM stop listening and finish requests in flight
//	serve-until:K:F  remove F, then serve on $PORT (K: http, /healthz answers
//	                 200; tcp: accept and close) until F exists; then
//	                 http requests hang, the tcp listener is closed
func TestMain(m *testing.M) {
	if os.Getenv("ROOST_TEST_HELPER") == "1" {
		os.Exit(helperMain(os.Args[1:]))
	}
	os.Exit(m.Run())
}

func helperMain(args []string) int {
	if len(args) > 0 && args[0] == "helper" {
		args = args[1:]
	}
	self, _ := os.Executable()
	out := bufio.NewWriterSize(os.Stdout, 1<<16)
	defer out.Flush()
	for _, step := range args {
		name, arg, _ := strings.Cut(step, ":")
		switch name {
		case "print":
			n, _ := strconv.Atoi(arg)
			for i := 1; i <= n; i++ {
				fmt.Fprintf(out, "line %d\n", i)
			}
			out.Flush()
		case "stderr":
			fmt.Fprintln(os.Stderr, arg)
		case "ignore":
			signal.Ignore(syscall.SIGTERM)
		case "sleep":
			out.Flush()
			if arg == "" {
				select {}
			}
			d, _ := time.ParseDuration(arg)
			time.Sleep(d)
		case "exit":
			k, _ := strconv.Atoi(arg)
			out.Flush()
			return k
		case "pidfile":
			writeFileAtomic(arg, strconv.Itoa(os.Getpid()))
		case "env":
			writeFileAtomic(arg, strings.Join(os.Environ(), "\n"))
		case "grandchild":
			cmd := exec.Command(self, "helper", "pidfile:"+arg, "sleep")
			cmd.Env = os.Environ()
			cmd.Stdout = os.Stdout
			cmd.Stderr = os.Stderr
			if err := cmd.Start(); err != nil {
				fmt.Fprintln(os.Stderr, err)
				return 2
			}
			waitForFile(arg)
		case "daemon":
			f, dur, _ := strings.Cut(arg, ":")
			// The intermediate child starts the daemon in a new session
			// and exits; the daemon is orphaned.
			cmd := exec.Command(self, "helper", "spawn-daemon:"+f+":"+dur)
			cmd.Env = os.Environ()
			if err := cmd.Run(); err != nil {
				fmt.Fprintln(os.Stderr, err)
				return 2
			}
			waitForFile(f)
		case "spawn-daemon":
			f, dur, _ := strings.Cut(arg, ":")
			steps := []string{"helper", "pidfile:" + f, "sleep"}
			if dur != "0" && dur != "" {
				steps[2] = "sleep:" + dur
			}
			cmd := exec.Command(self, steps...)
			cmd.Env = os.Environ()
			cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
			if err := cmd.Start(); err != nil {
				fmt.Fprintln(os.Stderr, err)
				return 2
			}
			return 0
		case "touch":
			f, err := os.OpenFile(arg, os.O_CREATE|os.O_WRONLY, 0o666)
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				return 2
			}
			f.Close()
		case "echo":
			sc := bufio.NewScanner(os.Stdin)
			for sc.Scan() {
				fmt.Fprintln(out, sc.Text())
				out.Flush()
			}
		case "numbered":
			n, w, _ := strings.Cut(arg, ":")
			count, _ := strconv.Atoi(n)
			width, _ := strconv.Atoi(w)
			out.Flush()
			writeNumbered(os.Stdout, count, width)
		case "http":
			out.Flush()
			return httpHelper(arg)
		case "serve-until":
			out.Flush()
			return serveUntil(arg)
		default:
			fmt.Fprintf(os.Stderr, "helper: unknown step %q\n", step)
			return 2
		}
	}
	return 0
}

// writeNumbered writes count lines of width bytes each: a 12-digit number,
// a space, 'x's, a newline. The counter is incremented in place so the
// race-instrumented helper still writes at hundreds of MB/s.
func writeNumbered(w io.Writer, count, width int) {
	if width < 14 {
		width = 14
	}
	line := make([]byte, width)
	for i := range line {
		line[i] = 'x'
	}
	copy(line, "000000000000 ")
	line[width-1] = '\n'
	buf := make([]byte, 0, 1<<16)
	for i := 1; i <= count; i++ {
		incDecimal(line[:12])
		if len(buf)+width > cap(buf) {
			w.Write(buf)
			buf = buf[:0]
		}
		buf = append(buf, line...)
	}
	w.Write(buf)
}

// incDecimal adds one to a fixed-width ASCII decimal number.
func incDecimal(d []byte) {
	for i := len(d) - 1; i >= 0; i-- {
		if d[i] != '9' {
			d[i]++
			return
		}
		d[i] = '0'
	}
}

func writeFileAtomic(path, data string) {
	tmp := path + ".tmp"
	os.WriteFile(tmp, []byte(data), 0o644)
	os.Rename(tmp, path)
}

// waitForFile waits (inside a helper) until path exists.
func waitForFile(path string) {
	for i := 0; i < 5000; i++ {
		if _, err := os.Stat(path); err == nil {
			return
		}
		time.Sleep(time.Millisecond)
	}
}

var testBin = func() string {
	p, err := os.Executable()
	if err != nil {
		panic(err)
	}
	return p
}()

// prog is a program with supervisord's defaults that runs the helper steps.
func prog(name string, steps ...string) *config.Process {
	argv := append([]string{testBin, "helper"}, steps...)
	return &config.Process{
		Name: name, Group: name, Program: name, Numprocs: 1,
		Command:      strings.Join(argv, " "),
		Argv:         argv,
		Umask:        -1,
		Priority:     999,
		Autostart:    true,
		Autorestart:  config.AutorestartUnexpected,
		StartSecs:    time.Second,
		StartRetries: 3,
		StopSignal:   syscall.SIGTERM,
		StopWaitSecs: 10 * time.Second,
		ExitCodes:    []int{0},
		Stdout:       config.LogConfig{Auto: true, MaxBytes: 50 << 20, Backups: 10},
		Stderr:       config.LogConfig{Auto: true, MaxBytes: 50 << 20, Backups: 10},
		Environment:  config.Environment{{Name: "ROOST_TEST_HELPER", Value: "1"}},
	}
}

// shprog is a program running a /bin/sh script: for programs that must
// start and exit quickly (the race-instrumented test binary can take more
// than startsecs just to start on a loaded machine).
func shprog(name, script string) *config.Process {
	p := prog(name)
	p.Argv = []string{"/bin/sh", "-c", script}
	p.Command = "/bin/sh -c '" + script + "'"
	return p
}

// homog wraps processes each into its own homogeneous group.
func homog(ps ...*config.Process) []*config.Group {
	var gs []*config.Group
	for _, p := range ps {
		p.Group = p.Name
		gs = append(gs, &config.Group{Name: p.Name, Priority: p.Priority, Kind: config.KindProgram,
			Programs: []string{p.Program}, Processes: []*config.Process{p}})
	}
	return gs
}

// testConfig is a configuration in a temp directory, with the main log and
// AUTO child logs there.
func testConfig(t *testing.T, groups ...*config.Group) *config.Config {
	t.Helper()
	dir := t.TempDir()
	sortConfigGroups(groups)
	return &config.Config{
		File:  filepath.Join(dir, "supervisord.conf"),
		Here:  dir,
		Files: []string{filepath.Join(dir, "supervisord.conf")},
		Supervisord: config.Supervisord{
			Logfile: filepath.Join(dir, "supervisord.log"), LogfileMaxBytes: 50 << 20, LogfileBackups: 10,
			LogLevel: "debug", Umask: 0o22, Childlogdir: dir, Identifier: "supervisor", Silent: true,
		},
		Groups: groups,
	}
}

func sortConfigGroups(gs []*config.Group) {
	for i := 1; i < len(gs); i++ {
		for j := i; j > 0 && (gs[j].Priority < gs[j-1].Priority ||
			gs[j].Priority == gs[j-1].Priority && gs[j].Name < gs[j-1].Name); j-- {
			gs[j], gs[j-1] = gs[j-1], gs[j]
		}
	}
}

// harness runs a Supervisor for a test and records its events.
type harness struct {
	t      *testing.T
	s      *Supervisor
	cfg    *config.Config
	cancel context.CancelFunc
	done   chan error

	mu     sync.Mutex
	events []api.Event
	notify chan struct{}
}

// start builds and runs a Supervisor on cfg; it is shut down at cleanup.
func start(t *testing.T, cfg *config.Config, opts ...func(*Options)) *harness {
	t.Helper()
	o := Options{Version: "test"}
	for _, f := range opts {
		f(&o)
	}
	s, err := New(cfg, o)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	h := &harness{t: t, s: s, cfg: cfg, done: make(chan error, 1), notify: make(chan struct{}, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	// The subscription outlives Run, to see the shutdown's events too.
	subCtx, subCancel := context.WithCancel(context.Background())
	t.Cleanup(subCancel)
	evs := s.Subscribe(subCtx)
	go func() {
		for ev := range evs {
			h.mu.Lock()
			h.events = append(h.events, ev)
			h.mu.Unlock()
			select {
			case h.notify <- struct{}{}:
			default:
			}
		}
	}()
	go func() { h.done <- s.Run(ctx) }()
	t.Cleanup(func() { h.stop() })
	return h
}

// stop cancels Run and waits for it (bounded).
func (h *harness) stop() {
	h.cancel()
	select {
	case err := <-h.done:
		if err != nil {
			h.t.Errorf("Run: %v", err)
		}
		h.done <- err
	case <-time.After(60 * time.Second):
		h.t.Errorf("Run did not return within 60s of cancel")
	}
}

// waitFor waits until an event matching f has been seen (from index from
// on) and returns its index, or fails after d.
func (h *harness) waitFor(d time.Duration, from int, what string, f func(api.Event) bool) (int, api.Event) {
	h.t.Helper()
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	for {
		h.mu.Lock()
		for i := from; i < len(h.events); i++ {
			if f(h.events[i]) {
				ev := h.events[i]
				h.mu.Unlock()
				return i, ev
			}
		}
		h.mu.Unlock()
		select {
		case <-h.notify:
		case <-deadline.C:
			h.t.Fatalf("timed out after %v waiting for %s; events: %s", d, what, h.eventList())
		}
	}
}

// waitState waits for name to enter state (an event from index from on).
func (h *harness) waitState(d time.Duration, from int, name string, st api.State) (int, api.Event) {
	h.t.Helper()
	return h.waitFor(d, from, name+" "+st.String(), func(ev api.Event) bool {
		return ev.Name == name && ev.To == st && strings.HasPrefix(ev.Type, "PROCESS_STATE_")
	})
}

func (h *harness) eventCount() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.events)
}

func (h *harness) eventList() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var b strings.Builder
	for _, ev := range h.events {
		fmt.Fprintf(&b, "\n  %s %s %s->%s pid=%d", time.Unix(0, ev.Time).Format("15:04:05.000"), ev.Name, ev.From, ev.To, ev.PID)
	}
	return b.String()
}

// states returns the sequence of states name went through.
func (h *harness) states(name string) []api.State {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []api.State
	for _, ev := range h.events {
		if ev.Name == name && strings.HasPrefix(ev.Type, "PROCESS_STATE_") {
			out = append(out, ev.To)
		}
	}
	return out
}

func (h *harness) info(name string) api.ProcessInfo {
	h.t.Helper()
	pi, err := h.s.ProcessInfo(name)
	if err != nil {
		h.t.Fatalf("ProcessInfo(%s): %v", name, err)
	}
	return pi
}

// mainLog returns the main log's content.
func (h *harness) mainLog() string {
	b, _ := os.ReadFile(h.cfg.Supervisord.Logfile)
	return string(b)
}

// readPid waits (bounded) for a pid file a helper writes.
func readPid(t *testing.T, path string) int {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, err := os.ReadFile(path)
		if err == nil {
			pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
			if err == nil {
				return pid
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("pid file %s not written", path)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// waitFile waits (bounded) for a file a helper writes atomically.
func waitFile(t *testing.T, path string) []byte {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if b, err := os.ReadFile(path); err == nil {
			return b
		}
		if time.Now().After(deadline) {
			t.Fatalf("file %s not written", path)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// procGone waits (bounded) until pid no longer exists at all: not running,
// not a zombie.
func procGone(t *testing.T, pid int, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if err != nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("process %d still exists: %s", pid, b)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// alive reports whether pid exists and is not a zombie.
func alive(pid int) bool {
	pi, err := procfs.Read(pid)
	return err == nil && pi.State != 'Z'
}

var _ = slog.LevelInfo

// setArgv sets a program's command line (Command too: it is what a config
// diff compares).
func setArgv(p *config.Process, argv ...string) {
	p.Argv = argv
	p.Command = strings.Join(argv, " ")
}

// httpHelper is the "http:DELAY:CODE" step: a small web app.
func httpHelper(arg string) int {
	delay, code, _ := strings.Cut(arg, ":")
	d, _ := time.ParseDuration(delay)
	status, _ := strconv.Atoi(code)
	if status == 0 {
		status = 200
	}
	term := make(chan os.Signal, 1)
	signal.Notify(term, syscall.SIGTERM)
	time.Sleep(d)
	name := os.Getenv("SUPERVISOR_PROCESS_NAME")
	err := testutil.ServeApp(term, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" {
			w.WriteHeader(status)
		}
		fmt.Fprintf(w, "%s %d %s\n", name, os.Getpid(), os.Getenv("VERSION"))
	}))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 3
	}
	return 0
}
