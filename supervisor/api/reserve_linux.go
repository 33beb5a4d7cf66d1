package api

import (
	"errors"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"syscall"
	"time"
)

// reserveListener keeps one descriptor in reserve (open on /dev/null) so
// that a supervisor out of file descriptors still answers its socket: when
// accept fails with EMFILE it closes the reserve, accepts into the freed
// slot and opens the reserve again once that connection is closed. Without
// it, a full fd table (programs' pipes and logs under a low ulimit -n)
// makes every accept fail and `status` never answers, so nobody can see
// what is wrong or stop anything. One connection at a time is served this
// way; further ones wait in the backlog (http.Server retries accept).
type reserveListener struct {
	net.Listener
	log *slog.Logger

	mu       sync.Mutex
	spare    *os.File // nil while lent to a connection
	lastWarn time.Time
}

// newReserveListener wraps ln, opening its reserve descriptor.
func newReserveListener(ln net.Listener, log *slog.Logger) *reserveListener {
	l := &reserveListener{Listener: ln, log: log}
	l.refill()
	return l
}

// Accept is ln's Accept, falling back on the reserve on EMFILE or ENFILE.
func (l *reserveListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil || !(errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE)) {
		return c, err
	}
	l.mu.Lock()
	spare := l.spare
	l.spare = nil
	warn := time.Since(l.lastWarn) > time.Minute
	if warn {
		l.lastWarn = time.Now()
	}
	l.mu.Unlock()
	if warn {
		l.log.Warn("out of file descriptors: answering the control socket on the reserved one; "+
			"programs fail to spawn until some stop (raise [supervisord] minfds or the user's ulimit -n)",
			"err", err)
	}
	if spare == nil {
		return nil, err // lent out: http.Server retries after a pause
	}
	spare.Close()
	c, err2 := l.Listener.Accept()
	if err2 != nil {
		l.refill()
		return nil, err2
	}
	return &reservedConn{Conn: c, l: l}, nil
}

// Close closes the listener and the reserve.
func (l *reserveListener) Close() error {
	l.mu.Lock()
	if l.spare != nil {
		l.spare.Close()
		l.spare = nil
	}
	l.mu.Unlock()
	return l.Listener.Close()
}

// refill opens the reserve again (best effort: at worst the next EMFILE
// finds none and accept waits as it did without one).
func (l *reserveListener) refill() {
	f, err := os.Open(os.DevNull)
	if err != nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.spare != nil {
		f.Close()
		return
	}
	l.spare = f
}

// closeIdleReserved is the server's ConnState hook: a connection in the
// reserve's slot is closed as soon as it has been answered (idle), so a
// client keeping it alive cannot hold the only way in.
func closeIdleReserved(c net.Conn, st http.ConnState) {
	if rc, ok := c.(*reservedConn); ok && st == http.StateIdle {
		rc.Close()
	}
}

// reservedConn is a connection accepted into the reserve's slot; closing
// it gives the slot back to the reserve.
type reservedConn struct {
	net.Conn
	l    *reserveListener
	once sync.Once
}

func (c *reservedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.l.refill)
	return err
}
