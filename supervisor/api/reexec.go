package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"
)

// Re-executing a supervisor in place (`roost upgrade`, package handover):
// POST /api/v1/reexec starts it and answers just before the exec; GET
// /api/v1/reexec tells how the last one went, from whichever image
// answers. The caller polls GET until Generation reaches the one POST
// announced (the new image serves) or LastError is newer than its request.

// ReexecInfo describes the supervisor's re-execs.
type ReexecInfo struct {
	PID     int    `json:"pid"`
	Version string `json:"version"` // the version of the image answering
	Binary  string `json:"binary"`  // what a re-exec executes
	// Generation counts this supervisor's re-execs (0: the first image).
	Generation int       `json:"generation"`
	Started    time.Time `json:"started"` // the first image's start
	// From is the version of the image before the last re-exec ("" when
	// none), Unmanaged how long its programs went without a supervisor
	// (from the freeze to the new image's adoption), Programs how many
	// running processes crossed.
	From      string   `json:"from,omitempty"`
	Unmanaged Duration `json:"unmanaged_ms,omitempty"`
	Programs  int      `json:"programs,omitempty"`
	// LastError is why the last re-exec did not happen (the old image
	// kept running), at LastErrorTime.
	LastError     string    `json:"last_error,omitempty"`
	LastErrorTime time.Time `json:"last_error_time,omitzero"`
	// To is, in POST's answer, the version the probe of the new binary
	// reported.
	To string `json:"to,omitempty"`
}

// Duration is a duration in milliseconds on the wire.
type Duration float64

// Milliseconds makes a Duration.
func Milliseconds(d time.Duration) Duration { return Duration(float64(d) / float64(time.Millisecond)) }

// ReexecBackend is what a Backend implements to re-exec in place.
type ReexecBackend interface {
	// Reexec probes the binary, freezes the runtime and execs. It calls
	// accepted with the new generation's announcement right before the
	// exec (the HTTP answer goes out then); it returns only when the
	// re-exec did not happen, with the reason, after thawing.
	Reexec(ctx context.Context, accepted func(ReexecInfo)) error
	// ReexecStatus describes the re-execs so far.
	ReexecStatus() ReexecInfo
}

func (s *Server) reexecRoutes(m *http.ServeMux) {
	m.HandleFunc("GET /api/v1/reexec", s.reexecStatus)
	m.HandleFunc("POST /api/v1/reexec", s.reexec)
}

func (s *Server) reexecStatus(w http.ResponseWriter, r *http.Request) {
	rb, ok := optional[ReexecBackend](w, s.b, "this supervisor cannot re-exec")
	if !ok {
		return
	}
	reply(w, rb.ReexecStatus(), nil)
}

func (s *Server) reexec(w http.ResponseWriter, r *http.Request) {
	rb, ok := optional[ReexecBackend](w, s.b, "this supervisor cannot re-exec")
	if !ok {
		return
	}
	answered := false
	err := rb.Reexec(r.Context(), func(info ReexecInfo) {
		answered = true
		writeJSON(w, http.StatusOK, info)
		if f, ok := w.(http.Flusher); ok {
			f.Flush()
		}
	})
	if err != nil && !answered {
		writeError(w, 0, err)
	}
}

// Reexec asks the supervisor to re-exec its binary in place. It returns
// the announcement (the generation to wait for) or why it refused.
func (c *Client) Reexec(ctx context.Context) (ReexecInfo, error) {
	var v ReexecInfo
	err := c.call(ctx, http.MethodPost, "reexec", nil, nil, &v)
	return v, err
}

// ReexecStatus describes the supervisor's re-execs.
func (c *Client) ReexecStatus(ctx context.Context) (ReexecInfo, error) {
	var v ReexecInfo
	err := c.call(ctx, http.MethodGet, "reexec", nil, nil, &v)
	return v, err
}

// UpgradeWait bounds how long Upgrade waits for the new image to serve.
const UpgradeWait = 30 * time.Second

// Upgrade re-executes the supervisor in place and waits until the new
// image serves (its status, read through the same socket it inherited) or
// the old one says why it did not happen. It returns the new image's
// status.
func (c *Client) Upgrade(ctx context.Context) (ReexecInfo, error) {
	before, err := c.ReexecStatus(ctx)
	if err != nil {
		return ReexecInfo{}, err
	}
	asked := time.Now()
	ann, err := c.Reexec(ctx)
	if err != nil {
		var ae *Error
		if errors.As(err, &ae) {
			return ReexecInfo{}, fmt.Errorf("upgrade refused: %s", ae.Detail)
		}
		// The answer may have been cut by the exec itself: the status says.
		ann.Generation = before.Generation + 1
	}
	ctx, cancel := context.WithTimeout(ctx, UpgradeWait)
	defer cancel()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		st, err := c.ReexecStatus(ctx)
		switch {
		case err == nil && st.Generation >= ann.Generation:
			return st, nil
		case err == nil && st.LastError != "" && !st.LastErrorTime.Before(asked):
			return st, fmt.Errorf("upgrade failed, roost %s goes on: %s", st.Version, st.LastError)
		}
		select {
		case <-ctx.Done():
			return ReexecInfo{}, fmt.Errorf("the supervisor did not come back within %s (last: %v)", UpgradeWait, err)
		case <-tick.C:
		}
	}
}
