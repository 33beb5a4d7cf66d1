package cronjobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync/atomic"
	"time"
)

// Errors the Scheduler returns; match them with errors.Is.
var (
	ErrNoSuchJob      = errors.New("no such cron job")
	ErrAlreadyRunning = errors.New("cron job is already running")
	ErrStopped        = errors.New("cron scheduler is stopped")
)

// SkipWarnInterval is the least time between two "still running, run
// skipped" warnings for one job; the skips in between are counted and
// reported with the next warning.
const SkipWarnInterval = 10 * time.Minute

// Clock is the scheduler's source of time; tests inject a fake one.
type Clock interface {
	Now() time.Time
	NewTimer(d time.Duration) Timer
}

// Timer is a one-shot timer made by a Clock.
type Timer interface {
	// C delivers the time once the timer expires.
	C() <-chan time.Time
	// Stop prevents the timer from firing; it reports whether it did.
	Stop() bool
}

// SystemClock is the real clock.
var SystemClock Clock = systemClock{}

type systemClock struct{}

func (systemClock) Now() time.Time                 { return time.Now() }
func (systemClock) NewTimer(d time.Duration) Timer { return systemTimer{time.NewTimer(d)} }

type systemTimer struct{ t *time.Timer }

func (t systemTimer) C() <-chan time.Time { return t.t.C }
func (t systemTimer) Stop() bool          { return t.t.Stop() }

// RunFunc runs one job to completion and returns its exit status. It is
// called in a goroutine of its own. ctx is cancelled when the job must stop
// (shutdown, or a reload removed or changed it): the runtime then applies its
// stop recipe and returns. err reports a job that could not be started or
// whose status is unknown.
type RunFunc func(ctx context.Context, job Job) (exitStatus int, err error)

// ReportPID tells the scheduler the pid of the process running a job. A
// RunFunc calls it with the ctx it was given, once the job's process has
// started: List then shows the pid, and the "still running" warning names
// it. With any other ctx it does nothing.
func ReportPID(ctx context.Context, pid int) {
	if report, ok := ctx.Value(pidKey{}).(func(int)); ok {
		report(pid)
	}
}

// pidKey is the context key of a run's pid reporter.
type pidKey struct{}

// JobStatus is what `roost cron list` shows about one job.
type JobStatus struct {
	Name           string        `json:"name"`
	Line           int           `json:"line"`
	Schedule       string        `json:"schedule"` // the spec as written
	Command        string        `json:"command"`
	Zone           string        `json:"zone"`
	Next           time.Time     `json:"next,omitzero"` // zero: no next run (@reboot, or stopped)
	LastStart      time.Time     `json:"last_start,omitzero"`
	LastEnd        time.Time     `json:"last_end,omitzero"`
	LastExitStatus int           `json:"last_exit_status"` // meaningful once LastEnd is set
	LastDuration   time.Duration `json:"last_duration"`    // of the last finished run
	LastError      string        `json:"last_error,omitempty"`
	Running        bool          `json:"running"`
	PID            int           `json:"pid,omitempty"` // the running process, once the RunFunc reported it
	Runs           int           `json:"runs"`          // runs started, scheduled or by RunNow
	Skipped        int           `json:"skipped"`       // scheduled runs skipped because the job was still running
	Failures       int           `json:"failures"`      // finished runs with a non-zero status or that could not start
}

// Scheduler runs the jobs of a cron file on time. One goroutine owns all of
// its state and keeps one timer, set for the earliest next run; every method
// is a request to that goroutine. A Scheduler must be stopped with Stop.
type Scheduler struct {
	clock    Clock
	run      RunFunc
	log      *slog.Logger
	reqs     chan request
	done     chan struct{}               // closed when the owner goroutine has returned
	snapshot atomic.Pointer[[]JobStatus] // List's answer, renewed after every event
}

// NewScheduler returns a scheduler with no jobs, not yet started. It calls
// run for each job run.
func NewScheduler(clock Clock, run RunFunc, log *slog.Logger) *Scheduler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Scheduler{clock: clock, run: run, log: log, reqs: make(chan request), done: make(chan struct{})}
	empty := []JobStatus{}
	s.snapshot.Store(&empty)
	l := &loop{s: s, byName: map[string]*jobState{}, runs: map[uint64]*activeRun{}, results: make(chan runResult)}
	l.base, l.cancelAll = context.WithCancel(context.Background())
	go l.serve()
	return s
}

// request is a call into the owner goroutine; done is closed once f has
// run and the timer and the List snapshot reflect it.
type request struct {
	f    func(*loop)
	done chan struct{}
}

// call runs f on the owner goroutine and waits for it.
func (s *Scheduler) call(f func(*loop) error) error {
	var err error
	req := request{f: func(l *loop) { err = f(l) }, done: make(chan struct{})}
	select {
	case s.reqs <- req:
		<-req.done
		return err
	case <-s.done:
		return ErrStopped
	}
}

// Set installs the jobs of file (nil means none). A job whose name, schedule,
// command, input, environment and zone are unchanged keeps its state: last
// run, counters, a run in progress. An unnamed job ("line-N") that only moved
// to another line keeps its state too. Jobs that were removed or changed and
// are running are stopped (their context is cancelled) and returned. New
// @reboot jobs do not run: they run at Start only.
func (s *Scheduler) Set(file *File) (stopped []Job, err error) {
	err = s.call(func(l *loop) error {
		if l.stopping {
			return ErrStopped
		}
		stopped = l.set(file)
		return nil
	})
	return stopped, err
}

// Start begins scheduling: it runs the @reboot jobs once and arms the timer
// for the others. Cancelling ctx stops the scheduler as Stop does (Stop still
// waits for the running jobs).
func (s *Scheduler) Start(ctx context.Context) error {
	return s.start(ctx, nil)
}

// Resume begins scheduling where another scheduler of the same file left
// off (a supervisor re-executed in place, see package handover): no @reboot
// job runs, and a job named in next runs at that time (at once if it has
// passed) instead of its next time from now, which @every jobs would move.
func (s *Scheduler) Resume(ctx context.Context, next map[string]time.Time) error {
	if next == nil {
		next = map[string]time.Time{}
	}
	return s.start(ctx, next)
}

func (s *Scheduler) start(ctx context.Context, resume map[string]time.Time) error {
	return s.call(func(l *loop) error {
		switch {
		case l.stopping:
			return ErrStopped
		case l.started:
			return errors.New("cron scheduler already started")
		}
		l.started, l.startDone = true, ctx.Done()
		now := s.clock.Now()
		for _, js := range l.jobs {
			switch {
			case js.job.Reboot:
				if js.run == nil && resume == nil { // unless RunNow got there first
					l.start(js, now, "reboot")
				}
			case !resume[js.job.Name].IsZero():
				js.next = resume[js.job.Name]
			default:
				js.next = nextRun(js.job, now)
			}
		}
		return nil
	})
}

// RunNow starts the named job at once, outside its schedule.
func (s *Scheduler) RunNow(name string) error {
	return s.call(func(l *loop) error {
		js := l.byName[name]
		switch {
		case l.stopping:
			return ErrStopped
		case js == nil:
			return fmt.Errorf("run %q: %w", name, ErrNoSuchJob)
		case js.run != nil:
			return fmt.Errorf("run %q: %w (since %s)", name, ErrAlreadyRunning, js.run.start.Format(time.RFC3339))
		}
		l.start(js, s.clock.Now(), "manual")
		return nil
	})
}

// List returns the status of every job, in file order.
func (s *Scheduler) List() []JobStatus {
	return slices.Clone(*s.snapshot.Load())
}

// Stop stops scheduling, cancels the running jobs and waits until their
// RunFuncs have returned, or until ctx is done. Stop may be called more than
// once.
func (s *Scheduler) Stop(ctx context.Context) error {
	_ = s.call(func(l *loop) error { l.shutdown(); return nil })
	select {
	case <-s.done:
		return nil
	case <-ctx.Done():
	}
	var names []string
	_ = s.call(func(l *loop) error {
		for _, r := range l.runs {
			names = append(names, r.job.Name)
		}
		return nil
	})
	slices.Sort(names)
	return fmt.Errorf("stop cron jobs: %w; still running: %s", ctx.Err(), strings.Join(names, ", "))
}

// loop is the state owned by the scheduler's goroutine.
type loop struct {
	s         *Scheduler
	jobs      []*jobState // file order
	byName    map[string]*jobState
	runs      map[uint64]*activeRun // every run in progress, including stopped removed jobs
	lastRunID uint64
	results   chan runResult

	started, stopping bool
	startDone         <-chan struct{} // Start's ctx.Done(); nil once stopping
	base              context.Context // parent of every run's context
	cancelAll         context.CancelFunc

	timer   Timer
	timerAt time.Time
}

type jobState struct {
	job                Job
	next               time.Time
	lastStart, lastEnd time.Time
	lastDuration       time.Duration
	lastExit           int
	lastErr            error
	runs, skipped      int
	failures           int
	run                *activeRun // non-nil while running
	lastSkipWarn       time.Time
	skipsSinceLastWarn int
}

type activeRun struct {
	id     uint64
	pid    int // from ReportPID; 0 until then
	start  time.Time
	job    Job
	state  *jobState // nil once the job was removed or changed
	cancel context.CancelFunc
}

type runResult struct {
	id     uint64
	status int
	err    error
}

func (l *loop) serve() {
	defer close(l.s.done)
	defer l.cancelAll()
	for {
		if l.stopping && len(l.runs) == 0 {
			l.publish()
			return
		}
		var fire <-chan time.Time
		if l.timer != nil {
			fire = l.timer.C()
		}
		var done chan struct{}
		select {
		case req := <-l.s.reqs:
			req.f(l)
			done = req.done
		case r := <-l.results:
			l.finish(r)
		case <-fire:
			l.timer = nil
			l.fire()
		case <-l.startDone:
			l.shutdown()
		}
		l.arm()
		l.publish()
		if done != nil {
			close(done)
		}
	}
}

// set installs a new file's jobs; see Scheduler.Set.
func (l *loop) set(file *File) (stopped []Job) {
	var jobs []Job
	if file != nil {
		jobs = file.Jobs
	}
	now := l.s.clock.Now()
	kept := map[*jobState]bool{}
	newStates := make([]*jobState, len(jobs))
	for i, j := range jobs {
		if old := l.byName[j.Name]; old != nil && old.job.Same(j) {
			newStates[i] = old
			kept[old] = true
		}
	}
	// An unnamed job that moved to another line is the same job.
	for i, j := range jobs {
		if newStates[i] != nil || j.Name != autoName(j.Line) {
			continue
		}
		for _, old := range l.jobs {
			if !kept[old] && old.job.Name == autoName(old.job.Line) && renamed(old.job, j.Name).Same(j) {
				newStates[i] = old
				kept[old] = true
				break
			}
		}
	}
	for _, old := range l.jobs {
		if kept[old] {
			continue
		}
		if r := old.run; r != nil {
			l.s.log.Info("cron: stopping "+old.job.Name+": it was removed or changed in the cron file",
				"job", old.job.Name, "event", "stop", "pid", r.pid)
			r.cancel()
			r.state = nil
			stopped = append(stopped, old.job)
		}
	}
	for i, j := range jobs {
		js := newStates[i]
		if js == nil {
			js = &jobState{}
			if l.started {
				js.next = nextRun(j, now)
			}
			// A changed job counts as running until its old run has
			// stopped, so that the two never overlap.
			if old := l.byName[j.Name]; old != nil && old.run != nil {
				js.run = old.run
			}
		}
		js.job = j
		newStates[i] = js
	}
	l.jobs = newStates
	l.byName = make(map[string]*jobState, len(newStates))
	for _, js := range newStates {
		l.byName[js.job.Name] = js
	}
	return stopped
}

// nextRun is the job's next run after t; zero for @reboot jobs and jobs
// without a schedule.
func nextRun(j Job, t time.Time) time.Time {
	if j.Reboot || j.Schedule == nil {
		return time.Time{}
	}
	return j.Schedule.Next(t)
}

func renamed(j Job, name string) Job {
	j.Name = name
	return j
}

// fire runs every job that is due and computes its next run.
func (l *loop) fire() {
	now := l.s.clock.Now()
	for _, js := range l.jobs {
		if js.next.IsZero() || js.next.After(now) {
			continue
		}
		if js.run != nil {
			l.skip(js, now)
		} else {
			l.start(js, now, "schedule")
		}
		// The next run after the one due; if the timer was late by more than
		// a period, the missed runs are not made up.
		next := nextRun(js.job, js.next)
		if !next.IsZero() && !next.After(now) {
			next = nextRun(js.job, now)
		}
		js.next = next
	}
}

// skip counts a run that was due while the job was still running, and
// warns at most once per SkipWarnInterval.
func (l *loop) skip(js *jobState, now time.Time) {
	js.skipped++
	js.skipsSinceLastWarn++
	if !js.lastSkipWarn.IsZero() && now.Sub(js.lastSkipWarn) < SkipWarnInterval {
		return
	}
	msg := "cron: skipped " + js.job.Name + ": still running "
	if js.run.pid > 0 {
		msg += fmt.Sprintf("(pid %d)", js.run.pid)
	} else {
		msg += "(since " + js.run.start.Format(time.DateTime) + ")"
	}
	if js.skipsSinceLastWarn > 1 {
		msg += fmt.Sprintf("; %d runs skipped since the last warning", js.skipsSinceLastWarn)
	}
	l.s.log.Warn(msg, "job", js.job.Name, "event", "skip", "pid", js.run.pid,
		"running_since", js.run.start, "skipped", js.skipsSinceLastWarn, "skipped_total", js.skipped)
	js.lastSkipWarn, js.skipsSinceLastWarn = now, 0
}

// start runs a job in a goroutine of its own.
func (l *loop) start(js *jobState, now time.Time, reason string) {
	ctx, cancel := context.WithCancel(l.base)
	l.lastRunID++
	r := &activeRun{id: l.lastRunID, start: now, job: js.job, state: js, cancel: cancel}
	l.runs[r.id] = r
	js.run = r
	js.runs++
	js.lastStart = now
	l.s.log.Debug("cron: "+js.job.Name+" due ("+reason+")", "job", js.job.Name, "event", "start", "reason", reason)
	run, results, job, id := l.s.run, l.results, js.job, r.id
	ctx = context.WithValue(ctx, pidKey{}, func(pid int) {
		_ = l.s.call(func(l *loop) error {
			if r := l.runs[id]; r != nil {
				r.pid = pid
			}
			return nil
		})
	})
	go func() {
		status, err := run(ctx, job)
		results <- runResult{id: id, status: status, err: err}
	}()
}

// finish records a run's result.
func (l *loop) finish(res runResult) {
	r := l.runs[res.id]
	delete(l.runs, res.id)
	r.cancel()
	end := l.s.clock.Now()
	js := r.state
	if js == nil {
		// A removed or changed job; its result belongs to no current job.
		for _, cur := range l.jobs {
			if cur.run == r {
				cur.run = nil
			}
		}
		l.s.log.Debug("cron: the stopped run of "+r.job.Name+" ended", "job", r.job.Name, "event", "stopped",
			"exit_status", res.status, "error", res.err)
		return
	}
	js.run = nil
	js.lastEnd, js.lastExit, js.lastErr = end, res.status, res.err
	js.lastDuration = end.Sub(r.start)
	if res.err != nil || res.status != 0 {
		js.failures++
	}
	// Publish before logging, so whoever reads the log line and then asks
	// for the status sees the run ended.
	l.publish()
	// Debug: the RunFunc, which knows the pid and the cause, logs the
	// run's end for people.
	attrs := []any{"job", js.job.Name, "exit_status", res.status, "duration", end.Sub(js.lastStart)}
	switch {
	case res.err != nil:
		l.s.log.Debug(fmt.Sprintf("cron: %s failed: %v", js.job.Name, res.err), append(attrs, "event", "fail", "error", res.err)...)
	case res.status != 0:
		l.s.log.Debug(fmt.Sprintf("cron: %s exited with status %d", js.job.Name, res.status), append(attrs, "event", "exit-error")...)
	default:
		l.s.log.Debug("cron: "+js.job.Name+" finished", append(attrs, "event", "finish")...)
	}
}

// shutdown stops scheduling and cancels every run.
func (l *loop) shutdown() {
	if l.stopping {
		return
	}
	l.stopping, l.startDone = true, nil
	l.cancelAll()
	for _, js := range l.jobs {
		js.next = time.Time{}
	}
	if l.timer != nil {
		l.timer.Stop()
		l.timer = nil
	}
}

// arm keeps the one timer set for the earliest next run.
func (l *loop) arm() {
	var earliest time.Time
	if l.started && !l.stopping {
		for _, js := range l.jobs {
			if !js.next.IsZero() && (earliest.IsZero() || js.next.Before(earliest)) {
				earliest = js.next
			}
		}
	}
	if l.timer != nil && earliest.Equal(l.timerAt) {
		return
	}
	if l.timer != nil {
		l.timer.Stop()
		l.timer = nil
	}
	if !earliest.IsZero() {
		l.timer = l.s.clock.NewTimer(earliest.Sub(l.s.clock.Now()))
		l.timerAt = earliest
	}
}

// publish renews the snapshot List returns.
func (l *loop) publish() {
	list := make([]JobStatus, len(l.jobs))
	for i, js := range l.jobs {
		st := JobStatus{
			Name:           js.job.Name,
			Line:           js.job.Line,
			Schedule:       js.job.Spec,
			Command:        js.job.Command,
			Zone:           js.job.Location.String(),
			Next:           js.next,
			LastStart:      js.lastStart,
			LastEnd:        js.lastEnd,
			LastExitStatus: js.lastExit,
			LastDuration:   js.lastDuration,
			Running:        js.run != nil,
			Runs:           js.runs,
			Skipped:        js.skipped,
			Failures:       js.failures,
		}
		if js.lastErr != nil {
			st.LastError = js.lastErr.Error()
		}
		if js.run != nil {
			st.PID = js.run.pid
		}
		list[i] = st
	}
	l.s.snapshot.Store(&list)
}
