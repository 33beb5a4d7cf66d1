package master

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Timing of a user supervisor's life.
const (
	// startSecs is how long a supervisor must stay up to count as RUNNING.
	startSecs = time.Second
	// backoffReset: a supervisor that stayed up this long before exiting is
	// restarted at once, its failure count forgotten.
	backoffReset = 10 * time.Second
	// backoffMax caps the delay between restarts of a crash loop.
	backoffMax = 60 * time.Second
	// sweepTimeout bounds the killing of a user's leftover processes.
	sweepTimeout = 10 * time.Second
	// drainTimeout bounds the wait for the last output of an exited
	// supervisor once its leftovers are dead (the pipe's EOF).
	drainTimeout = time.Second
)

// backoffDelay is the wait before restart number failures of a crash loop:
// at once, then 1 s, 2 s, 3 s… like supervisord's backoff, capped.
func backoffDelay(failures int) time.Duration {
	d := time.Duration(failures-1) * time.Second
	return min(max(d, 0), backoffMax)
}

// userSpec is everything needed to run one user's supervisor. Two specs
// that are equal run the same supervisor: a reload restarts a user only
// when its spec changed.
type userSpec struct {
	Name    string
	Account Account
	Refused string // why the master will not run this user; "" when it will
	Block   Block
	Project string // absolute project directory
	UserDir string // {run_dir}/users/{name}
	Env     []string
	Args    []string // argv, Args[0] being the roost executable
}

func (a userSpec) equal(b userSpec) bool { return a.digest() == b.digest() }

// slotCmd is a request to a slot's owner goroutine.
type slotCmd struct {
	kind  cmdKind
	reply chan error
	// cmdFreeze: frozen runs on the slot's goroutine before it blocks on
	// thaw (reexec.go).
	frozen func(*slot)
	thaw   <-chan struct{}
}

type cmdKind int

const (
	cmdRestart cmdKind = iota // stop and start again now, backoff forgotten
	cmdRetire                 // stop for good; the goroutine ends
	cmdFreeze                 // the master re-executes: run c.frozen, then act on nothing until c.thaw closes
)

type timerKind int

const (
	timerNone timerKind = iota
	timerStarted
	timerBackoff
	timerKill
)

// exitEvent is a supervisor's exit, as its waiter reports it.
type exitEvent struct {
	proc *child
	ps   *os.ProcessState
	at   time.Time
	out  *tailBuffer
	eof  chan struct{} // closed when its output pipe reached EOF
}

// slot runs one user's supervisor: one owner goroutine holds every field
// below; others read the published status and send commands.
type slot struct {
	name   string
	m      *Master
	cmds   chan slotCmd
	kick   chan struct{} // want was set
	exitc  chan exitEvent
	done   chan struct{} // closed when the goroutine ends (after retire)
	status atomic.Pointer[UserStatus]

	wantMu sync.Mutex
	want   *userSpec // the spec a reload wants, taken by the goroutine

	// owned by the goroutine
	spec      userSpec
	state     UserState
	since     time.Time
	proc      *child
	started   time.Time
	timer     *time.Timer
	timerKind timerKind
	failures  int
	spawns    int
	lastErr   string
	restartAt bool // start again once the stop completes
	swept     bool // no process of the user is left since the last sweep
	retiring  bool
	retired   []chan error
	out       *os.File  // the read end of the supervisor's output pipe
	adopt     *adoption // set before run: take this supervisor over instead of starting one
	// staleExe: the adopted supervisor runs another binary than the
	// master's; it is upgraded in place once RUNNING (upgrade.go).
	staleExe bool
}

func newSlot(m *Master, spec userSpec) *slot {
	s := &slot{
		name:  spec.Name,
		m:     m,
		cmds:  make(chan slotCmd),
		kick:  make(chan struct{}, 1),
		exitc: make(chan exitEvent, 1),
		done:  make(chan struct{}),
		spec:  spec,
		since: time.Now(),
	}
	s.publish()
	return s
}

func (s *slot) log() *slog.Logger { return s.m.log.With("user", s.name) }

// run is the owner goroutine. prev, when not nil, is closed once an
// earlier slot of the same name has finished stopping.
func (s *slot) run(prev <-chan struct{}) {
	defer close(s.done)
	if prev != nil {
		<-prev
	}
	if s.adopt != nil {
		s.takeOver(*s.adopt)
		s.adopt = nil
	} else {
		s.start()
	}
	for {
		if s.retiring && s.proc == nil {
			s.setTimer(timerNone, 0)
			for _, r := range s.retired {
				r <- nil
			}
			return
		}
		var tc <-chan time.Time
		if s.timer != nil {
			tc = s.timer.C
		}
		select {
		case ev := <-s.exitc:
			s.exited(ev)
		case <-tc:
			k := s.timerKind
			s.timer, s.timerKind = nil, timerNone
			s.fire(k)
		case c := <-s.cmds:
			s.handle(c)
		case <-s.kick:
			s.wantMu.Lock()
			want := s.want
			s.want = nil
			s.wantMu.Unlock()
			if want != nil {
				s.update(*want)
			}
		}
	}
}

// send delivers a command and waits for its answer, or for the slot's end.
func (s *slot) send(ctx context.Context, c slotCmd) error {
	c.reply = make(chan error, 1)
	select {
	case s.cmds <- c:
	case <-s.done:
		return fmt.Errorf("user %s: supervisor slot is gone", s.name)
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-c.reply:
		return err
	case <-s.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *slot) handle(c slotCmd) {
	switch c.kind {
	case cmdRestart:
		if s.spec.Refused != "" {
			c.reply <- fmt.Errorf("user %s is refused: %s", s.name, s.spec.Refused)
			return
		}
		s.failures = 0
		s.restart("restart requested")
		c.reply <- nil
	case cmdRetire:
		s.retiring = true
		s.restartAt = false
		s.retired = append(s.retired, c.reply)
		s.stop("stopping")
	case cmdFreeze:
		if c.frozen != nil {
			c.frozen(s)
		}
		c.reply <- nil
		<-c.thaw
	}
}

// setWant hands a new spec to the goroutine without waiting for it: the
// latest one wins.
func (s *slot) setWant(sp userSpec) {
	s.wantMu.Lock()
	s.want = &sp
	s.wantMu.Unlock()
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// update runs sp from now on, restarting the supervisor when it changed.
func (s *slot) update(sp userSpec) {
	if sp.equal(s.spec) || s.retiring {
		return
	}
	s.log().Info("user settings changed: restarting the user's supervisor")
	s.spec = sp
	s.failures = 0
	s.restart("settings changed")
}

// restart stops the supervisor if it runs and starts it again.
func (s *slot) restart(why string) {
	switch s.state {
	case UserStarting, UserRunning:
		s.restartAt = true
		s.stop(why)
	case UserStopping:
		s.restartAt = true
	default:
		s.setTimer(timerNone, 0)
		s.start()
	}
}

// start spawns the supervisor, or records why it cannot.
func (s *slot) start() {
	if s.retiring {
		return
	}
	if s.spec.Refused != "" {
		s.lastErr = s.spec.Refused
		s.setState(UserRefused, s.spec.Refused)
		return
	}
	if err := s.spawn(); err != nil {
		s.lastErr = sanitize(err.Error(), 500)
		s.failures++
		s.scheduleRestart("spawn failed: " + s.lastErr)
		return
	}
	s.spawns++ // Restarts shows spawns after the first
	s.setState(UserStarting, "spawned")
	s.setTimer(timerStarted, startSecs)
}

// scheduleRestart enters BACKOFF and arms the restart.
func (s *slot) scheduleRestart(why string) {
	d := backoffDelay(s.failures)
	s.setState(UserBackoff, why)
	if d == 0 {
		s.start()
		return
	}
	s.log().Warn("user supervisor in backoff", "delay", d.String(), "failures", s.failures)
	s.setTimer(timerBackoff, d)
}

// spawn prepares the run directory, kills whatever an earlier supervisor of
// this user left, and starts `roost run --managed` as the user.
func (s *slot) spawn() error {
	sp := s.spec
	if err := ensureUserDir(s.m.usersDir, sp.Name, sp.Account.UID, sp.Account.GID); err != nil {
		return err
	}
	runDir := filepath.Dir(s.m.usersDir)
	if err := ensureUserDir(filepath.Join(runDir, socketsDirName), sp.Name, sp.Account.UID, sp.Account.GID); err != nil {
		return err
	}
	if err := ensureRootDir(filepath.Join(runDir, nginxDirName, sp.Name), 0o755, true); err != nil {
		return err
	}
	if !s.swept {
		s.sweep()
	}
	r, w, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("spawn: %w", err)
	}
	cgdir, err := s.m.cg.prepare(sp.Name, s.m.Config().Ports, sp.Block)
	if err != nil {
		// The router's owner checks still hold; the admin sees why.
		s.log().Error("no bind filter for the user's supervisor: its port block is protected by detection only", "err", err)
	}
	if cgdir != nil {
		defer cgdir.Close()
	}
	groups := make([]uint32, len(sp.Account.Groups))
	for i, g := range sp.Account.Groups {
		groups[i] = uint32(g)
	}
	cmd := &exec.Cmd{
		Path:   sp.Args[0],
		Args:   sp.Args,
		Env:    sp.Env, // the allow-list only, never the master's environment
		Dir:    sp.Account.Home,
		Stdin:  nil, // /dev/null
		Stdout: w,
		Stderr: w,
		SysProcAttr: &syscall.SysProcAttr{
			Setsid: true,
			// Never NoSetGroups (keeps root's groups), never empty Groups
			// (drops the user's): the user's own list, primary group included.
			Credential: &syscall.Credential{Uid: uint32(sp.Account.UID), Gid: uint32(sp.Account.GID), Groups: groups},
			// No Pdeathsig: the supervisor outlives a master that dies or
			// re-executes, and the next one adopts it (adopt.go).
		},
	}
	mv, err := s.m.cg.prepareRes(sp.Name, s.m.Config().LimitsFor(sp.Name), sp.Account.UID, sp.Account.GID)
	if err != nil {
		s.log().Error("the user's limits are not all in force", "err", err)
	}
	var c *child
	if cgdir != nil { // born in the user's cgroup: filtered from its first bind
		inCg := *cmd
		attr := *cmd.SysProcAttr
		attr.UseCgroupFD, attr.CgroupFD = true, int(cgdir.Fd())
		inCg.SysProcAttr = &attr
		if c, err = s.fork(&inCg, mv); err != nil {
			// A kernel or a delegation that refuses CLONE_INTO_CGROUP must
			// not keep the user down: the owner checks remain.
			s.log().Error("cannot start the user's supervisor in its cgroup: starting it without the bind filter", "err", err)
		}
	}
	if c == nil {
		c, err = s.fork(cmd, mv)
	}
	w.Close()
	if err != nil {
		r.Close()
		return fmt.Errorf("spawn %s as %s: %w", sp.Args[0], sp.Name, err)
	}
	if err := c.identify(); err != nil {
		s.log().Warn("cannot record the supervisor's identity: a later master will not adopt it", "err", err)
	}
	s.swept = false
	s.started = time.Now()
	s.log().Info("user supervisor started", "pid", c.pid, "uid", sp.Account.UID)
	s.watch(c, r)
	return nil
}

// watch makes c the slot's supervisor: its output (r, nil when lost) is
// copied into a tail buffer and its exit is sent to the goroutine.
func (s *slot) watch(c *child, r *os.File) {
	out := newTailBuffer(tailSize)
	eof := make(chan struct{})
	s.proc, s.out = c, r
	if r == nil {
		close(eof)
	} else {
		go func() {
			copyInto(out, r)
			r.Close()
			close(eof)
		}()
	}
	go func() {
		ps := c.wait()
		s.exitc <- exitEvent{proc: c, ps: ps, at: time.Now(), out: out, eof: eof}
	}()
}

// fork starts the supervisor, in the user's v1 groups when mv says so.
func (s *slot) fork(cmd *exec.Cmd, mv *threadMove) (*child, error) {
	r := spawnIn(cmd, mv)
	if r.outErr != nil {
		s.log().Error("the master's fork thread stays in the user's cgroups until the next start", "err", r.outErr)
	}
	return r.c, r.err
}

// sweep kills every leftover process of the user, bounded in time: first
// by cgroup (everything the supervisor's tree left, double-forked daemons
// included), then by uid (what escaped the groups, or a host without
// cgroups).
func (s *slot) sweep() {
	n, err := s.m.cg.kill(s.name)
	if n > 0 {
		s.log().Warn("killed leftover processes of the user's previous supervisor", "count", n, "by", "cgroup")
	}
	if err != nil {
		s.log().Error("killing the user's cgroup", "err", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), sweepTimeout)
	defer cancel()
	n, err = killLeftovers(ctx, s.spec.Account.UID)
	if n > 0 {
		s.log().Warn("killed leftover processes of the user's previous supervisor", "count", n, "by", "uid")
	}
	if err != nil {
		s.log().Error("killing the user's leftover processes", "err", err)
	}
	s.swept = err == nil
}

// exited handles the supervisor's exit.
func (s *slot) exited(ev exitEvent) {
	if ev.proc != s.proc {
		return
	}
	s.proc, s.out = nil, nil
	uptime := ev.at.Sub(s.started)
	// Its programs are in their own process groups and were reparented to
	// the master: kill them before anything else runs as this user, so a
	// restart never leaves two copies of an application.
	s.sweep()
	select {
	case <-ev.eof:
	case <-time.After(drainTimeout):
	}
	desc := describeExit(ev.ps)
	if tail := ev.out.lastLines(3); tail != "" {
		desc += ": " + tail
	}
	if s.state == UserStopping {
		s.log().Info("user supervisor stopped", "exit_status", describeExit(ev.ps))
		s.setTimer(timerNone, 0)
		s.setState(UserStopped, "stopped")
		if s.restartAt {
			s.restartAt = false
			s.start()
		}
		return
	}
	s.lastErr = sanitize(desc, 1000)
	s.log().Warn("user supervisor exited unexpectedly", "exit_status", describeExit(ev.ps), "uptime", uptime.Round(time.Millisecond).String(),
		"output", ev.out.lastLines(3))
	if uptime >= backoffReset {
		s.failures = 0
	}
	s.failures++
	s.setTimer(timerNone, 0)
	s.scheduleRestart(s.lastErr)
}

// stop asks the supervisor to stop (SIGTERM; it stops its programs), and
// arms the kill for when it takes longer than stopwaitsecs.
func (s *slot) stop(why string) {
	switch s.state {
	case UserStarting, UserRunning:
		if err := s.proc.signal(syscall.SIGTERM, false); err != nil && !errors.Is(err, os.ErrProcessDone) {
			s.log().Error("signal the user supervisor", "err", err)
		}
		s.setState(UserStopping, why)
		s.setTimer(timerKill, s.m.stopWait())
	case UserBackoff:
		s.setTimer(timerNone, 0)
		s.setState(UserStopped, why)
	case UserRefused:
		s.setState(UserStopped, why)
	}
}

func (s *slot) fire(k timerKind) {
	switch k {
	case timerStarted:
		if s.state == UserStarting {
			s.setState(UserRunning, "up for "+startSecs.String())
			if s.staleExe {
				s.staleExe = false
				s.m.queueUpgrade(s.name)
			}
		}
	case timerBackoff:
		if s.state == UserBackoff {
			s.start()
		}
	case timerKill:
		if s.state == UserStopping && s.proc != nil {
			s.log().Warn("user supervisor did not stop in time: killing it", "stopwaitsecs", s.m.stopWait().String())
			if err := s.proc.signal(syscall.SIGKILL, false); err != nil && !errors.Is(err, os.ErrProcessDone) {
				s.log().Error("kill the user supervisor", "err", err)
			}
		}
	}
}

func (s *slot) setTimer(k timerKind, d time.Duration) {
	if s.timer != nil {
		s.timer.Stop()
		s.timer = nil
	}
	s.timerKind = k
	if k != timerNone {
		s.timer = time.NewTimer(d)
	}
}

// setState is the one way the state changes.
func (s *slot) setState(to UserState, why string) {
	from := s.state
	if from != to || to == UserRefused {
		if !slices.Contains(allowed[from], to) {
			s.log().Error("bug: invalid user supervisor state transition", "from", from.String(), "to", to.String(), "why", why)
			return
		}
	}
	if from != to {
		s.log().Debug("user supervisor state", "from", from.String(), "to", to.String(), "why", why)
	}
	s.state = to
	s.since = time.Now()
	s.publish()
	s.m.router.kick() // routes follow the user's supervisor (router.go)
}

// publish makes the current status visible to readers.
func (s *slot) publish() {
	st := &UserStatus{
		Name:            s.name,
		UID:             s.spec.Account.UID,
		State:           s.state,
		Since:           s.since.Unix(),
		Restarts:        max(s.spawns-1, 0),
		PortBase:        s.spec.Block.Base,
		PortCount:       s.spec.Block.Count,
		Project:         s.spec.Project,
		ProgramsRunning: -1,
		ProgramsTotal:   -1,
		LastError:       s.lastErr,
	}
	if s.spec.Account.Name == "" {
		st.UID = -1 // not in /etc/passwd: no uid, never 0
	}
	if s.proc != nil {
		st.PID = s.proc.pid
	}
	s.status.Store(st)
	s.m.ho.note(s, s.record())
}

// describeExit renders a wait status the way supervisord does: "exit
// status 1", "terminated by SIGKILL".
func describeExit(ps *os.ProcessState) string {
	if ps == nil {
		return "exited"
	}
	ws, ok := ps.Sys().(syscall.WaitStatus)
	if !ok {
		return ps.String()
	}
	switch {
	case ws.Exited():
		return "exit status " + strconv.Itoa(ws.ExitStatus())
	case ws.Signaled():
		return "terminated by " + signalName(ws.Signal())
	}
	return ps.String()
}

// signalName returns "SIGKILL" for syscall.SIGKILL.
func signalName(sig syscall.Signal) string {
	if n := unix.SignalName(sig); n != "" {
		return n
	}
	return "signal " + strconv.Itoa(int(sig))
}
