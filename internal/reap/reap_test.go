package reap

import (
	"errors"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"roost/internal/procfs"
)

// registry is a caller's registry of its own children, as the master and
// the runtime keep one.
var registry = struct {
	mu       sync.Mutex
	children map[int]chan struct{} // closed once the child's own Wait reaped it
	kick     chan struct{}
	reaped   chan int
	once     sync.Once
}{children: map[int]chan struct{}{}, kick: make(chan struct{}, 1), reaped: make(chan int, 64)}

func startLoop(t *testing.T) {
	t.Helper()
	registry.once.Do(func() {
		if err := BecomeSubreaper(); err != nil {
			t.Fatal(err)
		}
		go Loop(Policy{
			Lock: &registry.mu,
			Kick: registry.kick,
			Owner: func(pid int) func() {
				if done, ok := registry.children[pid]; ok {
					return func() { <-done }
				}
				return nil
			},
			Reaped: func(pid int, _ syscall.WaitStatus) { registry.reaped <- pid },
		})
	})
}

// spawn starts cmd registered, as a spawner does: under the lock from fork
// until registration. wait reaps it through its own Wait and unregisters it.
func spawn(t *testing.T, cmd *exec.Cmd) (wait func() error) {
	t.Helper()
	registry.mu.Lock()
	err := cmd.Start()
	done := make(chan struct{})
	if err == nil {
		registry.children[cmd.Process.Pid] = done
	}
	registry.mu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	select {
	case registry.kick <- struct{}{}:
	default:
	}
	return func() error {
		err := cmd.Wait()
		registry.mu.Lock()
		delete(registry.children, cmd.Process.Pid)
		registry.mu.Unlock()
		close(done)
		return err
	}
}

// TestLoop: a registered child's exit is left to its own Wait (which sees
// its real status, never "no child processes"), and the orphan it leaves
// behind is reaped by the loop, not left a zombie.
func TestLoop(t *testing.T) {
	startLoop(t)
	deadline := time.After(60 * time.Second)
	for i := range 10 {
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		// The shell forks a background job, prints its pid and exits 3;
		// the job, orphaned, is reparented to this subreaper and exits.
		cmd := exec.Command("/bin/sh", "-c", "sleep 0.1 </dev/null >/dev/null 2>&1 & echo $!; exit 3")
		cmd.Stdout = w
		wait := spawn(t, cmd)
		w.Close()
		out := make([]byte, 64)
		n, _ := r.Read(out)
		r.Close()
		orphan, err := strconv.Atoi(strings.TrimSpace(string(out[:n])))
		if err != nil {
			t.Fatalf("round %d: background pid %q: %v", i, out[:n], err)
		}
		var ee *exec.ExitError
		if err := wait(); !errors.As(err, &ee) || ee.ExitCode() != 3 {
			t.Fatalf("round %d: the child's own Wait = %v, want exit status 3", i, err)
		}
	await:
		for {
			select {
			case pid := <-registry.reaped:
				if pid == orphan {
					break await
				}
			case <-deadline:
				t.Fatalf("round %d: orphan %d never reaped", i, orphan)
			}
		}
		if p, err := procfs.Read(orphan); err == nil && p.PPID == os.Getpid() {
			t.Errorf("round %d: orphan %d still ours after its reap: %+v", i, orphan, p)
		}
	}
}

// TestAwaitExit: AwaitExit returns once the child has exited and leaves it
// a zombie for its own Wait, through a pidfd and without one.
func TestAwaitExit(t *testing.T) {
	startLoop(t)
	for _, withPidfd := range []bool{true, false} {
		cmd := exec.Command("/bin/sh", "-c", "exit 7")
		wait := spawn(t, cmd)
		pid := cmd.Process.Pid
		var pidfd *os.File
		if withPidfd {
			fd, err := unix.PidfdOpen(pid, unix.PIDFD_NONBLOCK)
			if err != nil {
				t.Fatalf("pidfd_open: %v", err)
			}
			pidfd = os.NewFile(uintptr(fd), "pidfd")
		}
		AwaitExit(pidfd, pid)
		if p, err := procfs.Read(pid); err != nil || p.State != 'Z' {
			t.Errorf("pidfd %v: after AwaitExit the child is %+v, %v; want a zombie not yet reaped", withPidfd, p, err)
		}
		if err := wait(); cmd.ProcessState == nil || cmd.ProcessState.ExitCode() != 7 {
			t.Errorf("pidfd %v: Wait = %v, want exit status 7", withPidfd, err)
		}
		if pidfd != nil {
			pidfd.Close()
		}
	}
}
