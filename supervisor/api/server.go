package api

import (
	"context"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"
)

// ServerOptions configure a Server.
type ServerOptions struct {
	// Logger receives refused connections and server errors; nil discards them.
	Logger *slog.Logger
	// Username and Password are [unix_http_server] username= and password=.
	// When Username is set, every request must carry them as HTTP basic
	// auth, on top of the peer-credential check. Password is plain text or
	// "{SHA}" followed by the hex SHA-1 of the password, as supervisord
	// accepts it.
	Username string
	Password string
}

// Server is the control plane on one unix socket: roost's JSON API under
// /api/v1/ (see docs/api.md), plus whatever the caller mounts (supervisord's
// XML-RPC at /RPC2, the log streams at /logtail/ and /mainlogtail).
//
// Every connection is authenticated by the kernel: the peer's SO_PEERCRED uid
// must be the server's effective uid or root, else every request on it gets
// 403 and the refusal is logged with the peer's uid and pid.
type Server struct {
	b    Backend
	opts ServerOptions
	log  *slog.Logger
	euid int
	mux  *http.ServeMux

	mu     sync.Mutex
	sock   *socket       // set by Listen
	paused chan struct{} // set while HandOver holds accepting; closed by its undo
}

// NewServer returns a server for b. Call Listen, then Serve. With a nil b
// the server serves only what is mounted, with the same socket and
// peer-credential plumbing: the master's admin socket is such a server.
func NewServer(b Backend, opts ServerOptions) *Server {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{b: b, opts: opts, log: log, euid: os.Geteuid(), mux: http.NewServeMux()}
	if b != nil {
		s.routes()
	}
	return s
}

// Mount serves h for pattern (a net/http ServeMux pattern such as
// "POST /RPC2" or "/logtail/"), behind the same peer-credential and
// basic-auth checks as the JSON API.
func (s *Server) Mount(pattern string, h http.Handler) {
	s.mux.Handle(pattern, h)
}

// Handler returns the server's HTTP handler with every check applied, for
// tests and for serving on a listener the caller made.
func (s *Server) Handler() http.Handler { return s.guard(s.configGate(s.mux)) }

// Path returns the socket path Listen bound, or "".
func (s *Server) Path() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sock == nil {
		return ""
	}
	return s.sock.path
}

// Listen creates the socket at path: its directory is created 0700 when
// missing and must otherwise be owned by the current user (or root) and not
// writable by group or others (a root-owned sticky directory such as /tmp
// is accepted); the socket is created 0600. A stale socket is replaced only
// while holding an exclusive flock on PATH.lock, which is kept until Close;
// a live one (a connect succeeds) is an error.
func (s *Server) Listen(path string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sock != nil {
		return fmt.Errorf("listen %s: already listening on %s", path, s.sock.path)
	}
	sock, err := listenSocket(path, s.euid)
	if err != nil {
		return err
	}
	s.sock = sock
	return nil
}

// Serve answers requests on the socket from Listen until ctx ends, then
// stops accepting, ends the streams in progress, waits (a few seconds at
// most) for requests in flight, removes the socket and releases its lock.
func (s *Server) Serve(ctx context.Context) error {
	s.mu.Lock()
	sock := s.sock
	s.mu.Unlock()
	if sock == nil {
		return errors.New("serve: Listen was not called")
	}
	defer s.Close()

	// Streams (log follow, events) run until their request context ends;
	// base is cancelled when ctx ends so Shutdown does not wait for them.
	base, cancelBase := context.WithCancel(context.Background())
	defer cancelBase()
	srv := &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return base },
		ConnContext:       s.connContext,
		ConnState:         closeIdleReserved,
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(s.pausable(newReserveListener(sock.ln, s.log))) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve %s: %w", sock.path, err)
	case <-ctx.Done():
	}
	cancelBase()
	shCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shCtx); err != nil {
		srv.Close()
	}
	<-errc
	return nil
}

// Close removes the socket and releases its lock. Serve calls it when it
// returns; calling it again does nothing.
func (s *Server) Close() error {
	s.mu.Lock()
	sock := s.sock
	s.sock = nil
	s.mu.Unlock()
	if sock == nil {
		return nil
	}
	return sock.close()
}

// peerKey is the context key of a connection's peer credentials.
type peerKey struct{}

// Peer is the kernel-reported identity of the process at the other end of
// a connection (SO_PEERCRED).
type Peer struct {
	UID, GID, PID int
	// Err is set when the credentials could not be read; such a peer is refused.
	Err error
}

// PeerFrom returns the peer credentials of the connection that carried a
// request, as the Server's handlers (and mounted ones) see it.
func PeerFrom(ctx context.Context) (Peer, bool) {
	p, ok := ctx.Value(peerKey{}).(Peer)
	return p, ok
}

// connContext reads each new connection's peer credentials once, and logs
// a refused peer once per connection.
func (s *Server) connContext(ctx context.Context, c net.Conn) context.Context {
	p := peerOf(c)
	if !s.allowed(p) {
		if p.Err != nil {
			s.log.Warn("refused connection: cannot read peer credentials", "err", p.Err)
		} else {
			s.log.Warn("refused connection from another user",
				"peer_uid", p.UID, "peer_pid", p.PID, "owner_uid", s.euid)
		}
	}
	return context.WithValue(ctx, peerKey{}, p)
}

func (s *Server) allowed(p Peer) bool {
	return p.Err == nil && (p.UID == s.euid || p.UID == 0)
}

// guard applies the peer-credential check, then basic auth when configured.
func (s *Server) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, ok := PeerFrom(r.Context())
		if !ok || !s.allowed(p) {
			w.Header().Set("Connection", "close")
			writeError(w, http.StatusForbidden, Errorf(Failed,
				"permission denied: this socket serves only its owner (uid %d) and root", s.euid))
			return
		}
		if s.opts.Username != "" && !s.authorized(r) {
			w.Header().Set("WWW-Authenticate", `Basic realm="default"`)
			writeError(w, http.StatusUnauthorized, Errorf(Failed, "unauthorized: basic auth required"))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// authorized compares basic-auth credentials the way supervisord's
// encrypted_dictionary_authorizer does: a stored "{SHA}hex" password matches
// the hex SHA-1 of the given one, anything else must match exactly.
func (s *Server) authorized(r *http.Request) bool {
	user, pass, ok := r.BasicAuth()
	if !ok {
		return false
	}
	userOK := subtle.ConstantTimeCompare([]byte(user), []byte(s.opts.Username)) == 1
	want := s.opts.Password
	got := pass
	if hexsum, isSHA := strings.CutPrefix(want, "{SHA}"); isSHA {
		sum := sha1.Sum([]byte(pass))
		want, got = hexsum, hex.EncodeToString(sum[:])
	}
	passOK := subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
	return userOK && passOK
}
