package supervisor

import (
	"context"
	"fmt"
	"net"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"roost/supervisor/api"
)

// oneWebConf is webConf with numprocs=1: a program that restarts
// blue-green on its spare port.
func oneWebConf(delay, code, version string) string {
	return strings.Replace(strings.Replace(webConf(delay, code, version, "alice.example.test"), "numprocs=2\n", "numprocs=1\n", 1),
		"process_name=web_%(process_num)d\n", "", 1)
}

// fakeMaster answers each ROOST_PROXY_CHANGED as the master does once
// nginx runs the change: a verdict serving the upstreams Proxy() reports.
// It records every upstream list it served.
func fakeMaster(t *testing.T, h *harness) func() [][]string {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	ch := h.s.Subscribe(ctx)
	served := make(chan []string, 100)
	post := func() {
		var routes []api.ProxyRouteStatus
		info := h.s.Proxy()
		for _, r := range info.Routes {
			routes = append(routes, api.ProxyRouteStatus{Section: r.Section, Served: true, Upstreams: r.Upstreams})
			select {
			case served <- r.Upstreams:
			default:
			}
		}
		h.s.SetProxyStatus(api.ProxyStatus{Routes: routes, Generation: info.Generation})
	}
	post()
	go func() {
		for ev := range ch {
			if ev.Type == api.EventProxyChanged {
				post()
			}
		}
	}()
	return func() [][]string {
		var out [][]string
		for {
			select {
			case u := <-served:
				out = append(out, u)
			default:
				return out
			}
		}
	}
}

// A numprocs=1 program behind a proxy restarts blue-green: the new
// process starts on the spare port and must answer its health path while
// the old one serves; the route lists both, then the new one only, and
// only then does the old one stop. At no moment does neither port
// answer. The next restart goes back to the first port; update of a
// changed program takes the same path.
func TestBlueGreenRestart(t *testing.T) {
	base := freeBlock(t, 4)
	file, load := proxyProject(t, base, oneWebConf("400ms", "200", "1"))
	cfg, err := load()
	if err != nil {
		t.Fatal(err)
	}
	h := start(t, cfg, func(o *Options) { o.Load = load })
	waitListening(t, base)
	spare := base + 3
	served := fakeMaster(t, h)
	upstreams := func() string { return strings.Join(h.s.Proxy().Routes[0].Upstreams, " ") }
	addr := func(p int) string { return fmt.Sprintf("127.0.0.1:%d", p) }
	if upstreams() != addr(base) {
		t.Fatalf("upstreams %q", upstreams())
	}
	restart := func(what string, from, to int, do func() error) {
		t.Helper()
		pid := h.info("web").PID
		served()
		stop := make(chan struct{})
		allDown, watched := watchPorts([]int{base, spare}, stop)
		err := do()
		close(stop)
		<-watched
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if n := allDown.Load(); n > 0 {
			t.Errorf("%s: no port answered %d times", what, n)
		}
		pi := h.info("web")
		if pi.PID == pid || pi.State != api.Running || upstreams() != addr(to) {
			t.Errorf("%s: web %+v (was pid %d), upstreams %q, want %s", what, pi, pid, upstreams(), addr(to))
		}
		seq := served()
		if !slices.ContainsFunc(seq, func(u []string) bool { return strings.Join(u, " ") == addr(from)+" "+addr(to) }) {
			t.Errorf("%s: the route never listed both processes: %v", what, seq)
		}
		if c, err := net.Dial("tcp", addr(from)); err == nil {
			c.Close()
			t.Errorf("%s: the old process still listens on %d", what, from)
		}
		if n := len(h.s.Proxy().Routes[0].Upstreams); n != 1 {
			t.Errorf("%s: %d upstreams after the restart", what, n)
		}
	}
	rolling := func() error {
		res, err := h.s.RollingRestart(context.Background(), "web")
		if err == nil && (len(res) != 1 || res[0].Status != api.Success) {
			err = fmt.Errorf("%+v", res)
		}
		return err
	}
	restart("first restart", base, spare, rolling)
	restart("second restart", spare, base, rolling)
	if log := h.mainLog(); strings.Count(log, "blue-green restart of web done") != 2 {
		t.Errorf("main log:\n%s", log)
	}

	// update of the changed program: the same path, on the new version.
	if err := os.WriteFile(file, []byte(oneWebConf("400ms", "200", "2")), 0o644); err != nil {
		t.Fatal(err)
	}
	restart("update", base, spare, func() error {
		ch, err := h.s.Update(context.Background(), nil)
		if err == nil && strings.Join(ch.Changed, ",") != "web" {
			err = fmt.Errorf("update: %+v", ch)
		}
		return err
	})
	c, err := net.Dial("tcp", addr(spare))
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(c, "GET / HTTP/1.0\r\n\r\n")
	b := make([]byte, 4096)
	n, _ := c.Read(b)
	for n < len(b) {
		m, err := c.Read(b[n:])
		n += m
		if err != nil {
			break
		}
	}
	c.Close()
	if !strings.HasSuffix(string(b[:n]), " 2\n") {
		t.Errorf("after the update the spare port serves %q", b[:n])
	}

	// A change of priority alone restarts nothing, on the spare port too.
	pid := h.info("web").PID
	if err := os.WriteFile(file, []byte(strings.Replace(oneWebConf("400ms", "200", "2"), "[program:web]\n", "[program:web]\npriority=5\n", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	if ch, err := h.s.Update(context.Background(), nil); err != nil || strings.Join(ch.Changed, ",") != "web" {
		t.Fatalf("update of the priority: %+v %v", ch, err)
	}
	if pi := h.info("web"); pi.PID != pid || upstreams() != addr(spare) {
		t.Errorf("a priority change restarted web: %+v (was pid %d), upstreams %q", pi, pid, upstreams())
	}
}

// A new process that does not become ready is stopped: the old one, never
// touched, keeps serving on its port and stays the only upstream.
func TestBlueGreenNotReady(t *testing.T) {
	base := freeBlock(t, 4)
	file, load := proxyProject(t, base, oneWebConf("0s", "200", "1"))
	cfg, err := load()
	if err != nil {
		t.Fatal(err)
	}
	h := start(t, cfg, func(o *Options) { o.Load = load })
	waitListening(t, base)
	h.s.readyTimeout = 1500 * time.Millisecond
	fakeMaster(t, h)
	pid := h.info("web").PID
	// The file now says the health path fails: update's new process is
	// never ready.
	if err := os.WriteFile(file, []byte(oneWebConf("0s", "503", "2")), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := h.s.Update(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	if pi := h.info("web"); pi.PID != pid || pi.State != api.Running {
		t.Errorf("the old process was touched: %+v (pid was %d)", pi, pid)
	}
	if u := h.s.Proxy().Routes[0].Upstreams; len(u) != 1 || u[0] != fmt.Sprintf("127.0.0.1:%d", base) {
		t.Errorf("upstreams %v", u)
	}
	if c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", base+3)); err == nil {
		c.Close()
		t.Error("the new process still listens on the spare port")
	}
	if log := h.mainLog(); !strings.Contains(log, "blue-green restart of web abandoned") || !strings.Contains(log, "HTTP 503") {
		t.Errorf("main log:\n%s", log)
	}
}
