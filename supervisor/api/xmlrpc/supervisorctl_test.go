package xmlrpc

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"roost/internal/testutil"
	"roost/supervisor/api"
	"roost/supervisor/api/apitest"
)

// ctl runs the real supervisorctl against a socket.
type ctl struct {
	t    *testing.T
	bin  string
	conf string
}

func newCtl(t *testing.T, sock string) *ctl {
	bin := testutil.RequireBinary(t, "supervisorctl")
	conf := filepath.Join(t.TempDir(), "supervisord.conf")
	if err := os.WriteFile(conf, []byte("[supervisorctl]\nserverurl=unix://"+sock+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return &ctl{t: t, bin: bin, conf: conf}
}

func (c *ctl) command(args ...string) *exec.Cmd {
	cmd := exec.Command(c.bin, append([]string{"-c", c.conf}, args...)...)
	cmd.Env = append(os.Environ(), "PYTHONUNBUFFERED=1", "LANG=C.UTF-8")
	return cmd
}

// run runs one supervisorctl command and returns its output (stdout then
// stderr) and exit status.
func (c *ctl) run(args ...string) (string, int) {
	c.t.Helper()
	cmd := c.command(args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		c.t.Fatalf("supervisorctl %v: %v", args, err)
	}
	return stdout.String() + stderr.String(), code
}

// expect runs a command and requires its exact output and exit status.
func (c *ctl) expect(wantOut string, wantCode int, args ...string) {
	c.t.Helper()
	out, code := c.run(args...)
	if out != wantOut || code != wantCode {
		c.t.Errorf("supervisorctl %s: exit %d, want %d; output (-want +got):\n%s",
			strings.Join(args, " "), code, wantCode, cmp.Diff(wantOut, out))
	}
}

// TestSupervisorctl drives the real supervisorctl against the handlers:
// the output it prints is what it prints for supervisord.
func TestSupervisorctl(t *testing.T) {
	const now = 1795316368
	f, _, sock := newTestServer(t, Options{},
		&apitest.Proc{Group: "grp", Name: "a", Autostart: true},
		&apitest.Proc{Group: "grp", Name: "b", Autostart: true, StartErr: api.SpawnError},
		&apitest.Proc{Group: "web", Name: "web", Autostart: true, State: api.Running, Start: now - 3725})
	c := newCtl(t, sock)
	f.Hold = false
	f.Now = func() time.Time { return time.Unix(now, 0) }
	f.AppendLog("web", api.Stdout, "hello from web\n\x1b[32mgreen\x1b[0m\n")
	f.AppendLog("web", api.Stderr, "warning: something\n")
	pid := func(name string) string {
		info, _ := f.ProcessInfo(name)
		return strconv.Itoa(info.PID)
	}

	c.expect("0.0.0-test\n", 0, "version")
	c.expect(""+
		"grp:a                            STOPPED   Not started\n"+
		"grp:b                            STOPPED   Not started\n"+
		"web                              RUNNING   pid "+pid("web")+", uptime 1:02:05\n", 3, "status")
	c.expect("web                              RUNNING   pid "+pid("web")+", uptime 1:02:05\n", 0, "status", "web")
	c.expect("nope: ERROR (no such process)\n", 4, "status", "nope")
	c.expect("web: ERROR (already started)\n", 0, "start", "web")
	c.expect("nope: ERROR (no such process)\n", 1, "start", "nope")
	c.expect("nope: ERROR (no such group)\n", 2, "start", "nope:*")
	c.expect("grp:a: started\ngrp:b: ERROR (spawn error)\n", 7, "start", "grp:*")
	c.expect("grp:a: stopped\n", 0, "stop", "grp:a")
	c.expect("grp:a: ERROR (not running)\n", 0, "stop", "grp:a") // supervisorctl ignores NOT_RUNNING
	c.expect("grp:a: ERROR (not running)\ngrp:a: started\n", 0, "restart", "grp:a")
	c.expect("42\n", 0, "pid")
	c.expect(pid("web")+"\n", 0, "pid", "web")
	c.expect("No such process nope\n", 1, "pid", "nope")
	c.expect("web: signalled\n", 0, "signal", "HUP", "web")
	c.expect("web: ERROR (bad signal name)\n", 1, "signal", "BOGUS", "web")
	c.expect("grp:a: ERROR (bad signal name)\n", 1, "signal", "BOGUS", "grp:*")
	c.expect(""+
		"grp:a                            in use    auto      999:999\n"+
		"grp:b                            in use    auto      999:999\n"+
		"web                              in use    auto      999:999\n", 0, "avail")
	// The ANSI escapes supervisord would send raw (and break this very
	// command with) arrive as U+FFFD.
	c.expect("hello from web\n\uFFFD[32mgreen\uFFFD[0m\n\n", 0, "tail", "web")
	c.expect("something\n\n", 0, "tail", "-10", "web", "stderr")
	c.expect("nope: ERROR (no such process name)\n", 1, "tail", "nope")
	c.expect("2026-01-01 00:00:00,000 INFO supervisord started\n\n", 0, "maintail")
	c.expect("web: cleared\n", 0, "clear", "web")
	c.expect("\n", 0, "tail", "web")

	// tail -f streams what is appended, until interrupted.
	f.AppendLog("web", api.Stdout, "first\n")
	tf := startFollow(t, c.command("tail", "-f", "web"))
	tf.waitFor("==> Press Ctrl-C to exit <==\nfirst\n")
	f.AppendLog("web", api.Stdout, "second\n")
	tf.waitFor("==> Press Ctrl-C to exit <==\nfirst\nsecond\n")
	tf.interrupt()

	mf := startFollow(t, c.command("maintail", "-f"))
	mf.waitFor("INFO supervisord started\n")
	mf.interrupt()

	c.expect("Shut down\n", 0, "shutdown")
	c.expect("ERROR: already shutting down\n", 0, "shutdown")
}

// follower is a running `supervisorctl tail -f` (or maintail -f).
type follower struct {
	t       *testing.T
	cmd     *exec.Cmd
	mu      sync.Mutex
	out     bytes.Buffer
	changed chan struct{} // closed and replaced on each read
	done    chan struct{}
}

func startFollow(t *testing.T, cmd *exec.Cmd) *follower {
	t.Helper()
	f := &follower{t: t, cmd: cmd, changed: make(chan struct{}), done: make(chan struct{})}
	r, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(f.done)
		buf := make([]byte, 4096)
		for {
			n, err := r.Read(buf)
			f.mu.Lock()
			f.out.Write(buf[:n])
			close(f.changed)
			f.changed = make(chan struct{})
			f.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	t.Cleanup(func() {
		if f.cmd.ProcessState == nil {
			f.cmd.Process.Kill()
			<-f.done
			f.cmd.Wait()
		}
	})
	return f
}

// waitFor waits until the output so far contains want.
func (f *follower) waitFor(want string) {
	f.t.Helper()
	f.waitUntil(fmt.Sprintf("%q", want), func(out string) bool { return strings.Contains(out, want) })
}

// waitUntil waits until ok accepts the output so far.
func (f *follower) waitUntil(what string, ok func(string) bool) {
	f.t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		f.mu.Lock()
		out, ch := f.out.String(), f.changed
		f.mu.Unlock()
		if ok(out) {
			return
		}
		select {
		case <-ch:
		case <-f.done:
			f.t.Fatalf("follower exited; output %q, want %s", out, what)
		case <-deadline:
			f.t.Fatalf("output %q, want %s", out, what)
		}
	}
}

// interrupt sends Ctrl-C and requires a clean exit.
func (f *follower) interrupt() {
	f.t.Helper()
	if err := f.cmd.Process.Signal(syscall.SIGINT); err != nil {
		f.t.Fatal(err)
	}
	select {
	case <-f.done:
	case <-time.After(30 * time.Second):
		f.t.Fatal("supervisorctl did not exit on SIGINT")
	}
	if err := f.cmd.Wait(); err != nil {
		f.t.Errorf("supervisorctl after SIGINT: %v", err)
	}
}
