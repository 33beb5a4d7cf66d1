package metrics_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"roost/deploy"
	"roost/internal/testutil"
	"roost/supervisor/api"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testutil.RemoveRoostBinary()
	os.Exit(code)
}

// scrapeSocket GETs /metrics on a control socket.
func scrapeSocket(t *testing.T, sock string) []byte {
	t.Helper()
	hc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", sock)
		}}}
	resp, err := hc.Get("http://roost/metrics")
	if err != nil {
		t.Fatalf("scrape %s: %v", sock, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("scrape %s: %v %s\n%s", sock, err, resp.Status, body)
	}
	return body
}

func value(t *testing.T, fams map[string]*dto.MetricFamily, name string, labels ...string) float64 {
	t.Helper()
	v, ok := testutil.MetricValue(fams, name, labels...)
	if !ok {
		t.Fatalf("no single series %s%v in the exposition", name, labels)
	}
	return v
}

// A real `roost run`: its socket's /metrics passes promtool and the
// linter, and its counters follow what was done: two restarts are two
// starts, two stops and two restarts more; a cron run is one run, a
// failing one a failure; an exit is counted with its reason.
func TestSupervisorMetrics(t *testing.T) {
	bin := testutil.RoostBinary(t, nil)
	dir := t.TempDir()
	sock := filepath.Join(dir, "roost.sock")
	src := t.TempDir()
	cron := filepath.Join(dir, "cron")
	must(t, os.WriteFile(filepath.Join(src, "supervisord.conf"), []byte(fmt.Sprintf(`[unix_http_server]
file=%[1]s/roost.sock
[supervisord]
logfile=%[1]s/roost.log
childlogdir=%[1]s
[program:web]
command=/bin/sh -c 'echo hello from web; exec sleep 1000'
startsecs=0
stopsignal=KILL
healthcheck=exec:/bin/true
[program:flaky]
command=/bin/sh -c 'exit 3'
startsecs=0
autorestart=false
[program:idle]
command=/bin/sleep 1000
autostart=false
`, dir)), 0o644))
	// The project is a deploy's: one release built, one failed.
	l := deploy.Layout{Home: dir, Repo: filepath.Join(dir, "repo.git"), Current: filepath.Join(dir, "current"),
		Releases: filepath.Join(dir, "releases"), LogDir: dir, Branch: "main", Keep: 3,
		Timeout: time.Minute, Socket: filepath.Join(dir, "no-supervisor-yet.sock"), Roost: bin}
	var dout strings.Builder
	if _, err := deploy.Deploy(context.Background(), l, deploy.Source{Dir: src}, &dout, deploy.Options{Env: os.Environ()}); err != nil {
		t.Fatalf("deploy: %v\n%s", err, dout.String())
	}
	bad := t.TempDir()
	must(t, os.WriteFile(filepath.Join(bad, "supervisord.conf"), []byte("[program:x]\nstartsecs=soon\n"), 0o644))
	if _, err := deploy.Deploy(context.Background(), l, deploy.Source{Dir: bad}, &dout, deploy.Options{Env: os.Environ()}); err == nil {
		t.Fatalf("a broken release deployed:\n%s", dout.String())
	}
	conf := filepath.Join(l.Current, "supervisord.conf")
	must(t, os.WriteFile(cron, []byte("# name: tick\n@every 1h /bin/true\n# name: bad\n@every 1h /bin/sh -c 'exit 2'\n"), 0o644))
	cmd := exec.Command(bin, "run", "-c", conf, "--cron", cron, "--no-watch")
	cmd.Dir = dir
	out := &testutil.Buffer{}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	must(t, cmd.Start())
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(60 * time.Second):
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
		if t.Failed() {
			t.Logf("roost run output:\n%s", out)
		}
	})
	var c *api.Client
	testutil.Eventually(t, 30*time.Second, "the control socket", func() bool {
		var err error
		c, err = api.Dial(sock)
		return err == nil
	})
	defer c.Close()
	ctx := context.Background()
	testutil.Eventually(t, 30*time.Second, "web RUNNING and flaky EXITED", func() bool {
		web, err1 := c.Process(ctx, "web")
		flaky, err2 := c.Process(ctx, "flaky")
		return err1 == nil && err2 == nil && web.State == api.Running && web.Health == api.HealthHealthy && flaky.State == api.Exited
	})

	fams := testutil.CheckMetrics(t, scrapeSocket(t, sock), nil)
	if v := value(t, fams, "roost_process_state", "program=web", "state=RUNNING"); v != 1 {
		t.Errorf("web RUNNING = %v", v)
	}
	if v := value(t, fams, "roost_process_health", "program=web", "health=healthy"); v != 1 {
		t.Errorf("web healthy = %v", v)
	}
	if _, ok := testutil.MetricValue(fams, "roost_process_health", "program=idle"); ok {
		t.Errorf("idle, without a check, has a health")
	}
	if v := value(t, fams, "roost_process_state", "program=idle", "state=STOPPED"); v != 1 {
		t.Errorf("idle STOPPED = %v", v)
	}
	if v := value(t, fams, "roost_process_exits_total", "program=flaky", "reason=unexpected"); v != 1 {
		t.Errorf("flaky's unexpected exits = %v, want 1", v)
	}
	if v := value(t, fams, "roost_process_exits_total", "program=idle", "reason=expected"); v != 0 {
		t.Errorf("idle's exits = %v, want 0", v)
	}
	starts := value(t, fams, "roost_process_starts_total", "program=web")
	restarts := value(t, fams, "roost_process_restarts_total", "program=web")
	if starts != 1 || restarts != 0 {
		t.Errorf("web: starts %v, restarts %v; want 1 and 0", starts, restarts)
	}
	if v := value(t, fams, "roost_process_resident_memory_bytes", "program=web"); v <= 0 {
		t.Errorf("web's resident memory = %v", v)
	}
	value(t, fams, "roost_process_cpu_seconds_total", "program=web")
	value(t, fams, "roost_process_uptime_seconds", "program=web")
	if v := value(t, fams, "roost_cron_runs_total", "job=tick"); v != 0 {
		t.Errorf("tick's runs = %v before any", v)
	}
	if c, f := value(t, fams, "roost_deploy_releases", "state=current"), value(t, fams, "roost_deploy_releases", "state=failed"); c != 1 || f != 1 {
		t.Errorf("releases: %v current, %v failed; want 1 and 1", c, f)
	}
	if ok, fail := value(t, fams, "roost_deploy_last_success_time_seconds"), value(t, fams, "roost_deploy_last_failure_time_seconds"); ok <= 0 || fail < ok {
		t.Errorf("last success %v, last failure %v: want the failure after the success", ok, fail)
	}

	for range 2 {
		if _, err := c.Restart(ctx, "web", true); err != nil {
			t.Fatalf("restart web: %v", err)
		}
	}
	must(t, c.RunCronJob(ctx, "tick"))
	must(t, c.RunCronJob(ctx, "bad"))
	// The counters come from the event stream: wait for them to arrive.
	testutil.Eventually(t, 30*time.Second, "the restarts and cron runs in the metrics", func() bool {
		fams = testutil.CheckMetrics(t, scrapeSocket(t, sock), nil)
		s, _ := testutil.MetricValue(fams, "roost_process_starts_total", "program=web")
		f, _ := testutil.MetricValue(fams, "roost_cron_failures_total", "job=bad")
		r, _ := testutil.MetricValue(fams, "roost_cron_runs_total", "job=tick")
		return s >= starts+2 && f >= 1 && r >= 1
	})
	if v := value(t, fams, "roost_process_starts_total", "program=web"); v != starts+2 {
		t.Errorf("web's starts after two restarts = %v, want %v", v, starts+2)
	}
	if v := value(t, fams, "roost_process_restarts_total", "program=web"); v != restarts+2 {
		t.Errorf("web's restarts after two restarts = %v, want %v", v, restarts+2)
	}
	if v := value(t, fams, "roost_process_exits_total", "program=web", "reason=stopped"); v != 2 {
		t.Errorf("web's stops = %v, want 2", v)
	}
	if v := value(t, fams, "roost_cron_runs_total", "job=tick"); v != 1 {
		t.Errorf("tick's runs = %v, want 1", v)
	}
	if v := value(t, fams, "roost_cron_failures_total", "job=tick"); v != 0 {
		t.Errorf("tick's failures = %v, want 0", v)
	}
	if v := value(t, fams, "roost_cron_last_exit_status", "job=bad"); v != 2 {
		t.Errorf("bad's last exit status = %v, want 2", v)
	}
	// "hello from web\n" per start (a restart may kill one before it
	// speaks): the counter is what the file, new with this supervisor,
	// holds.
	web, err := c.Process(ctx, "web")
	must(t, err)
	var size int64
	testutil.Eventually(t, 30*time.Second, "web's log bytes to be its log's size", func() bool {
		fams = testutil.CheckMetrics(t, scrapeSocket(t, sock), nil)
		v, _ := testutil.MetricValue(fams, "roost_process_log_bytes_total", "program=web", "stream=stdout")
		st, err := os.Stat(web.StdoutLogfile)
		if err == nil {
			size = st.Size()
		}
		return size >= int64(len("hello from web\n")) && v == float64(size)
	})
	if strings.Contains(out.String(), "panic") {
		t.Errorf("roost run panicked:\n%s", out)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
