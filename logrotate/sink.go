package logrotate

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
)

// ErrClosed is returned by a Sink's methods after Close, and by Follow when
// the sink it follows is closed.
var ErrClosed = errors.New("log sink closed")

// Sink is one log file with supervisord's size rotation. It is safe for
// concurrent use (stdout and stderr of a redirect_stderr program share one).
// It outlives process restarts: the runtime creates one per (process, stream)
// when config is applied, reuses it across restarts and reconfigures it with
// SetLimits on reload.
//
// Writes are expected to be whole lines (LineWriter produces them; a
// log/slog handler writes one record per call); a final partial line, as
// LineWriter.Flush writes it, is treated as a line of its own.
type Sink struct {
	mu       sync.Mutex
	path     string
	f        *os.File // nil after a failed open; the next Write retries
	readable bool     // f was opened O_RDWR, so Follow can read its tail
	regular  bool     // f is a regular file; only those are rotated
	size     int64    // bytes in the live file
	maxBytes int64
	backups  int
	closed   bool
	holds    int // Hold calls not yet Released

	backupNames []string // path.1 … path.backups

	// epoch is bumped before the live file is truncated in place (rotation
	// with backups 0), so a Follow reading its tail can tell that the bytes
	// it read may no longer be the ones it registered for.
	epoch atomic.Uint64
	// written counts the bytes written since the sink was made, across
	// rotations (metrics read it without the lock).
	written atomic.Int64

	followers map[*follower]struct{}
	followCap int // bytes a follower may lag behind before skipping

	rotateFailing bool   // a rename failed; logged once until one succeeds
	onRotate      func() // test hook, called with mu held after each rotation
}

// OpenSink opens (creating it if needed) the log file at path for appending,
// with supervisord's rotation limits: maxBytes 0 never rotates; backups 0
// truncates the file in place when it reaches maxBytes. An existing file is
// appended to and its size counts towards maxBytes. New files get mode 0666
// minus the umask, as supervisord's open() gives them.
func OpenSink(path string, maxBytes int64, backups int) (*Sink, error) {
	s, err := NewSink(path, maxBytes, backups)
	if err != nil {
		return nil, err
	}
	if err := s.openLocked(false); err != nil {
		return nil, err
	}
	return s, nil
}

// NewSink is OpenSink without the open: the file is opened (created) by
// Open, or else by the first Write. It lets a caller with many logs build
// its sinks at once and create their files later, off its critical path.
func NewSink(path string, maxBytes int64, backups int) (*Sink, error) {
	if path == "" {
		return nil, errors.New("open log sink: empty path")
	}
	s := &Sink{path: path, followCap: defaultFollowCap}
	s.setLimits(maxBytes, backups)
	return s, nil
}

// Open opens (creating it if needed) the live file unless it is open
// already: the file of a NewSink, or one whose last open failed.
func (s *Sink) Open() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.closed:
		return fmt.Errorf("open log %s: %w", s.path, ErrClosed)
	case s.f != nil:
		return nil
	}
	return s.openLocked(false)
}

// Hold opens the live file unless it is open, and counts one more writer
// that needs it open (a running program's copier). Release ends a Hold;
// the last one closes the file, so a program that is not running holds no
// descriptor for its log (with hundreds of programs, FATAL ones would
// otherwise fill the fd table). A Write without a Hold still opens the
// file, and keeps it open until the next Release or CloseIdle.
func (s *Sink) Hold() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return fmt.Errorf("open log %s: %w", s.path, ErrClosed)
	}
	s.holds++
	if s.f == nil {
		return s.openLocked(false)
	}
	return nil
}

// Release ends a Hold; the last one closes the live file.
func (s *Sink) Release() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.holds = max(s.holds-1, 0)
	s.closeIdleLocked()
}

// CloseIdle closes the live file unless a Hold needs it: after a spawn
// failed, its log files were opened for nothing.
func (s *Sink) CloseIdle() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closeIdleLocked()
}

func (s *Sink) closeIdleLocked() {
	if s.holds == 0 && !s.closed && s.f != nil {
		if err := s.closeLocked(); err != nil {
			slog.Warn("closing an idle log", "path", s.path, "error", err)
		}
	}
}

// Path returns the path of the live log file.
func (s *Sink) Path() string { return s.path }

// Size returns the size of the live log file as the sink knows it (the bytes
// it found when it opened the file plus those it wrote since).
func (s *Sink) Size() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.size
}

// Written returns how many bytes the sink has written since it was made,
// across rotations and truncations.
func (s *Sink) Written() int64 { return s.written.Load() }

// SetLimits changes the rotation limits, for a config reload. They apply
// from the next Write: a file already at or above the new maxBytes is rotated
// before that Write's first line.
func (s *Sink) SetLimits(maxBytes int64, backups int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.setLimits(maxBytes, backups)
}

func (s *Sink) setLimits(maxBytes int64, backups int) {
	s.maxBytes = max(maxBytes, 0)
	s.backups = max(backups, 0)
	if len(s.backupNames) != s.backups {
		s.backupNames = make([]string, s.backups)
		for i := range s.backupNames {
			s.backupNames[i] = fmt.Sprintf("%s.%d", s.path, i+1)
		}
	}
}

// Write appends p to the log, rotating it so that no line is split across
// two files. The exact rule, with M = maxBytes > 0 and S the live file's size:
//
//   - the longest run of whole lines at the head of p that keeps S <= M is
//     written; when that leaves S >= M the file is rotated at once, as
//     supervisord rotates right after a write that reaches maxBytes;
//   - when not even the next line fits and S > 0, the file is rotated first
//     and the line starts the new file;
//   - a line longer than M that meets an empty file is written whole, alone
//     in that file, which is then rotated: the only way a file exceeds M.
//
// Bytes after p's last newline count as one line. With M = 0, or when the
// log is not a regular file (/dev/stdout, a FIFO), Write never rotates.
// Every byte of p is written unless the file cannot be written at all.
func (s *Sink) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return 0, fmt.Errorf("write log %s: %w", s.path, ErrClosed)
	}
	written := 0
	for len(p) > 0 {
		if s.f == nil {
			if err := s.openLocked(false); err != nil {
				return written, fmt.Errorf("write log: %w", err)
			}
		}
		k := s.fits(p)
		if k == 0 {
			if err := s.rotateLocked(); err != nil {
				return written, fmt.Errorf("write log: %w", err)
			}
			if k = s.fits(p); k == 0 {
				// Rotation left a non-empty file (its renames fail):
				// write the line anyway rather than lose it.
				k = lineLen(p)
			}
		}
		n, err := s.f.Write(p[:k])
		s.size += int64(n)
		s.written.Add(int64(n))
		s.feedLocked(p[:n])
		written += n
		if err != nil {
			return written, fmt.Errorf("write log %s: %w", s.path, err)
		}
		p = p[k:]
		if s.rotates() && s.size >= s.maxBytes {
			if err := s.rotateLocked(); err != nil {
				return written, fmt.Errorf("write log: %w", err)
			}
		}
	}
	return written, nil
}

func (s *Sink) rotates() bool { return s.maxBytes > 0 && s.regular }

// fits returns how many bytes at the head of p go into the live file now,
// following the rule in Write's comment; 0 means rotate first.
func (s *Sink) fits(p []byte) int {
	if !s.rotates() {
		return len(p)
	}
	room := s.maxBytes - s.size
	if int64(len(p)) <= room {
		return len(p)
	}
	if room > 0 {
		if i := bytes.LastIndexByte(p[:room], '\n'); i >= 0 {
			return i + 1
		}
	}
	if s.size > 0 {
		return 0
	}
	return lineLen(p)
}

// lineLen is the length of p's first line, with its newline.
func lineLen(p []byte) int {
	if i := bytes.IndexByte(p, '\n'); i >= 0 {
		return i + 1
	}
	return len(p)
}

// openLocked opens the live file for appending (truncating it when trunc),
// read-write when permitted so that Follow can read its tail.
func (s *Sink) openLocked(trunc bool) error {
	flag := os.O_RDWR | os.O_APPEND | os.O_CREATE
	if trunc {
		flag |= os.O_TRUNC
	}
	f, err := openLog(s.path, flag)
	readable := true
	if errors.Is(err, fs.ErrPermission) {
		f, err = openLog(s.path, flag&^os.O_RDWR|os.O_WRONLY)
		readable = false
	}
	if err != nil {
		return fmt.Errorf("open log: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("open log: %w", err)
	}
	s.f, s.readable, s.regular = f, readable, st.Mode().IsRegular()
	s.size = 0
	if s.regular {
		s.size = st.Size()
	}
	return nil
}

// closeLocked closes the live file, if open.
func (s *Sink) closeLocked() error {
	if s.f == nil {
		return nil
	}
	err := s.f.Close()
	s.f = nil
	if err != nil {
		return fmt.Errorf("close log %s: %w", s.path, err)
	}
	return nil
}

// rotateLocked is supervisord's doRollover. With backups it closes the file,
// shifts path.N-1 → path.N … path → path.1 and opens a new path; a failed
// rename (other than a missing source, which supervisord ignores too) is
// logged and writing goes on in whatever file path names: losing rotation is
// better than losing output. Without backups it truncates the file in place.
func (s *Sink) rotateLocked() error {
	defer s.rotated()
	if s.backups == 0 {
		return s.truncateLocked()
	}
	closeErr := s.closeLocked()
	renameErr := shiftBackups(s.path, s.backupNames)
	if err := s.openLocked(false); err != nil {
		return errors.Join(err, closeErr)
	}
	switch {
	case renameErr != nil && !s.rotateFailing:
		slog.Warn("log rotation failed; writing on", "path", s.path, "error", renameErr)
		s.rotateFailing = true
	case renameErr == nil && s.rotateFailing:
		slog.Info("log rotation works again", "path", s.path)
		s.rotateFailing = false
	}
	if closeErr != nil {
		slog.Warn("closing rotated log", "path", s.path, "error", closeErr)
	}
	return nil
}

// truncateLocked empties the live file for a backups=0 rotation.
func (s *Sink) truncateLocked() error {
	s.epoch.Add(1) // before the bytes go: see Follow's tail
	if sameFile(s.f, s.path) {
		// The path still names the open file: truncate it through the
		// descriptor. Closing a file truncated to 0 makes ext4
		// (auto_da_alloc) write it back synchronously, which halved the
		// throughput of a backups=0 log here, for bytes about to be dropped.
		if err := s.f.Truncate(0); err == nil {
			s.size = 0
			return nil
		}
	}
	// Moved away (an external logrotate before SIGUSR2) or not truncatable:
	// leave that file alone and truncate the path, as supervisord's
	// open(path, 'wb') does.
	closeErr := s.closeLocked()
	if err := s.openLocked(true); err != nil {
		return errors.Join(err, closeErr)
	}
	return nil
}

// rotated calls the test hook after a rotation.
func (s *Sink) rotated() {
	if s.onRotate != nil {
		s.onRotate()
	}
}

// Reopen closes the live file and opens the path again, appending, as
// supervisord does on SIGUSR2 after an external logrotate moved the file.
func (s *Sink) Reopen() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return fmt.Errorf("reopen log %s: %w", s.path, ErrClosed)
	}
	if s.f == nil && s.holds == 0 {
		return nil // idle (its program is not running): the next Hold opens the path
	}
	closeErr := s.closeLocked()
	if err := s.openLocked(false); err != nil {
		return fmt.Errorf("reopen: %w", errors.Join(err, closeErr))
	}
	return closeErr
}

// Clear is supervisord's clearProcessLogs for one stream: it removes the live
// file and opens a new empty one. Like supervisord it leaves the backups
// (path.1 …) alone. A log that is not a regular file (/dev/stdout) is left
// as it is. Followers keep following: the next bytes they get are the new
// file's.
func (s *Sink) Clear() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return fmt.Errorf("clear log %s: %w", s.path, ErrClosed)
	}
	if s.f != nil && !s.regular {
		return nil
	}
	if s.f == nil && s.holds == 0 {
		defer s.closeIdleLocked() // idle before, idle after: the new file is created, not kept open
	}
	closeErr := s.closeLocked()
	if err := os.Remove(s.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		// Keep logging to the file we could not remove.
		return fmt.Errorf("clear log: %w", errors.Join(err, s.openLocked(false)))
	}
	if err := s.openLocked(false); err != nil {
		return fmt.Errorf("clear: %w", errors.Join(err, closeErr))
	}
	return closeErr
}

// Close closes the log file. Followers get what was written before Close,
// then ErrClosed. Writes after Close fail with ErrClosed.
func (s *Sink) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	for f := range s.followers {
		f.closed = true
		f.wake()
	}
	return s.closeLocked()
}

// sameFile reports whether path names the open file f.
func sameFile(f *os.File, path string) bool {
	fst, err := f.Stat()
	if err != nil {
		return false
	}
	pst, err := os.Stat(path)
	return err == nil && os.SameFile(fst, pst)
}
