// Package handover carries a user supervisor across an execve of its own
// binary (`roost upgrade`): what it writes before the exec, how the file
// descriptors it keeps cross, and how the new image finds them.
//
// The protocol (DESIGN.md, "Upgrading in place"):
//
//  1. probe: the old image runs the new binary as a child, `BINARY
//     handover-probe`, with the state on its stdin; the child decodes it,
//     checks the protocol, and prints its version. A binary that cannot do
//     that (missing, not executable, a script that exits 1, an older roost)
//     fails here and nothing has changed;
//  2. freeze: the old image stops everything that could change the state:
//     copiers stop at a read boundary (the partial line they hold is in the
//     state), child waiters stop without reaping, cron runs are held;
//  3. exec: the state goes into a memfd; it and every descriptor the state
//     names lose close-on-exec; the old image execs the binary with
//     ROOST_HANDOVER_FD naming the memfd, on the main thread (see
//     internal/mainthread), so the programs stay its children and keep
//     their Pdeathsig parent;
//  4. adopt: the new image reads the state, takes every descriptor,
//     checks every pid (still its child, same start time) and goes on.
//
// If anything fails before the exec, the old image thaws and reports it.
//
// This package knows nothing of the runtime: the supervisor fills a State
// and reads one back.
package handover

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Protocol is the version of State's layout. A new binary refuses (in its
// probe) a state of another protocol, so the old one keeps running.
const Protocol = 1

// EnvFD names the environment variable that carries the state's descriptor
// to the new image.
const EnvFD = "ROOST_HANDOVER_FD"

// ProbeCommand is the hidden verb the probe runs.
const ProbeCommand = "handover-probe"

// maxState bounds the state read back.
const maxState = 64 << 20

// State is what crosses the exec.
type State struct {
	Protocol int    `json:"protocol"`
	From     string `json:"from"` // the old image's version
	// Generation counts the re-execs of this supervisor (0: never).
	Generation int       `json:"generation"`
	Started    time.Time `json:"started"` // when the first image started
	// Config is the running configuration (config.Config as JSON): the
	// new image runs what ran, not what the file on disk says now.
	Config json.RawMessage `json:"config"`
	// Socket is the listening control socket, kept open across the exec
	// so no client finds it gone.
	Socket *Socket `json:"socket,omitempty"`
	// Notify is the programs' NOTIFY_SOCKET (notify=true), kept open
	// across the exec: their READY=1 and WATCHDOG=1 go on reaching it.
	Notify *Socket `json:"notify,omitempty"`
	// Processes are the supervisor's processes, running or not.
	Processes []Process `json:"processes"`
	// CronNext is each cron job's next run, so @every jobs keep their
	// rhythm and no @reboot job runs again.
	CronNext map[string]time.Time `json:"cron_next,omitempty"`
	// FrozenAt is when the old image stopped managing its programs: the
	// new image reports how long they went unmanaged.
	FrozenAt time.Time `json:"frozen_at"`
}

// Socket is an inherited socket and its lock file (-1: none).
type Socket struct {
	Path string `json:"path"`
	FD   int    `json:"fd"`
	Lock int    `json:"lock"`
}

// Process is one process's state.
type Process struct {
	Namespec   string    `json:"namespec"`
	State      int       `json:"state"` // supervisord's state number
	PID        int       `json:"pid,omitempty"`
	PIDStart   uint64    `json:"pid_start,omitempty"` // /proc/PID/stat starttime: the same process, not a reused pid
	Start      time.Time `json:"start"`               // last spawn
	Stop       time.Time `json:"stop"`                // last exit
	SpawnErr   string    `json:"spawnerr,omitempty"`
	ExitStatus int       `json:"exitstatus"`
	Spawns     int       `json:"spawns"`
	Backoff    int       `json:"backoff"`
	Killing    bool      `json:"killing,omitempty"` // a stop was sent; the exit makes it STOPPED
	OOM        string    `json:"oom,omitempty"`
	OOMKills   int       `json:"oom_kills,omitempty"`
	// Due is when the state's timer fires (startsecs, backoff, a throttled
	// restart, stopwaitsecs), zero when none is armed; RestartDue says it
	// is a throttled autorestart.
	Due        time.Time `json:"due"`
	RestartDue bool      `json:"restart_due,omitempty"`
	// The descriptors of the running child's pipes (ours: stdin's write
	// end, the output's read ends), -1 when none; Partial is the line the
	// copier of each output held, not yet ended by a newline.
	Stdin   int       `json:"stdin"`
	Out     [2]int    `json:"out"`
	Partial [2][]byte `json:"partial"`
	// Group is the running child's per-program cgroup ("web", "web.b"
	// after a blue-green restart), "" for none: the next image kills it
	// at the child's stop and starts the next blue-green in the other.
	Group string `json:"group,omitempty"`
}

// Inherit clears close-on-exec on c's descriptor (an *os.File, a
// listener) and returns its number, at which the next image finds it. It
// does not use File.Fd, which would make the descriptor blocking and so
// useless to the next image's poller.
func Inherit(c syscall.Conn) (int, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return -1, fmt.Errorf("handover: %w", err)
	}
	n := -1
	var ferr error
	if err := rc.Control(func(fd uintptr) {
		n = int(fd)
		_, ferr = unix.FcntlInt(fd, unix.F_SETFD, 0)
	}); err != nil {
		return -1, fmt.Errorf("handover: %w", err)
	}
	if ferr != nil {
		return -1, fmt.Errorf("handover: keep fd %d across exec: %w", n, ferr)
	}
	return n, nil
}

// Uninherit sets close-on-exec again on what Inherit returned.
func Uninherit(fd int) {
	if fd >= 0 {
		unix.CloseOnExec(fd)
	}
}

// Encode writes st to a new memfd (close-on-exec set; Inherit it before the
// exec) and returns it positioned at its start.
func Encode(st *State) (*os.File, error) {
	st.Protocol = Protocol
	data, err := json.Marshal(st)
	if err != nil {
		return nil, fmt.Errorf("handover: encode: %w", err)
	}
	fd, err := unix.MemfdCreate("roost-handover", unix.MFD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("handover: memfd: %w", err)
	}
	f := os.NewFile(uintptr(fd), "roost-handover")
	if _, err := f.Write(data); err != nil {
		f.Close()
		return nil, fmt.Errorf("handover: write state: %w", err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// Decode reads a state and checks its protocol.
func Decode(r io.Reader) (*State, error) {
	var st State
	if err := json.NewDecoder(io.LimitReader(r, maxState)).Decode(&st); err != nil {
		return nil, fmt.Errorf("handover: decode state: %w", err)
	}
	if st.Protocol != Protocol {
		return nil, fmt.Errorf("handover: state protocol %d, this roost speaks %d", st.Protocol, Protocol)
	}
	return &st, nil
}

// ErrNone says this image was not started by a handover.
var ErrNone = errors.New("handover: no state")

// Take reads the state the previous image left (EnvFD), closes its
// descriptor and removes the variable, so the programs never see it.
func Take() (*State, error) {
	v, ok := os.LookupEnv(EnvFD)
	if !ok {
		return nil, ErrNone
	}
	os.Unsetenv(EnvFD)
	fd, err := strconv.Atoi(v)
	if err != nil || fd < 3 {
		return nil, fmt.Errorf("handover: %s=%q is not a descriptor", EnvFD, v)
	}
	unix.CloseOnExec(fd)
	f := os.NewFile(uintptr(fd), "roost-handover")
	defer f.Close()
	st, err := Decode(f)
	if err != nil {
		return nil, err
	}
	// Every descriptor the state names is close-on-exec again before this
	// image forks anything: a program spawned early (an adopted one that
	// exited and restarts) must not inherit the socket or another's pipe.
	for _, fd := range st.descriptors() {
		if fd >= 0 {
			unix.CloseOnExec(fd)
		}
	}
	return st, nil
}

// descriptors lists every descriptor the state names (-1 for none).
func (st *State) descriptors() []int {
	var fds []int
	if st.Socket != nil {
		fds = append(fds, st.Socket.FD, st.Socket.Lock)
	}
	if st.Notify != nil {
		fds = append(fds, st.Notify.FD)
	}
	for _, p := range st.Processes {
		fds = append(fds, p.Stdin, p.Out[0], p.Out[1])
	}
	return fds
}

// File returns the inherited descriptor fd as a file (the new image's
// side of Inherit); -1 gives nil. Close-on-exec is set again.
func File(fd int, name string) *os.File {
	if fd < 0 {
		return nil
	}
	unix.CloseOnExec(fd)
	return os.NewFile(uintptr(fd), name)
}
