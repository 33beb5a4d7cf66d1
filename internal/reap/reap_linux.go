// Package reap is the child-subreaper loop the master and the user
// supervisor's runtime share: it reaps the orphans reparented to the process
// and never the exit of a child some exec.Cmd is waiting for.
//
// There is no wait4(-1), which would steal those exits ("waitid: no child
// processes"). Loop blocks in waitid(P_ALL, WEXITED|WNOWAIT), which reports
// a zombie child without reaping it, and asks its caller, under the caller's
// spawn lock, whose it is: a child with an owner is left to that owner (the
// loop waits until the owner has reaped it, then looks again); anything else
// is an orphan and is reaped with wait4(pid). A spawner holds the same lock
// from fork until the pid is registered, so a just-forked child is never
// taken for an orphan.
package reap

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Siginfo is the SIGCHLD layout of siginfo_t on Linux (x/sys's Siginfo
// hides the union), for waitid.
type Siginfo struct {
	Signo  int32
	Errno  int32
	Code   int32
	_      int32
	Pid    int32
	UID    uint32
	Status int32
	_      [100]byte
}

// BecomeSubreaper marks this process as a child subreaper
// (PR_SET_CHILD_SUBREAPER): its descendants that lose their parent are
// reparented to it instead of init.
func BecomeSubreaper() error {
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("prctl PR_SET_CHILD_SUBREAPER: %w", err)
	}
	return nil
}

// Policy is what Loop asks its caller.
type Policy struct {
	// Lock is the spawn lock: spawners hold it (or its shared side) from
	// fork until the new pid is registered; Loop holds it while deciding
	// about a zombie and while reaping an orphan.
	Lock sync.Locker
	// Kick wakes Loop when the process had no children at all (ECHILD) and
	// one has been registered since.
	Kick <-chan struct{}
	// Owner is called with Lock held. For a pid that is not an orphan it
	// returns a function that blocks until the pid's owner has reaped it,
	// which Loop calls after releasing Lock; for an orphan, nil.
	Owner func(pid int) (awaitReap func())
	// Reaped, when set, is called (Lock released) after Loop reaped the
	// orphan pid.
	Reaped func(pid int, ws syscall.WaitStatus)
}

// Loop reaps orphans as p directs, for the life of the process. Idle, it is
// blocked in waitid or on p.Kick: no wakeups.
func Loop(p Policy) {
	for {
		var info Siginfo
		err := unix.Waitid(unix.P_ALL, 0, (*unix.Siginfo)(unsafe.Pointer(&info)), unix.WEXITED|unix.WNOWAIT, nil)
		switch {
		case errors.Is(err, syscall.EINTR):
			continue
		case err != nil:
			// ECHILD: no children at all until one is registered. Any
			// other error should not happen; do not spin on it either.
			<-p.Kick
			continue
		}
		pid := int(info.Pid)
		if pid <= 0 {
			continue
		}
		p.Lock.Lock()
		if await := p.Owner(pid); await != nil {
			p.Lock.Unlock()
			await()
			continue
		}
		var ws syscall.WaitStatus
		wpid, werr := syscall.Wait4(pid, &ws, syscall.WNOHANG, nil)
		p.Lock.Unlock()
		if wpid == pid && werr == nil && p.Reaped != nil {
			p.Reaped(pid, ws)
		}
	}
}

// AwaitExit blocks until the child pid has exited, without reaping it, so
// that its pid stays its own (safe to signal, its process group id not
// reusable) until its exec.Cmd.Wait. Through pidfd (opened with
// PIDFD_NONBLOCK) the wait is an event of Go's poller, not a blocked
// thread; with a nil pidfd, or one that cannot be polled, it blocks a
// thread in waitid.
func AwaitExit(pidfd *os.File, pid int) {
	if pidfd != nil {
		if rc, err := pidfd.SyscallConn(); err == nil {
			rerr := rc.Read(func(fd uintptr) bool {
				var info Siginfo
				err := unix.Waitid(unix.P_PIDFD, int(fd), (*unix.Siginfo)(unsafe.Pointer(&info)),
					unix.WEXITED|unix.WNOHANG|unix.WNOWAIT, nil)
				// Still running: wait for the pidfd to be readable.
				return !(errors.Is(err, syscall.EAGAIN) || (err == nil && info.Pid == 0))
			})
			if rerr == nil {
				return
			}
		}
	}
	for {
		var info Siginfo
		err := unix.Waitid(unix.P_PID, pid, (*unix.Siginfo)(unsafe.Pointer(&info)), unix.WEXITED|unix.WNOWAIT, nil)
		if !errors.Is(err, syscall.EINTR) {
			return
		}
	}
}
