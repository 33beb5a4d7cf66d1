package supervisor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"roost/config"
	"roost/handover"
	"roost/internal/mainthread"
	"roost/internal/procfs"
	"roost/supervisor/api"
)

// Re-executing in place (`roost upgrade`): the runtime's side of package
// handover. Reexec probes the binary, freezes every process's owner
// goroutine (its child's exit kept for the next image, its copiers stopped at a read
// boundary holding their partial line, its timer stopped), writes the
// state and execs; if the exec does not happen, every owner thaws where it
// stopped. New adopts a state (Options.Reexec.From) before Run: each child
// is registered with the reaper before it runs, so a program that exited
// during the exec is a zombie the new image reaps and reports as usual.

// ReexecOptions let a Supervisor re-exec in place.
type ReexecOptions struct {
	// Binary is what a re-exec executes: the path on disk, so a new file
	// there is the upgrade.
	Binary string
	// Args are the new image's arguments (this image's os.Args).
	Args []string
	// Socket hands the control socket over (api.Server.HandOver); nil:
	// the new image listens afresh.
	Socket func() (path string, fd, lock int, undo func(), err error)
	// From is the state this image was started with; nil on a fresh
	// start. Its Config must be the configuration New is given.
	From *handover.State
}

// handoverFreezeTimeout bounds the wait for a running cron job to end
// before a re-exec gives up.
const handoverFreezeTimeout = 5 * time.Second

// reexecState is the Supervisor's record of its re-execs.
type reexecState struct {
	mu   sync.Mutex
	info api.ReexecInfo
	// cronGate is held shared by every cron run and exclusively by a
	// freeze: no job runs across an exec (its pipes are not handed over).
	cronGate sync.RWMutex
	cronNext map[string]time.Time // from the state adopted, for the scheduler's Resume
}

// ReexecStatus describes the re-execs so far (api.ReexecBackend).
func (s *Supervisor) ReexecStatus() api.ReexecInfo {
	s.reexec.mu.Lock()
	defer s.reexec.mu.Unlock()
	info := s.reexec.info
	info.PID = os.Getpid()
	info.Version = s.Version()
	if ro := s.opts.Reexec; ro != nil {
		info.Binary = ro.Binary
	}
	if info.Started.IsZero() {
		info.Started = s.started
	}
	return info
}

// Reexec re-executes the supervisor's binary keeping its programs (api.ReexecBackend).
func (s *Supervisor) Reexec(ctx context.Context, accepted func(api.ReexecInfo)) error {
	ro := s.opts.Reexec
	if ro == nil {
		return api.Errorf(api.Failed, "this supervisor cannot re-exec in place (it was not started by `roost run`)")
	}
	if !mainthread.Serving() {
		return api.Errorf(api.Failed, "%v", handover.ErrNoMainThread)
	}
	s.opMu.Lock()
	defer s.opMu.Unlock()
	if s.mood() != api.SupervisorRunning {
		return api.Errorf(api.ShutdownState, "")
	}
	err := s.reexecLocked(ctx, ro, accepted)
	if err == nil {
		err = errors.New("the exec returned") // cannot happen: Exec returns only errors
	}
	s.reexec.mu.Lock()
	s.reexec.info.LastError, s.reexec.info.LastErrorTime = err.Error(), time.Now()
	s.reexec.mu.Unlock()
	s.log.Error(fmt.Sprintf("re-exec of %s failed; this image goes on: %v", ro.Binary, err))
	var ae *api.Error
	if errors.As(err, &ae) {
		return err
	}
	return api.Errorf(api.Failed, "%v", err)
}

// reexecLocked returns only when the exec did not happen.
func (s *Supervisor) reexecLocked(ctx context.Context, ro *ReexecOptions, accepted func(api.ReexecInfo)) error {
	st, err := s.handoverHeader()
	if err != nil {
		return err
	}
	// The probe reads the state without descriptors: what it checks is
	// that the binary runs and speaks this protocol, before anything stops.
	pf, err := handover.Encode(st)
	if err != nil {
		return err
	}
	to, err := handover.Probe(ctx, ro.Binary, pf)
	pf.Close()
	if err != nil {
		return err
	}
	fr, err := s.freeze()
	if err != nil {
		return err
	}
	defer fr.thaw() // reached only when the exec did not happen
	st.FrozenAt = fr.at
	st.Processes = fr.states
	st.CronNext = fr.cronNext
	if nf := s.handNotify(); nf != nil {
		st.Notify = nf
		defer handover.Uninherit(nf.FD)
	}
	if ro.Socket != nil {
		path, fd, lock, undo, err := ro.Socket()
		if err != nil {
			return err
		}
		defer undo()
		st.Socket = &handover.Socket{Path: path, FD: fd, Lock: lock}
	}
	f, err := handover.Encode(st)
	if err != nil {
		return err
	}
	defer f.Close()
	running := 0
	for _, p := range st.Processes {
		if p.PID != 0 {
			running++
		}
	}
	s.log.Info(fmt.Sprintf("re-executing %s (roost %s, handover generation %d): %d running processes kept",
		ro.Binary, to, st.Generation, running))
	if accepted != nil {
		accepted(api.ReexecInfo{
			PID: os.Getpid(), Version: s.Version(), Binary: ro.Binary, Generation: st.Generation,
			Started: st.Started, To: to, Programs: running,
		})
	}
	return handover.Exec(ro.Binary, ro.Args, os.Environ(), f)
}

// handoverHeader is the state without the processes: the next generation,
// the running configuration.
func (s *Supervisor) handoverHeader() (*handover.State, error) {
	s.mu.RLock()
	cfg := s.cfg
	s.mu.RUnlock()
	data, err := json.Marshal(cfg)
	if err != nil {
		return nil, fmt.Errorf("handover: the running configuration: %w", err)
	}
	info := s.ReexecStatus()
	return &handover.State{
		From: s.Version(), Generation: info.Generation + 1, Started: info.Started, Config: data,
	}, nil
}

// frozenRuntime is a frozen supervisor: every owner goroutine waits in
// freezeOwner until thaw (or the exec).
type frozenRuntime struct {
	at       time.Time
	states   []handover.Process
	resume   []chan struct{}
	done     []chan struct{}
	cronNext map[string]time.Time
	unlock   func()
}

// freeze stops the runtime for a handover: cron runs (waiting up to
// handoverFreezeTimeout for one to end), then each process's owner.
func (s *Supervisor) freeze() (*frozenRuntime, error) {
	locked := make(chan struct{})
	go func() { s.reexec.cronGate.Lock(); close(locked) }()
	select {
	case <-locked:
	case <-time.After(handoverFreezeTimeout):
		go func() { <-locked; s.reexec.cronGate.Unlock() }()
		return nil, api.Errorf(api.StillRunning, "a cron job is running; try again when it has finished (`roost cron list`)")
	}
	fr := &frozenRuntime{at: time.Now(), cronNext: map[string]time.Time{}, unlock: s.reexec.cronGate.Unlock}
	for _, j := range s.cron.sched.List() {
		if !j.Next.IsZero() {
			fr.cronNext[j.Name] = j.Next
		}
	}
	// Every owner freezes at once; the results are taken in order.
	procs := s.allProcesses(false)
	results := make([]chan freezeResult, len(procs))
	for i, p := range procs {
		res := make(chan freezeResult, 1)
		resume, done := make(chan struct{}), make(chan struct{})
		results[i] = res
		fr.resume = append(fr.resume, resume)
		fr.done = append(fr.done, done)
		go func() {
			defer close(done)
			if !p.do(func() { p.freezeOwner(res, resume) }) {
				res <- freezeResult{gone: true}
			}
		}()
	}
	var errs []error
	for _, res := range results {
		r := <-res
		switch {
		case r.gone:
		case r.err != nil:
			errs = append(errs, r.err)
		default:
			fr.states = append(fr.states, r.st)
		}
	}
	if len(errs) > 0 {
		fr.thaw()
		return nil, errors.Join(errs...)
	}
	return fr, nil
}

// thaw lets every frozen owner go on where it stopped.
func (fr *frozenRuntime) thaw() {
	for _, r := range fr.resume {
		close(r)
	}
	for _, d := range fr.done {
		<-d
	}
	fr.resume, fr.done = nil, nil
	if fr.unlock != nil {
		fr.unlock()
		fr.unlock = nil
	}
}

type freezeResult struct {
	st   handover.Process
	err  error
	gone bool
}

// streams are a process's output streams by index (lws, pipes).
var streams = [2]api.Stream{api.Stdout, api.Stderr}

// freezeOwner runs in the owner goroutine: it detaches the child and the
// copiers, reports the state, and waits for resume; then (the exec did
// not happen) it thaws.
func (p *process) freezeOwner(res chan<- freezeResult, resume <-chan struct{}) {
	if p.child != nil && p.cfg.Listener {
		// Its protocol state (the event in flight, the pool's queue) is
		// the eventlistener room's, in memory: it does not cross.
		res <- freezeResult{err: fmt.Errorf("%s: an event listener cannot be handed over; stop its pool (roost stop %s:*), upgrade, then start it", p.namespec(), p.group)}
		return
	}
	for p.child != nil && !p.child.detach() {
		// Its exit was taken first: handle it as always (an
		// autorestart spawns a child that is detached in turn).
		p.onExit(<-p.exits)
		p.publish()
	}
	p.timer.Stop()
	st := handover.Process{
		Namespec: p.namespec(), State: int(p.state), Start: p.laststart, Stop: p.laststop,
		SpawnErr: p.spawnerr, ExitStatus: p.exitstatus, Spawns: p.spawns, Backoff: p.backoff,
		Killing: p.killing, OOM: p.oom, OOMKills: p.oomKills, Due: p.due, RestartDue: p.restartDue,
		Stdin: -1, Out: [2]int{-1, -1},
	}
	var kept []int
	if c := p.child; c != nil {
		st.PID = c.pid
		st.Group = c.place.group
		if pi, err := procfs.Read(c.pid); err == nil {
			st.PIDStart = pi.Start
		}
		if p.stdin != nil {
			st.Stdin, _ = handover.Inherit(p.stdin)
			kept = append(kept, st.Stdin)
		}
		for i, lw := range p.lws {
			if lw == nil || p.pipes[i] == nil {
				continue
			}
			if ch := lw.Detach(p.pipes[i]); ch != nil {
				<-ch
			}
			if !lw.Detached() {
				continue // the pipe ended: its copier closed it
			}
			st.Out[i], _ = handover.Inherit(p.pipes[i])
			st.Partial[i] = lw.Partial()
			kept = append(kept, st.Out[i])
		}
	}
	res <- freezeResult{st: st}
	<-resume

	// The exec did not happen: go on.
	for _, fd := range kept {
		handover.Uninherit(fd)
	}
	if c := p.child; c != nil {
		for i, lw := range p.lws {
			if i < len(st.Out) && st.Out[i] >= 0 {
				lw.Resume(p.pipes[i])
				go p.logs.copy(streams[i], lw, p.pipes[i])
			}
		}
		c.reattach(p.reportExit(c))
	}
	if !p.due.IsZero() {
		p.arm(max(0, time.Until(p.due)))
	}
}

// adopt takes over the processes of st (the previous image's), before Run.
func (s *Supervisor) adopt(st *handover.State) {
	byName := map[string]*process{}
	for _, p := range s.allProcesses(false) {
		byName[p.namespec()] = p
	}
	var wg sync.WaitGroup
	var running atomic.Int32
	for _, hp := range st.Processes {
		p := byName[hp.Namespec]
		if p == nil {
			// Cannot happen with the state's own configuration; a child
			// nobody adopts is reaped as an orphan.
			s.log.Error(fmt.Sprintf("handover: %s is not in the configuration; pid %d is left to the reaper", hp.Namespec, hp.PID))
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.do(func() { p.adoptOwner(hp) })
			if p.view().pid != 0 {
				running.Add(1)
			}
		}()
	}
	wg.Wait()
	if st.Notify != nil {
		s.takeNotify(st.Notify)
	}
	s.reexec.cronNext = st.CronNext
	if s.reexec.cronNext == nil {
		s.reexec.cronNext = map[string]time.Time{}
	}
	unmanaged := time.Since(st.FrozenAt)
	s.reexec.mu.Lock()
	s.reexec.info.Generation, s.reexec.info.Started, s.reexec.info.From = st.Generation, st.Started, st.From
	s.reexec.info.Unmanaged, s.reexec.info.Programs = api.Milliseconds(unmanaged), int(running.Load())
	s.reexec.mu.Unlock()
	s.log.Info(fmt.Sprintf("handover: took over %d running processes from roost %s (generation %d); they were unmanaged for %.1f ms",
		running.Load(), st.From, st.Generation, float64(unmanaged)/float64(time.Millisecond)))
}

// adoptOwner runs in the owner goroutine of a process New just made.
func (p *process) adoptOwner(hp handover.Process) {
	p.state = api.State(hp.State)
	p.laststart, p.laststop = hp.Start, hp.Stop
	p.spawnerr, p.exitstatus, p.spawns, p.backoff = hp.SpawnErr, hp.ExitStatus, hp.Spawns, hp.Backoff
	p.killing, p.oom, p.oomKills = hp.Killing, hp.OOM, hp.OOMKills
	if hp.PID != 0 {
		if err := p.adoptChild(hp); errors.Is(err, errGoneInHandover) {
			// It ended and was reaped before this image could see it (a
			// wrapper around the new binary reaped it): an exit whose
			// status nobody knows, handled as any exit (autorestart).
			p.logf(slog.LevelWarn, "handover: %s (pid %d) ended during the handover, its exit status unknown", p.name, hp.PID)
			c := &child{pid: hp.PID, owner: p.s, reapedc: make(chan struct{})}
			p.child = c
			p.onExit(exitEvent{c: c, ws: unknownExit, at: time.Now()})
		} else if err != nil {
			p.logf(levelCritical, "handover: %s (pid %d) cannot be taken over: %v", p.name, hp.PID, err)
			p.child, p.killing = nil, false
			p.state = api.Unknown
		}
	}
	if !hp.Due.IsZero() {
		p.arm(max(0, time.Until(hp.Due)))
		p.restartDue = hp.RestartDue
	}
	if p.state == api.Running && p.child != nil {
		p.armWatchdog() // a full watchdog_sec from now: the pings went on meanwhile
	}
	p.publish() // before do returns: adopt counts from the snapshot
}

// errGoneInHandover: the child of the old image is no longer this
// process's child (it ended and something reaped it).
var errGoneInHandover = errors.New("gone during the handover")

// unknownExit is the wait status of an exit nobody saw: neither an exit
// code nor a signal (decodeWaitStatus says "unknown termination cause"),
// so exitcodes never expect it.
const unknownExit = syscall.WaitStatus(0xffff)

func (p *process) adoptChild(hp handover.Process) error {
	files := []*os.File{handover.File(hp.Stdin, "stdin")}
	for i, fd := range hp.Out {
		files = append(files, handover.File(fd, string(streams[i])))
	}
	pi, err := procfs.Read(hp.PID)
	if err != nil || pi.PPID != os.Getpid() || pi.Start != hp.PIDStart {
		err = fmt.Errorf("%w: pid %d is no longer this supervisor's child", errGoneInHandover, hp.PID)
	}
	var c *child
	if err == nil {
		c, err = adoptChild(p.s, hp.PID, hp.Start)
	}
	if err != nil {
		for _, f := range files {
			if f != nil {
				f.Close()
			}
		}
		return err
	}
	c.stopReq.Store(hp.Killing)
	c.place = placement{group: hp.Group, kill: hp.Group != "" && p.s.cg != nil}
	p.cgAlt = strings.HasSuffix(hp.Group, ".b")
	p.child, p.stdin = c, files[0]
	if err := p.logs.open(); err != nil {
		p.logf(slog.LevelWarn, "handover: %s: %v", p.name, err)
	}
	for i, pipe := range files[1:] {
		p.lws[i], p.pipes[i] = nil, nil
		if pipe == nil {
			continue
		}
		lw := p.logs.lineWriter(streams[i])
		if lw == nil {
			lw = discardWriter()
		} else {
			p.logs.hold(streams[i])
		}
		_, _ = lw.Write(hp.Partial[i]) // no newline: held until the rest of its line comes
		lc := p.cfg.Stdout
		if streams[i] == api.Stderr {
			lc = p.cfg.Stderr
		}
		// Its output events go on (a capture block open at the exec
		// starts over: the old image's capture buffer does not cross).
		p.lws[i], p.pipes[i] = lw, p.reader(pipe, streams[i], lc, nil)
		go p.logs.copy(streams[i], lw, p.pipes[i])
	}
	c.watch(p.reportExit(c))
	return nil
}

// AdoptedConfig is the running configuration a handover state carries.
func AdoptedConfig(st *handover.State) (*config.Config, error) {
	var cfg config.Config
	if err := json.Unmarshal(st.Config, &cfg); err != nil {
		return nil, fmt.Errorf("handover: the configuration: %w", err)
	}
	return &cfg, nil
}
