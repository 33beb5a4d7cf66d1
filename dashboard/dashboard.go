// Package dashboard is roost's web page: every process with its state,
// pid, uptime, exit status, CPU and memory, live over server-sent events;
// start, stop and restart buttons; a log view with follow; the cron jobs
// and the releases. It is an http.Handler mounted under /ui/ on a
// supervisor's control server (api.Server.Mount), so it is authenticated
// exactly as the control plane is, and it only calls the api.Backend: it
// never reaches into the state machine.
//
// Every state-changing request is a POST that must carry the page's CSRF
// token and come from the page's own origin (Origin, else Referer, host
// equal to Host). Nothing runs while no page is open: the live view is one
// event subscription per connected client, ended with its request.
package dashboard

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"html/template"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"roost/deploy"
	"roost/supervisor/api"
)

// Prefix is where the dashboard is mounted on a control server.
const Prefix = "/ui/"

//go:embed assets
var assets embed.FS

// Options configure a dashboard.
type Options struct {
	// Logger receives the actions taken and refused; nil discards them.
	Logger *slog.Logger
	// Releases lists the user's releases (deploy.Releases), or nil when
	// deploy is not set up: the page then has no releases section.
	Releases func() ([]deploy.Release, error)
}

// Dashboard is the /ui/ handler of one supervisor.
type Dashboard struct {
	b    api.Backend
	opts Options
	log  *slog.Logger
	csrf string // the token every POST must carry
	tmpl *template.Template
	mux  *http.ServeMux
}

// New returns the dashboard of backend b. It starts nothing: work happens
// only in requests.
func New(b api.Backend, opts Options) *Dashboard {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	secret := make([]byte, 32)
	rand.Read(secret)
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte("roost dashboard csrf"))
	d := &Dashboard{b: b, opts: opts, log: log, csrf: hex.EncodeToString(mac.Sum(nil)),
		tmpl: template.Must(template.New("index.html").Funcs(funcs).ParseFS(assets, "assets/index.html"))}
	m := http.NewServeMux()
	m.HandleFunc("GET /ui/{$}", d.index)
	m.Handle("GET /ui/app.js", static("assets/app.js", "text/javascript; charset=utf-8"))
	m.Handle("GET /ui/app.css", static("assets/app.css", "text/css; charset=utf-8"))
	m.HandleFunc("GET /ui/state", d.state)
	m.HandleFunc("GET /ui/events", d.events)
	m.HandleFunc("GET /ui/log", d.followLog)
	m.HandleFunc("POST /ui/action", d.action)
	m.HandleFunc("/ui/", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "not found", http.StatusNotFound)
	})
	d.mux = m
	return d
}

// ServeHTTP serves the page and its requests, with headers that keep it
// out of frames and other sites' scripts.
func (d *Dashboard) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Cache-Control", "no-store")
	d.mux.ServeHTTP(w, r)
}

func static(name, ctype string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := assets.ReadFile(name)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", ctype)
		w.Write(b)
	})
}

// Snapshot is what the page shows: GET /ui/state, and each server-sent
// event of GET /ui/events.
type Snapshot struct {
	Supervisor string            `json:"supervisor"`
	Now        int64             `json:"now"`
	Processes  []api.ProcessInfo `json:"processes"`
	Groups     []string          `json:"groups"` // groups with more than one process, or named apart from it
	Cron       *api.CronInfo     `json:"cron,omitempty"`
	Releases   []deploy.Release  `json:"releases,omitempty"`
	// ReleasesError says why the releases could not be listed.
	ReleasesError string `json:"releases_error,omitempty"`
}

// snapshot reads the backend now.
func (d *Dashboard) snapshot(withReleases bool) Snapshot {
	s := Snapshot{Supervisor: d.b.Identification(), Now: time.Now().Unix(), Processes: d.b.AllProcessInfo()}
	if s.Processes == nil {
		s.Processes = []api.ProcessInfo{}
	}
	if ub, ok := d.b.(api.UsageBackend); ok {
		u := ub.Usage()
		for i := range s.Processes {
			if x, ok := u[s.Processes[i].PID]; ok && s.Processes[i].PID > 0 {
				s.Processes[i].Usage = &x
			}
		}
	}
	count := map[string]int{}
	for _, p := range s.Processes {
		if count[p.Group]++; count[p.Group] == 1 {
			s.Groups = append(s.Groups, p.Group)
		}
	}
	s.Groups = slicesFilter(s.Groups, func(g string) bool {
		for _, p := range s.Processes {
			if p.Group == g && (count[g] > 1 || p.Name != g) {
				return true
			}
		}
		return false
	})
	if cb, ok := d.b.(api.CronBackend); ok {
		c := cb.Cron()
		s.Cron = &c
	}
	if withReleases && d.opts.Releases != nil {
		rels, err := d.opts.Releases()
		if err != nil {
			s.ReleasesError = err.Error()
		}
		s.Releases = rels
	}
	return s
}

func slicesFilter(in []string, keep func(string) bool) []string {
	out := []string{}
	for _, s := range in {
		if keep(s) {
			out = append(out, s)
		}
	}
	return out
}

func (d *Dashboard) index(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	err := d.tmpl.Execute(w, struct {
		Snapshot
		CSRF string
	}{d.snapshot(true), d.csrf})
	if err != nil {
		d.log.Warn("dashboard: render", "err", err)
	}
}

func (d *Dashboard) state(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(d.snapshot(true))
}

// sse starts a server-sent event stream.
func sse(w http.ResponseWriter) *http.ResponseController {
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	rc.Flush()
	return rc
}

// events sends a snapshot at once, then a new one after each event of the
// supervisor's stream (a burst of events makes one snapshot). It holds one
// subscription while the client is connected and nothing otherwise: no
// timer, no goroutine of its own.
func (d *Dashboard) events(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	ch := d.b.Subscribe(ctx)
	defer func() {
		cancel()
		for range ch { // until Subscribe closes it
		}
	}()
	rc := sse(w)
	send := func() bool {
		b, _ := json.Marshal(d.snapshot(false))
		_, err := io.WriteString(w, "data: "+string(b)+"\n\n")
		return err == nil && rc.Flush() == nil
	}
	if !send() {
		return
	}
	for ev := range ch {
		if strings.HasPrefix(ev.Type, "PROCESS_LOG_") {
			continue
		}
	drain:
		for {
			select {
			case _, ok := <-ch:
				if !ok {
					return
				}
			default:
				break drain
			}
		}
		if !send() {
			return
		}
	}
}

// maxTail bounds what a log view starts with: the end of the file,
// however big it is, read by offset.
const maxTail = 256 << 10

// followLog streams a process log as server-sent events, one data: line
// per log line: first the last ~lines lines (?lines=, at most maxTail
// bytes), then each new line. The log is never read whole.
func (d *Dashboard) followLog(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	name := q.Get("name")
	st := api.Stream(q.Get("stream"))
	if st == "" {
		st = api.Stdout
	}
	if st != api.Stdout && st != api.Stderr {
		http.Error(w, "stream: want stdout or stderr", http.StatusBadRequest)
		return
	}
	lines, err := strconv.Atoi(q.Get("lines"))
	if err != nil || lines <= 0 {
		lines = 200
	}
	tail := min(int64(lines)*160, maxTail)
	info, err := d.b.ProcessInfo(name)
	if err != nil {
		http.Error(w, err.Error(), api.HTTPStatus(api.CodeOf(err)))
		return
	}
	if (st == api.Stdout && info.StdoutLogfile == "") || (st == api.Stderr && info.StderrLogfile == "") {
		http.Error(w, name+" has no "+string(st)+" log", http.StatusNotFound)
		return
	}
	// The tail starts mid-line when the file is longer than it.
	_, size, _, _ := d.b.TailProcessLog(name, st, 0, 0)
	rc := sse(w)
	lw := &lineWriter{w: w, rc: rc, skip: size > tail}
	err = d.b.FollowProcessLog(r.Context(), name, st, tail, lw)
	if err != nil && !errors.Is(err, context.Canceled) && r.Context().Err() == nil {
		io.WriteString(w, "event: failure\ndata: "+oneLine(err.Error())+"\n\n")
		rc.Flush()
	}
}

// maxLine is where the log view cuts a line without a newline.
const maxLine = 16 << 10

// lineWriter turns a log's bytes into server-sent events: each write's
// complete lines in one event, one data: field each.
type lineWriter struct {
	w    io.Writer
	rc   *http.ResponseController
	skip bool // drop the text before the first newline (a cut line)
	part []byte
}

func (l *lineWriter) Write(p []byte) (int, error) {
	var ev strings.Builder
	for _, c := range p {
		if c != '\n' && len(l.part) < maxLine {
			l.part = append(l.part, c)
			continue
		}
		if !l.skip {
			ev.WriteString("data: ")
			ev.WriteString(oneLine(string(l.part)))
			ev.WriteByte('\n')
		}
		l.skip = false
		l.part = l.part[:0]
		if c != '\n' {
			l.part = append(l.part, c)
		}
	}
	if ev.Len() == 0 {
		return len(p), nil
	}
	ev.WriteByte('\n')
	if _, err := io.WriteString(l.w, ev.String()); err != nil {
		return 0, err
	}
	return len(p), l.rc.Flush()
}

// oneLine makes s safe for one data: field (no CR or LF).
func oneLine(s string) string {
	return strings.NewReplacer("\r", "", "\n", " ").Replace(s)
}
