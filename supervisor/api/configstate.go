package api

import (
	"context"
	"net/http"
	"strings"
)

// The configuration state (docs/api.md):
//
//	GET /api/v1/config/state    ConfigState
//
// A supervisor whose file on disk does not apply stays up: with no
// programs when none of it ever applied (CONFIG-ERROR), else with the
// configuration that last applied. Every client verb reads this state and
// says which of the two the user is looking at.

// The states of a supervisor's configuration.
const (
	// ConfigOK: the files on disk are what runs.
	ConfigOK = "OK"
	// ConfigError: the file on disk is broken and nothing of it runs (no
	// programs, or the last good configuration saved in the user's state
	// when Running says so). Process verbs answer CANT_REREAD.
	ConfigError = "CONFIG-ERROR"
	// ConfigStale: the file on disk is broken; the configuration that
	// applied before it keeps running.
	ConfigStale = "STALE"
)

// ConfigState is GET /api/v1/config/state.
type ConfigState struct {
	// State is ConfigOK, ConfigError or ConfigStale.
	State string `json:"state"`
	// Error is the first problem of the file on disk, one line, as
	// "supervisord.conf:3: [program:web] startsecs: ...", with a count of
	// the others; "" when the file applies.
	Error string `json:"error,omitempty"`
	// Problems are every file:line problem of the file on disk.
	Problems []string `json:"problems,omitempty"`
	// Running says what runs instead of the file on disk: "none", "previous"
	// (what applied before the broken edit) or "saved" (the last
	// configuration that applied, kept in the user's state).
	Running string `json:"running,omitempty"`
	// Cron is the first problem of the cron file on disk ("cron:LINE: ..."),
	// whose last valid jobs keep running.
	Cron string `json:"cron,omitempty"`
	// Warnings are the running configuration's warnings (a misspelt key...).
	Warnings []string `json:"warnings,omitempty"`
	// File is the main configuration file the supervisor reads.
	File string `json:"file,omitempty"`
	// Env is what the roost master gave the supervisor: PORT,
	// ROOST_PORT_BASE, ROOST_PORT_COUNT, and where the user's roost files
	// and services are (ROOST_CONFIG_DIR, ROOST_SERVICES_DIR), when set.
	Env map[string]string `json:"env,omitempty"`
}

// MasterEnv are the variables ConfigState.Env reports.
var MasterEnv = []string{"PORT", "ROOST_PORT_BASE", "ROOST_PORT_COUNT", "ROOST_CONFIG_DIR", "ROOST_SERVICES_DIR"}

// Blocked reports whether process verbs are refused: nothing of the file
// runs and nothing saved runs either.
func (c ConfigState) Blocked() bool { return c.State == ConfigError && c.Running != "saved" }

// Err is the CANT_REREAD fault a refused process verb answers.
func (c ConfigState) Err() *Error {
	return &Error{Code: CantReread, Detail: c.Error + "; no programs run until the file is fixed (it is re-read when saved)"}
}

// Summary is the one line a client prints about a state that is not OK, "" for OK.
func (c ConfigState) Summary() string {
	var parts []string
	switch {
	case c.State == ConfigError && c.Running == "saved":
		parts = append(parts, "the file on disk is not applied: "+c.Error+
			"; running the last configuration that applied (saved before this supervisor restarted)")
	case c.State == ConfigError:
		parts = append(parts, "the file on disk is not applied: "+c.Error+"; no programs run until it is fixed")
	case c.State == ConfigStale:
		parts = append(parts, "the file on disk is not applied: "+c.Error+"; the running configuration is the previous one")
	}
	if c.Cron != "" {
		parts = append(parts, "the cron file on disk is not applied: "+c.Cron+"; the previous jobs keep running")
	}
	return strings.Join(parts, "; ")
}

// ConfigStateBackend is what a Backend implements to report its
// configuration state. With it, the server refuses the process, log and
// group verbs with the state's CANT_REREAD fault while Blocked.
type ConfigStateBackend interface {
	ConfigState() ConfigState
}

func (s *Server) configStateRoutes(m *http.ServeMux) {
	cb, ok := s.b.(ConfigStateBackend)
	if !ok {
		return
	}
	m.HandleFunc("GET /api/v1/config/state", func(w http.ResponseWriter, r *http.Request) {
		reply(w, cb.ConfigState(), nil)
	})
}

// needsConfig reports whether a JSON API path is about the configured
// processes: refused while the configuration is Blocked.
func needsConfig(path string) bool {
	for _, p := range []string{"processes", "logs/", "groups/", "config"} {
		rest, ok := strings.CutPrefix(path, apiPrefix+p)
		if ok && (rest == "" || strings.HasPrefix(rest, "/") || strings.HasSuffix(p, "/")) {
			return !(p == "config" && rest == "/state")
		}
	}
	return false
}

// configGate refuses what needsConfig names while the backend's
// configuration is Blocked.
func (s *Server) configGate(next http.Handler) http.Handler {
	cb, ok := s.b.(ConfigStateBackend)
	if !ok {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if needsConfig(r.URL.Path) {
			if st := cb.ConfigState(); st.Blocked() {
				writeError(w, 0, st.Err())
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// ConfigState returns the supervisor's configuration state. A server
// without one answers UNKNOWN_METHOD.
func (c *Client) ConfigState(ctx context.Context) (ConfigState, error) {
	var st ConfigState
	err := c.call(ctx, http.MethodGet, "config/state", nil, nil, &st)
	return st, err
}
