package api_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"roost/supervisor/api"
	"roost/supervisor/api/apitest"
)

// proxyBackend adds the proxy and rolling-restart sides to the fake.
type proxyBackend struct {
	*apitest.Backend
	mu      sync.Mutex
	info    api.ProxyInfo
	rolling []string
}

func (b *proxyBackend) Proxy() api.ProxyInfo {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.info
}

func (b *proxyBackend) SetProxyStatus(st api.ProxyStatus) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.info.Status = &st
	return nil
}

func (b *proxyBackend) RollingRestart(_ context.Context, name string) ([]api.Result, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.rolling = append(b.rolling, name)
	if name == "nope" {
		return nil, api.Errorf(api.BadName, "%s", name)
	}
	return []api.Result{{Name: "web_0", Group: name, Status: api.Success, Description: "OK"}}, nil
}

func TestProxyResources(t *testing.T) {
	b := &proxyBackend{Backend: fakeBackend(), info: api.ProxyInfo{Project: "/home/alice/current", Routes: []api.ProxyRoute{{
		Section: "proxy:web", Program: "web", Hosts: []string{"alice.example.test"},
		Static:    []api.ProxyStatic{{Prefix: "/static/", Dir: "/home/alice/current/static"}},
		Upstreams: []string{"127.0.0.1:20000", "127.0.0.1:20001"},
	}}}}
	path, _ := serve(t, b, api.ServerOptions{})
	c := dial(t, path)
	ctx := ctxT(t)
	got, err := c.Proxy(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(b.info, got); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}
	// The test runs as root, the master's uid: it may post the verdict.
	st := api.ProxyStatus{Time: 42, Routes: []api.ProxyRouteStatus{{Section: "proxy:web", Served: true, Problems: []string{"x"}}}}
	if err := c.SetProxyStatus(ctx, st); err != nil {
		t.Fatal(err)
	}
	got, _ = c.Proxy(ctx)
	if got.Status == nil || got.Status.Time != 42 || !got.Status.Routes[0].Served {
		t.Errorf("status %+v", got.Status)
	}

	res, err := c.RollingRestart(ctx, "web")
	if err != nil || len(res) != 1 || res[0].Name != "web_0" {
		t.Errorf("rolling: %v %v", res, err)
	}
	var fe *api.Error
	if _, err := c.RollingRestart(ctx, "nope"); !errors.As(err, &fe) || fe.Code != api.BadName {
		t.Errorf("rolling nope: %v", err)
	}
	if _, err := c.RollingRestart(ctx, "all"); !errors.As(err, &fe) || fe.Code != api.BadArguments {
		t.Errorf("rolling all: %v", err)
	}
	if b.rolling[0] != "web" || len(b.rolling) != 2 {
		t.Errorf("rolling calls %v", b.rolling)
	}
	// A plain restart is still supervisord's.
	if _, err := c.Restart(ctx, "web", true); err != nil || len(b.rolling) != 2 {
		t.Errorf("plain restart: %v, rolling calls %v", err, b.rolling)
	}

	// A backend without the proxy side answers UNKNOWN_METHOD.
	plain, _ := serve(t, fakeBackend(), api.ServerOptions{})
	pc := dial(t, plain)
	if _, err := pc.Proxy(ctx); !errors.As(err, &fe) || fe.Code != api.UnknownMethod {
		t.Errorf("plain backend proxy: %v", err)
	}
	if _, err := pc.RollingRestart(ctx, "web"); !errors.As(err, &fe) || fe.Code != api.UnknownMethod {
		t.Errorf("plain backend rolling: %v", err)
	}
}
