package api

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/url"

	"roost/config/nginx"
)

// HTTP routing (docs/api.md):
//
//	GET  /api/v1/proxy                              ProxyInfo
//	POST /api/v1/proxy/status                       root only: the master's verdict (ProxyStatus)
//	POST /api/v1/processes/{name}/restart?rolling=true   one process at a time
//
// They are served when the Backend also implements ProxyBackend (and
// RollingBackend for the rolling restart).

// EventProxyChanged is the event a supervisor emits when the [proxy:NAME]
// sections it serves changed (a configuration was applied): the master
// then asks for them again.
const EventProxyChanged = "ROOST_PROXY_CHANGED"

// ProxyInfo is GET /api/v1/proxy: the [proxy:NAME] sections of the running
// configuration, as the user's supervisor resolved them, and the master's
// last verdict on them.
type ProxyInfo struct {
	// Project is the configuration's directory (%(here)s), which static
	// directories lie in.
	Project string       `json:"project"`
	Routes  []ProxyRoute `json:"routes"`
	// Status is what the master last said, nil when no master has.
	Status *ProxyStatus `json:"status,omitempty"`
	// Generation counts the changes of the routes the supervisor made
	// itself (a blue-green restart's); the master's verdict on these
	// routes carries it back.
	Generation uint64 `json:"generation,omitempty"`
}

// ProxyRoute is one [proxy:NAME] section with the upstreams of its
// program: "127.0.0.1:PORT", one per process in process_num order, empty
// when the supervisor has no port block. It is the renderer's own input
// (config/nginx.Route), which the master checks again before rendering.
type ProxyRoute = nginx.Route

// ProxyStatic maps a URL prefix to an absolute directory.
type ProxyStatic = nginx.Static

// ProxyStatus is the master's verdict on a user's routes, which it posts
// to the user's supervisor so that `roost proxy` can show it.
type ProxyStatus struct {
	Time int64 `json:"time"` // unix seconds
	// Error concerns the user's routes as a whole, e.g. nginx -t failed on
	// one of them, so all of them are left out until they change.
	Error  string             `json:"error,omitempty"`
	Routes []ProxyRouteStatus `json:"routes"`
	// Pending says why a change of the user's routes is not in nginx yet
	// (the reload rate limit, a failed reload, nginx -t failing on the
	// main configuration); the master retries by itself. "" when nginx
	// runs what the user declared.
	Pending string `json:"pending,omitempty"`
	// TLS is the certificate state of each of the user's routed hosts
	// (roost.toml [tls] acme); empty when HTTPS is off.
	TLS []HostTLS `json:"tls,omitempty"`
	// Generation is the ProxyInfo.Generation of the routes this verdict
	// is about: a supervisor waiting for nginx to run a change of its own
	// knows a verdict on an older reading from one on the change.
	Generation uint64 `json:"generation,omitempty"`
}

// HostTLS is one host's certificate, as the master reports it.
type HostTLS struct {
	Host     string `json:"host"`
	State    string `json:"state"` // issued, pending, failed, skipped
	Note     string `json:"note,omitempty"`
	Error    string `json:"error,omitempty"`     // the last failure
	NotAfter int64  `json:"not_after,omitempty"` // unix seconds
	NextTry  int64  `json:"next_try,omitempty"`  // unix seconds of the next attempt
}

// ProxyRouteStatus is the verdict on one route.
type ProxyRouteStatus struct {
	Section string `json:"section"`
	// Served says nginx routes the section's hosts (some may be left out:
	// see Problems).
	Served bool `json:"served"`
	// Upstreams are the addresses nginx sends the requests to.
	Upstreams []string `json:"upstreams,omitempty"`
	// Problems say what was left out and why: a host outside the admin's
	// patterns or claimed by another user, a port another user holds...
	Problems []string `json:"problems,omitempty"`
	// Pending says why this route's latest form is not in nginx yet;
	// Served and Upstreams describe what nginx runs meanwhile.
	Pending string `json:"pending,omitempty"`
}

// ProxyBackend is what a Backend implements to serve the proxy resources.
type ProxyBackend interface {
	// Proxy describes the routes of the running configuration.
	Proxy() ProxyInfo
	// SetProxyStatus records the master's verdict.
	SetProxyStatus(ProxyStatus) error
}

// RollingBackend is what a Backend implements for rolling restarts.
type RollingBackend interface {
	// RollingRestart restarts a group's processes ("web", "web:*") or one
	// process one at a time: each is stopped, started, and must be RUNNING
	// (and answer its readiness check) before the next is stopped. The
	// results are one per process, in the order they were restarted.
	RollingRestart(ctx context.Context, name string) ([]Result, error)
}

func (s *Server) proxyRoutes(m *http.ServeMux) {
	m.HandleFunc("GET /api/v1/proxy", s.proxyInfo)
	m.HandleFunc("POST /api/v1/proxy/status", s.proxyStatus)
}

// proxyBackend returns the backend's proxy side, or answers UNKNOWN_METHOD.
func (s *Server) proxyBackend(w http.ResponseWriter) (ProxyBackend, bool) {
	return optional[ProxyBackend](w, s.b, "this supervisor does not serve proxy routes")
}

func (s *Server) proxyInfo(w http.ResponseWriter, r *http.Request) {
	pb, ok := s.proxyBackend(w)
	if !ok {
		return
	}
	info := pb.Proxy()
	if info.Routes == nil {
		info.Routes = []ProxyRoute{}
	}
	reply(w, info, nil)
}

// proxyStatus takes the master's verdict: only root (the master) may post
// it, even on a socket its owner may use.
func (s *Server) proxyStatus(w http.ResponseWriter, r *http.Request) {
	if p, ok := PeerFrom(r.Context()); !ok || p.UID != 0 {
		writeError(w, http.StatusForbidden, Errorf(Failed, "permission denied: only the roost master (root) posts the proxy status"))
		return
	}
	pb, ok := s.proxyBackend(w)
	if !ok {
		return
	}
	var st ProxyStatus
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxRequestBody))
	if err := dec.Decode(&st); err != nil {
		writeError(w, 0, Errorf(IncorrectParameters, "body: want a proxy status: %v", err))
		return
	}
	reply(w, struct{}{}, pb.SetProxyStatus(st))
}

// rollingRestart is POST /processes/{name}/restart?rolling=true.
func (s *Server) rollingRestart(ctx context.Context, t target) ([]Result, error) {
	rb, err := backendAs[RollingBackend](s.b, "this supervisor does not do rolling restarts")
	if err != nil {
		return nil, err
	}
	if t.all {
		return nil, Errorf(BadArguments, "a rolling restart takes one program or group, not all")
	}
	return rb.RollingRestart(ctx, t.namespec)
}

// Proxy describes the supervisor's [proxy:NAME] sections and the master's
// verdict on them.
func (c *Client) Proxy(ctx context.Context) (ProxyInfo, error) {
	var v ProxyInfo
	err := c.call(ctx, http.MethodGet, "proxy", nil, nil, &v)
	return v, err
}

// SetProxyStatus posts the master's verdict (root only).
func (c *Client) SetProxyStatus(ctx context.Context, st ProxyStatus) error {
	body, err := json.Marshal(st)
	if err != nil {
		return err
	}
	return c.call(ctx, http.MethodPost, "proxy/status", nil, bytes.NewReader(body), nil)
}

// RollingRestart restarts a program's processes one at a time ("web",
// "web:*"), each RUNNING and ready before the next stops.
func (c *Client) RollingRestart(ctx context.Context, name string) ([]Result, error) {
	return c.processAction(ctx, name, "restart", url.Values{"rolling": {"true"}}, nil)
}
