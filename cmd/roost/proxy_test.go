package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"roost/supervisor/api"
)

func TestWriteProxy(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	info := api.ProxyInfo{Project: "/home/alice/current", Routes: []api.ProxyRoute{
		{Section: "proxy:web", Program: "web", Hosts: []string{"alice.example.test", "www.alice.example.test"},
			Static:     []api.ProxyStatic{{Prefix: "/static/", Dir: "/home/alice/current/static"}},
			HealthPath: "/healthz", Upstreams: []string{"127.0.0.1:20000", "127.0.0.1:20001"}},
		{Section: "proxy:api", Program: "api", Hosts: []string{"bob.example.test"}, Upstreams: []string{"127.0.0.1:20002"}},
		{Section: "proxy:new", Program: "new", Hosts: []string{"new.alice.example.test"}, Upstreams: []string{}},
	}}
	var b bytes.Buffer
	writeProxy(&b, info, now)
	if got := b.String(); !strings.Contains(got, "unknown") || !strings.Contains(got, "no verdict from the roost master") ||
		!strings.Contains(got, "[proxy:new] ! no PORT") {
		t.Errorf("without a verdict:\n%s", got)
	}

	info.Status = &api.ProxyStatus{Time: now.Unix() - 3, Routes: []api.ProxyRouteStatus{
		{Section: "proxy:web", Served: true, Upstreams: []string{"127.0.0.1:20000"},
			Problems: []string{"upstream 127.0.0.1:20001 is not routed: the socket listening on it belongs to uid 1002 (bob), not to alice"}},
		{Section: "proxy:api", Problems: []string{`host "bob.example.test" belongs to bob`}},
	}}
	b.Reset()
	writeProxy(&b, info, now)
	want := `SECTION    PROGRAM  STATUS    HOSTS                                       UPSTREAMS
proxy:web  web      served    alice.example.test, www.alice.example.test  127.0.0.1:20000
proxy:api  api      rejected  bob.example.test                            127.0.0.1:20002
proxy:new  new      pending   new.alice.example.test                      -
  [proxy:web] static /static/ -> /home/alice/current/static
  [proxy:web] health path /healthz
  [proxy:web] ! upstream 127.0.0.1:20001 is not routed: the socket listening on it belongs to uid 1002 (bob), not to alice
  [proxy:api] ! host "bob.example.test" belongs to bob
  [proxy:new] ! no PORT: run under the roost master, or set PORT in the environment of ` + "`roost run`" + `
verdict of the roost master, 3s ago
`
	if got := b.String(); got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}

	// nginx -t fails on the main configuration: the change waits, and the
	// user is told it is not their file.
	pending := "nginx -t fails on the main configuration (not your file)"
	info.Status.Pending = pending
	info.Status.Routes[0].Pending = pending
	info.Status.Routes = append(info.Status.Routes, api.ProxyRouteStatus{Section: "proxy:new", Pending: pending})
	b.Reset()
	writeProxy(&b, info, now)
	got := b.String()
	for _, w := range []string{
		"proxy:web  web      served, change pending  alice.example.test",
		"proxy:new  new      pending                 new.alice.example.test",
		"! pending: " + pending + "\n",
	} {
		if !strings.Contains(got, w) {
			t.Errorf("pending: no %q in\n%s", w, got)
		}
	}
}
