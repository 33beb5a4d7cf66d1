package xmlrpc

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"roost/supervisor/api"
)

// TailBytes is how much of a log the streams send before following it, as
// supervisord's tail_f_producer does (the whole log when it is smaller).
const TailBytes = 1024

// NewLogtailHandler returns the handler for supervisord's log streams, which
// `supervisorctl tail -f` and `maintail -f` read:
//
//	GET /logtail/NAME          a process's stdout log
//	GET /logtail/NAME/stdout   the same
//	GET /logtail/NAME/stderr   its stderr log
//	GET /mainlogtail           the supervisor's own log
//
// It reads the request's full path, so mount it at both "/logtail/" and
// "/mainlogtail" without stripping the prefix. Each stream sends the last
// TailBytes of the log, then every new byte as it is written, as chunked
// text/plain, until the client goes away. As in supervisord, an unknown
// process or stream, or a log that does not exist (yet), is 404, and any
// method but GET (or HEAD) is 400.
func NewLogtailHandler(b api.Backend) http.Handler {
	return &logtail{b: b, log: slog.Default()}
}

type logtail struct {
	b   api.Backend
	log *slog.Logger
}

func (l *logtail) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		http.Error(w, "log streams need GET", http.StatusBadRequest)
		return
	}
	var follow func(ctx context.Context, w *streamWriter) error
	path := r.URL.Path
	switch {
	case path == "/mainlogtail":
		// A log that cannot be read (there is none, or it is not there
		// yet) is 404, before anything is streamed.
		if _, err := l.b.ReadMainLog(0, 1); err != nil {
			http.Error(w, "no main log: "+err.Error(), http.StatusNotFound)
			return
		}
		follow = func(ctx context.Context, sw *streamWriter) error {
			return l.b.FollowMainLog(ctx, TailBytes, sw)
		}
	case strings.HasPrefix(path, "/logtail/"):
		name, channel, found := strings.Cut(strings.TrimPrefix(path, "/logtail/"), "/")
		if !found {
			channel = string(api.Stdout)
		}
		stream := api.Stream(channel)
		if _, _, whole := api.SplitNamespec(name); name == "" || whole || stream != api.Stdout && stream != api.Stderr {
			http.NotFound(w, r)
			return
		}
		if _, err := l.b.ReadProcessLog(name, stream, 0, 1); err != nil {
			http.Error(w, "no "+channel+" log for "+name+": "+err.Error(), http.StatusNotFound)
			return
		}
		follow = func(ctx context.Context, sw *streamWriter) error {
			return l.b.FollowProcessLog(ctx, name, stream, TailBytes, sw)
		}
	default:
		http.NotFound(w, r)
		return
	}

	w.Header().Set("Content-Type", "text/plain;charset=utf-8")
	// Tell a reverse proxy (nginx) not to buffer the stream.
	w.Header().Set("X-Accel-Buffering", "no")
	rc := http.NewResponseController(w)
	// A stream lasts as long as the client wants: no server write timeout.
	_ = rc.SetWriteDeadline(time.Time{})
	w.WriteHeader(http.StatusOK)
	if err := rc.Flush(); err != nil || r.Method == http.MethodHead {
		return
	}
	sw := &streamWriter{w: w, rc: rc}
	err := follow(r.Context(), sw)
	sw.close()
	if err != nil && !errors.Is(err, context.Canceled) && r.Context().Err() == nil {
		l.log.Warn("log stream ended", "path", path, "err", err)
	}
}

// streamWriter sends each write to the client at once. It refuses writes
// once the handler has returned, in case a backend writes late.
type streamWriter struct {
	mu     sync.Mutex
	w      http.ResponseWriter
	rc     *http.ResponseController
	closed bool
}

var errStreamClosed = errors.New("log stream closed")

func (s *streamWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return 0, errStreamClosed
	}
	n, err := s.w.Write(p)
	if err == nil {
		err = s.rc.Flush()
	}
	return n, err
}

func (s *streamWriter) close() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
}
