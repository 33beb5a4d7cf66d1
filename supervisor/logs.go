package supervisor

import (
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"sync"

	"roost/config"
	"roost/logrotate"
	"roost/supervisor/api"
)

// Program logs.
//
// Each (process, stream) has one sink, opened when its configuration is
// applied and kept across restarts of the process; only a change of its
// path (or the process's removal) closes it. Output is appended: log files
// survive restarts of the program and of the supervisor.
//
// AUTO logs. supervisord names them NAME-STREAM---IDENT-RANDOM.log in
// childlogdir and deletes them all when it starts, so every restart of
// supervisord loses the logs. roost keeps supervisord's prefix without the
// random part: NAME-STREAM---IDENT.log (GROUP_NAME-… for a process of a
// [group:x]), a stable name that survives restarts and is appended to, and
// nothing is deleted at start (nocleanup has nothing left to do).

// procLogs are a process's sinks. stderr is stdout's sink with
// redirect_stderr, and nil with NONE (output is drained and dropped).
type procLogs struct {
	stdout, stderr *logrotate.Sink
	err            error // a sink could not be opened: reported as a spawn error

	mu   sync.Mutex
	idle [2]*logrotate.LineWriter // per stream, a line writer no copier is using
}

// lineWriter returns a line writer for a stream's next copier: the idle
// one when there is one, so restarts do not allocate (a second one exists
// only while an old copier still runs because a grandchild holds the old
// pipe). nil for a stream without a sink (NONE).
func (l *procLogs) lineWriter(st api.Stream) *logrotate.LineWriter {
	sk := l.sink(st)
	if sk == nil {
		return nil
	}
	i := streamIndex(st)
	l.mu.Lock()
	defer l.mu.Unlock()
	if lw := l.idle[i]; lw != nil {
		l.idle[i] = nil
		return lw
	}
	return logrotate.NewLineWriter(sk, maxLine)
}

func streamIndex(st api.Stream) int {
	if st == api.Stderr {
		return 1
	}
	return 0
}

// copy is one stream's copier goroutine: pipe → line writer → sink until
// every writer of the pipe is gone (the program and whatever inherited its
// output). A stream without a sink (NONE) has a line writer to nowhere
// (discardWriter), so its pipe is drained and can be handed over alike.
//
// The caller has called hold for the stream; copy releases it at the end,
// so the log file of a program that is not running is closed. A copy that
// a handover detached (handover.go) leaves the pipe open and the file held:
// they are the handover's.
func (l *procLogs) copy(st api.Stream, lw *logrotate.LineWriter, r pipeReader) {
	err := logrotate.Copy(lw, r) // write errors are the sink's to report; the pipe is always drained
	if errors.Is(err, logrotate.ErrDetached) {
		return
	}
	r.Close()
	sk := l.sink(st)
	if sk == nil {
		return
	}
	sk.Release()
	i := streamIndex(st)
	l.mu.Lock()
	if l.idle[i] == nil {
		l.idle[i] = lw
	}
	l.mu.Unlock()
}

// discardWriter is the line writer of a stream logged nowhere (NONE).
func discardWriter() *logrotate.LineWriter { return logrotate.NewLineWriter(io.Discard, maxLine) }

// sink returns the sink of a stream.
func (l *procLogs) sink(st api.Stream) *logrotate.Sink {
	if l == nil {
		return nil
	}
	if st == api.Stderr {
		return l.stderr
	}
	return l.stdout
}

// logPath is where a stream's log goes, or "" for NONE. redirect_stderr
// sends stderr into stdout's file, and supervisord then reports no stderr
// logfile.
func (s *Supervisor) logPath(p *config.Process, st api.Stream) string {
	lc := p.Stdout
	if st == api.Stderr {
		if p.RedirectStderr {
			return ""
		}
		lc = p.Stderr
	}
	if lc.Auto {
		name := p.Name
		if p.Group != p.Name {
			name = p.Group + "_" + p.Name
		}
		dir := s.childlogdir
		return filepath.Join(dir, fmt.Sprintf("%s-%s---%s.log", name, st, s.identifier))
	}
	return lc.File
}

// openLogs opens (or, from old, reuses) the sinks for p's configuration.
// It returns the new set; the caller closes what old has and new lacks
// (closeUnusedLogs).
func (s *Supervisor) openLogs(p *config.Process, old *procLogs) *procLogs {
	nl := &procLogs{}
	var errs []error
	get := func(st api.Stream, lc config.LogConfig) *logrotate.Sink {
		path := s.logPath(p, st)
		if path == "" {
			return nil
		}
		// One sink per file: reuse the old one, or stdout's when both
		// streams name the same file.
		for _, o := range []*logrotate.Sink{old.sink(api.Stdout), old.sink(api.Stderr), nl.stdout} {
			if o != nil && o.Path() == path {
				o.SetLimits(lc.MaxBytes, lc.Backups)
				return o
			}
		}
		sk, err := logrotate.NewSink(path, lc.MaxBytes, lc.Backups) // opened by open, or ahead by openAhead
		if err != nil {
			errs = append(errs, fmt.Errorf("open %s log %s: %w", st, path, err))
			return nil
		}
		return sk
	}
	nl.stdout = get(api.Stdout, p.Stdout)
	if p.RedirectStderr {
		nl.stderr = nl.stdout
	} else {
		nl.stderr = get(api.Stderr, p.Stderr)
	}
	nl.err = errors.Join(errs...)
	return nl
}

// open opens the sinks' files, if they are not open yet: at each spawn,
// as supervisord opens a program's logs when it spawns it. An error is the
// spawn's ("unknown error making dispatchers").
func (l *procLogs) open() error {
	logCreateMu.Lock() // see logCreateMu
	defer logCreateMu.Unlock()
	var errs []error
	for _, sk := range []*logrotate.Sink{l.stdout, l.stderr} {
		if sk != nil {
			if err := sk.Open(); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// hold keeps a stream's log file open for a copier about to start (see
// copy); a file that cannot be opened is opened again by the next write.
func (l *procLogs) hold(st api.Stream) {
	if sk := l.sink(st); sk != nil {
		_ = sk.Hold()
	}
}

// closeIdle closes the log files no copier holds: after a failed spawn.
func (l *procLogs) closeIdle() {
	for _, sk := range []*logrotate.Sink{l.stdout, l.stderr} {
		if sk != nil {
			sk.CloseIdle()
		}
	}
}

// logCreateMu makes log files be opened one at a time. Creating files in
// one directory serializes on its lock in the kernel anyway; hundreds of
// spawns creating theirs at once (startAll) each block a thread there, and
// the contention made 1000 creates twice as slow as one after another.
var logCreateMu sync.Mutex

// openAhead opens every process's log files in priority order, while
// startAll spawns: creating a file holds its directory's lock and forking
// holds the fork lock, so doing both at once on two cores takes the time
// of the longer, not of the sum (1000 creates took 0.6-0.9 s here on ext4
// before the first spawn). A spawn that overtakes it opens its own (open).
// Errors are left to the spawn to report.
func (s *Supervisor) openAhead() {
	for _, p := range s.allProcesses(false) {
		if s.mood() == api.SupervisorShutdown {
			return
		}
		if v := p.view(); v.cfg.Autostart { // the others open theirs when started
			_ = v.logs.open()
		}
	}
}

// closeUnusedLogs closes the sinks of old that next does not use.
func closeUnusedLogs(old, next *procLogs) {
	if old == nil {
		return
	}
	keep := map[*logrotate.Sink]bool{}
	if next != nil {
		keep[next.stdout] = true
		keep[next.stderr] = true
	}
	closed := map[*logrotate.Sink]bool{}
	for _, sk := range []*logrotate.Sink{old.stdout, old.stderr} {
		if sk != nil && !keep[sk] && !closed[sk] {
			closed[sk] = true
			_ = sk.Close()
		}
	}
}

// logName is the configured spelling of a stream's log for getAllConfigInfo:
// "auto", "none" or the path.
func logName(p *config.Process, st api.Stream) string {
	lc := p.Stdout
	if st == api.Stderr {
		if p.RedirectStderr {
			return "none"
		}
		lc = p.Stderr
	}
	switch {
	case lc.Auto:
		return "auto"
	case lc.File == "":
		return "none"
	}
	return lc.File
}

// readError maps a log read error to supervisord's fault.
func readError(err error) error {
	if err == nil {
		return nil
	}
	var ae *api.Error
	if errors.As(err, &ae) {
		return ae
	}
	if errors.Is(err, logrotate.ErrBadArguments) {
		return &api.Error{Code: api.BadArguments}
	}
	return &api.Error{Code: api.Failed, Detail: err.Error()}
}

// LogBytesWritten calls fn with the bytes each process's logs have been
// written since their sinks were made (stderr only when it has a file of
// its own), for metrics; it reads counters, never the files.
func (s *Supervisor) LogBytesWritten(fn func(namespec string, stream api.Stream, n int64)) {
	for _, p := range s.allProcesses(true) {
		v := p.view()
		l := v.logs
		if l == nil {
			continue
		}
		name := v.cfg.Namespec()
		if l.stdout != nil {
			fn(name, api.Stdout, l.stdout.Written())
		}
		if l.stderr != nil && l.stderr != l.stdout {
			fn(name, api.Stderr, l.stderr.Written())
		}
	}
}
