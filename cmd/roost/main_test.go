package main

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"roost/internal/mainthread"
	"roost/internal/testutil"
	"roost/supervisor/api"
)

// TestMain lets the test binary stand in for the roost binary: with
// ROOST_TEST_AS_ROOST=1 it runs the command line instead of the tests, so
// end-to-end tests exec a real `roost run` without building one.
func TestMain(m *testing.M) {
	if os.Getenv("ROOST_TEST_AS_ROOST") == "1" {
		os.Exit(mainthread.Serve(func() int { return run(os.Args, os.Stdout, os.Stderr) }))
	}
	if path := os.Getenv("ROOST_TEST_EVIL_SERVER"); path != "" {
		os.Exit(evilServerMain(path))
	}
	if path := os.Getenv("ROOST_TEST_FULL_FDS"); path != "" {
		os.Exit(fullFDsServerMain(path))
	}
	code := m.Run()
	testutil.RemoveRoostBinary()
	os.Exit(code)
}

// roostCmd returns a command running this binary as roost with args.
func roostCmd(args ...string) *exec.Cmd {
	exe, err := os.Executable()
	if err != nil {
		panic(err)
	}
	cmd := exec.Command(exe, args...)
	cmd.Args[0] = "roost"
	cmd.Env = append(os.Environ(), "ROOST_TEST_AS_ROOST=1")
	return cmd
}

// supervisorProc is a `roost run` (or supervisord) started by a test.
type supervisorProc struct {
	cmd  *exec.Cmd
	done chan error
	out  *testutil.Buffer
}

// startProc starts cmd with its output collected and stops it (TERM, then
// KILL after a deadline) when the test ends.
func startProc(t *testing.T, cmd *exec.Cmd) *supervisorProc {
	t.Helper()
	p := &supervisorProc{cmd: cmd, done: make(chan error, 1), out: &testutil.Buffer{}}
	cmd.Stdout, cmd.Stderr = p.out, p.out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %v: %v", cmd.Args, err)
	}
	go func() { p.done <- cmd.Wait() }()
	t.Cleanup(func() {
		if p.cmd.ProcessState != nil {
			return
		}
		p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(30 * time.Second):
			p.cmd.Process.Kill()
			<-p.done
			t.Errorf("%v did not stop on TERM within 30s; output:\n%s", cmd.Args, p.out.String())
		}
	})
	return p
}

// wait waits for the process to exit and returns its exit status.
func (p *supervisorProc) wait(t *testing.T, limit time.Duration) int {
	t.Helper()
	select {
	case err := <-p.done:
		p.done <- err // for Cleanup
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode()
		}
		if err != nil {
			t.Fatalf("wait: %v", err)
		}
		return 0
	case <-time.After(limit):
		t.Fatalf("%v still running after %v; output:\n%s", p.cmd.Args, limit, p.out.String())
	}
	return -1
}

// dialWhenUp dials the socket until a server answers, or fails the test.
func dialWhenUp(t *testing.T, path string, p *supervisorProc) *api.Client {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := api.Dial(path)
		if err == nil {
			if _, err = c.Version(context.Background()); err == nil {
				t.Cleanup(func() { c.Close() })
				return c
			}
			c.Close()
		}
		select {
		case err := <-p.done:
			p.done <- err
			t.Fatalf("the supervisor exited (%v) before answering on %s; output:\n%s", err, path, p.out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("nothing answers on %s after 30s: %v; output:\n%s", path, err, p.out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitState polls the processes until cond holds for them, or fails the test.
func waitState(t *testing.T, c *api.Client, what string, cond func([]api.ProcessInfo) bool) []api.ProcessInfo {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		infos, err := c.Processes(context.Background())
		if err == nil && cond(infos) {
			return infos
		}
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s: processes %+v, %v", what, infos, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
