package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// tracker starts every process the bench runs, remembers each by pid and
// kills whatever is left of them (by process group) at the end, even after
// a failure or an interrupt. The bench is a child subreaper, so a program
// orphaned by a crashed daemon comes back to it and is found too.
type tracker struct {
	mu    sync.Mutex
	procs map[int]*proc
}

// proc is one process the tracker started.
type proc struct {
	cmd  *exec.Cmd
	done chan struct{} // closed once cmd.Wait returned
	err  error         // cmd.Wait's result, valid after done
}

func newTracker() *tracker { return &tracker{procs: map[int]*proc{}} }

// start runs cmd in its own process group and tracks it.
func (t *tracker) start(cmd *exec.Cmd) (*proc, error) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setpgid = true
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", cmd.Path, err)
	}
	p := &proc{cmd: cmd, done: make(chan struct{})}
	t.mu.Lock()
	t.procs[cmd.Process.Pid] = p
	t.mu.Unlock()
	go func() {
		p.err = cmd.Wait()
		close(p.done)
		t.mu.Lock()
		delete(t.procs, cmd.Process.Pid)
		t.mu.Unlock()
	}()
	return p, nil
}

// pid is the process id.
func (p *proc) pid() int { return p.cmd.Process.Pid }

// exited reports whether the process has been reaped.
func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop asks the process to exit with SIGTERM and waits up to grace; then it
// kills the process group and everything below the process. It returns
// whether the process exited by itself in time.
func (p *proc) stop(grace time.Duration) bool {
	if p.exited() {
		return true
	}
	below := descendants(p.pid())
	_ = killPID(p.pid(), syscall.SIGTERM)
	select {
	case <-p.done:
		return true
	case <-time.After(grace):
	}
	killGroup(p.pid(), syscall.SIGKILL)
	for _, d := range append(below, descendants(p.pid())...) {
		killGroup(d, syscall.SIGKILL)
		_ = killPID(d, syscall.SIGKILL)
	}
	<-p.done
	return false
}

// cleanup kills every tracked process that is still alive, then every
// orphan that came back to the bench, by process group.
func (t *tracker) cleanup() {
	t.mu.Lock()
	left := make([]*proc, 0, len(t.procs))
	for _, p := range t.procs {
		left = append(left, p)
	}
	t.mu.Unlock()
	for _, p := range left {
		p.stop(20 * time.Second)
	}
	t.reapOrphans()
}

// reapOrphans kills and reaps processes that were reparented to the bench
// (it is their subreaper) and that no exec.Cmd owns. It returns how many it
// found.
func (t *tracker) reapOrphans() int {
	self := os.Getpid()
	n := 0
	for range 5 {
		kids, _ := children(self)
		var orphans []int
		t.mu.Lock()
		for _, k := range kids {
			if _, ok := t.procs[k]; !ok {
				orphans = append(orphans, k)
			}
		}
		t.mu.Unlock()
		if len(orphans) == 0 {
			return n
		}
		for _, o := range orphans {
			below := descendants(o)
			killGroup(o, syscall.SIGKILL)
			_ = killPID(o, syscall.SIGKILL)
			for _, d := range below {
				killGroup(d, syscall.SIGKILL)
				_ = killPID(d, syscall.SIGKILL)
			}
			reap(o)
			n++
		}
		time.Sleep(20 * time.Millisecond)
		for _, o := range orphans {
			reap(o)
		}
	}
	return n
}

// cmdResult is a finished command: its wall time, output and error.
type cmdResult struct {
	Wall   time.Duration
	Stdout []byte
	Stderr []byte
	Err    error
}

// run runs a command to completion, timing it from just before fork to
// just after it was reaped. A non-zero exit is an error naming the command
// and its stderr.
func (t *tracker) run(ctx context.Context, dir string, env []string, name string, args ...string) cmdResult {
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = env
	return t.runCmd(ctx, cmd)
}

// runCmd is run for a command made by the caller (another user's, say).
func (t *tracker) runCmd(ctx context.Context, cmd *exec.Cmd) cmdResult {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	name, args := cmd.Path, cmd.Args[1:]
	var out, errb bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &errb
	t0 := time.Now()
	p, err := t.start(cmd)
	if err != nil {
		return cmdResult{Err: err}
	}
	select {
	case <-p.done:
	case <-ctx.Done():
		p.stop(time.Second)
	}
	r := cmdResult{Wall: time.Since(t0), Stdout: out.Bytes(), Stderr: errb.Bytes(), Err: p.err}
	if ctx.Err() != nil {
		r.Err = fmt.Errorf("%s %v: %w", name, args, ctx.Err())
	} else if p.err != nil {
		r.Err = fmt.Errorf("%s %v: %w: %s%s", name, args, p.err, bytes.TrimSpace(errb.Bytes()), firstLine(out.Bytes()))
	}
	return r
}

// exitCode is the exit status of a finished command, or -1.
func (r cmdResult) exitCode() int {
	if r.Err == nil {
		return 0
	}
	var ee *exec.ExitError
	if errors.As(r.Err, &ee) {
		return ee.ExitCode()
	}
	return -1
}

// firstLine returns " (stdout: LINE)" for the first line of b, or "".
func firstLine(b []byte) string {
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return ""
	}
	if i := bytes.IndexByte(b, '\n'); i >= 0 {
		b = b[:i]
	}
	return fmt.Sprintf(" (stdout: %s)", b)
}

// logTo returns a writer for a daemon's own stdout/stderr: a file in the
// work dir, so nothing it prints is lost and the terminal stays quiet.
func logTo(path string) (io.WriteCloser, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open daemon output %s: %w", path, err)
	}
	return f, nil
}
