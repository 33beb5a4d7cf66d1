package supervisor

import (
	"cmp"
	"context"
	"errors"
	"io"
	"os"
	"slices"
	"strconv"
	"syscall"
	"time"

	"roost/logrotate"
	"roost/supervisor/api"
)

// The api.Backend methods, with supervisord's rpcinterface semantics.

// stdinTimeout bounds how long SendProcessStdin waits for a program that
// does not read its stdin.
const stdinTimeout = 10 * time.Second

// checkMood is supervisord's _update: nothing is accepted while the
// supervisor shuts down or restarts (SHUTDOWN_STATE).
func (s *Supervisor) checkMood() error {
	if s.mood() < api.SupervisorRunning {
		return &api.Error{Code: api.ShutdownState}
	}
	return nil
}

// lookup is supervisord's _getGroupAndProcess: BAD_NAME for an unknown
// group or process; a nil process for "g:*".
func (s *Supervisor) lookup(name string) (*group, *process, error) {
	gname, pname, _ := api.SplitNamespec(name)
	s.mu.RLock()
	defer s.mu.RUnlock()
	g := s.groups[gname]
	if g == nil {
		return nil, nil, api.Errorf(api.BadName, "%s", name)
	}
	if pname == "" {
		return g, nil, nil
	}
	for _, p := range g.procs {
		if p.name == pname {
			return g, p, nil
		}
	}
	return nil, nil, api.Errorf(api.BadName, "%s", name)
}

// lookupProcess is lookup for operations that need one process.
func (s *Supervisor) lookupProcess(name string) (*process, error) {
	_, p, err := s.lookup(name)
	if err != nil {
		return nil, err
	}
	if p == nil {
		return nil, api.Errorf(api.BadName, "%s", name)
	}
	return p, nil
}

// Identification is [supervisord] identifier.
func (s *Supervisor) Identification() string { return s.identifier }

// Version is roost's version.
func (s *Supervisor) Version() string {
	if s.opts.Version == "" {
		return "unknown"
	}
	return s.opts.Version
}

// State is the supervisor's own state.
func (s *Supervisor) State() api.SupervisorState { return s.mood() }

// PID is the supervisor's process id.
func (s *Supervisor) PID() int { return os.Getpid() }

// ReadMainLog is readLog: NO_FILE without a main log file.
func (s *Supervisor) ReadMainLog(offset, length int64) ([]byte, error) {
	if err := s.checkMood(); err != nil {
		return nil, err
	}
	if s.mainSink == nil {
		return nil, &api.Error{Code: api.NoFile}
	}
	if _, err := os.Stat(s.mainSink.Path()); err != nil {
		return nil, api.Errorf(api.NoFile, "%s", s.mainSink.Path())
	}
	b, err := logrotate.ReadFile(s.mainSink.Path(), offset, length)
	return b, readError(err)
}

// ClearMainLog is clearLog.
func (s *Supervisor) ClearMainLog() error {
	if err := s.checkMood(); err != nil {
		return err
	}
	if s.mainSink == nil {
		return &api.Error{Code: api.NoFile}
	}
	if err := s.mainSink.Clear(); err != nil {
		return api.Errorf(api.Failed, "clear main log: %v", err)
	}
	s.log.Info("reopening log file")
	return nil
}

// FollowMainLog streams the main log until ctx ends.
func (s *Supervisor) FollowMainLog(ctx context.Context, tail int64, w io.Writer) error {
	if s.mainSink == nil {
		return &api.Error{Code: api.NoFile}
	}
	return s.mainSink.Follow(ctx, tail, w)
}

// Shutdown makes Run stop everything and return. It returns at once.
func (s *Supervisor) Shutdown() error {
	if err := s.checkMood(); err != nil {
		return err
	}
	if s.opts.Managed {
		// The master would start it again at once, and the user's routes
		// would leave nginx and come back for nothing.
		return api.Errorf(api.Failed, "the roost master runs this supervisor and would start it again at once; "+
			"`roost stop all` stops your programs, `roost update` applies your file, and root restarts the supervisor with `roost admin restart USER`")
	}
	s.shutOnce.Do(func() {
		s.setMood(api.SupervisorShutdown, "")
		close(s.shutdownc)
	})
	return nil
}

// Restart makes Run stop everything, re-read the configuration and start
// again (supervisord's restart, supervisorctl reload). It returns at once.
func (s *Supervisor) Restart() error {
	if err := s.checkMood(); err != nil {
		return err
	}
	s.setMood(api.SupervisorRestarting, "")
	select {
	case s.restartc <- struct{}{}:
	default:
	}
	return nil
}

// ReopenLogs reopens the main log and every program log (USR2), e.g. after
// an external logrotate moved them.
func (s *Supervisor) ReopenLogs() error {
	s.log.Info("supervisord logreopen")
	var errs []error
	if s.mainSink != nil {
		if err := s.mainSink.Reopen(); err != nil {
			errs = append(errs, err)
		}
	}
	s.cron.mu.Lock()
	if sk := s.cron.sink; sk != nil {
		if err := sk.Reopen(); err != nil {
			errs = append(errs, err)
		}
	}
	s.cron.mu.Unlock()
	for _, p := range s.allProcesses(false) {
		l := p.view().logs
		done := map[*logrotate.Sink]bool{}
		for _, sk := range []*logrotate.Sink{l.stdout, l.stderr} {
			if sk != nil && !done[sk] {
				done[sk] = true
				if err := sk.Reopen(); err != nil {
					errs = append(errs, err)
				}
			}
		}
	}
	return errors.Join(errs...)
}

// allProcesses lists the active processes: in priority order (groups, then
// processes), or in lexical order (group names, then process names) as
// getAllProcessInfo lists them.
func (s *Supervisor) allProcesses(lexical bool) []*process {
	s.mu.RLock()
	gs := append([]*group(nil), s.order...)
	var out []*process
	if lexical {
		slices.SortFunc(gs, func(a, b *group) int { return cmp.Compare(a.cfg.Name, b.cfg.Name) })
	}
	for _, g := range gs {
		ps := append([]*process(nil), g.procs...)
		if lexical {
			slices.SortFunc(ps, func(a, b *process) int { return cmp.Compare(a.name, b.name) })
		}
		out = append(out, ps...)
	}
	s.mu.RUnlock()
	return out
}

// info is getProcessInfo for one process.
func (p *process) info() api.ProcessInfo {
	v := p.view()
	unix := func(t time.Time) int64 {
		if t.IsZero() {
			return 0
		}
		return t.Unix()
	}
	pi := api.ProcessInfo{
		Name:       p.name,
		Group:      p.group,
		Start:      unix(v.start),
		Stop:       unix(v.stop),
		Now:        time.Now().Unix(),
		State:      v.state,
		StateName:  v.state.String(),
		SpawnErr:   v.spawnerr,
		ExitStatus: v.exitstatus,
		PID:        v.pid,
	}
	if sk := v.logs.sink(api.Stdout); sk != nil {
		pi.StdoutLogfile = sk.Path()
	} else {
		pi.StdoutLogfile = p.s.logPath(v.cfg, api.Stdout)
	}
	if sk := v.logs.sink(api.Stderr); sk != nil && !v.cfg.RedirectStderr {
		pi.StderrLogfile = sk.Path()
	} else {
		pi.StderrLogfile = p.s.logPath(v.cfg, api.Stderr)
	}
	pi.Logfile = pi.StdoutLogfile
	if v.spawns > 0 {
		pi.Restarts = v.spawns - 1
	}
	pi.Description = api.Describe(pi)
	describeHealth(&pi, v)
	pi.OOMKills = v.oomKills
	if v.oom != "" {
		pi.OOM = v.oom
		if v.state != api.Running && v.state != api.Starting && v.state != api.Stopping {
			pi.Description += " (" + v.oom + ")"
		}
	}
	return pi
}

// ProcessInfo is getProcessInfo.
func (s *Supervisor) ProcessInfo(name string) (api.ProcessInfo, error) {
	if err := s.checkMood(); err != nil {
		return api.ProcessInfo{}, err
	}
	p, err := s.lookupProcess(name)
	if err != nil {
		return api.ProcessInfo{}, err
	}
	return p.info(), nil
}

// AllProcessInfo is getAllProcessInfo, in its lexical order.
func (s *Supervisor) AllProcessInfo() []api.ProcessInfo {
	ps := s.allProcesses(true)
	out := make([]api.ProcessInfo, 0, len(ps))
	for _, p := range ps {
		out = append(out, p.info())
	}
	return out
}

// AllConfigInfo is getAllConfigInfo: every process of the last
// configuration read, sorted by name, inuse when its group is active.
func (s *Supervisor) AllConfigInfo() []api.ConfigInfo {
	s.mu.RLock()
	read := s.read
	active := map[string]bool{}
	for n := range s.groups {
		active[n] = true
	}
	s.mu.RUnlock()
	var out []api.ConfigInfo
	for _, g := range read.Groups {
		for _, p := range g.Processes {
			ci := api.ConfigInfo{
				Name:                  p.Name,
				Group:                 g.Name,
				GroupPrio:             g.Priority,
				ProcessPrio:           p.Priority,
				InUse:                 active[g.Name],
				Autostart:             p.Autostart,
				Directory:             noneIfEmpty(p.Directory),
				UID:                   "none",
				Command:               p.Command,
				ExitCodes:             p.ExitCodes,
				KillAsGroup:           p.KillAsGroup,
				RedirectStderr:        p.RedirectStderr,
				StartRetries:          p.StartRetries,
				StartSecs:             int(p.StartSecs / time.Second),
				StopSignal:            int(p.StopSignal),
				StopWaitSecs:          int(p.StopWaitSecs / time.Second),
				StdoutCaptureMaxBytes: p.Stdout.CaptureMaxBytes,
				StdoutEventsEnabled:   p.Stdout.EventsEnabled,
				StdoutLogfile:         logName(p, api.Stdout),
				StdoutLogfileBackups:  p.Stdout.Backups,
				StdoutLogfileMaxBytes: p.Stdout.MaxBytes,
				StdoutSyslog:          p.Stdout.Syslog,
				StderrCaptureMaxBytes: p.Stderr.CaptureMaxBytes,
				StderrEventsEnabled:   p.Stderr.EventsEnabled,
				StderrLogfile:         logName(p, api.Stderr),
				StderrLogfileBackups:  p.Stderr.Backups,
				StderrLogfileMaxBytes: p.Stderr.MaxBytes,
				StderrSyslog:          p.Stderr.Syslog,
				ServerURL:             noneIfEmpty(p.ServerURL),
			}
			if p.User != "" {
				if a, err := lookupAccount(p.User); err == nil {
					ci.UID = strconv.Itoa(a.uid)
				}
			}
			if ci.ExitCodes == nil {
				ci.ExitCodes = []int{}
			}
			out = append(out, ci)
		}
	}
	slices.SortStableFunc(out, func(a, b api.ConfigInfo) int { return cmp.Compare(a.Name, b.Name) })
	return out
}

func noneIfEmpty(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// waitResult waits for an operation's completion channel (nil: already
// complete) or ctx.
func waitResult(ctx context.Context, ch <-chan error) error {
	if ch == nil {
		return nil
	}
	select {
	case err := <-ch:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// StartProcess is startProcess. "g:*" starts the group; its first failure
// is returned.
func (s *Supervisor) StartProcess(ctx context.Context, name string, wait bool) error {
	return s.processOp(ctx, name, wait, s.StartGroup, func(p *process, wait bool) (<-chan error, error) {
		return s.startProcess(ctx, p, wait)
	})
}

// StopProcess is stopProcess. "g:*" stops the group.
func (s *Supervisor) StopProcess(ctx context.Context, name string, wait bool) error {
	return s.processOp(ctx, name, wait, s.StopGroup, (*process).stop)
}

// processOp runs op on the named process and awaits its answer (when wait),
// or, for "g:*", runs group on the group and returns its first failure.
func (s *Supervisor) processOp(ctx context.Context, name string, wait bool,
	group func(context.Context, string, bool) ([]api.Result, error),
	op func(*process, bool) (<-chan error, error)) error {
	if err := s.checkMood(); err != nil {
		return err
	}
	g, p, err := s.lookup(name)
	if err != nil {
		return err
	}
	if p == nil {
		return firstFailure(group(ctx, g.cfg.Name, wait))
	}
	ch, err := op(p, wait)
	if err != nil {
		return err
	}
	return waitResult(ctx, ch)
}

// SignalProcess is signalProcess. "g:*" signals the group.
func (s *Supervisor) SignalProcess(name string, sig syscall.Signal) error {
	if err := s.checkMood(); err != nil {
		return err
	}
	if err := checkSignal(sig); err != nil {
		return err
	}
	g, p, err := s.lookup(name)
	if err != nil {
		return err
	}
	if p == nil {
		return firstFailure(s.SignalGroup(g.cfg.Name, sig))
	}
	return p.signal(sig)
}

func checkSignal(sig syscall.Signal) error {
	if sig <= 0 || sig > 64 {
		return api.Errorf(api.BadSignal, "%d", int(sig))
	}
	return nil
}

func firstFailure(rs []api.Result, err error) error {
	if err != nil {
		return err
	}
	for _, r := range rs {
		if r.Status != api.Success {
			return &api.Error{Code: r.Status, Detail: r.Description}
		}
	}
	return nil
}

// groupProcs returns a group's processes in priority order, or BAD_NAME.
func (s *Supervisor) groupProcs(name string) ([]*process, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	g := s.groups[name]
	if g == nil {
		return nil, api.Errorf(api.BadName, "%s", name)
	}
	return append([]*process(nil), g.procs...), nil
}

// result is one entry of a group operation's answer.
func result(p *process, err error) api.Result {
	r := api.Result{Name: p.name, Group: p.group, Status: api.Success, Description: "OK"}
	if err != nil {
		r.Status = api.CodeOf(err)
		var ae *api.Error
		if errors.As(err, &ae) {
			r.Description = ae.Error()
		} else {
			r.Description = err.Error()
		}
	}
	return r
}

// each is supervisord's make_allfunc: op is started for every process the
// predicate admits, in order; immediate failures are answered first, then
// the rest in the order they complete.
func each(ctx context.Context, ps []*process, pred func(api.State) bool,
	op func(*process) (<-chan error, error)) []api.Result {
	out := []api.Result{}
	type pending struct {
		p  *process
		ch <-chan error
	}
	var waits []pending
	for _, p := range ps {
		if !pred(p.view().state) {
			continue
		}
		ch, err := op(p)
		if err != nil || ch == nil {
			out = append(out, result(p, err))
			continue
		}
		waits = append(waits, pending{p, ch})
	}
	if len(waits) == 0 {
		return out
	}
	done := make(chan api.Result, len(waits))
	for _, w := range waits {
		go func() { done <- result(w.p, waitResult(ctx, w.ch)) }()
	}
	for range waits {
		out = append(out, <-done)
	}
	return out
}

func notRunning(st api.State) bool { return !st.IsRunning() }
func isRunning(st api.State) bool  { return st.IsRunning() }

// StartGroup is startProcessGroup.
func (s *Supervisor) StartGroup(ctx context.Context, name string, wait bool) ([]api.Result, error) {
	if err := s.checkMood(); err != nil {
		return nil, err
	}
	ps, err := s.groupProcs(name)
	if err != nil {
		return nil, err
	}
	return each(ctx, startOrder(ps), notRunning, func(p *process) (<-chan error, error) { return s.startProcess(ctx, p, wait) }), nil
}

// StopGroup is stopProcessGroup, in reverse priority order.
func (s *Supervisor) StopGroup(ctx context.Context, name string, wait bool) ([]api.Result, error) {
	if err := s.checkMood(); err != nil {
		return nil, err
	}
	ps, err := s.groupProcs(name)
	if err != nil {
		return nil, err
	}
	slices.Reverse(ps)
	return each(ctx, ps, isRunning, func(p *process) (<-chan error, error) { return p.stop(wait) }), nil
}

// SignalGroup is signalProcessGroup.
func (s *Supervisor) SignalGroup(name string, sig syscall.Signal) ([]api.Result, error) {
	if err := s.checkMood(); err != nil {
		return nil, err
	}
	ps, err := s.groupProcs(name)
	if err != nil {
		return nil, err
	}
	if err := checkSignal(sig); err != nil {
		return nil, err
	}
	return signalEach(ps, sig), nil
}

func signalEach(ps []*process, sig syscall.Signal) []api.Result {
	return each(context.Background(), ps, api.State.IsSignallable, func(p *process) (<-chan error, error) {
		return nil, p.signal(sig)
	})
}

// StartAll is startAllProcesses, in priority order.
func (s *Supervisor) StartAll(ctx context.Context, wait bool) []api.Result {
	if err := s.checkMood(); err != nil {
		return []api.Result{}
	}
	return each(ctx, startOrder(s.allProcesses(false)), notRunning, func(p *process) (<-chan error, error) {
		return s.startProcess(ctx, p, wait)
	})
}

// StopAll is stopAllProcesses, in reverse priority order.
func (s *Supervisor) StopAll(ctx context.Context, wait bool) []api.Result {
	if err := s.checkMood(); err != nil {
		return []api.Result{}
	}
	ps := slices.Clone(startOrder(s.allProcesses(false)))
	slices.Reverse(ps)
	stop := func(p *process) (<-chan error, error) { return p.stop(wait) }
	if !hasDeps(ps) {
		return each(ctx, ps, isRunning, stop)
	}
	// depends_on: dependents first, each batch stopped before the next.
	stopWait := func(p *process) (<-chan error, error) { return p.stop(true) }
	out := []api.Result{}
	for _, batch := range stopBatches(ps, false) {
		out = append(out, each(ctx, batch, isRunning, stopWait)...)
	}
	return out
}

// SignalAll is signalAllProcesses.
func (s *Supervisor) SignalAll(sig syscall.Signal) []api.Result {
	if s.checkMood() != nil || checkSignal(sig) != nil {
		return []api.Result{}
	}
	return signalEach(s.allProcesses(false), sig)
}

// logOf returns the log path of a process's stream for reading: NO_FILE
// when there is none or it does not exist (supervisord's _readProcessLog).
func (s *Supervisor) logOf(name string, st api.Stream) (*logrotate.Sink, error) {
	if st != api.Stdout && st != api.Stderr {
		return nil, api.Errorf(api.BadArguments, "stream %q", st)
	}
	p, err := s.lookupProcess(name)
	if err != nil {
		return nil, err
	}
	v := p.view()
	sk := v.logs.sink(st)
	if sk == nil || (st == api.Stderr && v.cfg.RedirectStderr) {
		return nil, &api.Error{Code: api.NoFile}
	}
	return sk, nil
}

// ReadProcessLog is readProcessStdoutLog / readProcessStderrLog.
func (s *Supervisor) ReadProcessLog(name string, st api.Stream, offset, length int64) ([]byte, error) {
	if err := s.checkMood(); err != nil {
		return nil, err
	}
	sk, err := s.logOf(name, st)
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(sk.Path()); err != nil {
		return nil, api.Errorf(api.NoFile, "%s", sk.Path())
	}
	b, err := logrotate.ReadFile(sk.Path(), offset, length)
	return b, readError(err)
}

// TailProcessLog is tailProcessStdoutLog / tailProcessStderrLog: no log
// file is ("", 0, false), not an error.
func (s *Supervisor) TailProcessLog(name string, st api.Stream, offset, length int64) ([]byte, int64, bool, error) {
	if err := s.checkMood(); err != nil {
		return nil, 0, false, err
	}
	sk, err := s.logOf(name, st)
	if err != nil {
		if api.CodeOf(err) == api.NoFile {
			return []byte{}, 0, false, nil
		}
		return nil, 0, false, err
	}
	b, off, over := logrotate.TailFile(sk.Path(), offset, length)
	return b, off, over, nil
}

// FollowProcessLog streams a process log until ctx ends, across rotations
// and restarts of the process.
func (s *Supervisor) FollowProcessLog(ctx context.Context, name string, st api.Stream, tail int64, w io.Writer) error {
	sk, err := s.logOf(name, st)
	if err != nil {
		return err
	}
	return sk.Follow(ctx, tail, w)
}

// ClearProcessLogs is clearProcessLogs: truncate both logs, drop backups.
func (s *Supervisor) ClearProcessLogs(name string) error {
	if err := s.checkMood(); err != nil {
		return err
	}
	p, err := s.lookupProcess(name)
	if err != nil {
		return err
	}
	return p.clearLogs()
}

func (p *process) clearLogs() error {
	l := p.view().logs
	done := map[*logrotate.Sink]bool{}
	for _, sk := range []*logrotate.Sink{l.stdout, l.stderr} {
		if sk != nil && !done[sk] {
			done[sk] = true
			if err := sk.Clear(); err != nil {
				return api.Errorf(api.Failed, "%s", p.namespec())
			}
		}
	}
	return nil
}

// ClearAllProcessLogs is clearAllProcessLogs, in priority order.
func (s *Supervisor) ClearAllProcessLogs() []api.Result {
	if s.checkMood() != nil {
		return []api.Result{}
	}
	out := []api.Result{}
	for _, p := range s.allProcesses(false) {
		out = append(out, result(p, p.clearLogs()))
	}
	return out
}

// SendProcessStdin is sendProcessStdin: NOT_RUNNING unless the process runs
// and is not being stopped; NO_FILE when its stdin is closed.
func (s *Supervisor) SendProcessStdin(name string, data []byte) error {
	if err := s.checkMood(); err != nil {
		return err
	}
	p, err := s.lookupProcess(name)
	if err != nil {
		return err
	}
	f, err := p.stdinPipe()
	if err != nil {
		return err
	}
	_ = f.SetWriteDeadline(time.Now().Add(stdinTimeout))
	if _, err := f.Write(data); err != nil {
		switch {
		case errors.Is(err, syscall.EPIPE):
			return api.Errorf(api.NoFile, "%s", name)
		case errors.Is(err, os.ErrClosed):
			return api.Errorf(api.NotRunning, "%s", name)
		case errors.Is(err, os.ErrDeadlineExceeded):
			return api.Errorf(api.Failed, "%s: its stdin is full (the program does not read it)", name)
		}
		return api.Errorf(api.Failed, "%s: write stdin: %v", name, err)
	}
	return nil
}

// SendRemoteCommEvent emits a REMOTE_COMMUNICATION event.
func (s *Supervisor) SendRemoteCommEvent(typ, data string) error {
	s.events.publish(api.Event{Time: time.Now().UnixNano(), Type: "REMOTE_COMMUNICATION", Message: typ + "\n" + data})
	return nil
}

// Subscribe streams events until ctx ends.
func (s *Supervisor) Subscribe(ctx context.Context) <-chan api.Event {
	return s.events.subscribe(ctx)
}
