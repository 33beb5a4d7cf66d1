package cronjobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeClock is a Clock whose time moves only when the test says so.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*fakeTimer
}

type fakeTimer struct {
	clock   *fakeClock
	at      time.Time
	c       chan time.Time // unbuffered: delivery means the scheduler took it
	stopped chan struct{}
	once    sync.Once
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) NewTimer(d time.Duration) Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &fakeTimer{clock: c, at: c.now.Add(d), c: make(chan time.Time), stopped: make(chan struct{})}
	c.timers = append(c.timers, t)
	return t
}

func (t *fakeTimer) C() <-chan time.Time { return t.c }

func (t *fakeTimer) Stop() bool {
	t.clock.mu.Lock()
	defer t.clock.mu.Unlock()
	i := slices.Index(t.clock.timers, t)
	if i >= 0 {
		t.clock.timers = slices.Delete(t.clock.timers, i, i+1)
	}
	t.once.Do(func() { close(t.stopped) })
	return i >= 0
}

// popDue removes and returns the earliest timer due at or before target,
// moving the clock to its deadline; or moves the clock to target.
func (c *fakeClock) popDue(target time.Time) *fakeTimer {
	c.mu.Lock()
	defer c.mu.Unlock()
	var due *fakeTimer
	for _, t := range c.timers {
		if !t.at.After(target) && (due == nil || t.at.Before(due.at)) {
			due = t
		}
	}
	if due == nil {
		c.now = target
		return nil
	}
	c.timers = slices.DeleteFunc(c.timers, func(t *fakeTimer) bool { return t == due })
	if due.at.After(c.now) {
		c.now = due.at
	}
	return due
}

// logRecorder is a slog handler that keeps every record and lets a test
// wait for one.
type logRecorder struct {
	mu      sync.Mutex
	records []slog.Record
	changed chan struct{} // closed and replaced on every record
}

func newLogRecorder() *logRecorder { return &logRecorder{changed: make(chan struct{})} }

func (r *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (r *logRecorder) WithAttrs([]slog.Attr) slog.Handler       { return r }
func (r *logRecorder) WithGroup(string) slog.Handler            { return r }
func (r *logRecorder) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.records = append(r.records, rec.Clone())
	close(r.changed)
	r.changed = make(chan struct{})
	return nil
}

// count returns how many records have the event and job attributes.
func (r *logRecorder) count(event, job string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, rec := range r.records {
		if attr(rec, "event") == event && attr(rec, "job") == job {
			n++
		}
	}
	return n
}

func attr(rec slog.Record, key string) string {
	var v string
	rec.Attrs(func(a slog.Attr) bool {
		if a.Key == key {
			v = a.Value.String()
			return false
		}
		return true
	})
	return v
}

// waitFor waits until n records with the event and job were logged.
func (r *logRecorder) waitFor(t *testing.T, n int, msg, job string) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		r.mu.Lock()
		changed := r.changed
		r.mu.Unlock()
		if r.count(msg, job) >= n {
			return
		}
		select {
		case <-changed:
		case <-deadline:
			t.Fatalf("timed out waiting for %d %q logs for job %q", n, msg, job)
		}
	}
}

// call is one RunFunc invocation, held until the test releases it.
type call struct {
	job     Job
	ctx     context.Context
	release chan int // the exit status to return
}

// harness drives a Scheduler with a fake clock and a RunFunc that reports
// every call on calls and returns when released (or when cancelled).
type harness struct {
	t     *testing.T
	clock *fakeClock
	logs  *logRecorder
	s     *Scheduler
	calls chan *call
}

func newHarness(t *testing.T, now time.Time) *harness {
	h := &harness{t: t, clock: &fakeClock{now: now}, logs: newLogRecorder(), calls: make(chan *call, 100)}
	run := func(ctx context.Context, j Job) (int, error) {
		c := &call{job: j, ctx: ctx, release: make(chan int, 1)}
		h.calls <- c
		select {
		case status := <-c.release:
			return status, nil
		case <-ctx.Done():
			return -1, fmt.Errorf("stopped: %w", ctx.Err())
		}
	}
	h.s = NewScheduler(h.clock, run, slog.New(h.logs))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := h.s.Stop(ctx); err != nil {
			t.Errorf("Stop: %v", err)
		}
	})
	return h
}

// sync waits until the scheduler has handled everything sent to it so far.
func (h *harness) sync() {
	if err := h.s.call(func(*loop) error { return nil }); err != nil {
		h.t.Fatalf("sync: %v", err)
	}
}

// advanceTo moves the clock to target, firing every timer on its way at its
// exact deadline and letting the scheduler handle each.
func (h *harness) advanceTo(target time.Time) {
	h.t.Helper()
	for {
		due := h.clock.popDue(target)
		if due == nil {
			h.sync()
			return
		}
		select {
		case due.c <- h.clock.Now():
		case <-due.stopped:
		case <-time.After(10 * time.Second):
			h.t.Fatalf("scheduler did not take its timer at %s", due.at)
		}
		h.sync()
	}
}

// advanceRunning moves the clock to target like advanceTo, but lets every
// job started on the way exit 0 before the next timer fires. It returns
// "name HH:MM ZONE" for each run, in the zone loc.
func (h *harness) advanceRunning(target time.Time, loc *time.Location) []string {
	h.t.Helper()
	totalRuns := func() int {
		n := 0
		for _, st := range h.s.List() {
			n += st.Runs
		}
		return n
	}
	var ran []string
	for {
		before := totalRuns()
		due := h.clock.popDue(target)
		if due == nil {
			h.sync()
			return ran
		}
		select {
		case due.c <- h.clock.Now():
		case <-due.stopped:
		}
		h.sync()
		var calls []*call
		for range totalRuns() - before {
			calls = append(calls, h.nextCall())
		}
		// Jobs due at the same time start in no particular order.
		slices.SortFunc(calls, func(a, b *call) int { return strings.Compare(a.job.Name, b.job.Name) })
		for _, c := range calls {
			finished := h.logs.count("finish", c.job.Name)
			ran = append(ran, c.job.Name+" "+h.clock.Now().In(loc).Format("01-02 15:04 MST"))
			c.release <- 0
			h.logs.waitFor(h.t, finished+1, "finish", c.job.Name)
		}
		h.sync()
	}
}

// nextCall waits for the scheduler to run a job.
func (h *harness) nextCall() *call {
	h.t.Helper()
	select {
	case c := <-h.calls:
		return c
	case <-time.After(10 * time.Second):
		h.t.Fatal("timed out waiting for a job to run")
		return nil
	}
}

// noCall checks that no job was started.
func (h *harness) noCall() {
	h.t.Helper()
	h.sync()
	select {
	case c := <-h.calls:
		h.t.Fatalf("job %q ran unexpectedly at %s", c.job.Name, h.clock.Now())
	default:
	}
}

func (h *harness) set(text string) []Job {
	h.t.Helper()
	stopped, err := h.s.Set(mustParse(h.t, text))
	if err != nil {
		h.t.Fatal(err)
	}
	return stopped
}

func (h *harness) status(name string) JobStatus {
	h.t.Helper()
	for _, st := range h.s.List() {
		if st.Name == name {
			return st
		}
	}
	h.t.Fatalf("no job %q in %+v", name, h.s.List())
	return JobStatus{}
}

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func TestSchedulerRunsOnTimeAndRecordsStatus(t *testing.T) {
	h := newHarness(t, t0.Add(30*time.Second))
	h.set("CRON_TZ=UTC\n# name: tick\n*/5 * * * * tick.sh\n")
	if st := h.status("tick"); !st.Next.IsZero() {
		t.Errorf("next run before Start: %s", st.Next)
	}
	if err := h.s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := h.s.Start(context.Background()); err == nil {
		t.Error("second Start succeeded")
	}
	if st := h.status("tick"); !st.Next.Equal(t0.Add(5*time.Minute)) || st.Schedule != "*/5 * * * *" || st.Command != "tick.sh" || st.Zone != "UTC" {
		t.Errorf("status after Start: %+v", st)
	}
	h.advanceTo(t0.Add(4*time.Minute + 59*time.Second))
	h.noCall()

	h.advanceTo(t0.Add(7 * time.Minute))
	c := h.nextCall()
	if c.job.Name != "tick" || c.job.Command != "tick.sh" {
		t.Errorf("ran %+v", c.job)
	}
	st := h.status("tick")
	if !st.Running || st.Runs != 1 || !st.LastStart.Equal(t0.Add(5*time.Minute)) || !st.Next.Equal(t0.Add(10*time.Minute)) {
		t.Errorf("status while running: %+v", st)
	}
	c.release <- 3
	h.logs.waitFor(t, 1, "exit-error", "tick")
	h.sync()
	st = h.status("tick")
	if st.Running || st.LastExitStatus != 3 || !st.LastEnd.Equal(t0.Add(7*time.Minute)) || st.LastError != "" || st.LastDuration != 2*time.Minute {
		t.Errorf("status after exit 3: %+v", st)
	}

	h.advanceTo(t0.Add(10 * time.Minute))
	h.nextCall().release <- 0
	h.logs.waitFor(t, 1, "finish", "tick")
	h.sync()
	if st := h.status("tick"); st.Runs != 2 || st.LastExitStatus != 0 || st.Skipped != 0 {
		t.Errorf("status after the second run: %+v", st)
	}
}

func TestSchedulerSkipsOverlappingRuns(t *testing.T) {
	h := newHarness(t, t0)
	h.set("# name: slow\n@every 1m slow.sh\n")
	if err := h.s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	h.advanceTo(t0.Add(time.Minute))
	c := h.nextCall()
	// Still running for the next 30 minutes: every minute is skipped, and
	// warned about once per SkipWarnInterval, not once per skip.
	h.advanceTo(t0.Add(31 * time.Minute))
	h.noCall()
	st := h.status("slow")
	if st.Runs != 1 || st.Skipped != 30 || !st.Running {
		t.Errorf("status: %+v", st)
	}
	if n := h.logs.count("skip", "slow"); n != 3 {
		t.Errorf("%d skip warnings in 30 minutes, want 3 (at 2, 12 and 22 minutes)", n)
	}
	var counts []string
	for _, rec := range h.logs.records {
		if attr(rec, "event") == "skip" {
			counts = append(counts, attr(rec, "skipped"))
		}
	}
	if !slices.Equal(counts, []string{"1", "10", "10"}) {
		t.Errorf("skips reported per warning: %v, want [1 10 10]", counts)
	}
	c.release <- 0
	h.logs.waitFor(t, 1, "finish", "slow")
	h.advanceTo(t0.Add(32 * time.Minute))
	h.nextCall().release <- 0
	if st := h.status("slow"); st.Runs != 2 || st.Skipped != 30 {
		t.Errorf("status after it finished: %+v", st)
	}
}

func TestSchedulerRebootJobs(t *testing.T) {
	h := newHarness(t, t0)
	h.set("# name: boot\n@reboot boot.sh\n# name: daily\n@daily d.sh\n")
	h.noCall() // not before Start
	if err := h.s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	c := h.nextCall()
	if c.job.Name != "boot" || !c.job.Reboot {
		t.Fatalf("Start ran %+v", c.job)
	}
	c.release <- 0
	h.logs.waitFor(t, 1, "finish", "boot")
	st := h.status("boot")
	if st.Runs != 1 || !st.Next.IsZero() || st.Schedule != "@reboot" {
		t.Errorf("boot status: %+v", st)
	}
	if js, err := json.Marshal(st); err != nil || strings.Contains(string(js), `"next"`) || !strings.Contains(string(js), `"last_end":"2026-01-01T00:00:00Z"`) {
		t.Errorf("JSON status %s, %v: want no next run and a last_end", js, err)
	}
	// A reload is not a start: neither the kept nor a new @reboot job runs.
	h.set("# name: boot\n@reboot boot.sh\n# name: boot2\n@reboot boot2.sh\n# name: daily\n@daily d.sh\n")
	ran := h.advanceRunning(t0.Add(48*time.Hour), time.UTC)
	if want := []string{"daily 01-02 00:00 UTC", "daily 01-03 00:00 UTC"}; !slices.Equal(ran, want) {
		t.Errorf("ran %v, want %v", ran, want)
	}
	h.noCall()
	if st := h.status("boot2"); st.Runs != 0 {
		t.Errorf("@reboot job added by a reload ran: %+v", st)
	}
	// It can still be run by hand.
	if err := h.s.RunNow("boot2"); err != nil {
		t.Fatal(err)
	}
	h.nextCall().release <- 0
}

func TestSchedulerTimeZones(t *testing.T) {
	h := newHarness(t, t0) // the clock reads UTC
	h.set("CRON_TZ=Asia/Tokyo\n# name: tokyo\n0 9 * * * t.sh\nCRON_TZ=America/Los_Angeles\n# name: la\n0 9 * * * la.sh\n")
	if err := h.s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	// Start is at 00:00 UTC, 09:00 in Tokyo: not "after", so Tokyo's first
	// run is the next day; Los Angeles' 09:00 is 17:00 UTC.
	ran := h.advanceRunning(t0.Add(48*time.Hour), time.UTC)
	want := []string{"la 01-01 17:00 UTC", "tokyo 01-02 00:00 UTC", "la 01-02 17:00 UTC", "tokyo 01-03 00:00 UTC"}
	if !slices.Equal(ran, want) {
		t.Errorf("ran %v, want %v", ran, want)
	}
	if st := h.status("tokyo"); st.Zone != "Asia/Tokyo" || !st.Next.Equal(t0.Add(72*time.Hour)) {
		t.Errorf("tokyo: %+v", st)
	}
}

func TestSchedulerDSTGap(t *testing.T) {
	ny := zone(t, "America/New_York")
	h := newHarness(t, time.Date(2026, 3, 8, 0, 0, 0, 0, ny))
	h.set("CRON_TZ=America/New_York\n# name: nightly\n30 2 * * * n.sh\n# name: halfhour\n*/30 * * * * h.sh\n")
	if err := h.s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	ran := h.advanceRunning(time.Date(2026, 3, 8, 4, 0, 0, 0, ny), ny)
	// 02:30 does not exist that night: the nightly job runs when the gap
	// ends, once; the half-hourly job just continues in real time.
	want := []string{"halfhour 03-08 00:30 EST", "halfhour 03-08 01:00 EST", "halfhour 03-08 01:30 EST",
		"halfhour 03-08 03:00 EDT", "nightly 03-08 03:00 EDT", "halfhour 03-08 03:30 EDT", "halfhour 03-08 04:00 EDT"}
	if !slices.Equal(ran, want) {
		t.Errorf("runs:\n got %v\nwant %v", ran, want)
	}
	if st := h.status("nightly"); !st.Next.Equal(time.Date(2026, 3, 9, 2, 30, 0, 0, ny)) {
		t.Errorf("nightly next %s", st.Next.In(ny))
	}
}

func TestSchedulerReloadKeepsUnchangedJobs(t *testing.T) {
	h := newHarness(t, t0)
	h.set(`# name: keep
@every 1h keep.sh
# name: change
@every 1h change.sh
# name: remove
@every 1h remove.sh
@every 1h unnamed.sh
`)
	if err := h.s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	h.advanceTo(t0.Add(time.Hour))
	calls := map[string]*call{}
	for range 4 {
		c := h.nextCall()
		calls[c.job.Name] = c
	}
	calls["keep"].release <- 0
	h.logs.waitFor(t, 1, "finish", "keep")

	// keep: same; change: new command; remove: gone; the unnamed job moved
	// down two lines (line-7 -> line-9) but is otherwise the same.
	stopped := h.set(`# name: keep
@every 1h keep.sh
# name: change
@every 1h change.sh --new
# name: added
@every 30m added.sh


@every 1h unnamed.sh
`)
	var names []string
	for _, j := range stopped {
		names = append(names, j.Name)
	}
	slices.Sort(names)
	if !slices.Equal(names, []string{"change", "remove"}) {
		t.Errorf("Set stopped %v, want [change remove]", names)
	}
	for _, name := range []string{"change", "remove"} {
		select {
		case <-calls[name].ctx.Done():
		case <-time.After(10 * time.Second):
			t.Fatalf("%s was not cancelled", name)
		}
	}
	h.logs.waitFor(t, 1, "stopped", "change") // their results are dropped
	h.logs.waitFor(t, 1, "stopped", "remove")
	h.sync()

	if st := h.status("keep"); st.Runs != 1 || st.LastEnd.IsZero() || !st.Next.Equal(t0.Add(2*time.Hour)) {
		t.Errorf("keep lost its state: %+v", st)
	}
	if st := h.status("change"); st.Runs != 0 || st.Running || !st.Next.Equal(t0.Add(2*time.Hour)) {
		t.Errorf("change kept old state: %+v", st)
	}
	if st := h.status("line-9"); st.Runs != 1 || !st.Running || st.Line != 9 {
		t.Errorf("the moved unnamed job lost its state: %+v", st)
	}
	if st := h.status("added"); st.Runs != 0 || !st.Next.Equal(t0.Add(90*time.Minute)) {
		t.Errorf("added: %+v", st)
	}
	if got := len(h.s.List()); got != 4 {
		t.Errorf("%d jobs listed, want 4", got)
	}
	// The unnamed job's run still belongs to it and is recorded.
	calls["line-7"].release <- 5
	h.logs.waitFor(t, 1, "exit-error", "line-9")
	h.sync()
	if st := h.status("line-9"); st.Running || st.LastExitStatus != 5 {
		t.Errorf("line-9 after its run: %+v", st)
	}
	// An empty reload removes everything.
	if _, err := h.s.Set(nil); err != nil || len(h.s.List()) != 0 {
		t.Errorf("Set(nil) = %v, list %v", err, h.s.List())
	}
}

// A changed job's old run is stopped; until it has, the new definition
// does not start, so the two never overlap.
func TestSchedulerChangedJobWaitsForItsOldRun(t *testing.T) {
	started := make(chan call, 10)
	release := make(chan struct{})
	logs := newLogRecorder()
	s := NewScheduler(&fakeClock{now: t0}, func(ctx context.Context, j Job) (int, error) {
		started <- call{job: j, ctx: ctx}
		<-release // a slow stop recipe
		return 0, nil
	}, slog.New(logs))
	defer s.Stop(context.Background())
	if _, err := s.Set(mustParse(t, "# name: job\n@daily old.sh\n")); err != nil {
		t.Fatal(err)
	}
	if err := s.RunNow("job"); err != nil {
		t.Fatal(err)
	}
	old := <-started
	stopped, err := s.Set(mustParse(t, "# name: job\n@daily new.sh\n"))
	if err != nil || len(stopped) != 1 || stopped[0].Command != "old.sh" {
		t.Fatalf("Set = %v, %v", stopped, err)
	}
	<-old.ctx.Done()
	if st := s.List()[0]; !st.Running || st.Runs != 0 || st.Command != "new.sh" {
		t.Errorf("while the old run stops: %+v", st)
	}
	if err := s.RunNow("job"); !errors.Is(err, ErrAlreadyRunning) {
		t.Errorf("RunNow while the old run stops = %v", err)
	}
	close(release)
	logs.waitFor(t, 1, "stopped", "job")
	if err := s.RunNow("job"); err != nil {
		t.Fatal(err)
	}
	if c := <-started; c.job.Command != "new.sh" {
		t.Errorf("ran %q", c.job.Command)
	}
}

func TestSchedulerRunNow(t *testing.T) {
	h := newHarness(t, t0)
	h.set("# name: job\n@daily job.sh\n")
	if err := h.s.RunNow("nope"); !errors.Is(err, ErrNoSuchJob) {
		t.Errorf("RunNow(nope) = %v", err)
	}
	// Before Start, by hand.
	if err := h.s.RunNow("job"); err != nil {
		t.Fatal(err)
	}
	c := h.nextCall()
	if err := h.s.RunNow("job"); !errors.Is(err, ErrAlreadyRunning) {
		t.Errorf("RunNow while running = %v", err)
	}
	c.release <- 0
	h.logs.waitFor(t, 1, "finish", "job")
	if st := h.status("job"); st.Runs != 1 || st.Running {
		t.Errorf("status: %+v", st)
	}
}

func TestSchedulerStop(t *testing.T) {
	h := newHarness(t, t0)
	h.set("# name: a\n@reboot a.sh\n# name: b\n@every 1m b.sh\n")
	if err := h.s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	a := h.nextCall()
	h.advanceTo(t0.Add(time.Minute))
	b := h.nextCall()
	if err := h.s.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*call{a, b} {
		if c.ctx.Err() == nil {
			t.Errorf("%s still has a live context after Stop", c.job.Name)
		}
	}
	for _, st := range h.s.List() {
		if st.Running || !st.Next.IsZero() || st.LastError != "stopped: context canceled" {
			t.Errorf("after Stop: %+v", st)
		}
	}
	if err := h.s.RunNow("a"); !errors.Is(err, ErrStopped) {
		t.Errorf("RunNow after Stop = %v", err)
	}
	if _, err := h.s.Set(nil); !errors.Is(err, ErrStopped) {
		t.Errorf("Set after Stop = %v", err)
	}
	if err := h.s.Start(context.Background()); !errors.Is(err, ErrStopped) {
		t.Errorf("Start after Stop = %v", err)
	}
}

func TestSchedulerStopTimesOutOnStubbornJob(t *testing.T) {
	clock := &fakeClock{now: t0}
	release := make(chan struct{})
	started := make(chan struct{})
	s := NewScheduler(clock, func(ctx context.Context, j Job) (int, error) {
		close(started)
		<-release // ignores ctx
		return 0, nil
	}, nil)
	if _, err := s.Set(mustParse(t, "# name: stubborn\n@reboot sleep.sh\n")); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	<-started
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err := s.Stop(ctx)
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "still running: stubborn") {
		t.Errorf("Stop = %v", err)
	}
	close(release)
	if err := s.Stop(context.Background()); err != nil {
		t.Errorf("second Stop = %v", err)
	}
}

func TestSchedulerStartContextCancelStops(t *testing.T) {
	h := newHarness(t, t0)
	h.set("# name: a\n@reboot a.sh\n")
	ctx, cancel := context.WithCancel(context.Background())
	if err := h.s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	c := h.nextCall()
	cancel()
	select {
	case <-c.ctx.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("cancelling Start's context did not stop the running job")
	}
	select {
	case <-h.s.done:
	case <-time.After(10 * time.Second):
		t.Fatal("scheduler did not end after its context was cancelled")
	}
}

// With the real clock and real processes: an @every 1s job that appends to
// a file runs about once a second, and Stop kills a running one.
func TestSchedulerRealClockAndProcesses(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	text := fmt.Sprintf("# name: tick\n@every 1s echo tick >> %s\n# name: sleeper\n@reboot exec sleep 60\n", out)
	run := func(ctx context.Context, j Job) (int, error) {
		cmd := exec.CommandContext(ctx, j.Shell(), "-c", j.Command)
		cmd.Env = j.Env
		err := cmd.Run()
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			return exit.ExitCode(), nil
		}
		return 0, err
	}
	logs := newLogRecorder()
	s := NewScheduler(SystemClock, run, slog.New(logs))
	if _, err := s.Set(mustParse(t, text)); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	logs.waitFor(t, 2, "finish", "tick")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(data), "tick\n"); n < 2 {
		t.Errorf("tick ran %d times", n)
	}
	for _, st := range s.List() {
		if st.Name == "sleeper" && (st.Running || st.LastExitStatus != -1 || st.LastEnd.Sub(st.LastStart) > 10*time.Second) {
			t.Errorf("sleeper after Stop: %+v", st)
		}
	}
}

func TestSchedulerReportPID(t *testing.T) {
	h := newHarness(t, t0)
	h.set("# name: slow\n@every 1m slow.sh\n")
	if err := h.s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	ReportPID(context.Background(), 42) // not a run's context: ignored
	h.advanceTo(t0.Add(time.Minute))
	c := h.nextCall()
	if st := h.status("slow"); st.PID != 0 || !st.Running {
		t.Errorf("status before the pid was reported: %+v", st)
	}
	ReportPID(c.ctx, 4242)
	if st := h.status("slow"); st.PID != 4242 {
		t.Errorf("status after ReportPID: %+v", st)
	}
	h.advanceTo(t0.Add(2 * time.Minute))
	var msgs []string
	h.logs.mu.Lock()
	for _, rec := range h.logs.records {
		if attr(rec, "event") == "skip" {
			msgs = append(msgs, rec.Message)
		}
	}
	h.logs.mu.Unlock()
	if want := []string{"cron: skipped slow: still running (pid 4242)"}; !slices.Equal(msgs, want) {
		t.Errorf("skip warnings %q, want %q", msgs, want)
	}
	c.release <- 0
	h.logs.waitFor(t, 1, "finish", "slow")
	if st := h.status("slow"); st.PID != 0 || st.Running {
		t.Errorf("status after the run: %+v", st)
	}
}
