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
	// Wrap, when set, wraps the handler behind the checks (the audit log's
	// middleware): it sees only the requests the checks let through, with
	// the connection's Peer in their context.
	Wrap func(http.Handler) http.Handler
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
func (s *Server) Handler() http.Handler { return s.guard(s.inner()) }

// inner is what every listener serves behind its own check.
func (s *Server) inner() http.Handler {
	h := s.configGate(s.mux)
	if s.opts.Wrap != nil {
		h = s.opts.Wrap(h)
	}
	return h
}

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
	return s.serveOn(ctx, s.pausable(newReserveListener(sock.ln, s.log)), s.Handler(), s.connContext, sock.path)
}

// ServeTCP answers requests on ln, a TCP listener ([inet_http_server]),
// until ctx ends, with the same handlers as the socket. TCP carries no peer
// credentials: every request must carry username and password as basic
// auth (password plain or "{SHA}" hex, as in [inet_http_server]), and
// ServeTCP refuses to start without them. ln is closed when it returns.
func (s *Server) ServeTCP(ctx context.Context, ln net.Listener, username, password string) error {
	if username == "" || password == "" {
		ln.Close()
		return fmt.Errorf("serve %s: refusing to serve TCP without a username and password", ln.Addr())
	}
	return s.serveOn(ctx, ln, tcpGuard(s.inner(), username, password), tcpConnContext, ln.Addr().String())
}

// tcpConnContext gives a TCP connection its Peer: no user the kernel
// vouches for (UID and GID -1), only the client's address.
func tcpConnContext(ctx context.Context, c net.Conn) context.Context {
	return context.WithValue(ctx, peerKey{}, Peer{UID: -1, GID: -1, Remote: c.RemoteAddr().String()})
}

// tcpGuard lets through only requests with the right basic auth.
func tcpGuard(next http.Handler, username, password string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !authorized(r, username, password) {
			w.Header().Set("WWW-Authenticate", `Basic realm="default"`)
			writeError(w, http.StatusUnauthorized, Errorf(Failed, "unauthorized: basic auth required"))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// serveOn serves h on ln until ctx ends, then stops accepting, ends the
// streams in progress and waits (a few seconds at most) for requests in
// flight.
func (s *Server) serveOn(ctx context.Context, ln net.Listener, h http.Handler, connContext func(context.Context, net.Conn) context.Context, name string) error {
	// Streams (log follow, events) run until their request context ends;
	// base is cancelled when ctx ends so Shutdown does not wait for them.
	base, cancelBase := context.WithCancel(context.Background())
	defer cancelBase()
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return base },
		ConnContext:       connContext,
		ConnState:         closeIdleReserved,
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve %s: %w", name, err)
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
	// Remote is the client's address on a TCP connection
	// ([inet_http_server]), where the kernel names no user: UID and GID
	// are then -1. It is "" on the unix socket.
	Remote string
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
		if s.opts.Username != "" && !authorized(r, s.opts.Username, s.opts.Password) {
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
func authorized(r *http.Request, username, password string) bool {
	user, pass, ok := r.BasicAuth()
	if !ok {
		return false
	}
	userOK := subtle.ConstantTimeCompare([]byte(user), []byte(username)) == 1
	want := password
	got := pass
	if hexsum, isSHA := strings.CutPrefix(want, "{SHA}"); isSHA {
		sum := sha1.Sum([]byte(pass))
		want, got = hexsum, hex.EncodeToString(sum[:])
	}
	passOK := subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
	return userOK && passOK
}
