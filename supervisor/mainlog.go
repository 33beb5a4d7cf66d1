package supervisor

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// supervisord's extra log levels, as slog levels. slog's own Debug, Info,
// Warn and Error are supervisord's debug, info, warn and error.
const (
	levelBlather  = slog.Level(-12)
	levelTrace    = slog.Level(-8)
	levelCritical = slog.Level(12)
)

// parseLogLevel maps [supervisord] loglevel to a slog level.
func parseLogLevel(s string) slog.Level {
	switch strings.ToLower(s) {
	case "critical":
		return levelCritical
	case "error":
		return slog.LevelError
	case "warn":
		return slog.LevelWarn
	case "debug":
		return slog.LevelDebug
	case "trace":
		return levelTrace
	case "blather":
		return levelBlather
	}
	return slog.LevelInfo
}

// levelName is supervisord's four-letter level name.
func levelName(l slog.Level) string {
	switch {
	case l >= levelCritical:
		return "CRIT"
	case l >= slog.LevelError:
		return "ERRO"
	case l >= slog.LevelWarn:
		return "WARN"
	case l >= slog.LevelInfo:
		return "INFO"
	case l >= slog.LevelDebug:
		return "DEBG"
	case l >= levelTrace:
		return "TRAC"
	}
	return "BLAT"
}

// lineHandler is a slog.Handler writing supervisord's main log format,
//
//	2026-11-22 02:48:00,123 INFO spawned: 'web' with pid 123
//
// in local time. Like supervisord it prints the message only: roost's
// messages are complete sentences in supervisord's words, and the structured
// attributes (program, pid, from, to, exit_status) are for other handlers
// (Options.Logger).
type lineHandler struct {
	mu    *sync.Mutex
	out   []io.Writer
	level slog.Leveler
}

func newLineHandler(level slog.Leveler, out ...io.Writer) *lineHandler {
	return &lineHandler{mu: new(sync.Mutex), out: out, level: level}
}

// Enabled implements slog.Handler.
func (h *lineHandler) Enabled(_ context.Context, l slog.Level) bool {
	return l >= h.level.Level()
}

// Handle implements slog.Handler.
func (h *lineHandler) Handle(_ context.Context, r slog.Record) error {
	t := r.Time
	if t.IsZero() {
		t = time.Now()
	}
	buf := make([]byte, 0, 64+len(r.Message))
	buf = t.AppendFormat(buf, "2006-01-02 15:04:05")
	buf = append(buf, ',')
	ms := t.Nanosecond() / 1e6
	if ms < 100 {
		buf = append(buf, '0')
	}
	if ms < 10 {
		buf = append(buf, '0')
	}
	buf = strconv.AppendInt(buf, int64(ms), 10)
	buf = append(buf, ' ')
	buf = append(buf, levelName(r.Level)...)
	buf = append(buf, ' ')
	buf = append(buf, r.Message...)
	buf = append(buf, '\n')
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, w := range h.out {
		_, _ = w.Write(buf) // a full disk or a closed stdout must not stop the supervisor
	}
	return nil
}

// WithAttrs implements slog.Handler; attributes are not printed.
func (h *lineHandler) WithAttrs([]slog.Attr) slog.Handler { return h }

// WithGroup implements slog.Handler; groups are not printed.
func (h *lineHandler) WithGroup(string) slog.Handler { return h }

// Logger is the main log for what is said beside the runtime in the same
// process (the control socket's errors, HUP and USR2, the last good
// configuration): its lines have the main log's one format, with the
// record's attributes written after the message as key=value, so nothing
// the supervisor says goes out as slog's other format.
func (s *Supervisor) Logger() *slog.Logger { return slog.New(foldAttrs{h: s.log.Handler()}) }

// LineLogger writes the main log's format to w at info level and above: for
// what a supervisor says before its main log is open.
func LineLogger(w io.Writer) *slog.Logger {
	return slog.New(foldAttrs{h: newLineHandler(slog.LevelInfo, w)})
}

// foldAttrs writes a record's attributes into its message for a handler,
// such as lineHandler, that prints only the message.
type foldAttrs struct {
	h     slog.Handler
	attrs []slog.Attr
}

func (f foldAttrs) Enabled(ctx context.Context, l slog.Level) bool { return f.h.Enabled(ctx, l) }

func (f foldAttrs) Handle(ctx context.Context, r slog.Record) error {
	msg := []byte(r.Message)
	add := func(a slog.Attr) bool {
		msg = fmt.Appendf(msg, " %s=%q", a.Key, a.Value.String())
		return true
	}
	for _, a := range f.attrs {
		add(a)
	}
	r.Attrs(add)
	return f.h.Handle(ctx, slog.NewRecord(r.Time, r.Level, string(msg), r.PC))
}

func (f foldAttrs) WithAttrs(as []slog.Attr) slog.Handler {
	return foldAttrs{h: f.h, attrs: append(slices.Clip(f.attrs), as...)}
}

func (f foldAttrs) WithGroup(string) slog.Handler { return f }
