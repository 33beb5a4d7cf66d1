package master

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"

	"roost/master/acme"
	"roost/supervisor/api"
)

// The admin socket, {run_dir}/master.sock: root only (mode 0600 and the
// peer's SO_PEERCRED uid must be 0). It speaks JSON over HTTP:
//
//	GET  /admin/v1/users                 {"users": [UserStatus…]}
//	POST /admin/v1/users/{name}/restart  {} or an error
//	GET  /admin/v1/nginx                 NginxStatus: the installed nginx configuration
//	GET  /admin/v1/nginx?check=true      NginxCheck: what the master would render now
//	GET  /admin/v1/master                MasterImage: this exec of the master
//	POST /admin/v1/reexec                MasterImage (the old one), then the master re-executes (reexec.go)
//
// Errors are {"error": "message"} with a 4xx/5xx status.

const adminPrefix = "/admin/v1"

// programsTimeout bounds the question to one user's supervisor.
const programsTimeout = 2 * time.Second

// usersReply is GET /admin/v1/users.
type usersReply struct {
	Users []UserStatus `json:"users"`
}

type errorReply struct {
	Error string `json:"error"`
}

// Users returns every user's status, with the program counts each running
// supervisor reports (asked in parallel, each within a timeout; what a
// user's supervisor says is untrusted and only counted).
func (m *Master) Users(ctx context.Context) []UserStatus {
	sts := m.statuses()
	m.mu.Lock()
	cg := m.cg
	m.mu.Unlock()
	for i := range sts {
		st := &sts[i]
		if u, ok := cg.stats(st.Name); ok {
			st.Usage = &u
		}
		st.Routes, st.RoutesServed = -1, -1
		if sum, ok := m.router.proxySummary(st.Name); ok {
			st.Routes, st.RoutesServed, st.ProxyProblems = sum.routes, sum.served, sum.problems
			st.RoutesPending = sum.pending
		}
	}
	var wg sync.WaitGroup
	for i := range sts {
		st := &sts[i]
		if st.PID == 0 || (st.State != UserRunning && st.State != UserStarting) {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			qctx, cancel := context.WithTimeout(ctx, programsTimeout)
			defer cancel()
			m.noteUserConfig(qctx, st)
			running, total, err := m.programs(qctx, st.Name, st.UID)
			if err != nil && st.Config == api.ConfigError {
				running, total, err = 0, 0, nil // no programs run: CONFIG-ERROR says why
			}
			if err != nil {
				st.ProgramsError = sanitize(err.Error(), 300)
				return
			}
			st.ProgramsRunning, st.ProgramsTotal = running, total
		}()
	}
	wg.Wait()
	return sts
}

func (m *Master) adminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+adminPrefix+"/users", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, usersReply{Users: m.Users(r.Context())})
	})
	mux.HandleFunc("POST "+adminPrefix+"/users/{name}/restart", func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("name")
		err := m.RestartUser(r.Context(), name)
		if err == nil {
			m.log.Info("user supervisor restart requested over the admin socket", "user", name)
		}
		writeUserResult(w, err, struct{}{})
	})
	mux.HandleFunc("GET "+adminPrefix+"/master", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, m.Image(r.Context()))
	})
	mux.HandleFunc("POST "+adminPrefix+"/reexec", m.reexecHandler)
	mux.HandleFunc("GET "+adminPrefix+"/tls", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, m.TLS())
	})
	mux.HandleFunc("POST "+adminPrefix+"/tls/renew", func(w http.ResponseWriter, r *http.Request) {
		host := r.URL.Query().Get("host")
		err := m.RenewTLS(r.Context(), host)
		switch {
		case errors.Is(err, acme.ErrUnknownHost):
			writeJSON(w, http.StatusNotFound, errorReply{Error: err.Error()})
		case err != nil:
			writeJSON(w, http.StatusConflict, errorReply{Error: err.Error()})
		default:
			m.log.Info("certificate renewal requested over the admin socket", "host", host)
			writeJSON(w, http.StatusOK, struct{}{})
		}
	})
	mux.HandleFunc("GET "+adminPrefix+"/nginx", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("check") == "true" {
			c, err := m.router.Check(r.Context())
			if err != nil {
				writeJSON(w, http.StatusServiceUnavailable, errorReply{Error: err.Error()})
				return
			}
			writeJSON(w, http.StatusOK, c)
			return
		}
		st := *m.router.status.Load()
		cfg := m.Config()
		st.Enabled, st.Output = cfg.Proxy.Enabled, cfg.Proxy.Output
		writeJSON(w, http.StatusOK, st)
	})
	m.upgradeRoutes(mux) // upgrade.go
	return mux
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

// AdminClient talks to a master's admin socket.
type AdminClient struct {
	path string
	hc   *http.Client
}

// maxAdminResponse bounds an admin answer.
const maxAdminResponse = 16 << 20

// DialAdmin returns a client for the admin socket at path, having checked
// that something answers there, and that root made and serves it: roost
// admin prints what it says to root's terminal.
func DialAdmin(path string) (*AdminClient, error) {
	c := &AdminClient{path: path}
	dial := func(ctx context.Context) (net.Conn, error) {
		if err := api.CheckSocket(path, []int{0}); err != nil {
			return nil, err
		}
		var d net.Dialer
		conn, err := d.DialContext(ctx, "unix", path)
		if err != nil {
			return nil, err
		}
		if err := api.CheckPeer(conn, []int{0}); err != nil {
			conn.Close()
			return nil, err
		}
		return conn, nil
	}
	c.hc = &http.Client{Transport: &http.Transport{
		DialContext:        func(ctx context.Context, _, _ string) (net.Conn, error) { return dial(ctx) },
		DisableCompression: true,
	}}
	conn, err := dial(context.Background())
	if err != nil {
		return nil, fmt.Errorf("connect to the master at %s: %w", path, err)
	}
	conn.Close()
	return c, nil
}

// Close releases idle connections.
func (c *AdminClient) Close() error {
	c.hc.CloseIdleConnections()
	return nil
}

// Users returns every user's status.
func (c *AdminClient) Users(ctx context.Context) ([]UserStatus, error) {
	var r usersReply
	if err := c.call(ctx, http.MethodGet, "/users", &r); err != nil {
		return nil, err
	}
	return r.Users, nil
}

// Restart restarts a user's supervisor.
func (c *AdminClient) Restart(ctx context.Context, user string) error {
	return c.call(ctx, http.MethodPost, "/users/"+url.PathEscape(user)+"/restart", nil)
}

// Nginx returns the nginx configuration the master installed, and how its
// last attempt went.
func (c *AdminClient) Nginx(ctx context.Context) (NginxStatus, error) {
	var st NginxStatus
	err := c.call(ctx, http.MethodGet, "/nginx", &st)
	return st, err
}

// NginxCheck returns what the master would render now, without installing it.
func (c *AdminClient) NginxCheck(ctx context.Context) (NginxCheck, error) {
	var ch NginxCheck
	err := c.call(ctx, http.MethodGet, "/nginx?check=true", &ch)
	return ch, err
}

// TLS returns every routed host's certificate state.
func (c *AdminClient) TLS(ctx context.Context) (TLSStatus, error) {
	var st TLSStatus
	err := c.call(ctx, http.MethodGet, "/tls", &st)
	return st, err
}

// RenewTLS renews host's certificate now ("" for every host).
func (c *AdminClient) RenewTLS(ctx context.Context, host string) error {
	return c.call(ctx, http.MethodPost, "/tls/renew?host="+url.QueryEscape(host), nil)
}

func (c *AdminClient) call(ctx context.Context, method, path string, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, "http://master"+adminPrefix+path, nil)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("master at %s: %w", c.path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxAdminResponse+1))
	if err != nil {
		return fmt.Errorf("master at %s: read answer: %w", c.path, err)
	}
	if len(data) > maxAdminResponse {
		return fmt.Errorf("master at %s: answer larger than %d bytes", c.path, maxAdminResponse)
	}
	if resp.StatusCode != http.StatusOK {
		var e errorReply
		if json.Unmarshal(data, &e) == nil && e.Error != "" {
			return errors.New(e.Error)
		}
		return fmt.Errorf("master at %s: %s", c.path, resp.Status)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("master at %s: bad answer: %w", c.path, err)
		}
	}
	return nil
}
