package logrotate

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"
	"unicode/utf8"
)

// DefaultMaxLine is the longest line a LineWriter passes whole when
// NewLineWriter is given maxLine <= 0.
const DefaultMaxLine = 64 << 10

// initialSize is the buffer a LineWriter starts with. Most programs write
// little, and a supervisor of 1000 of them should not hold 128 KiB per
// stream for output that never comes; the buffer doubles each time a read
// fills it, up to readSize+maxLine, so a fast writer reaches full speed within
// a few reads.
const initialSize = 512

// readSize is the room Copy keeps for each read: a default pipe's capacity,
// the most one read of it returns. (A bigger pipe would save some CPU, but
// F_SETPIPE_SZ counts against the user's pipe-user-pages-soft, past which
// all their new pipes get one page: not a cost a log copier should impose.)
const readSize = 64 << 10

// LineWriter sits between a program's pipe and a Sink. It passes whole lines
// to its destination in as few writes as possible (one per Copy read, one per
// buffer-full of a Write, plus one per cut line), keeps a trailing partial line until its
// newline arrives or Flush, and cuts a line longer than maxLine: the first
// maxLine bytes (fewer, to keep a UTF-8 character whole) are written followed
// by the marker
//
//	…[roost: line cut at N bytes]
//
// and a newline, and the rest of the line goes on as a new line, cut again if
// it is still too long. No byte is dropped and nothing is buffered beyond
// maxLine plus one read.
//
// Write and Copy must not be called concurrently with each other; Flush and
// DrainAndFlush may be called from any goroutine at any time. When the
// program behind a Copy exits, use DrainAndFlush: a plain Flush then could
// write half a line whose other half is still in the pipe.
type LineWriter struct {
	mu     sync.Mutex
	dst    io.Writer
	max    int
	marker []byte
	saved  []byte // what the marker overwrites while it is written in place
	buf    []byte // buf[:n] unwritten data; buf[size:] is room for the marker
	size   int    // usable length of buf; grows up to full
	full   int    // readSize + max: the most buf ever needs
	n      int

	// drained is closed by Copy once it has read everything its pipe held
	// when DrainAndFlush asked, and flushed; nil when nobody asked.
	drained chan struct{}
	copyEnd bool // Copy has returned: nothing more will come

	// detachc is closed when the Copy that Detach stopped has returned;
	// detached says it returned ErrDetached (not at the pipe's end).
	detachc   chan struct{}
	detaching bool
	detached  bool
}

// ErrDetached is what Copy returns when Detach stopped it: the pipe stays
// open with whatever it still holds, and the line writer keeps the
// trailing partial line (Partial).
var ErrDetached = errors.New("copy log: detached")

// NewLineWriter returns a LineWriter that writes whole lines to dst, cutting
// lines longer than maxLine bytes (DefaultMaxLine when maxLine <= 0).
func NewLineWriter(dst io.Writer, maxLine int) *LineWriter {
	if maxLine <= 0 {
		maxLine = DefaultMaxLine
	}
	marker := fmt.Appendf(nil, "…[roost: line cut at %d bytes]\n", maxLine)
	full := readSize + maxLine
	size := min(initialSize, full)
	return &LineWriter{
		dst:    dst,
		max:    maxLine,
		marker: marker,
		saved:  make([]byte, len(marker)),
		buf:    make([]byte, size+len(marker)),
		size:   size,
		full:   full,
	}
}

// grow doubles the buffer, up to full. Callers hold mu.
func (w *LineWriter) grow() {
	if w.size >= w.full {
		return
	}
	size := min(2*w.size, w.full)
	buf := make([]byte, size+len(w.marker))
	copy(buf, w.buf[:w.n])
	w.buf, w.size = buf, size
}

// Write passes the whole lines of what it has (held bytes, then p) to the
// destination and keeps the trailing partial line. It consumes all of p even
// when the destination fails, and returns the destination's first error.
func (w *LineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	total := len(p)
	var firstErr error
	for len(p) > 0 {
		if len(p) > w.size-w.n {
			w.grow() // more than fits: fewer, larger writes downstream
		}
		k := copy(w.buf[w.n:w.size], p)
		w.n += k
		p = p[k:]
		if err := w.process(); err != nil && firstErr == nil {
			firstErr = err
		}
	}
	return total, firstErr
}

// Flush writes the held partial line, if any, as it is (no newline is
// added, as supervisord adds none).
func (w *LineWriter) Flush() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.flushLocked()
}

// process writes every whole line in buf[:n], cutting those longer than max,
// and moves the trailing partial line to the front. Callers hold mu.
//
// It finds line ends with one LastIndexByte per window of max+1 bytes rather
// than one search per line: a window that holds a newline proves that every
// line ending inside it fits, so short lines cost nothing each.
func (w *LineWriter) process() error {
	data := w.buf[:w.n]
	start, pos := 0, 0 // first unwritten byte; start of the line being checked
	var firstErr error
	for {
		end := min(pos+w.max+1, len(data))
		if j := bytes.LastIndexByte(data[pos:end], '\n'); j >= 0 {
			pos += j + 1
			continue
		}
		if end-pos <= w.max {
			break // a partial line that may still end in time
		}
		cut := w.cutPoint(data, pos)
		if err := w.writeCut(start, cut); err != nil && firstErr == nil {
			firstErr = err
		}
		start, pos = cut, cut
	}
	if pos > start {
		if _, err := w.dst.Write(data[start:pos]); err != nil && firstErr == nil {
			firstErr = err
		}
	}
	w.n = copy(w.buf, data[pos:])
	return firstErr
}

// cutPoint returns where to cut the over-long line starting at pos: after
// max bytes, or up to 3 bytes earlier so as not to split a UTF-8 character.
func (w *LineWriter) cutPoint(data []byte, pos int) int {
	c := pos + w.max
	for i := 0; i < utf8.UTFMax && c-i > pos; i++ {
		if utf8.RuneStart(data[c-i]) {
			return c - i
		}
	}
	return c
}

// writeCut writes buf[start:cut] followed by the marker in one Write, putting
// the marker in place after cut for the duration of the call.
func (w *LineWriter) writeCut(start, cut int) error {
	m := len(w.marker)
	copy(w.saved, w.buf[cut:cut+m])
	copy(w.buf[cut:], w.marker)
	_, err := w.dst.Write(w.buf[start : cut+m])
	copy(w.buf[cut:], w.saved)
	return err
}

// deadliner is a reader whose blocking read can be cut short: an *os.File
// pipe, through Go's poller.
type deadliner interface {
	SetReadDeadline(t time.Time) error
}

// DrainAndFlush asks the Copy that reads r to flush w's held partial line as
// soon as it has read everything r holds now, and returns a channel closed
// when it has. Call it when the program that writes r has exited: its last
// partial line must reach the log, but not before the rest of a line still
// in the pipe (flushing at once would write half a line now and its other
// half later, as a line of its own). A grandchild that keeps the pipe open
// can still write; Copy goes on reading it.
//
// r must be the reader Copy was given and must support read deadlines (an
// *os.File from os.Pipe does); otherwise w is flushed at once.
func (w *LineWriter) DrainAndFlush(r io.Reader) <-chan struct{} {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.drained != nil {
		return w.drained // a request is already pending
	}
	done := make(chan struct{})
	d, ok := r.(deadliner)
	if w.copyEnd || !ok || d.SetReadDeadline(time.Now()) != nil {
		w.flushLocked()
		close(done)
		return done
	}
	w.drained = done
	return done
}

// Detach asks the Copy that reads r to return ErrDetached at its next
// read (a read whose data raced the deadline is still taken and processed
// first: either way every byte goes to exactly one side), without flushing
// the held partial line: for a handover of the pipe to another process,
// which goes on from where this one stopped (Partial, then a Write of it
// into the next line writer, so no line is lost or split). The channel is
// closed once that Copy has returned; then Detached says whether it
// stopped for the request (false: the pipe ended first, and Copy's caller
// closes it). It returns nil when Copy already returned or r has no read
// deadlines.
func (w *LineWriter) Detach(r io.Reader) <-chan struct{} {
	w.mu.Lock()
	defer w.mu.Unlock()
	d, ok := r.(deadliner)
	if w.copyEnd || !ok {
		return nil
	}
	if w.detachc == nil {
		w.detachc = make(chan struct{})
	}
	w.detaching = true
	if d.SetReadDeadline(time.Now()) != nil {
		w.detaching = false
		return nil
	}
	return w.detachc
}

// Detached reports whether the last Copy returned for Detach.
func (w *LineWriter) Detached() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.detached
}

// Partial returns a copy of the partial line w holds (no newline yet).
func (w *LineWriter) Partial() []byte {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]byte(nil), w.buf[:w.n]...)
}

// Resume undoes a Detach whose handover did not happen: r's deadline is
// cleared, and a new Copy of r into w goes on where the last one stopped.
func (w *LineWriter) Resume(r io.Reader) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.detaching, w.detached, w.detachc, w.copyEnd = false, false, nil, false
	if d, ok := r.(deadliner); ok {
		_ = d.SetReadDeadline(time.Time{})
	}
}

// stopForDetach is Copy's check after a read cut short by a deadline: a
// Detach request ends the Copy there.
func (w *LineWriter) stopForDetach() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.detaching {
		return false
	}
	w.detaching, w.detached, w.copyEnd = false, true, true
	close(w.detachc)
	return true
}

// flushLocked is Flush with mu held.
func (w *LineWriter) flushLocked() error {
	if w.n == 0 {
		return nil
	}
	_, err := w.dst.Write(w.buf[:w.n])
	w.n = 0
	return err
}

// drainCheck is Copy's answer to DrainAndFlush, called after every read
// while a request is pending and when a read timed out: once r holds
// nothing more (everything it held has been read and processed), flush,
// clear the deadline for the reads that follow, and tell the caller. It
// reports whether a request was pending.
func (w *LineWriter) drainCheck(r io.Reader) (bool, error) {
	w.mu.Lock()
	done := w.drained
	if done == nil {
		w.mu.Unlock()
		return false, nil
	}
	d := r.(deadliner)
	if pending(r) > 0 {
		// A read cut short by an expired deadline reads nothing: let the
		// next reads take what is there, then check again.
		d.SetReadDeadline(time.Time{})
		w.mu.Unlock()
		return true, nil
	}
	err := w.flushLocked()
	w.drained = nil
	d.SetReadDeadline(time.Time{})
	w.mu.Unlock()
	close(done)
	return true, err
}

// Copy reads from r (a program's pipe) into w until EOF, with w's own buffer
// as the only one, then flushes w. It is the whole body of a per-stream
// copier goroutine. When the destination fails, Copy keeps reading and drops
// what it cannot write, so the program never blocks on a full pipe; the first
// such error is returned at EOF, with the number of bytes lost.
func Copy(w *LineWriter, r io.Reader) error {
	var (
		writeErr error
		lost     int64
		grown    bool // r was enlarged (growPipe)
		tries    int  // growPipe attempts: a pipe over the limit is not retried forever
		full     int  // reads in a row that took a whole default pipe
	)
	defer func() {
		if grown {
			releasePipe()
		}
	}()
	for {
		w.mu.Lock()
		if w.n == w.size {
			w.grow()
		}
		n0, room := w.n, w.buf[w.n:w.size]
		w.mu.Unlock()
		// Only this goroutine writes buf[n0:] or replaces buf; a concurrent
		// Flush only reads buf[:n0] and may reset n, which is checked below.
		k, rerr := r.Read(room)
		if k > 0 {
			w.mu.Lock()
			if w.n != n0 {
				copy(w.buf[w.n:], w.buf[n0:n0+k])
			}
			w.n += k
			if k == len(room) {
				w.grow() // the read filled the room: the writer is fast
			}
			// A read of a whole default pipe (64 KiB) found it full: after
			// a few in a row the writer is outrunning the copier; a
			// larger pipe lets each wakeup take more.
			if full = full + 1; k < readSize {
				full = 0
			}
			if full >= busyReads && !grown && tries < 3 {
				tries++
				grown = growPipe(r)
			}
			err := w.process()
			w.mu.Unlock()
			if err != nil {
				lost += int64(k)
				if writeErr == nil {
					writeErr = err
				}
			}
		}
		if errors.Is(rerr, os.ErrDeadlineExceeded) && w.stopForDetach() {
			return ErrDetached
		}
		if k > 0 || errors.Is(rerr, os.ErrDeadlineExceeded) {
			asked, ferr := w.drainCheck(r)
			if writeErr == nil {
				writeErr = ferr
			}
			if asked && rerr != nil && errors.Is(rerr, os.ErrDeadlineExceeded) {
				continue
			}
		}
		if rerr != nil {
			w.mu.Lock()
			ferr := w.flushLocked()
			w.copyEnd = true
			if w.drained != nil {
				close(w.drained)
				w.drained = nil
			}
			if w.detaching {
				w.detaching = false
				close(w.detachc)
			}
			w.mu.Unlock()
			if writeErr == nil {
				writeErr = ferr
			}
			if writeErr != nil {
				writeErr = fmt.Errorf("copy log: about %d bytes lost: %w", lost, writeErr)
			}
			if errors.Is(rerr, io.EOF) {
				return writeErr
			}
			return errors.Join(fmt.Errorf("copy log: read: %w", rerr), writeErr)
		}
	}
}
