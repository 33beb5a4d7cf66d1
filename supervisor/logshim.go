package supervisor

// TEMPORARY seam until package logrotate lands on main: the same names and
// shapes as its promised API, with the plainest behaviour (append, no
// rotation). Replace every use with logrotate and delete this file.

import (
	"context"
	"errors"
	"io"
	"os"
	"sync"
)

type logSink struct {
	mu   sync.Mutex
	path string
	f    *os.File
}

func openSink(path string, maxBytes int64, backups int) (*logSink, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	return &logSink{path: path, f: f}, nil
}

func (s *logSink) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.f.Write(p)
}
func (s *logSink) SetLimits(int64, int) {}
func (s *logSink) Reopen() error        { return nil }
func (s *logSink) Clear() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.f.Truncate(0)
}
func (s *logSink) Path() string { return s.path }
func (s *logSink) Size() int64 {
	st, err := s.f.Stat()
	if err != nil {
		return 0
	}
	return st.Size()
}
func (s *logSink) Close() error { return s.f.Close() }
func (s *logSink) Follow(ctx context.Context, tail int64, w io.Writer) error {
	return errors.New("follow: not available until logrotate lands")
}

type lineWriter struct{ w io.Writer }

func newLineWriter(dst io.Writer, maxLine int) *lineWriter { return &lineWriter{dst} }
func (l *lineWriter) Write(p []byte) (int, error)          { return l.w.Write(p) }
func (l *lineWriter) Flush() error                         { return nil }
func copyLines(w *lineWriter, r io.Reader) error {
	_, err := io.Copy(w, r)
	return err
}

var errBadArguments = errors.New("BAD_ARGUMENTS")

func readLogFile(path string, offset, length int64) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if offset < 0 || length < 0 {
		return nil, errBadArguments
	}
	if offset > int64(len(b)) {
		offset = int64(len(b))
	}
	end := int64(len(b))
	if length > 0 && offset+length < end {
		end = offset + length
	}
	return b[offset:end], nil
}

func tailLogFile(path string, offset, length int64) ([]byte, int64, bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, 0, false
	}
	size := int64(len(b))
	overflow := false
	if offset+length < size {
		offset = size - length
		overflow = true
	}
	if offset > size {
		offset = size
	}
	return b[offset:], size, overflow
}
