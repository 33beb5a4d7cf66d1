package supervisor

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"roost/config"
	"roost/internal/testutil"
	"roost/supervisor/api"
)

// freeBlock finds n consecutive free TCP ports on loopback, below the
// ephemeral range (32768 and up): a client's ephemeral port would keep a
// restarted server from binding its own.
func freeBlock(t *testing.T, n int) int {
	t.Helper()
	for try := 0; try < 100; try++ {
		base := 10000 + rand.IntN(22000)
		var lns []net.Listener
		ok := true
		for i := 0; i < n && ok; i++ {
			ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", base+i))
			if err != nil {
				ok = false
				break
			}
			lns = append(lns, ln)
		}
		for _, ln := range lns {
			ln.Close()
		}
		if ok {
			return base
		}
	}
	t.Fatal("no free port block")
	return 0
}

// proxyProject writes a supervisord.conf with a web program of two
// processes behind a proxy section (conf is formatted with the test
// binary, the listen delay and the health status) and returns a loader for
// it with a port block in the environment.
func proxyProject(t *testing.T, base int, conf string) (string, func() (*config.Config, error)) {
	t.Helper()
	dir := t.TempDir()
	file := filepath.Join(dir, "supervisord.conf")
	if err := os.WriteFile(file, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	env := []string{"PATH=/usr/bin:/bin", fmt.Sprintf("ROOST_PORT_BASE=%d", base), "ROOST_PORT_COUNT=4"}
	return file, func() (*config.Config, error) { return config.Load(file, config.LoadOptions{Env: env, Dir: dir}) }
}

// startWeb runs a supervisor on a proxyProject of webConf(delay, code, "1",
// "alice.example.test") in a free block of 4 ports, and waits until both
// web processes listen. It returns the block's first port and the file.
func startWeb(t *testing.T, delay, code string) (*harness, int, string) {
	t.Helper()
	base := freeBlock(t, 4)
	file, load := proxyProject(t, base, webConf(delay, code, "1", "alice.example.test"))
	cfg, err := load()
	if err != nil {
		t.Fatal(err)
	}
	h := start(t, cfg, func(o *Options) { o.Load = load })
	waitListening(t, base)
	waitListening(t, base+1)
	return h, base, file
}

func webConf(delay, code, version, hosts string) string {
	return fmt.Sprintf(`[supervisord]
logfile=%%(here)s/supervisord.log
childlogdir=%%(here)s
loglevel=debug
silent=true
[program:web]
command=%s helper http:%s:%s
process_name=web_%%(process_num)d
numprocs=2
startsecs=0
stopwaitsecs=10
environment=ROOST_TEST_HELPER="1",VERSION="%s"
[proxy:web]
hosts=%s
health_path=/healthz
`, testBin, delay, code, version, hosts)
}

// watchPorts dials every port every few milliseconds until stop is closed
// and counts the moments when none answered. The caller makes sure every
// port answers before.
func watchPorts(ports []int, stop <-chan struct{}) (allDown *atomic.Int64, done <-chan struct{}) {
	allDown = &atomic.Int64{}
	d := make(chan struct{})
	go func() {
		defer close(d)
		for {
			select {
			case <-stop:
				return
			case <-time.After(2 * time.Millisecond):
			}
			up := 0
			for _, p := range ports {
				c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", p), time.Second)
				if err == nil {
					c.Close()
					up++
				}
			}
			if up == 0 {
				allDown.Add(1)
			}
		}
	}()
	return allDown, d
}

func waitListening(t *testing.T, port int) {
	t.Helper()
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	testutil.Eventually(t, 30*time.Second, "a listener on "+addr, func() bool {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
}

// A rolling restart takes one process at a time and waits until the new
// one answers its health path before stopping the next, although
// startsecs=0 makes it RUNNING long before it listens: at no moment does
// neither process accept connections.
func TestRollingRestart(t *testing.T) {
	h, base, file := startWeb(t, "400ms", "200")

	info := h.s.Proxy()
	if len(info.Routes) != 1 || strings.Join(info.Routes[0].Upstreams, " ") != fmt.Sprintf("127.0.0.1:%d 127.0.0.1:%d", base, base+1) ||
		info.Routes[0].HealthPath != "/healthz" || info.Project != filepath.Dir(file) {
		t.Fatalf("Proxy() = %+v", info)
	}

	stop := make(chan struct{})
	allDown, watched := watchPorts([]int{base, base + 1}, stop)
	from := h.eventCount()
	begin := time.Now()
	res, err := h.s.RollingRestart(context.Background(), "web")
	close(stop)
	<-watched
	if err != nil || len(res) != 2 || res[0].Status != api.Success || res[1].Status != api.Success ||
		res[0].Name != "web_0" || res[1].Name != "web_1" {
		t.Fatalf("RollingRestart: %+v %v", res, err)
	}
	if n := allDown.Load(); n > 0 {
		t.Errorf("both processes were down %d times during the rolling restart", n)
	}
	i0, start0 := h.waitState(5*time.Second, from, "web_0", api.Starting)
	i1, stop1 := h.waitState(5*time.Second, from, "web_1", api.Stopping)
	if i1 < i0 || time.Unix(0, stop1.Time).Sub(time.Unix(0, start0.Time)) < 400*time.Millisecond {
		t.Errorf("web_1 was stopped %v after web_0 started, before web_0 could answer; events:%s",
			time.Unix(0, stop1.Time).Sub(time.Unix(0, start0.Time)), h.eventList())
	}
	if took := time.Since(begin); took < 800*time.Millisecond {
		t.Errorf("the rolling restart took %v: it did not wait for readiness", took)
	}
	if log := h.mainLog(); strings.Count(log, "is ready (GET http://127.0.0.1:") != 2 {
		t.Errorf("main log lacks the two readiness lines:\n%s", log)
	}

	// "web:*" and a single process work too; an unknown name is BAD_NAME.
	if res, err := h.s.RollingRestart(context.Background(), "web:web_1"); err != nil || len(res) != 1 || res[0].Status != api.Success {
		t.Errorf("one process: %+v %v", res, err)
	}
	if _, err := h.s.RollingRestart(context.Background(), "nope"); api.CodeOf(err) != api.BadName {
		t.Errorf("nope: %v", err)
	}
}

// A process whose health path fails stops the rolling restart: the other
// process keeps running the whole time.
func TestRollingRestartStopsWhenNotReady(t *testing.T) {
	h, _, _ := startWeb(t, "0s", "503")
	h.s.readyTimeout = 1500 * time.Millisecond
	pid1 := h.info("web:web_1").PID
	res, err := h.s.RollingRestart(context.Background(), "web")
	if err != nil || len(res) != 1 || res[0].Name != "web_0" || res[0].Status != api.AbnormalTermination ||
		!strings.Contains(res[0].Description, "HTTP 503") {
		t.Fatalf("RollingRestart: %+v %v", res, err)
	}
	if pi := h.info("web:web_1"); pi.PID != pid1 || pi.State != api.Running {
		t.Errorf("web_1 was touched: %+v", pi)
	}
}

// update of a changed program with numprocs >= 2 rolls: the processes are
// replaced one at a time, each ready before the next goes, and a change
// of the proxy sections is announced with ROOST_PROXY_CHANGED.
func TestUpdateRolls(t *testing.T) {
	h, base, file := startWeb(t, "400ms", "200")
	h.s.SetProxyStatus(api.ProxyStatus{Routes: []api.ProxyRouteStatus{{Section: "proxy:web", Served: true}}})
	if st := h.s.Proxy().Status; st == nil || st.Time == 0 || !st.Routes[0].Served {
		t.Errorf("status: %+v", st)
	}

	if err := os.WriteFile(file, []byte(webConf("400ms", "200", "2", "alice.example.test, www.alice.example.test")), 0o644); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	allDown, watched := watchPorts([]int{base, base + 1}, stop)
	from := h.eventCount()
	ch, err := h.s.Update(context.Background(), nil)
	close(stop)
	<-watched
	if err != nil || strings.Join(ch.Changed, ",") != "web" {
		t.Fatalf("Update: %+v %v", ch, err)
	}
	if n := allDown.Load(); n > 0 {
		t.Errorf("both processes were down %d times during the update", n)
	}
	i0, _ := h.waitState(5*time.Second, from, "web_0", api.Running)
	i1, _ := h.waitState(5*time.Second, from, "web_1", api.Stopping)
	if i1 < i0 {
		t.Errorf("web_1 stopped before web_0 was back; events:%s", h.eventList())
	}
	h.waitFor(5*time.Second, from, "ROOST_PROXY_CHANGED", func(ev api.Event) bool { return ev.Type == api.EventProxyChanged })
	if hosts := h.s.Proxy().Routes[0].Hosts; len(hosts) != 2 {
		t.Errorf("hosts after update: %v", hosts)
	}
	for _, p := range []int{base, base + 1} {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", p))
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(c, "GET / HTTP/1.0\r\n\r\n")
		b := make([]byte, 4096)
		var got strings.Builder
		for {
			n, err := c.Read(b)
			got.Write(b[:n])
			if err != nil {
				break
			}
		}
		c.Close()
		if !strings.HasSuffix(got.String(), " 2\n") {
			t.Errorf("port %d still runs the old version: %q", p, got.String())
		}
	}
}
