package health

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"roost/config"
)

// TestProbe runs each kind against real loopback servers.
func TestProbe(t *testing.T) {
	code := http.StatusOK
	hang := make(chan struct{})
	defer close(hang)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/hang" {
			select {
			case <-hang:
			case <-r.Context().Done():
			}
			return
		}
		w.WriteHeader(code)
	}))
	defer srv.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	check := func(kind config.HealthKind, target string) *config.HealthCheck {
		return &config.HealthCheck{Kind: kind, Target: target, Argv: []string{"x"}, Timeout: time.Second, Retries: 1, Interval: time.Second}
	}
	ctx := context.Background()
	if err := Probe(ctx, check(config.HealthHTTP, srv.URL+"/health"), nil); err != nil {
		t.Errorf("200: %v", err)
	}
	code = http.StatusServiceUnavailable
	if err := Probe(ctx, check(config.HealthHTTP, srv.URL+"/health"), nil); err == nil || !strings.Contains(err.Error(), "HTTP 503") {
		t.Errorf("503: %v", err)
	}
	if err := Probe(ctx, check(config.HealthHTTP, srv.URL+"/hang"), nil); err == nil || !strings.Contains(err.Error(), "no answer within 1s") {
		t.Errorf("hung: %v", err)
	}
	if err := Probe(ctx, check(config.HealthTCP, srv.Listener.Addr().String()), nil); err != nil {
		t.Errorf("tcp open: %v", err)
	}
	if err := Probe(ctx, check(config.HealthTCP, closed), nil); err == nil || !strings.HasPrefix(err.Error(), "tcp "+closed+": ") {
		t.Errorf("tcp closed: %v", err)
	}
	fail := func(context.Context, []string) (string, error) { return "db down", errors.New("exit status 2") }
	if err := Probe(ctx, check(config.HealthExec, "x"), fail); err == nil || err.Error() != "exec x: exit status 2: db down" {
		t.Errorf("exec: %v", err)
	}
}
