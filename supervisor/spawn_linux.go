package supervisor

import (
	"errors"
	"os"
	"os/exec"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"roost/internal/mainthread"
)

// The spawn recipe, the one way roost starts a process (programs now, cron
// jobs later):
//
//   - its own process group (Setpgid), so a stop can reach the whole group and
//     a Ctrl-C on the terminal of `roost run` does not reach the programs;
//   - stdin, stdout and stderr are *os.File pipes the caller made, so
//     exec.Cmd starts no copying goroutines and Wait never waits for a
//     grandchild that inherited the pipe;
//   - credentials: Uid, Gid and the user's groups (never NoSetGroups, never an
//     empty Groups by accident) when the spec asks for a user;
//   - Pdeathsig SIGKILL: if the supervisor dies, its programs' leaders die with
//     it instead of running on unsupervised and holding their ports. The
//     kernel ties Pdeathsig to the *thread* that forked (golang/go#27505), so
//     every fork happens on a small pool of goroutines locked to their OS
//     threads for the life of the process;
//   - umask: Go cannot set a child's umask, and umask is per process. A spec
//     with a umask sets the process umask around the fork under umaskMu held
//     exclusively (the child copies it at clone time); every other spawn holds
//     umaskMu shared, so it never inherits another program's umask. Files the
//     supervisor itself creates during those microseconds (a log rotation)
//     could get the program's umask; that window is the length of one clone.
//   - registration in the reaper's registry before anyone can take the new
//     pid for an orphan.

// spec is everything one spawn needs; a program and a cron job both have it.
type spec struct {
	Path  string   // resolved executable (see resolveCommand)
	Argv  []string // Argv[0] as configured
	Dir   string   // "" inherits the supervisor's directory
	Env   []string
	Umask int                 // -1 inherits
	Cred  *syscall.Credential // nil: run as the supervisor's user
	// The child's ends of its pipes. The caller closes them after start.
	Stdin, Stdout, Stderr *os.File
	Place                 placement // its cgroup (cgroup_linux.go)
}

// child is one started process, reaped exactly once. Its exit is seen by
// the reaper (reaper_linux.go), which blocks in waitid for every child of
// the process: no goroutine, thread or descriptor waits per child.
type child struct {
	cmd     *exec.Cmd // nil for a child adopted from the previous image (handover.go)
	pid     int
	owner   *Supervisor
	started time.Time

	mu      sync.Mutex // held to signal; reaped is set under it before the reap
	reaped  bool
	stopReq atomic.Bool // a stop was requested: kill what is left of the group at exit
	place   placement   // its cgroup, killed after a stop

	reapedc chan struct{} // closed once the child has been reaped

	// Under mu. exited: the reaper saw the child's zombie (at exitAt);
	// exitc is closed then. report is what watch asked to be told of the
	// exit; finishing: the goroutine that reaps and reports has been
	// started. detached says the child is being handed over to the next
	// image of this process: its exit is neither reaped nor reported
	// (handover.go).
	exited    bool
	exitAt    time.Time
	exitc     chan struct{}
	report    func(syscall.WaitStatus, time.Time)
	finishing bool
	detached  bool
}

// newChild is a registered child's record.
func newChild(owner *Supervisor, cmd *exec.Cmd, pid int, started time.Time) *child {
	return &child{cmd: cmd, pid: pid, owner: owner, started: started,
		reapedc: make(chan struct{}), exitc: make(chan struct{})}
}

var umaskMu sync.RWMutex

// The fork pool (see above). Its goroutines never exit, so their threads
// never die and Pdeathsig never fires while the supervisor lives.
var forkPool struct {
	once sync.Once
	reqs chan forkReq
}

type forkReq struct {
	cmd   *exec.Cmd
	sp    *spec
	owner *Supervisor
	reply chan forkReply
}

type forkReply struct {
	c   *child
	err error
}

func forkWorker() {
	runtime.LockOSThread() // never unlocked: this thread is the children's "parent"
	for r := range forkPool.reqs {
		c, err := forkLocked(r.cmd, r.sp, r.owner)
		r.reply <- forkReply{c, err}
	}
}

// startChild starts sp and registers the child. The caller closes sp's pipe
// ends afterwards (they are the child's).
func startChild(owner *Supervisor, sp *spec) (*child, error) {
	startReaper() // the only one to see its exit
	if mainthread.Serving() {
		// Every program is the main thread's child, so none of them gets
		// its Pdeathsig when the supervisor execs a new image (see
		// internal/mainthread).
		var r forkReply
		mainthread.Do(func() { r.c, r.err = forkLocked(spawnCmd(sp), sp, owner) })
		return r.c, r.err
	}
	forkPool.once.Do(func() {
		n := runtime.GOMAXPROCS(0)
		if n < 2 {
			n = 2
		}
		forkPool.reqs = make(chan forkReq)
		for i := 0; i < n; i++ {
			go forkWorker()
		}
	})
	reply := make(chan forkReply, 1)
	forkPool.reqs <- forkReq{cmd: spawnCmd(sp), sp: sp, owner: owner, reply: reply}
	r := <-reply
	return r.c, r.err
}

// spawnCmd is the exec.Cmd of the spawn recipe for sp.
func spawnCmd(sp *spec) *exec.Cmd {
	cmd := &exec.Cmd{
		Path:   sp.Path,
		Args:   sp.Argv,
		Dir:    sp.Dir,
		Env:    sp.Env,
		Stdin:  sp.Stdin,
		Stdout: sp.Stdout,
		Stderr: sp.Stderr,
		SysProcAttr: &syscall.SysProcAttr{
			Setpgid:    true,
			Pdeathsig:  syscall.SIGKILL,
			Credential: sp.Cred,
		},
	}
	if cmd.Env == nil {
		cmd.Env = []string{} // never the supervisor's environment by accident
	}
	return cmd
}

// forkLocked runs on a fork-pool thread.
func forkLocked(cmd *exec.Cmd, sp *spec, owner *Supervisor) (*child, error) {
	if sp.Umask >= 0 {
		umaskMu.Lock()
		defer umaskMu.Unlock()
		old := syscall.Umask(sp.Umask)
		defer syscall.Umask(old)
	} else {
		umaskMu.RLock()
		defer umaskMu.RUnlock()
	}
	reg.mu.RLock()
	defer reg.mu.RUnlock()
	if err := sp.Place.start(owner, cmd); err != nil {
		return nil, err
	}
	// The child has its own copies now; the record need not keep a
	// program's environment and argv for as long as it runs.
	cmd.Env, cmd.Args = nil, nil
	c := newChild(owner, cmd, cmd.Process.Pid, time.Now())
	c.place = sp.Place
	// reg.children is written under the read lock: registrations must not
	// exclude each other, only the reaper's decision. A small mutex of its
	// own guards the map against concurrent registrations.
	regMapMu.Lock()
	reg.children[c.pid] = c
	regMapMu.Unlock()
	select {
	case reg.kick <- struct{}{}:
	default:
	}
	return c, nil
}

// regMapMu guards reg.children against concurrent writers holding reg.mu
// shared; the reaper reads it holding reg.mu exclusively.
var regMapMu sync.Mutex

// signal sends sig to the child, or to its process group, unless the child
// has been reaped: a pid is never signalled after its Wait.
func (c *child) signal(sig syscall.Signal, group bool) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.reaped {
		return syscall.ESRCH
	}
	target := c.pid
	if group {
		target = -c.pid // the child leads its own group (Setpgid)
	}
	return syscall.Kill(target, sig)
}

// stop is the signal step of the stop recipe, for programs and cron jobs
// alike: it marks the child as being stopped, so that whatever is left of
// its process group is killed (SIGKILL) once it exits, and sends it sig
// (to its whole process group with group). A reaped child is not
// signalled (ESRCH).
func (c *child) stop(sig syscall.Signal, group bool) error {
	c.stopReq.Store(true)
	return c.signal(sig, group)
}

// watch has report told of the child's exit, from a goroutine of its
// own once the reaper has seen it, unless the child is detached first.
func (c *child) watch(report func(syscall.WaitStatus, time.Time)) {
	c.mu.Lock()
	c.report = report
	fire := c.takeExit()
	c.mu.Unlock()
	if fire {
		go c.finish()
	}
}

// exitSeen is the reaper's news that the child is a zombie: it wakes
// wait, or starts the reap and report watch asked for. The reaper holds
// reg.mu, and waits for reapedc after it.
func (c *child) exitSeen() {
	c.mu.Lock()
	if c.exited {
		c.mu.Unlock()
		return
	}
	c.exited, c.exitAt = true, time.Now()
	close(c.exitc)
	fire := c.takeExit()
	c.mu.Unlock()
	if fire {
		go c.finish()
	}
}

// takeExit (under mu) says whether the exit is to be reaped and reported
// now: seen, watched, not handed over, not taken yet.
func (c *child) takeExit() bool {
	if !c.exited || c.report == nil || c.detached || c.finishing {
		return false
	}
	c.finishing = true
	return true
}

// finish reaps the child and reports its exit.
func (c *child) finish() {
	ws, at, ok := c.reap()
	if ok {
		c.report(ws, at)
	}
}

// wait blocks until the child exits, then reaps it (see reap); for a
// child nobody watches and none hands over (a cron job, a health check).
func (c *child) wait() (syscall.WaitStatus, time.Time, bool) {
	<-c.exitc
	c.mu.Lock()
	c.finishing = true
	c.mu.Unlock()
	return c.reap()
}

// reap kills what is left of the child's process group if a stop was
// requested, reaps the zombie, and returns its wait status and the time
// its exit was seen. It returns false, without reaping, when the child
// was detached (handed over) before its exit was taken.
func (c *child) reap() (syscall.WaitStatus, time.Time, bool) {
	c.mu.Lock()
	at := c.exitAt
	if c.detached {
		c.mu.Unlock()
		return 0, time.Time{}, false
	}
	if c.stopReq.Load() {
		// The leader is a zombie: its pid, hence its group id, cannot have
		// been reused. Take the rest of the group.
		_ = syscall.Kill(-c.pid, syscall.SIGKILL)
	}
	c.reaped = true
	c.mu.Unlock()
	var ws syscall.WaitStatus
	if c.cmd != nil {
		_ = c.cmd.Wait() // a non-zero exit is an error here; the status is what matters
		if ps := c.cmd.ProcessState; ps != nil {
			ws, _ = ps.Sys().(syscall.WaitStatus)
		}
	} else {
		// Adopted: no exec.Cmd, but still this process's child.
		for {
			_, err := syscall.Wait4(c.pid, &ws, 0, nil)
			if !errors.Is(err, syscall.EINTR) {
				break
			}
		}
	}
	reg.mu.RLock()
	regMapMu.Lock()
	delete(reg.children, c.pid)
	regMapMu.Unlock()
	reg.mu.RUnlock()
	close(c.reapedc) // the reaper looks for the next zombie
	if c.stopReq.Load() {
		c.place.killGroup(c.owner) // a double-forked daemon left its process group
	}
	return ws, at, true
}

// lookPath is supervisord's get_execv_args: a command with a "/" is used as
// is; otherwise the first entry of path where a file of that name exists
// (whatever its mode) wins, and the result is then checked. The errors carry
// supervisord's messages and fault codes (NO_FILE, NOT_EXECUTABLE).
func lookPath(program string, path []string) (string, error) {
	var filename string
	var st os.FileInfo
	if containsSlash(program) {
		filename = program
		st, _ = os.Stat(filename)
	} else {
		filename = program
		for _, dir := range path {
			found := joinPath(dir, program)
			if s, err := os.Stat(found); err == nil {
				st, filename = s, found
				break
			}
		}
	}
	switch {
	case st == nil:
		return "", &execError{notFound: true, msg: "can't find command " + pyRepr(filename)}
	case st.IsDir():
		return "", &execError{msg: "command at " + pyRepr(filename) + " is a directory"}
	case st.Mode().Perm()&0o111 == 0:
		return "", &execError{msg: "command at " + pyRepr(filename) + " is not executable"}
	case unix.Access(filename, unix.X_OK) != nil:
		return "", &execError{msg: "no permission to run command " + pyRepr(filename)}
	}
	return filename, nil
}

// execError is a command that cannot be run: supervisord's NotFound (NO_FILE)
// or NotExecutable/NoPermission/BadCommand (NOT_EXECUTABLE).
type execError struct {
	notFound bool
	msg      string
}

func (e *execError) Error() string { return e.msg }
