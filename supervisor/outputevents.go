package supervisor

import (
	"bytes"
	"errors"
	"io"
	"os"
	"syscall"
	"time"

	"roost/config"
	"roost/supervisor/api"
)

// Output events: what supervisord's output dispatchers (dispatchers.py,
// POutputDispatcher and PEventListenerDispatcher) publish besides the log.
//
//   - PROCESS_LOG_STDOUT/STDERR: every chunk read from a stream whose
//     stdout_events_enabled/stderr_events_enabled is set, as read.
//   - PROCESS_COMMUNICATION_STDOUT/STDERR: with stdout_capture_maxbytes
//     (stderr_…) set, the text between <!--XSUPERVISOR:BEGIN--> and
//     <!--XSUPERVISOR:END--> goes to a capture buffer of that size instead
//     of the log, and is published when the end marker arrives.
//   - an event listener's stdout is its protocol channel: every chunk goes
//     to ListenerIO (and to its stdout log, as supervisord's childlog).
//
// These streams are read through an outputReader instead of the pipe
// itself; the others keep the plain pipe-to-log copy and cost nothing more.

// ListenerIO speaks the event listener protocol with the processes of
// [eventlistener:x] pools (package eventlistener). The runtime spawns,
// supervises and logs them like any program; their stdin and stdout are
// handed over at each spawn. Everything else the protocol needs (states,
// exits, the events to send) is on the event stream.
type ListenerIO interface {
	// Attach is called from the process's goroutine when a listener
	// process has been spawned, before any of its output is read. stdin is
	// our end of its standard input (the runtime closes it when the process
	// exits: writes fail from then on). The returned function receives
	// every chunk the process writes on stdout, in order, from the stdout
	// copier's goroutine; it must not block for long.
	Attach(group, name string, pid int, stdin *os.File) func([]byte)
}

// SetListenerIO sets who speaks to event listeners. Call it before Run.
// Without one, a listener's stdout is only logged.
func (s *Supervisor) SetListenerIO(l ListenerIO) { s.listenerIO = l }

// GroupConfig is the configuration of an active group, or nil.
func (s *Supervisor) GroupConfig(name string) *config.Group {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if g := s.groups[name]; g != nil {
		return g.cfg
	}
	return nil
}

var (
	beginToken = []byte("<!--XSUPERVISOR:BEGIN-->")
	endToken   = []byte("<!--XSUPERVISOR:END-->")
)

// outputReader reads a program's pipe for the log copier and publishes the
// stream's events on the way; Read returns what the log gets.
type outputReader struct {
	*os.File // the pipe: read deadlines and SyscallConn (logrotate) reach it

	s                   *Supervisor
	name, group         string
	pid                 int
	logType, commType   string // PROCESS_LOG_STDOUT, PROCESS_COMMUNICATION_STDOUT
	logEvents           bool   // *_events_enabled
	captureMax          int64  // *_capture_maxbytes; 0: no capture mode
	tee                 func([]byte)
	chunk, buf, capture []byte // a read; supervisord's output_buffer; the capture log
	capturing           bool
	out                 []byte // for the log; out[off:] is not returned yet
	off                 int
}

// newOutputReader wraps a stream's pipe when the stream has events (or is
// a listener's protocol channel), else returns nil.
func (p *process) newOutputReader(f *os.File, st api.Stream, lc config.LogConfig, tee func([]byte)) *outputReader {
	if tee == nil && !lc.EventsEnabled && lc.CaptureMaxBytes <= 0 {
		return nil
	}
	ch := "STDOUT"
	if st == api.Stderr {
		ch = "STDERR"
	}
	r := &outputReader{File: f, s: p.s, name: p.name, group: p.group, pid: p.child.pid,
		logType: "PROCESS_LOG_" + ch, commType: "PROCESS_COMMUNICATION_" + ch, tee: tee,
		chunk: make([]byte, 128<<10)}
	if tee == nil { // a listener's stdout has neither (supervisord's PEventListenerDispatcher)
		r.logEvents, r.captureMax = lc.EventsEnabled, lc.CaptureMaxBytes
	}
	return r
}

// Read returns the next bytes for the log.
func (r *outputReader) Read(p []byte) (int, error) {
	for r.off == len(r.out) {
		r.out, r.off = r.out[:0], 0
		n, err := r.File.Read(r.chunk)
		if n > 0 {
			data := r.chunk[:n]
			if r.tee != nil {
				r.tee(bytes.Clone(data))
			}
			r.buf = append(r.buf, data...)
			r.record()
		}
		if err != nil {
			if errors.Is(err, io.EOF) && !r.capturing && len(r.buf) > 0 {
				// A partial marker at the very end: supervisord drops it;
				// the log keeps it.
				r.out, r.buf = append(r.out, r.buf...), r.buf[:0]
			}
			if len(r.out) == 0 {
				return 0, err
			}
			break // the log's bytes first; the next Read returns err again
		}
	}
	k := copy(p, r.out[r.off:])
	r.off += k
	return k, nil
}

// record is supervisord's POutputDispatcher.record_output.
func (r *outputReader) record() {
	for {
		if r.captureMax <= 0 {
			r.log(r.buf)
			r.buf = r.buf[:0]
			return
		}
		token := beginToken
		if r.capturing {
			token = endToken
		}
		if len(r.buf) <= len(token) {
			return // not enough data
		}
		i := bytes.Index(r.buf, token)
		if i < 0 {
			k := prefixAtEnd(r.buf, token)
			r.log(r.buf[:len(r.buf)-k])
			r.buf = append(r.buf[:0], r.buf[len(r.buf)-k:]...)
			return
		}
		r.log(r.buf[:i])
		r.toggle()
		r.buf = append(r.buf[:0], r.buf[i+len(token):]...)
		if len(r.buf) == 0 {
			return
		}
	}
}

// log is supervisord's _log: the log (or the capture buffer), then the
// PROCESS_LOG event.
func (r *outputReader) log(data []byte) {
	if len(data) == 0 {
		return
	}
	if r.capturing {
		// loggers.BoundIO.write, as supervisord has it.
		if int64(len(r.capture)+len(data)) > r.captureMax {
			r.capture = r.capture[min(len(data), len(r.capture)):]
		}
		r.capture = append(r.capture, data...)
	} else {
		r.out = append(r.out, data...)
	}
	if r.logEvents {
		r.publish(r.logType, data)
	}
}

// toggle is supervisord's toggle_capturemode.
func (r *outputReader) toggle() {
	r.capturing = !r.capturing
	if !r.capturing {
		r.publish(r.commType, r.capture)
		r.capture = nil
	}
}

func (r *outputReader) publish(typ string, data []byte) {
	r.s.events.publish(api.Event{Time: time.Now().UnixNano(), Type: typ, Name: r.name, Group: r.group,
		PID: r.pid, Message: string(data)})
}

// prefixAtEnd is medusa's find_prefix_at_end: the length of the longest
// proper prefix of token that data ends with.
func prefixAtEnd(data, token []byte) int {
	l := len(token) - 1
	for l > 0 && !bytes.HasSuffix(data, token[:l]) {
		l--
	}
	return l
}

// pipeReader is what a copier reads: the pipe, or an outputReader on it
// (whose descriptor an upgrade hands over: syscall.Conn).
type pipeReader interface {
	io.ReadCloser
	SetReadDeadline(time.Time) error
	syscall.Conn
}

// reader is what the copier of a stream reads: the pipe itself, or an
// outputReader when the stream has events.
func (p *process) reader(f *os.File, st api.Stream, lc config.LogConfig, tee func([]byte)) pipeReader {
	if r := p.newOutputReader(f, st, lc, tee); r != nil {
		return r
	}
	return f
}
