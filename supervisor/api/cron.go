package api

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// The cron resources (docs/api.md):
//
//	GET  /api/v1/cron                         CronInfo
//	POST /api/v1/cron/{name}/run              start a job now
//	GET  /api/v1/cron/{name}/log?lines=20     the job's last lines of cron.log
//	GET  /api/v1/cron/{name}/log/follow       ... then every new line
//	GET  /api/v1/cron/log[/follow]            the same for every job
//
// They are served when the Backend also implements CronBackend.

// DefaultCronLogLines is how many lines a cron log read returns when the
// request does not say.
const DefaultCronLogLines = 20

// MaxCronLogLines bounds the lines one cron log read may ask for.
const MaxCronLogLines = 100000

func (s *Server) cronRoutes(m *http.ServeMux) {
	m.HandleFunc("GET /api/v1/cron", s.cronInfo)
	m.HandleFunc("POST /api/v1/cron/{name}/run", s.cronRun)
	m.HandleFunc("GET /api/v1/cron/{name}/log", s.cronLog)
	m.HandleFunc("GET /api/v1/cron/{name}/log/follow", s.cronFollow)
	m.HandleFunc("GET /api/v1/cron/log", s.cronLog)
	m.HandleFunc("GET /api/v1/cron/log/follow", s.cronFollow)
}

// cronBackend returns the backend's cron side, or answers UNKNOWN_METHOD.
func (s *Server) cronBackend(w http.ResponseWriter) (CronBackend, bool) {
	return optional[CronBackend](w, s.b, "this supervisor runs no cron jobs")
}

func (s *Server) cronInfo(w http.ResponseWriter, r *http.Request) {
	cb, ok := s.cronBackend(w)
	if !ok {
		return
	}
	info := cb.Cron()
	if info.Jobs == nil {
		info.Jobs = []CronJob{}
	}
	reply(w, info, nil)
}

func (s *Server) cronRun(w http.ResponseWriter, r *http.Request) {
	cb, ok := s.cronBackend(w)
	if !ok {
		return
	}
	reply(w, struct{}{}, cb.RunCronJob(r.PathValue("name")))
}

// cronLogRequest returns the cron side and the lines parameter of a cron
// log request, or answers its error.
func (s *Server) cronLogRequest(w http.ResponseWriter, r *http.Request) (CronBackend, int, bool) {
	cb, ok := s.cronBackend(w)
	if !ok {
		return nil, 0, false
	}
	n, err := cronLines(r)
	if err != nil {
		writeError(w, 0, err)
		return nil, 0, false
	}
	return cb, n, true
}

// cronLines reads the lines parameter.
func cronLines(r *http.Request) (int, error) {
	n, err := intParam(r, "lines", DefaultCronLogLines)
	if err != nil {
		return 0, err
	}
	if n < 0 || n > MaxCronLogLines {
		return 0, Errorf(BadArguments, "lines=%d: want 0 to %d", n, MaxCronLogLines)
	}
	return int(n), nil
}

func (s *Server) cronLog(w http.ResponseWriter, r *http.Request) {
	cb, n, ok := s.cronLogRequest(w, r)
	if !ok {
		return
	}
	data, err := cb.ReadCronLog(r.PathValue("name"), n)
	if err != nil {
		writeError(w, 0, err)
		return
	}
	writeBytes(w, data)
}

func (s *Server) cronFollow(w http.ResponseWriter, r *http.Request) {
	cb, n, ok := s.cronLogRequest(w, r)
	if !ok {
		return
	}
	name := r.PathValue("name")
	// An unknown job is a proper 404, not an error in the trailer.
	if name != "" {
		if _, err := cb.ReadCronLog(name, 0); err != nil {
			writeError(w, 0, err)
			return
		}
	}
	stream(w, func(sw io.Writer) error { return cb.FollowCronLog(r.Context(), name, n, sw) })
}

// cronLogPath is the log resource of a job, or of every job for "".
func cronLogPath(name string) string {
	if name == "" {
		return "cron/log"
	}
	return "cron/" + esc(name) + "/log"
}

// Cron describes the cron file and its jobs.
func (c *Client) Cron(ctx context.Context) (CronInfo, error) {
	var v CronInfo
	err := c.call(ctx, http.MethodGet, "cron", nil, nil, &v)
	return v, err
}

// RunCronJob starts a cron job now; it returns once the run is under way.
func (c *Client) RunCronJob(ctx context.Context, name string) error {
	return c.call(ctx, http.MethodPost, "cron/"+esc(name)+"/run", nil, nil, nil)
}

// CronLog returns the last lines a job wrote to cron.log (every job's for
// name ""), with their time and name prefixes.
func (c *Client) CronLog(ctx context.Context, name string, lines int) ([]byte, error) {
	resp, err := c.do(ctx, http.MethodGet, cronLogPath(name), url.Values{"lines": {strconv.Itoa(lines)}}, nil)
	if err != nil {
		return nil, err
	}
	return c.readAll(resp)
}

// FollowCronLog writes the last lines a job wrote (every job's for name
// ""), then each new one, to w until ctx ends (nil then) or the stream fails.
func (c *Client) FollowCronLog(ctx context.Context, name string, lines int, w io.Writer) error {
	return c.follow(ctx, cronLogPath(name)+"/follow", url.Values{"lines": {strconv.Itoa(lines)}}, w)
}

// Status says how the job's last run went, as `roost cron list` shows it:
// "running (pid 123)", "exit 0 (1.2s)", "terminated by SIGTERM (10s)",
// or "never".
func (j CronJob) Status() string {
	switch {
	case j.Running && j.PID > 0:
		return fmt.Sprintf("running (pid %d)", j.PID)
	case j.Running:
		return "running"
	case j.LastEnd.IsZero():
		return "never"
	}
	took := FormatDuration(time.Duration(j.LastDuration * float64(time.Second)))
	if j.LastError != "" {
		return j.LastError + " (" + took + ")"
	}
	return fmt.Sprintf("exit %d (%s)", j.LastExitStatus, took)
}

// FormatDuration renders how long a run took, to a useful precision:
// "5ms", "1.2s", "2m3s".
func FormatDuration(d time.Duration) string {
	switch {
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	case d < time.Minute:
		return d.Round(100 * time.Millisecond).String()
	}
	return d.Round(time.Second).String()
}
