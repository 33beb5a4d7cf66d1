package supervisor

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"roost/config"
	"roost/cronjobs"
	"roost/logrotate"
	"roost/supervisor/api"
)

// Cron jobs: the project's cron file, run by the supervisor.
//
// The file is `cron` in the configuration's directory (Options.Cron, i.e.
// `roost run --cron FILE`, overrides it); a missing file means no jobs.
// cronjobs parses it and schedules its jobs; this file runs them.
//
// A job runs through the programs' spawn function (startChild): SHELL from
// the cron file's environment lines, else /bin/sh, with -c COMMAND; as the
// supervisor's user; in the project directory (the configuration's
// directory); in a process group of its own; stdin is the text after the
// command's first '%' (vixie cron), else /dev/null. Its environment is the
// one programs get (the supervisor's, or as root the user's passwd entry;
// SUPERVISOR_ENABLED, SUPERVISOR_SERVER_URL), then [supervisord]
// environment=, then ROOST_CRON_JOB=NAME, then the cron file's NAME=value
// lines above the job; later entries win.
//
// Its stdout and stderr (one pipe, in the order written) go to cron.log,
// each line prefixed with the local time and the job's name:
//
//	2026-11-22 03:04:05 backup | dumped 3 tables
//
// A line is prefixed and written to the log in one write, so lines of jobs
// running at the same time never mix; a final line without a newline gets
// one. cron.log is in the log directory: [supervisord] childlogdir when it
// was chosen (config.Supervisord.ChildlogdirSet: written in the file, or
// --logdir, ~/log, under the master), else the directory of [supervisord]
// logfile, else (logfile NONE, syslog or a device) the temp directory, as
// roost-cron-UID.log. It
// rotates with [supervisord] logfile_maxbytes and logfile_backups (50MB and
// 10 by default), like the main log.
//
// Stopping a job is the programs' stop recipe with fixed settings: SIGTERM
// to its process group, then after cronStopWait SIGKILL to the group. That
// happens when the supervisor shuts down (cron jobs stop first, before any
// program), and when a reload removes or changes a running job.
//
// The file is re-read by every reload of the configuration (the watcher,
// HUP, `roost update`, `roost reload`) and applied when its bytes changed:
// unchanged jobs keep their state and runs. An invalid file is logged
// ("cron:12: ...") and the running jobs are kept.

// cronStopWait is a cron job's stopwaitsecs: the grace between SIGTERM and
// SIGKILL when a job is stopped.
const cronStopWait = 10 * time.Second

// cronLogName is cron.log's name in the log directory.
const cronLogName = "cron.log"

// cronState is the supervisor's cron side: its file, its scheduler and
// cron.log. The scheduler owns the jobs; mu guards the rest.
type cronState struct {
	s        *Supervisor
	path     string // the cron file; "" when there is none to read
	dir      string // the project directory: the jobs' working directory
	sched    *cronjobs.Scheduler
	stopWait time.Duration // cronStopWait; tests shorten it before Run

	mu       sync.Mutex
	data     []byte         // the bytes of the file applied (nil: none)
	jobs     []cronjobs.Job // its jobs
	loadErr  string         // the problems of the file on disk that was not applied
	logPath  string
	maxBytes int64
	backups  int
	sink     *logrotate.Sink // opened when first needed
	closed   bool            // the supervisor stopped: no sink any more
}

// CronFile returns the cron file of cfg: override when set, else `cron` in
// the configuration's directory; "" when there is neither.
func CronFile(cfg *config.Config, override string) string {
	switch {
	case override != "":
		return override
	case cfg.Here == "":
		return ""
	}
	return filepath.Join(cfg.Here, "cron")
}

// ReadCron reads and parses the cron file at path. Its messages name the
// file relative to projectDir when it is inside it ("cron:12: ..."), else
// by its path. A missing file is a File without jobs, not an error; a file
// with problems is a cronjobs.Errors (get it with errors.As).
func ReadCron(path, projectDir string) (*cronjobs.File, error) {
	_, f, err := readCron(path, projectDir)
	return f, err
}

// readCron is ReadCron that also returns the file's bytes (nil when it
// does not exist).
func readCron(path, projectDir string) ([]byte, *cronjobs.File, error) {
	name := cronName(path, projectDir)
	data, err := cronjobs.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, &cronjobs.File{Name: name}, nil
	}
	if err != nil {
		return nil, nil, err
	}
	f, err := cronjobs.Parse(name, data)
	if err != nil {
		return nil, nil, err
	}
	return data, f, nil
}

// cronName is how messages name the cron file: relative to the project
// directory when inside it, else its path.
func cronName(path, projectDir string) string {
	if projectDir != "" {
		if rel, err := filepath.Rel(projectDir, path); err == nil && rel != ".." && !strings.HasPrefix(rel, "../") {
			return rel
		}
	}
	return path
}

// cronLogPath is where cron.log goes for cfg (see the comment above).
func cronLogPath(cfg *config.Config) string {
	sv := cfg.Supervisord
	switch {
	case sv.ChildlogdirSet && sv.Childlogdir != "":
		return filepath.Join(sv.Childlogdir, cronLogName)
	case filepath.IsAbs(sv.Logfile) && !strings.HasPrefix(sv.Logfile, "/dev/"):
		return filepath.Join(filepath.Dir(sv.Logfile), cronLogName)
	}
	dir := sv.Childlogdir
	if dir == "" {
		dir = os.TempDir()
	}
	return filepath.Join(dir, fmt.Sprintf("roost-cron-%d.log", os.Getuid()))
}

// newCron reads the cron file for cfg and installs its jobs in a scheduler
// that Run starts. An invalid file is an error (cronjobs.Errors).
func newCron(s *Supervisor, cfg *config.Config, override string) (*cronState, error) {
	c := &cronState{s: s, path: CronFile(cfg, override), dir: cfg.Here, stopWait: cronStopWait}
	c.configure(cfg)
	var data []byte
	f := &cronjobs.File{}
	var broken error
	if c.path != "" {
		var err error
		if data, f, err = readCron(c.path, c.dir); err != nil {
			if !s.opts.Managed {
				return nil, err
			}
			// Under the master a broken cron file keeps the supervisor
			// up with no jobs; `roost cron list` and status name the line.
			data, f, broken = nil, &cronjobs.File{}, err
		}
	}
	c.sched = cronjobs.NewScheduler(cronjobs.SystemClock, c.run, s.log)
	c.apply(data, f, true)
	if broken != nil {
		c.reportError(broken)
	}
	return c, nil
}

// configure takes cron.log's place and limits from cfg. A new place takes
// effect at once: the old sink is closed and the next line opens the new one.
func (c *cronState) configure(cfg *config.Config) {
	path := cronLogPath(cfg)
	sv := cfg.Supervisord
	c.mu.Lock()
	c.maxBytes, c.backups = sv.LogfileMaxBytes, sv.LogfileBackups
	var old *logrotate.Sink
	if c.sink != nil {
		if c.sink.Path() == path {
			c.sink.SetLimits(c.maxBytes, c.backups)
		} else {
			old, c.sink = c.sink, nil
		}
	}
	c.logPath = path
	c.mu.Unlock()
	if old != nil {
		_ = old.Close()
	}
}

// logSink returns cron.log's sink, opening it if needed.
func (c *cronState) logSink() (*logrotate.Sink, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, fmt.Errorf("cron log %s: %w", c.logPath, logrotate.ErrClosed)
	}
	if c.sink == nil {
		sk, err := logrotate.OpenSink(c.logPath, c.maxBytes, c.backups)
		if err != nil {
			return nil, fmt.Errorf("open cron log: %w", err)
		}
		c.sink = sk
	}
	return c.sink, nil
}

// start begins scheduling: the @reboot jobs run now.
func (c *cronState) start() {
	start := c.sched.Start
	if next := c.s.reexec.cronNext; next != nil { // handed over: go on, no @reboot
		start = func(ctx context.Context) error { return c.sched.Resume(ctx, next) }
	}
	if err := start(context.Background()); err != nil {
		c.s.log.Error(fmt.Sprintf("cron: cannot start the scheduler: %v", err))
	}
}

// stop stops scheduling and every running job (the stop recipe), waits for
// them, and closes cron.log.
func (c *cronState) stop() {
	ctx, cancel := context.WithTimeout(context.Background(), 3*c.stopWait)
	defer cancel()
	if err := c.sched.Stop(ctx); err != nil {
		c.s.log.Warn("cron: " + err.Error())
	}
	c.mu.Lock()
	sk := c.sink
	c.sink, c.closed = nil, true
	c.mu.Unlock()
	if sk != nil {
		_ = sk.Close()
	}
}

// reload re-reads the cron file and applies it if it changed. An invalid
// or unreadable file is logged and changes nothing.
func (c *cronState) reload() {
	if c.path == "" {
		return
	}
	data, f, err := readCron(c.path, c.dir)
	if err != nil {
		c.reportError(err)
		return
	}
	c.mu.Lock()
	same := c.loadErr == "" && bytes.Equal(data, c.data)
	c.mu.Unlock()
	if !same {
		c.apply(data, f, false)
	}
}

// changedOnDisk reports whether the cron file on disk differs from the one
// applied (or cannot be read).
func (c *cronState) changedOnDisk() bool {
	if c.path == "" {
		return false
	}
	data, err := cronjobs.ReadFile(c.path)
	if errors.Is(err, fs.ErrNotExist) {
		data, err = nil, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return err != nil || !bytes.Equal(data, c.data)
}

// reportError logs why the cron file on disk was not applied, once per
// distinct problem, and keeps it for `roost cron list`.
func (c *cronState) reportError(err error) {
	var lines []string
	var errs cronjobs.Errors
	if errors.As(err, &errs) {
		for _, e := range errs {
			lines = append(lines, e.Error())
		}
	} else {
		lines = []string{fmt.Sprintf("%s: %v", cronName(c.path, c.dir), err)}
	}
	text := strings.Join(lines, "\n")
	c.mu.Lock()
	repeated := c.loadErr == text
	c.loadErr = text
	c.mu.Unlock()
	if repeated {
		return
	}
	for _, l := range lines {
		c.s.log.Error(l + " (the running cron jobs are kept)")
	}
}

// apply installs a parsed file's jobs and logs what changed.
func (c *cronState) apply(data []byte, f *cronjobs.File, initial bool) {
	if _, err := c.sched.Set(f); err != nil {
		return // stopped: the supervisor is going away
	}
	c.mu.Lock()
	old := c.jobs
	c.data, c.jobs, c.loadErr = data, f.Jobs, ""
	c.mu.Unlock()
	for _, w := range f.Warnings {
		c.s.log.Warn(w.Error())
	}
	name := cronName(c.path, c.dir)
	switch {
	case initial && len(f.Jobs) > 0:
		c.s.log.Info(fmt.Sprintf("cron: %d job(s) from %s", len(f.Jobs), c.path))
	case !initial:
		added, changed, removed := cronChanges(old, f.Jobs)
		c.s.log.Info(fmt.Sprintf("cron: applying %s: added %v, changed %v, removed %v", name, added, changed, removed))
	}
	if len(f.Jobs) > 0 {
		if _, err := c.logSink(); err != nil {
			c.s.log.Error("cron: " + err.Error())
		}
	}
}

// cronChanges names the jobs a reload added, changed (any difference that
// makes the scheduler start it afresh) and removed.
func cronChanges(before, after []cronjobs.Job) (added, changed, removed []string) {
	was := map[string]cronjobs.Job{}
	for _, j := range before {
		was[j.Name] = j
	}
	now := map[string]bool{}
	for _, j := range after {
		now[j.Name] = true
		switch old, ok := was[j.Name]; {
		case !ok:
			added = append(added, j.Name)
		case !old.Same(j):
			changed = append(changed, j.Name)
		}
	}
	for _, j := range before {
		if !now[j.Name] {
			removed = append(removed, j.Name)
		}
	}
	return added, changed, removed
}

// environment is a job's environment (see the comment above).
func (c *cronState) environment(job cronjobs.Job) []string {
	s := c.s
	s.mu.RLock()
	global := s.cfg.Supervisord.Environment
	s.mu.RUnlock()
	env := s.baseEnvironment(nil, s.serverURL)
	env = append(env, global...)
	env = append(env, config.EnvVar{Name: "ROOST_CRON_JOB", Value: job.Name})
	for _, kv := range job.Env {
		if k, v, ok := strings.Cut(kv, "="); ok {
			env = append(env, config.EnvVar{Name: k, Value: v})
		}
	}
	return env.Strings()
}

// drainTimeout bounds how long a finished job's run waits for its copier to
// read what the pipe still holds.
const drainTimeout = 2 * time.Second

// run is the scheduler's RunFunc: one run of a job, from spawn to exit.
func (c *cronState) run(ctx context.Context, job cronjobs.Job) (int, error) {
	log := c.s.log
	if !c.s.reexec.cronGate.TryRLock() {
		log.Warn(fmt.Sprintf("cron: %s not started: the supervisor is re-executing", job.Name), "job", job.Name)
		return -1, errors.New("not started: the supervisor was re-executing")
	}
	defer c.s.reexec.cronGate.RUnlock()
	ch, out, feed, err := c.spawn(job)
	if err != nil {
		log.Warn(fmt.Sprintf("cron: couldn't start %s: %v", job.Name, err), "job", job.Name)
		return -1, err
	}
	cronjobs.ReportPID(ctx, ch.pid)
	log.Info(fmt.Sprintf("cron: %s started pid %d", job.Name, ch.pid), "job", job.Name, "pid", ch.pid)

	lw := logrotate.NewLineWriter(&jobLines{c: c, name: job.Name}, maxLine)
	go func() {
		defer out.Close()
		_ = logrotate.Copy(lw, out) // the sink reports its own write errors; the pipe is always drained
	}()
	if feed != nil {
		go func() {
			_, _ = io.WriteString(feed, job.Stdin)
			feed.Close()
		}()
	}
	exited := make(chan jobExit, 1)
	go func() {
		ws, at, _ := ch.wait() // a job is never detached: a handover waits for none to run
		exited <- jobExit{ws, at}
	}()

	var ex jobExit
	select {
	case ex = <-exited:
	case <-ctx.Done():
		ex = c.stopJob(job, ch, exited)
	}
	if feed != nil {
		feed.Close() // unblocks the writer if the job never read its input
	}
	// The job is gone: its output goes to the log once the copier has read
	// what the pipe holds (its last partial line too), even if a grandchild
	// keeps the pipe open. The run is recorded after that, so a reader of
	// cron.log who sees the run ended sees all of its lines; a grandchild
	// that never stops writing bounds the wait.
	drainWait := time.NewTimer(drainTimeout)
	select {
	case <-lw.DrainAndFlush(out):
	case <-drainWait.C:
	}
	drainWait.Stop()

	es, how := decodeWaitStatus(ex.ws)
	took := api.FormatDuration(ex.at.Sub(ch.started))
	attrs := []any{"job", job.Name, "pid", ch.pid, "exit_status", es}
	switch {
	case ex.ws.Exited() && es == 0:
		log.Info(fmt.Sprintf("cron: %s exited 0 after %s", job.Name, took), attrs...)
	case ex.ws.Exited():
		log.Warn(fmt.Sprintf("cron: %s exited %d after %s", job.Name, es, took), attrs...)
	default:
		log.Warn(fmt.Sprintf("cron: %s %s after %s", job.Name, how, took), attrs...)
		return es, errors.New(how)
	}
	return es, nil
}

// spawn starts a job through the programs' spawn function. It returns the
// child, our end of its output pipe, and our end of its stdin pipe when
// the job has input (nil otherwise).
func (c *cronState) spawn(job cronjobs.Job) (ch *child, out, feed *os.File, err error) {
	if _, err := c.logSink(); err != nil {
		return nil, nil, nil, err
	}
	env := c.environment(job)
	shell := job.Shell()
	path, err := lookPath(shell, searchPath(env))
	if err != nil {
		return nil, nil, nil, fmt.Errorf("shell: %w", err)
	}
	var stdin *os.File
	if job.Stdin != "" {
		if stdin, feed, err = os.Pipe(); err != nil {
			return nil, nil, nil, fmt.Errorf("stdin pipe: %w", err)
		}
	} else if stdin, err = os.Open(os.DevNull); err != nil {
		return nil, nil, nil, fmt.Errorf("stdin: %w", err)
	}
	defer stdin.Close()
	out, outW, err := os.Pipe()
	if err != nil {
		if feed != nil {
			feed.Close()
		}
		return nil, nil, nil, fmt.Errorf("output pipe: %w", err)
	}
	defer outW.Close()
	ch, err = startChild(c.s, &spec{
		Path:   path,
		Argv:   []string{shell, "-c", job.Command},
		Dir:    c.dir,
		Env:    env,
		Umask:  -1,
		Stdin:  stdin,
		Stdout: outW,
		Stderr: outW,
		Place:  c.s.placeCron(),
	})
	if err != nil {
		out.Close()
		if feed != nil {
			feed.Close()
		}
		return nil, nil, nil, errors.New(describeStartError(job.Name, shell, err))
	}
	return ch, out, feed, nil
}

// jobExit is a job's exit as its waiter saw it.
type jobExit struct {
	ws syscall.WaitStatus
	at time.Time
}

// stopJob is the stop recipe for a job: SIGTERM to its process group, then
// SIGKILL to the group every cronStopWait until it exits.
func (c *cronState) stopJob(job cronjobs.Job, ch *child, exited <-chan jobExit) jobExit {
	log := c.s.log
	log.Info(fmt.Sprintf("cron: stopping %s (pid %d) with SIGTERM", job.Name, ch.pid), "job", job.Name, "pid", ch.pid)
	if err := ch.stop(syscall.SIGTERM, true); err != nil && !errors.Is(err, syscall.ESRCH) {
		log.Warn(fmt.Sprintf("cron: signal %s (pid %d): %v", job.Name, ch.pid, err), "job", job.Name)
	}
	t := time.NewTimer(c.stopWait)
	defer t.Stop()
	for {
		select {
		case ex := <-exited:
			return ex
		case <-t.C:
			log.Warn(fmt.Sprintf("cron: killing %s (pid %d) with SIGKILL", job.Name, ch.pid), "job", job.Name, "pid", ch.pid)
			if err := ch.stop(syscall.SIGKILL, true); err != nil && !errors.Is(err, syscall.ESRCH) {
				log.Warn(fmt.Sprintf("cron: signal %s (pid %d): %v", job.Name, ch.pid, err), "job", job.Name)
			}
			t.Reset(c.stopWait)
		}
	}
}

// jobLines is the destination of a job's LineWriter: it prefixes each line
// with the time and the job's name and writes them to cron.log in one
// Write. The LineWriter serializes its calls.
type jobLines struct {
	c    *cronState
	name string
	buf  []byte
}

// cronTimeLayout is the time in cron.log's prefixes.
const cronTimeLayout = "2006-01-02 15:04:05"

func (w *jobLines) Write(p []byte) (int, error) {
	prefix := time.Now().AppendFormat(make([]byte, 0, 24+len(w.name)), cronTimeLayout)
	prefix = append(append(append(prefix, ' '), w.name...), " | "...)
	buf := w.buf[:0]
	for rest := p; len(rest) > 0; {
		line := rest
		if i := bytes.IndexByte(rest, '\n'); i >= 0 {
			line = rest[:i+1]
		}
		rest = rest[len(line):]
		buf = append(append(buf, prefix...), line...)
		if line[len(line)-1] != '\n' {
			buf = append(buf, '\n')
		}
	}
	w.buf = buf
	// A reconfiguration may close the sink between logSink and Write:
	// then the new one takes the lines.
	for range 2 {
		sk, err := w.c.logSink()
		if err != nil {
			return len(p), err
		}
		if _, err = sk.Write(buf); !errors.Is(err, logrotate.ErrClosed) {
			return len(p), err
		}
	}
	return len(p), nil
}

// cronLinePrefix parses the prefix of a cron.log line and returns the job
// name it holds.
func cronLinePrefix(line []byte) (string, bool) {
	const n = len(cronTimeLayout)
	if len(line) < n+4 {
		return "", false
	}
	for i, want := range []byte(cronTimeLayout) {
		c := line[i]
		if want >= '0' && want <= '9' {
			if c < '0' || c > '9' {
				return "", false
			}
		} else if c != want {
			return "", false
		}
	}
	if line[n] != ' ' {
		return "", false
	}
	rest := line[n+1:]
	i := bytes.Index(rest, []byte(" | "))
	if i <= 0 {
		return "", false
	}
	return string(rest[:i]), true
}

// ---- api.CronBackend ----

var _ api.CronBackend = (*Supervisor)(nil)

// Cron describes the cron file and its jobs.
func (s *Supervisor) Cron() api.CronInfo {
	c := s.cron
	c.mu.Lock()
	info := api.CronInfo{File: c.path, Log: c.logPath, Error: c.loadErr, Jobs: []api.CronJob{}}
	c.mu.Unlock()
	for _, st := range c.sched.List() {
		info.Jobs = append(info.Jobs, api.CronJob{
			Name: st.Name, Line: st.Line, Schedule: st.Schedule, Command: st.Command, Zone: st.Zone,
			Next: st.Next, LastStart: st.LastStart, LastEnd: st.LastEnd,
			LastExitStatus: st.LastExitStatus, LastDuration: st.LastDuration.Seconds(), LastError: st.LastError,
			Running: st.Running, PID: st.PID, Runs: st.Runs, Skipped: st.Skipped, Failures: st.Failures,
		})
	}
	return info
}

// RunCronJob starts a job now: BAD_NAME for an unknown job,
// ALREADY_STARTED for one still running.
func (s *Supervisor) RunCronJob(name string) error {
	if err := s.checkMood(); err != nil {
		return err
	}
	err := s.cron.sched.RunNow(name)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, cronjobs.ErrNoSuchJob):
		return api.Errorf(api.BadName, "%s", name)
	case errors.Is(err, cronjobs.ErrAlreadyRunning):
		return api.Errorf(api.AlreadyStarted, "%s", name)
	case errors.Is(err, cronjobs.ErrStopped):
		return &api.Error{Code: api.ShutdownState}
	}
	return api.Errorf(api.Failed, "%s: %v", name, err)
}

// cronMatch returns the filter for a job's lines of cron.log (every line
// for ""), or BAD_NAME for a job the cron file does not have.
func (s *Supervisor) cronMatch(name string) (func([]byte) bool, error) {
	if name == "" {
		return func([]byte) bool { return true }, nil
	}
	found := false
	for _, st := range s.cron.sched.List() {
		found = found || st.Name == name
	}
	if !found {
		return nil, api.Errorf(api.BadName, "%s", name)
	}
	return func(line []byte) bool {
		n, ok := cronLinePrefix(line)
		return ok && n == name
	}, nil
}

// ReadCronLog returns a job's last lines of cron.log (every job's for "").
func (s *Supervisor) ReadCronLog(name string, lines int) ([]byte, error) {
	match, err := s.cronMatch(name)
	if err != nil {
		return nil, err
	}
	s.cron.mu.Lock()
	path := s.cron.logPath
	s.cron.mu.Unlock()
	data, _, err := lastMatching(path, lines, match)
	if err != nil {
		return nil, api.Errorf(api.Failed, "read %s: %v", path, err)
	}
	return data, nil
}

// FollowCronLog writes a job's last lines of cron.log (every job's for
// ""), then each new one, to w until ctx ends.
func (s *Supervisor) FollowCronLog(ctx context.Context, name string, lines int, w io.Writer) error {
	match, err := s.cronMatch(name)
	if err != nil {
		return err
	}
	sk, err := s.cron.logSink()
	if err != nil {
		return api.Errorf(api.Failed, "%v", err)
	}
	_, tail, err := lastMatching(sk.Path(), lines, match)
	if err != nil {
		return api.Errorf(api.Failed, "read %s: %v", sk.Path(), err)
	}
	f := &lineFilter{w: w, match: match}
	if err := sk.Follow(ctx, tail, f); err != nil {
		return api.Errorf(api.Failed, "follow %s: %v", sk.Path(), err)
	}
	return nil
}

// lastMatchChunk is how much lastMatching reads at a time.
const lastMatchChunk = 64 << 10

// lastMatching returns the last n lines of the file at path that match,
// reading backwards from its end, and how many bytes from the end the
// first of them starts. A missing file has no lines.
func lastMatching(path string, n int, match func([]byte) bool) ([]byte, int64, error) {
	return lastMatchingBy(path, n, match, lastMatchChunk)
}

// lastMatchingBy is lastMatching reading chunk bytes at a time.
func lastMatchingBy(path string, n int, match func([]byte) bool, chunk int64) ([]byte, int64, error) {
	if n <= 0 {
		return []byte{}, 0, nil
	}
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return []byte{}, 0, nil
	}
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, 0, err
	}
	size := fi.Size()
	var found [][]byte // newest first
	start := size
	pos := size
	var carry []byte // the start of the file's part after pos, up to its first line end
	for pos > 0 && len(found) < n {
		// A line longer than a chunk doubles the reads, so that copying
		// the carry stays linear.
		k := min(max(chunk, int64(len(carry))), pos)
		pos -= k
		data := make([]byte, k, k+int64(len(carry)))
		if _, err := f.ReadAt(data, pos); err != nil {
			return nil, 0, err
		}
		data = append(data, carry...)
		end := len(data)
		for end > 0 && len(found) < n {
			j := bytes.LastIndexByte(data[:end-1], '\n')
			if j < 0 && pos > 0 {
				break // the line goes on before this chunk
			}
			line := data[j+1 : end]
			if match(line) {
				found = append(found, line)
				start = pos + int64(j+1)
			}
			end = j + 1
		}
		carry = data[:end]
	}
	var out []byte
	for i := len(found) - 1; i >= 0; i-- {
		out = append(out, found[i]...)
	}
	if out == nil {
		out = []byte{}
	}
	return out, size - start, nil
}

// lineFilter passes on the lines that match (and roost's own notes, such
// as a follower's skip marker), whole, holding a partial line until its
// end arrives.
type lineFilter struct {
	w       io.Writer
	match   func([]byte) bool
	partial []byte
	out     []byte
}

func (f *lineFilter) Write(p []byte) (int, error) {
	data := p
	if len(f.partial) > 0 {
		data = append(f.partial, p...)
	}
	out := f.out[:0]
	for {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			break
		}
		line := data[:i+1]
		if f.match(line) || bytes.HasPrefix(line, []byte("[roost:")) {
			out = append(out, line...)
		}
		data = data[i+1:]
	}
	f.partial = append(f.partial[:0], data...)
	f.out = out
	if len(out) > 0 {
		if _, err := f.w.Write(out); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}
