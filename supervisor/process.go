package supervisor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"roost/config"
	"roost/logrotate"
	"roost/supervisor/api"
)

// maxLine is where a program's output line is cut (with a marker) instead of
// being buffered without bound.
const maxLine = 64 << 10

// stopReportEvery throttles "waiting for NAME to stop", as supervisord does.
const stopReportEvery = 2 * time.Second

// minRestartInterval is the crash-loop throttle: an automatic restart
// (autorestart) of a process that exited less than this after its spawn
// waits, in EXITED, until this long after that spawn. supervisord restarts
// such a process on the next turn of its 1-second loop, so its users see
// about one restart a second; without a bound roost would restart a
// program that exits at once (startsecs=0) a thousand times a second. A
// process that ran longer is restarted at once, as in supervisord.
const minRestartInterval = time.Second

// snapshot is an immutable view of one process. The owner goroutine
// publishes a new one after every change; readers load it without locks.
type snapshot struct {
	cfg        *config.Process
	state      api.State
	pid        int
	start      time.Time // last spawn; zero if never started
	stop       time.Time // last exit; zero if never exited
	spawnerr   string
	exitstatus int
	spawns     int
	logs       *procLogs
	oom        string // the last exit was an OOM kill: "out of memory, limit 256M"
	oomKills   int
	// roost's extensions (health.go, notify.go): cleared at each spawn.
	health       api.Health
	healthDetail string
	notifyStatus string
	waiting      string // "waiting for db (depends_on)" while autostart waits for dependencies
}

// exitEvent is a child's exit, sent once the reaper saw it (child.watch).
type exitEvent struct {
	c  *child
	ws syscall.WaitStatus
	at time.Time
}

// process is one supervised process: supervisord's Subprocess. Its fields
// below the line are owned by its goroutine (run) and touched by nothing
// else; everything else talks to it through cmds and reads snap.
type process struct {
	s     *Supervisor
	name  string
	group string
	// cgAlt: the process's cgroup is its name's alternate (".b"), set
	// before its start by a blue-green restart, so the old and the new
	// process of one name never share a group (the old one's stop kills
	// its whole group).
	cgAlt bool
	cmds  chan func()
	exits chan exitEvent
	done  chan struct{} // closed when the owner goroutine returns
	snap  atomic.Pointer[snapshot]

	// ---- owned by the run goroutine ----
	cfg          *config.Process
	logs         *procLogs
	state        api.State
	child        *child
	stdin        *os.File                 // our end of the child's stdin pipe
	lws          [2]*logrotate.LineWriter // the running child's copiers' line writers
	pipes        [2]pipeReader            // the pipes those copiers read
	laststart    time.Time
	laststop     time.Time
	backoff      int
	spawnerr     string
	exitstatus   int
	killing      bool
	spawns       int
	oom          string // see snapshot
	oomKills     int
	health       api.Health // see snapshot; set by the health room (SetHealth)
	healthDetail string
	notifyStatus string // the last STATUS= of a notify=true program
	waiting      string // see snapshot; set by depends.go
	restartDue   bool   // EXITED, restarted when timer fires (the crash-loop throttle)
	exitPid      int    // while onExit runs: the pid that exited, for its state events
	expected     bool   // while onExit runs: the exit code was in exitcodes
	startWaiters []chan error
	stopWaiters  []chan error
	timer        *time.Timer // the deadline of the current state: startsecs, backoff, stopwaitsecs
	due          time.Time   // when timer fires; zero when it is not armed (a handover carries it)
	report       *time.Timer // "waiting for NAME to stop"
	watchdog     *time.Timer // notify programs' watchdog_sec (notify.go); nil until first armed
	quit         bool
}

// newProcess makes a process in STOPPED state and starts its goroutine.
func newProcess(s *Supervisor, cfg *config.Process, logs *procLogs) *process {
	p := &process{
		s:     s,
		name:  cfg.Name,
		group: cfg.Group,
		cmds:  make(chan func()),
		exits: make(chan exitEvent, 1),
		done:  make(chan struct{}),
		cfg:   cfg,
		logs:  logs,
		state: api.Stopped,
	}
	p.timer = time.NewTimer(time.Hour)
	p.timer.Stop()
	p.report = time.NewTimer(time.Hour)
	p.report.Stop()
	p.publish()
	go p.run()
	return p
}

func (p *process) run() {
	defer close(p.done)
	for !p.quit {
		select {
		case f := <-p.cmds:
			f()
		case ev := <-p.exits:
			p.onExit(ev)
		case <-p.timer.C:
			p.due = time.Time{}
			p.onTimer()
		case <-p.report.C:
			p.onReport()
		case <-p.watchdogC():
			p.onWatchdog()
		}
		p.publish()
	}
}

// arm sets the state's timer to fire in d.
func (p *process) arm(d time.Duration) {
	p.due = time.Now().Add(d)
	p.timer.Reset(d)
}

// disarm stops the state's timer.
func (p *process) disarm() {
	p.due = time.Time{}
	p.timer.Stop()
}

// do runs f in the owner goroutine and waits for it. It reports false when
// the process is gone (removed).
func (p *process) do(f func()) bool {
	done := make(chan struct{})
	select {
	case p.cmds <- func() { f(); close(done) }:
	case <-p.done:
		return false
	}
	<-done
	return true
}

// view returns the current snapshot.
func (p *process) view() *snapshot { return p.snap.Load() }

func (p *process) publish() {
	pid := 0
	if p.child != nil {
		pid = p.child.pid
	}
	p.snap.Store(&snapshot{
		cfg:        p.cfg,
		state:      p.state,
		pid:        pid,
		start:      p.laststart,
		stop:       p.laststop,
		spawnerr:   p.spawnerr,
		exitstatus: p.exitstatus,
		spawns:     p.spawns,
		logs:       p.logs,
		oom:        p.oom,
		oomKills:   p.oomKills,

		health:       p.health,
		healthDetail: p.healthDetail,
		notifyStatus: p.notifyStatus,
		waiting:      p.waiting,
	})
}

func (p *process) logf(level slog.Level, format string, args ...any) {
	p.s.log.Log(context.Background(), level, fmt.Sprintf(format, args...), "program", p.cfg.Namespec())
}

// setState is the one way a process changes state. It refuses anything
// supervisord's state machine does not allow, disarms the state's timer,
// publishes the snapshot, logs msg (if any) at level, emits the event and
// answers the start and stop requests waiting for this change.
func (p *process) setState(to api.State, level slog.Level, msg string) {
	from := p.state
	if from == to {
		return
	}
	if !canTransition(from, to) {
		err := &transitionError{name: p.cfg.Namespec(), from: from, to: to}
		p.s.log.Log(context.Background(), levelCritical, err.Error(), "program", p.cfg.Namespec())
		return
	}
	p.state = to
	p.disarm()
	p.restartDue = false
	if to == api.Starting {
		// A new spawn: what the last one's checks and STATUS= said is over.
		p.health, p.healthDetail, p.notifyStatus = "", "", ""
	}
	if from == api.Running {
		p.stopWatchdog()
	}
	if to == api.Running {
		p.armWatchdog()
	}
	p.publish()
	switch {
	case msg != "":
		p.s.log.Log(context.Background(), level, msg, "program", p.cfg.Namespec(), "from", from.String(), "to", to.String())
	case to != api.Starting:
		// supervisord logs some changes only at debug level (or not at
		// all); roost's main log records every one. (STARTING is always
		// followed by "spawned:" or "spawnerr:".)
		p.s.log.Log(context.Background(), slog.LevelInfo, fmt.Sprintf("%s: %s -> %s", p.name, from, to),
			"program", p.cfg.Namespec(), "from", from.String(), "to", to.String())
	}
	pid := p.exitPid // supervisord clears the pid after the exit's events
	if p.child != nil {
		pid = p.child.pid
	}
	p.s.events.publish(api.Event{
		Time: time.Now().UnixNano(), Type: "PROCESS_STATE_" + to.String(),
		Name: p.name, Group: p.group, From: from, To: to, PID: pid, Message: msg,
		Tries: p.backoff, Expected: to == api.Exited && p.expected,
	})
	// startProcess(wait=True)'s onwait: a spawn error, then anything but
	// STARTING/RUNNING is a failure, RUNNING a success.
	if len(p.startWaiters) > 0 {
		var res error
		done := true
		switch {
		case p.spawnerr != "":
			res = api.Errorf(api.SpawnError, "%s", p.cfg.Namespec())
		case to != api.Starting && to != api.Running:
			res = api.Errorf(api.AbnormalTermination, "%s", p.cfg.Namespec())
		case to == api.Running:
		default:
			done = false
		}
		if done {
			for _, w := range p.startWaiters {
				w <- res
			}
			p.startWaiters = nil
		}
	}
	if to.IsStopped() && len(p.stopWaiters) > 0 {
		for _, w := range p.stopWaiters {
			w <- nil
		}
		p.stopWaiters = nil
		p.report.Stop()
	}
}

// moodAllowsStart is supervisord's "mood > RESTARTING": no automatic spawn
// while the supervisor shuts down or restarts.
func (p *process) moodAllowsStart() bool {
	return p.s.mood() > api.SupervisorRestarting
}

// ---- spawning ----

// spawn is supervisord's Subprocess.spawn: STARTING, then either a running
// child or BACKOFF with spawnerr.
func (p *process) spawn() {
	if p.child != nil {
		p.logf(slog.LevelWarn, "process '%s' already running", p.name)
		return
	}
	p.killing = false
	p.spawnerr = ""
	p.exitstatus = 0
	p.laststart = time.Now()
	p.setState(api.Starting, 0, "")
	if msg := p.startChild(); msg != "" {
		p.logs.closeIdle() // a process that is not running holds no log file
		p.spawnerr = msg
		p.logf(slog.LevelInfo, "spawnerr: %s", msg)
		p.enterBackoff(slog.LevelInfo, "")
		return
	}
	p.spawns++
	p.logf(slog.LevelInfo, "spawned: '%s' with pid %d", p.name, p.child.pid)
	p.publish()
	if p.cfg.Notify {
		return // RUNNING when it sends READY=1 (notify.go)
	}
	if p.cfg.StartSecs <= 0 {
		p.becomeRunning()
		return
	}
	p.arm(time.Until(p.laststart.Add(p.cfg.StartSecs)))
}

// becomeRunning is STARTING → RUNNING after startsecs.
func (p *process) becomeRunning() {
	p.backoff = 0
	p.setState(api.Running, slog.LevelInfo, fmt.Sprintf(
		"success: %s entered RUNNING state, process has stayed up for > than %d seconds (startsecs)",
		p.name, int(p.cfg.StartSecs/time.Second)))
}

// enterBackoff is STARTING → BACKOFF: the retry counter grows, and either
// the next try is scheduled backoff seconds from now, or the process gives
// up (FATAL) after startretries.
func (p *process) enterBackoff(level slog.Level, msg string) {
	p.backoff++
	p.setState(api.Backoff, level, msg)
	if p.backoff > p.cfg.StartRetries {
		p.backoff = 0
		p.setState(api.Fatal, slog.LevelInfo, fmt.Sprintf(
			"gave up: %s entered FATAL state, too many start retries too quickly", p.name))
		return
	}
	p.arm(time.Duration(p.backoff) * time.Second)
}

// startChild runs the spawn recipe for the current config; it returns
// supervisord's spawn error text, or "" when the child runs.
func (p *process) startChild() string {
	cfg := p.cfg
	var runAs *account
	if cfg.User != "" {
		a, err := lookupAccount(cfg.User)
		if err != nil {
			return fmt.Sprintf("couldn't setuid to %s: %v", cfg.User, err)
		}
		runAs = a
	}
	cred, err := credential(runAs)
	if err != nil {
		return fmt.Sprintf("couldn't setuid to %s: %v", cfg.User, err)
	}
	env := p.s.environment(cfg, runAs)
	if cfg.Notify {
		more, err := p.s.notifyEnv(p)
		if err != nil {
			return fmt.Sprintf("couldn't make the NOTIFY_SOCKET for '%s': %v", p.name, err)
		}
		env = append(env, more...)
	}
	path, err := resolveCommand(cfg, env)
	if err != nil {
		return err.(*api.Error).Detail
	}
	if err := errors.Join(p.logs.err, p.logs.open()); err != nil {
		// One line: status prints it after the name.
		msg := strings.ReplaceAll(err.Error(), "\n", "; ")
		return fmt.Sprintf("unknown error making dispatchers for '%s': %s%s", p.name, msg, fdLimitHint(err))
	}
	if cfg.Directory != "" && cred == nil {
		if st, err := os.Stat(cfg.Directory); err != nil || !st.IsDir() {
			return fmt.Sprintf("couldn't chdir to %s: %s", cfg.Directory, errnoName(err, syscall.ENOTDIR))
		}
	}

	// Pipes: the child's ends go to the spawn and are closed here after it;
	// ours stay: stdin for sendProcessStdin, stdout/stderr for the copiers.
	var closeAfter, closeOnErr []*os.File
	defer func() {
		for _, f := range closeAfter {
			f.Close()
		}
	}()
	fail := func(err error) string {
		for _, f := range closeOnErr {
			f.Close()
		}
		if errors.Is(err, syscall.EMFILE) {
			return fmt.Sprintf("too many open files to spawn '%s'%s", p.name, fdLimitHint(err))
		}
		return fmt.Sprintf("unknown error making dispatchers for '%s': %v", p.name, err)
	}
	inR, inW, err := os.Pipe()
	if err != nil {
		return fail(err)
	}
	closeAfter = append(closeAfter, inR)
	closeOnErr = append(closeOnErr, inW)
	outR, outW, err := os.Pipe()
	if err != nil {
		return fail(err)
	}
	closeAfter = append(closeAfter, outW)
	closeOnErr = append(closeOnErr, outR)
	errW := outW
	var errR *os.File
	if !cfg.RedirectStderr {
		errR, errW, err = os.Pipe()
		if err != nil {
			return fail(err)
		}
		closeAfter = append(closeAfter, errW)
		closeOnErr = append(closeOnErr, errR)
	}
	c, err := startChild(p.s, &spec{
		Path:   path,
		Argv:   cfg.Argv,
		Dir:    cfg.Directory,
		Env:    env,
		Umask:  cfg.Umask,
		Cred:   cred,
		Stdin:  inR,
		Stdout: outW,
		Stderr: errW,
		Place:  p.s.placeProcess(p.name, p.cgAlt, cfg.Limits),
	})
	if err != nil {
		for _, f := range closeOnErr {
			f.Close()
		}
		return describeStartError(p.name, cfg.Argv[0], err)
	}
	p.child = c
	p.stdin = inW
	var tee func([]byte)
	if cfg.Listener && p.s.listenerIO != nil {
		tee = p.s.listenerIO.Attach(p.group, p.name, c.pid, inW)
	}
	p.lws[0] = p.logs.lineWriter(api.Stdout)
	if p.lws[0] == nil {
		p.lws[0] = discardWriter()
	}
	p.pipes[0] = p.reader(outR, api.Stdout, cfg.Stdout, tee)
	p.logs.hold(api.Stdout)
	go p.logs.copy(api.Stdout, p.lws[0], p.pipes[0])
	p.lws[1], p.pipes[1] = nil, nil
	if errR != nil {
		p.lws[1] = p.logs.lineWriter(api.Stderr)
		if p.lws[1] == nil {
			p.lws[1] = discardWriter()
		}
		p.pipes[1] = p.reader(errR, api.Stderr, cfg.Stderr, nil)
		p.logs.hold(api.Stderr)
		go p.logs.copy(api.Stderr, p.lws[1], p.pipes[1])
	}
	c.watch(p.reportExit(c))
	return ""
}

// reportExit returns what is done with c's exit: send it to the
// owner goroutine.
func (p *process) reportExit(c *child) func(syscall.WaitStatus, time.Time) {
	return func(ws syscall.WaitStatus, at time.Time) { p.exits <- exitEvent{c: c, ws: ws, at: at} }
}

// fdLimitHint is what a spawn error caused by EMFILE adds: the limit the
// supervisor ran into and what raises it; "" for other errors.
func fdLimitHint(err error) string {
	if !errors.Is(err, syscall.EMFILE) {
		return ""
	}
	var l unix.Rlimit
	if unix.Getrlimit(unix.RLIMIT_NOFILE, &l) != nil {
		return ""
	}
	return fmt.Sprintf(" (the supervisor may open %d files, and every running program takes 2 to 4: "+
		"raise [supervisord] minfds, or the user's ulimit -n)", l.Cur)
}

// fdTableFull says whether this process's open descriptors, or their
// numbers, are within a few of RLIMIT_NOFILE.
func fdTableFull() bool {
	var l unix.Rlimit
	if unix.Getrlimit(unix.RLIMIT_NOFILE, &l) != nil {
		return false
	}
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return false
	}
	high := 0
	for _, e := range ents {
		if n, err := strconv.Atoi(e.Name()); err == nil && n > high {
			high = n
		}
	}
	// Full, or a descriptor numbered near the limit (the fork's dup3
	// target is one above the highest the child is given).
	return uint64(len(ents))+8 >= l.Cur || uint64(high)+8 >= l.Cur
}

// errnoName renders err like supervisord's errno.errorcode lookup ("ENOENT").
func errnoName(err error, dflt syscall.Errno) string {
	var errno syscall.Errno
	if !errors.As(err, &errno) {
		errno = dflt
	}
	if n := unix.ErrnoName(errno); n != "" {
		return n
	}
	return errno.Error()
}

// describeStartError turns an exec.Cmd.Start error into spawn error text.
func describeStartError(name, argv0 string, err error) string {
	var errno syscall.Errno
	if errors.As(err, &errno) {
		switch errno {
		case syscall.EAGAIN:
			return fmt.Sprintf("Too many processes in process table to spawn '%s'", name)
		case syscall.EMFILE:
			return fmt.Sprintf("too many open files to spawn '%s'%s", name, fdLimitHint(err))
		case syscall.EBADF:
			// Go's fork moves the child's descriptors above the highest
			// one it is given (syscall.forkAndExecInChild1: dup3 to
			// max+1); with that one at RLIMIT_NOFILE-1 the dup3 fails
			// with EBADF: the descriptor table is full, as with EMFILE.
			if fdTableFull() {
				return fmt.Sprintf("too many open files to spawn '%s'%s", name, fdLimitHint(syscall.EMFILE))
			}
		}
		return fmt.Sprintf("couldn't exec %s: %s", argv0, errnoName(errno, errno))
	}
	return fmt.Sprintf("unknown error during fork for '%s': %v", name, err)
}

// ---- events ----

// onExit is supervisord's Subprocess.finish, followed by what its
// transition() does next (autorestart, backoff).
func (p *process) onExit(ev exitEvent) {
	if ev.c != p.child {
		return
	}
	es, msg := decodeWaitStatus(ev.ws)
	p.oom = p.s.oom.check(ev.ws, ev.c.place.group)
	if p.oom != "" {
		p.oomKills++
		msg += ": " + p.oom
	}
	p.laststop = ev.at
	tooQuickly := ev.at.Sub(p.laststart) < p.cfg.StartSecs
	if p.cfg.Notify {
		tooQuickly = p.state == api.Starting // it never sent READY=1
	}
	expected := slices.Contains(p.cfg.ExitCodes, es)
	p.exitPid, p.expected = ev.c.pid, expected
	defer func() { p.exitPid, p.expected = 0, false }()
	p.child = nil
	if p.stdin != nil {
		p.stdin.Close()
		p.stdin = nil
	}
	// The program is gone: once its copier has read what the pipe still
	// holds, its last partial line goes to the log, even if a grandchild
	// keeps the pipe (and the copier) alive. Flushing at once could write
	// half a line whose rest is still in the pipe.
	for i, lw := range p.lws {
		if lw != nil {
			lw.DrainAndFlush(p.pipes[i])
			p.lws[i], p.pipes[i] = nil, nil
		}
	}

	switch {
	case p.killing:
		// A stop request: STOPPING → STOPPED.
		p.killing = false
		p.exitstatus = es
		level := slog.LevelWarn
		if expected {
			level = slog.LevelInfo
		}
		p.setState(api.Stopped, level, fmt.Sprintf("stopped: %s (%s)", p.name, msg))

	case p.state == api.Starting && tooQuickly:
		// Did not stay up startsecs: STARTING → BACKOFF.
		p.exitstatus = 0
		p.spawnerr = "Exited too quickly (process log may have details)"
		p.enterBackoff(slog.LevelWarn, fmt.Sprintf("exited: %s (%s; not expected)", p.name, msg))

	default:
		p.backoff = 0
		p.exitstatus = es
		if p.state == api.Starting {
			// The startsecs timer has not been handled yet.
			p.setState(api.Running, 0, "")
		}
		if p.state == api.Unknown {
			p.setState(api.Exited, slog.LevelWarn, fmt.Sprintf("exited: %s (%s)", p.name, msg))
			return
		}
		if expected {
			p.setState(api.Exited, slog.LevelInfo, fmt.Sprintf("exited: %s (%s; expected)", p.name, msg))
		} else {
			p.spawnerr = fmt.Sprintf("Bad exit code %d", es)
			p.setState(api.Exited, slog.LevelWarn, fmt.Sprintf("exited: %s (%s; not expected)", p.name, msg))
		}
		if p.moodAllowsStart() {
			switch p.cfg.Autorestart {
			case config.AutorestartTrue:
				p.autorestart(ev.at)
			case config.AutorestartUnexpected:
				if !expected {
					p.autorestart(ev.at)
				}
			}
		}
	}
}

// autorestart spawns an EXITED process again: at once when it ran at
// least minRestartInterval, else when that much time has passed since its
// spawn (the crash-loop throttle).
func (p *process) autorestart(exitedAt time.Time) {
	due := p.laststart.Add(minRestartInterval)
	wait := due.Sub(exitedAt)
	if wait <= 0 {
		p.spawn()
		return
	}
	p.logf(slog.LevelInfo, "%s exited %d ms after its start; restarting it in %d ms (roost restarts a program at most once a second)",
		p.name, exitedAt.Sub(p.laststart).Milliseconds(), wait.Milliseconds())
	p.restartDue = true
	p.arm(time.Until(due))
}

// onTimer handles the deadline of the current state.
func (p *process) onTimer() {
	switch p.state {
	case api.Starting:
		p.becomeRunning()
	case api.Backoff:
		if p.moodAllowsStart() {
			p.spawn()
		}
	case api.Exited:
		if p.restartDue && p.moodAllowsStart() {
			p.spawn()
		}
	case api.Stopping:
		// stopwaitsecs is over: SIGKILL. If even that does not work, the
		// process stays STOPPING and is killed again every stopwaitsecs.
		if p.child != nil {
			p.logf(slog.LevelWarn, "killing '%s' (%d) with SIGKILL", p.name, p.child.pid)
			p.kill(syscall.SIGKILL)
		}
	}
}

func (p *process) onReport() {
	if p.state == api.Stopping && len(p.stopWaiters) > 0 {
		p.logf(slog.LevelInfo, "waiting for %s to stop", p.name)
		p.report.Reset(stopReportEvery)
	}
}

// ---- stop and signal recipes ----

// kill is supervisord's Subprocess.kill: the one stop recipe. It returns an
// error message, or "" when the signal was sent (or the process was in
// BACKOFF, which simply becomes STOPPED).
func (p *process) kill(sig syscall.Signal) string {
	if p.state == api.Backoff {
		p.logf(slog.LevelDebug, "Attempted to kill %s, which is in BACKOFF state.", p.name)
		p.setState(api.Stopped, 0, "")
		return ""
	}
	if p.child == nil {
		msg := fmt.Sprintf("attempted to kill %s with sig %s but it wasn't running", p.name, signame(sig))
		p.logf(slog.LevelDebug, "%s", msg)
		return msg
	}
	asGroup := p.cfg.StopAsGroup
	if p.state == api.Stopping {
		asGroup = p.cfg.KillAsGroup
	}
	grp := ""
	if asGroup {
		grp = "process group "
	}
	p.logf(slog.LevelDebug, "killing %s (pid %d) %swith signal %s", p.name, p.child.pid, grp, signame(sig))
	p.killing = true
	p.setState(api.Stopping, 0, "")
	p.arm(p.cfg.StopWaitSecs)
	if err := p.child.stop(sig, asGroup); err != nil {
		if errors.Is(err, syscall.ESRCH) {
			// It just exited on its own; its exit event settles the state.
			p.logf(slog.LevelDebug, "unable to signal %s (pid %d), it probably just exited on its own: %v",
				p.name, p.child.pid, err)
			return ""
		}
		msg := fmt.Sprintf("unknown problem killing %s (%d):%v", p.name, p.child.pid, err)
		p.logf(levelCritical, "%s", msg)
		p.killing = false
		p.setState(api.Unknown, 0, "")
		return msg
	}
	return ""
}

// ---- commands (called from other goroutines) ----

// checkCommand is startProcess's early check: NO_FILE or NOT_EXECUTABLE.
func (p *process) checkCommand() error {
	var runAs *account
	if p.cfg.User != "" {
		runAs, _ = lookupAccount(p.cfg.User)
	}
	_, err := resolveCommand(p.cfg, p.s.environment(p.cfg, runAs))
	return err
}

// start is startProcess: it spawns now and, with wait, returns a channel
// that answers when the process is RUNNING (nil) or failed to get there.
func (p *process) start(wait bool) (<-chan error, error) {
	var ch chan error
	var err error
	ns := ""
	ok := p.do(func() {
		ns = p.cfg.Namespec()
		if err = p.checkCommand(); err != nil {
			return
		}
		if p.state.IsRunning() {
			err = api.Errorf(api.AlreadyStarted, "%s", ns)
			return
		}
		if p.state == api.Unknown {
			err = api.Errorf(api.Failed, "%s is in an unknown process state", ns)
			return
		}
		p.spawn()
		if p.spawnerr != "" {
			err = api.Errorf(api.SpawnError, "%s", ns)
			return
		}
		if wait && p.state != api.Running {
			ch = make(chan error, 1)
			p.startWaiters = append(p.startWaiters, ch)
		}
	})
	if !ok {
		return nil, api.Errorf(api.BadName, "%s", p.namespec())
	}
	return ch, err
}

// autostart spawns the process if it is configured to start with the
// supervisor and never ran (supervisord: STOPPED and not laststart).
func (p *process) autostart() {
	p.do(func() {
		if p.state == api.Stopped && p.laststart.IsZero() && p.cfg.Autostart && p.moodAllowsStart() {
			p.spawn()
		}
	})
}

// stop is stopProcess: NOT_RUNNING unless in a RUNNING state; with wait, a
// channel that answers once the process is in a STOPPED state.
func (p *process) stop(wait bool) (<-chan error, error) {
	var ch chan error
	var err error
	ok := p.do(func() {
		ns := p.cfg.Namespec()
		if !p.state.IsRunning() {
			if p.restartDue {
				// supervisord's answer, but the throttled restart is
				// called off: a stop must end a crash loop.
				p.restartDue = false
				p.disarm()
				p.logf(slog.LevelInfo, "%s: restart called off by a stop request", p.name)
			}
			err = api.Errorf(api.NotRunning, "%s", ns)
			return
		}
		if msg := p.kill(p.cfg.StopSignal); msg != "" {
			err = api.Errorf(api.Failed, "%s", msg)
			return
		}
		if wait && !p.state.IsStopped() {
			ch = p.addStopWaiter()
		}
	})
	if !ok {
		return nil, api.Errorf(api.BadName, "%s", p.namespec())
	}
	return ch, err
}

// addStopWaiter registers a stop waiter and starts the "waiting for NAME to
// stop" reports (the first one now, as supervisord's first onwait does).
func (p *process) addStopWaiter() chan error {
	ch := make(chan error, 1)
	if len(p.stopWaiters) == 0 && p.state == api.Stopping {
		p.logf(slog.LevelInfo, "waiting for %s to stop", p.name)
		p.report.Reset(stopReportEvery)
	}
	p.stopWaiters = append(p.stopWaiters, ch)
	return ch
}

// shutdown is what ProcessGroup.stop_all does to one process: RUNNING or
// STARTING are stopped, BACKOFF gives up (FATAL). The channel answers once
// the process is in a STOPPED state (at once if it already is).
func (p *process) shutdown() <-chan error {
	ch := make(chan error, 1)
	ok := p.do(func() {
		switch p.state {
		case api.Running, api.Starting:
			p.kill(p.cfg.StopSignal)
		case api.Backoff:
			p.backoff = 0
			p.setState(api.Fatal, 0, "")
		}
		if p.state.IsStopped() {
			ch <- nil
			return
		}
		p.stopWaiters = append(p.stopWaiters, ch)
	})
	if !ok {
		ch <- nil
	}
	return ch
}

// signal is signalProcess.
func (p *process) signal(sig syscall.Signal) error {
	var err error
	ok := p.do(func() {
		ns := p.cfg.Namespec()
		if !p.state.IsSignallable() {
			err = api.Errorf(api.NotRunning, "%s", ns)
			return
		}
		if p.child == nil {
			err = api.Errorf(api.Failed, "attempted to send %s sig %s but it wasn't running", p.name, signame(sig))
			return
		}
		p.logf(slog.LevelDebug, "sending %s (pid %d) sig %s", p.name, p.child.pid, signame(sig))
		if e := p.child.signal(sig, false); e != nil && !errors.Is(e, syscall.ESRCH) {
			msg := fmt.Sprintf("unknown problem sending sig %s (%d):%v", p.name, p.child.pid, e)
			p.logf(levelCritical, "%s", msg)
			p.setState(api.Unknown, 0, "")
			err = api.Errorf(api.Failed, "%s", msg)
		}
	})
	if !ok {
		return api.Errorf(api.BadName, "%s", p.namespec())
	}
	return err
}

// stdinPipe returns our end of the child's stdin, or NOT_RUNNING.
func (p *process) stdinPipe() (*os.File, error) {
	var f *os.File
	var err error
	ok := p.do(func() {
		if p.child == nil || p.killing || p.stdin == nil {
			err = api.Errorf(api.NotRunning, "%s", p.cfg.Namespec())
			return
		}
		f = p.stdin
	})
	if !ok {
		return nil, api.Errorf(api.BadName, "%s", p.namespec())
	}
	return f, err
}

// setConfig replaces the configuration of a process by one that differs
// only in what needs no restart (priority, positions in the file).
func (p *process) setConfig(cfg *config.Process) {
	p.do(func() { p.cfg = cfg })
}

// remove ends the owner goroutine; the process must be stopped.
func (p *process) remove() {
	p.do(func() {
		p.quit = true
		for _, w := range p.startWaiters {
			w <- api.Errorf(api.AbnormalTermination, "%s", p.cfg.Namespec())
		}
		for _, w := range p.stopWaiters {
			w <- nil
		}
		p.startWaiters, p.stopWaiters = nil, nil
		p.disarm()
		p.report.Stop()
		p.stopWatchdog()
	})
	<-p.done
}

// namespec is the process's name as supervisorctl shows it.
func (p *process) namespec() string {
	if p.group == p.name {
		return p.name
	}
	return p.group + ":" + p.name
}
