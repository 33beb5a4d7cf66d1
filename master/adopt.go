package master

import (
	"errors"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"roost/config"
	"roost/internal/procfs"
)

// Adoption: a master that starts while user supervisors of an earlier
// master still run (it re-executed itself, or the earlier one was killed)
// takes them over instead of starting second copies. What it knows of
// them is the handover record its predecessor kept (handover.go); it
// believes a record only when the process it names is still that very
// process: the same pid and /proc start time, every uid the user's, the
// same executable (device and inode, so a replaced or deleted roost binary
// still matches). A user cannot write the record (root's file in root's
// 0700 state_dir), and no process of theirs can pass for a supervisor that
// ended: a reused pid has another start time.

// adoption is one verified record: the process, held by a pidfd.
type adoption struct {
	rec supRecord
	c   *child
	out *os.File // the read end of its output pipe, when it crossed an exec
}

// errNotSupervisor says a live process fails the record's identity.
var errNotSupervisor = errors.New("not the recorded supervisor")

// adopt verifies rec against /proc and returns the process as a child of
// the master's registry (which the caller must hold: reg.mu), or why not.
// A zombie is adopted only when it is the master's own child (it exited
// across the re-exec): then wait reaps it and the slot sees the exit.
func adopt(rec supRecord) (*child, error) {
	if rec.PID <= 1 || rec.UID <= 0 {
		return nil, fmt.Errorf("record of %s: pid %d uid %d: %w", rec.Name, rec.PID, rec.UID, errNotSupervisor)
	}
	fd, err := unix.PidfdOpen(rec.PID, unix.PIDFD_NONBLOCK)
	if err != nil {
		return nil, fmt.Errorf("pid %d is gone: %w", rec.PID, err)
	}
	pidfd := os.NewFile(uintptr(fd), "pidfd")
	c, err := verify(rec)
	if err != nil {
		pidfd.Close()
		return nil, err
	}
	c.pidfd = pidfd
	return c, nil
}

// verify reads the process rec names (after its pidfd is open, so a pid
// that passes is the pidfd's process).
func verify(rec supRecord) (*child, error) {
	p, err := procfs.Read(rec.PID)
	if err != nil {
		return nil, fmt.Errorf("pid %d is gone: %w", rec.PID, err)
	}
	if p.Start != rec.Start {
		return nil, fmt.Errorf("pid %d started at tick %d, the record says %d (another process): %w", rec.PID, p.Start, rec.Start, errNotSupervisor)
	}
	self := os.Getpid()
	c := &child{pid: rec.PID, own: p.PPID == self, start: p.Start, exeDev: rec.ExeDev, exeIno: rec.ExeIno, done: make(chan struct{})}
	if p.State == 'Z' {
		if c.own {
			return c, nil // it exited across the exec: reap it and restart
		}
		return nil, fmt.Errorf("pid %d has exited", rec.PID)
	}
	uids, err := allUIDs(rec.PID)
	if err != nil {
		return nil, fmt.Errorf("pid %d: %w", rec.PID, err)
	}
	for _, u := range uids {
		if u != rec.UID {
			return nil, fmt.Errorf("pid %d runs with uids %v, the record says %d: %w", rec.PID, uids, rec.UID, errNotSupervisor)
		}
	}
	dev, ino, err := exeID(rec.PID)
	if err != nil {
		return nil, fmt.Errorf("pid %d: %w", rec.PID, err)
	}
	if dev != rec.ExeDev || ino != rec.ExeIno {
		// A supervisor that upgraded itself in place (`roost upgrade`,
		// `roost admin upgrade`) runs the binary now on disk, which is
		// this master's own after its re-exec or restart.
		if sdev, sino, err := exeID(self); err != nil || dev != sdev || ino != sino {
			return nil, fmt.Errorf("pid %d runs another executable (%d:%d, the record says %d:%d): %w", rec.PID, dev, ino, rec.ExeDev, rec.ExeIno, errNotSupervisor)
		}
		c.exeDev, c.exeIno = dev, ino
	}
	return c, nil
}

// identify records what the next master checks of a supervisor just
// started (its exec has succeeded when Start returns).
func (c *child) identify() error {
	p, err := procfs.Read(c.pid)
	if err != nil {
		return err
	}
	dev, ino, err := exeID(c.pid)
	if err != nil {
		return err
	}
	c.start, c.exeDev, c.exeIno = p.Start, dev, ino
	return nil
}

// exeID is the device and inode of /proc/PID/exe (which stays the
// program's inode when the file was replaced or deleted).
func exeID(pid int) (dev, ino uint64, err error) {
	var st unix.Stat_t
	if err := unix.Stat("/proc/"+strconv.Itoa(pid)+"/exe", &st); err != nil {
		return 0, 0, fmt.Errorf("its executable: %w", err)
	}
	return st.Dev, st.Ino, nil
}

// allUIDs returns the real, effective, saved and file-system uids.
func allUIDs(pid int) ([]int, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return nil, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		rest, ok := strings.CutPrefix(line, "Uid:")
		if !ok {
			continue
		}
		var out []int
		for _, f := range strings.Fields(rest) {
			u, err := strconv.Atoi(f)
			if err != nil {
				return nil, fmt.Errorf("parse Uid line %q", line)
			}
			out = append(out, u)
		}
		if len(out) != 4 {
			return nil, fmt.Errorf("parse Uid line %q", line)
		}
		return out, nil
	}
	return nil, errors.New("no Uid line in its status")
}

// killRejected kills a process that is the recorded one (same pid and
// start time) but no longer passes as a supervisor (it changed its
// executable or uid), and its descendants: its programs would otherwise
// run on beside the new supervisor, out of the master's reach.
func killRejected(rec supRecord) int {
	p, err := procfs.Read(rec.PID)
	if err != nil || p.Start != rec.Start {
		return 0
	}
	ds, _ := procfs.Descendants(rec.PID, nil)
	var fds []int
	for _, d := range append(ds, p) {
		if d.RUID != rec.UID && d.EUID != rec.UID && d.PID != rec.PID {
			continue
		}
		if fd, err := procfs.Kill(d, syscall.SIGKILL); err == nil && fd >= 0 {
			fds = append(fds, fd)
		}
	}
	procfs.CloseAll(fds)
	return len(fds)
}

// awaitGone blocks until the process of pidfd has exited, for a process
// that is not the master's child (waitid cannot see it): the pidfd turns
// readable then. The wait is an event of Go's poller.
func awaitGone(pidfd *os.File) {
	if pidfd == nil {
		return
	}
	rc, err := pidfd.SyscallConn()
	if err == nil {
		err = rc.Read(func(fd uintptr) bool {
			pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
			n, err := unix.Poll(pfd, 0)
			return err == nil && n > 0
		})
	}
	if err == nil {
		return
	}
	for { // not pollable: block a thread
		pfd := []unix.PollFd{{Fd: int32(pidfd.Fd()), Events: unix.POLLIN}}
		if n, err := unix.Poll(pfd, -1); (err == nil && n > 0) || (err != nil && !errors.Is(err, syscall.EINTR)) {
			return
		}
	}
}

// reapAdopted reaps an adopted child that has exited (the master's own
// child since the re-exec) and returns its exit state.
func reapAdopted(pid int) *os.ProcessState {
	p, err := os.FindProcess(pid)
	if err != nil {
		return nil
	}
	ps, _ := p.Wait()
	return ps
}

// pidfdSignal sends sig through a pidfd without taking it out of
// non-blocking mode (os.File.Fd would).
func pidfdSignal(pidfd *os.File, sig syscall.Signal) error {
	rc, err := pidfd.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) { serr = unix.PidfdSendSignal(int(fd), sig, nil, 0) }); err != nil {
		return err
	}
	if errors.Is(serr, syscall.ESRCH) {
		return os.ErrProcessDone
	}
	return serr
}

// uptimeOf is how long ago a record's supervisor was started, never
// negative (the wall clock may have moved).
func uptimeOf(rec supRecord) time.Duration {
	return max(time.Since(rec.Started), 0)
}

// claimAdoption gives the slot the supervisor found running for its user,
// if any. m.mu is held.
func (m *Master) claimAdoption(s *slot) {
	as := m.adoptions[s.name]
	if len(as) == 0 {
		return
	}
	s.adopt = &as[0]
	if as[0].restarts(s.spec) { // takeOver restarts it
		m.image.Replaced = append(m.image.Replaced, s.name)
		sort.Strings(m.image.Replaced)
	}
	if len(as) == 1 {
		delete(m.adoptions, s.name)
	} else {
		m.adoptions[s.name] = as[1:]
	}
}

// retireUnclaimed stops the adopted supervisors no slot took: their user
// left roost.toml (or a second one of a user, which should not exist).
// m.mu is held.
func (m *Master) retireUnclaimed(cfg *config.Master) {
	for name, as := range m.adoptions {
		for _, a := range as {
			s := newSlot(m, userSpec{Name: name, Account: Account{Name: name, UID: a.rec.UID}})
			s.adopt = &a
			m.log.Info("adopted supervisor of a user roost.toml does not list (or lists once): stopping it", "user", name, "pid", a.c.pid)
			go s.run(nil)
			m.retire(name, s, cfg)
		}
		delete(m.adoptions, name)
	}
}

// restarts says whether the adopted supervisor must be restarted to run
// sp: it was started with other settings, or the previous master was
// stopping it (a restart under way: its kill timer did not cross).
func (a adoption) restarts(sp userSpec) bool {
	return a.rec.Stopping || a.rec.Digest != sp.digest()
}

// takeOver makes an adopted supervisor the slot's: its output (when it
// crossed an exec), its exit, its counters from the record; STARTING until
// it has been up startSecs in all. A supervisor started with other
// settings than the slot's is restarted at once.
func (s *slot) takeOver(a adoption) {
	rec := a.rec
	s.spawns, s.failures, s.lastErr, s.started = rec.Spawns, rec.Failures, rec.LastError, rec.Started
	s.watch(a.c, a.out)
	s.setState(UserStarting, "adopted")
	s.setTimer(timerStarted, max(startSecs-uptimeOf(rec), 0))
	// The bind filter stays attached to the user's cgroup (the kernel
	// holds it, not the master's descriptors).
	if !a.restarts(s.spec) && !a.c.runsOwnExe() {
		s.staleExe = true // upgraded once RUNNING (upgrade.go)
	}
	if a.restarts(s.spec) {
		why := "its settings changed"
		if rec.Stopping {
			why = "the previous master was stopping it"
		}
		s.log().Info("restarting the adopted supervisor", "pid", a.c.pid, "why", why)
		s.failures = 0
		s.restart("settings changed")
	}
}
