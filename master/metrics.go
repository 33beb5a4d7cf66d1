package master

import (
	"context"
	"errors"
	"net"
	"net/http"
	"path/filepath"
	"time"

	"roost/metrics"
)

// The master's Prometheus endpoint (roost.toml [metrics] listen): its own
// figures and every user's, scraped from their sockets at each scrape
// (metrics.Master). Off by default; the address is read at start.

var _ metrics.MasterSource = (*Master)(nil)

// MetricsUsers lists the users for the metrics, with their sockets.
func (m *Master) MetricsUsers() []metrics.UserTarget {
	sts := m.statuses()
	out := make([]metrics.UserTarget, 0, len(sts))
	for _, st := range sts {
		out = append(out, metrics.UserTarget{
			Name: st.Name, UID: st.UID, State: st.State.String(), Restarts: st.Restarts,
			Socket:  filepath.Join(m.usersDir, st.Name, SocketName),
			Running: st.State == UserRunning && st.UID > 0,
		})
	}
	return out
}

// NginxApplies returns the nginx installs done and failed.
func (m *Master) NginxApplies() (applied, failed int64) {
	return m.router.installs.Load(), m.router.installFailures.Load()
}

// serveMetrics serves /metrics on addr until ctx ends; the returned
// channel closes when it has stopped.
func (m *Master) serveMetrics(ctx context.Context, addr string) (<-chan struct{}, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", metrics.NewMaster(m).Handler())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, WriteTimeout: time.Minute}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			m.log.Error("metrics endpoint stopped", "listen", addr, "err", err)
		}
	}()
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	m.log.Info("serving metrics", "url", "http://"+ln.Addr().String()+"/metrics")
	return done, nil
}
