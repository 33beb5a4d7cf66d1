package api

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

type statusOnly struct {
	Backend
	got *ProxyStatus
}

func (s *statusOnly) Proxy() ProxyInfo { return ProxyInfo{} }
func (s *statusOnly) SetProxyStatus(st ProxyStatus) error {
	s.got = &st
	return nil
}

// Only root posts the verdict: the socket's owner may read routes but not
// tell `roost proxy` that they are served.
func TestProxyStatusRootOnly(t *testing.T) {
	b := &statusOnly{}
	s := NewServer(b, ServerOptions{})
	s.euid = 1000 // a user's supervisor
	for _, c := range []struct {
		uid  int
		code int
	}{{1000, http.StatusForbidden}, {0, http.StatusOK}} {
		req := httptest.NewRequest("POST", "/api/v1/proxy/status", strings.NewReader(`{"time":1,"routes":[]}`))
		req = req.WithContext(context.WithValue(req.Context(), peerKey{}, Peer{UID: c.uid}))
		rec := httptest.NewRecorder()
		s.Handler().ServeHTTP(rec, req)
		if rec.Code != c.code {
			t.Errorf("uid %d: HTTP %d, want %d: %s", c.uid, rec.Code, c.code, rec.Body)
		}
		if (b.got != nil) != (c.uid == 0) {
			t.Errorf("uid %d: status recorded: %v", c.uid, b.got)
		}
	}
}
