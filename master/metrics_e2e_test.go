package master

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"roost/internal/testutil"
)

// The master's [metrics] endpoint with two real users: it passes promtool
// and the linter; each user's programs carry their user; a restart twice
// through the user's own socket is two starts more; a cron run is one run;
// an OOM kill under a program's memory_max is an exit of reason oom; and
// the master's own figures are there.
func TestE2EMetrics(t *testing.T) {
	e := newEnv(t, testutil.UserA, testutil.UserB)
	alice, bob := e.users[0], e.users[1]
	e.writeProject(alice, fmt.Sprintf("[supervisord]\n"+
		"[program:web]\ncommand=/bin/sleep 6101\nstartsecs=0\n"+
		"[program:small]\ncommand=%s hog 100\nstartsecs=0\nautorestart=false\nmemory_max=32M\n", helperExe))
	e.writeCron(alice, "# name: tick\n@every 1h /bin/true\n")
	e.writeProject(bob, sleepConf(6102))
	port := testutil.FreePort(t)
	e.writeConf([]string{alice.Name, bob.Name}, fmt.Sprintf("[metrics]\nlisten = \"127.0.0.1:%d\"\n", port))
	x := startMaster(t, e)
	x.waitUser(t, alice.Name, 30*time.Second, "running", running)
	x.waitUser(t, bob.Name, 30*time.Second, "running", running)
	url := fmt.Sprintf("http://127.0.0.1:%d/metrics", port)
	scrape := func() map[string]*dto.MetricFamily {
		t.Helper()
		c := &http.Client{Timeout: 30 * time.Second}
		resp, err := c.Get(url)
		if err != nil {
			t.Fatalf("scrape the master: %v", err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("scrape the master: %v %s\n%s", err, resp.Status, body)
		}
		return testutil.CheckMetrics(t, body, combinedRegistered)
	}
	val := func(fams map[string]*dto.MetricFamily, name string, labels ...string) float64 {
		t.Helper()
		v, ok := testutil.MetricValue(fams, name, labels...)
		if !ok {
			t.Fatalf("no single series %s%v in the master's exposition", name, labels)
		}
		return v
	}
	a, b := "user="+alice.Name, "user="+bob.Name
	var fams map[string]*dto.MetricFamily
	testutil.Eventually(t, 60*time.Second, "both users' web RUNNING and small OOM-killed in the master's metrics", func() bool {
		fams = scrape()
		wa, _ := testutil.MetricValue(fams, "roost_process_state", a, "program=web", "state=RUNNING")
		wb, _ := testutil.MetricValue(fams, "roost_process_state", b, "program=web", "state=RUNNING")
		oom, _ := testutil.MetricValue(fams, "roost_process_exits_total", a, "program=small", "reason=oom")
		return wa == 1 && wb == 1 && oom == 1
	})
	if v := val(fams, "roost_process_oom_kills_total", a, "program=small"); v != 1 {
		t.Errorf("small's OOM kills = %v, want 1", v)
	}
	if v := val(fams, "roost_process_exits_total", a, "program=small", "reason=unexpected"); v != 0 {
		t.Errorf("small's OOM kill also counted as unexpected: %v", v)
	}
	for _, u := range []string{a, b} {
		if v := val(fams, "roost_user_supervisor_state", u, "state=RUNNING"); v != 1 {
			t.Errorf("%s: supervisor RUNNING = %v", u, v)
		}
		if v := val(fams, "roost_user_metrics_up", u); v != 1 {
			t.Errorf("%s: metrics up = %v", u, v)
		}
		val(fams, "roost_user_supervisor_restarts_total", u)
	}
	if _, ok := testutil.MetricValue(fams, "roost_process_state", b, "program=small", "state=EXITED"); ok {
		t.Errorf("bob has alice's program small")
	}
	val(fams, "roost_nginx_applies_total")
	val(fams, "roost_nginx_apply_failures_total")
	starts := val(fams, "roost_process_starts_total", a, "program=web")
	bobStarts := val(fams, "roost_process_starts_total", b, "program=web")

	sock := filepath.Join(x.runDir, "users", alice.Name, SocketName)
	for range 2 {
		if out, code := exitOf(t, asUser(alice, x.bin, "-s", sock, "restart", "web")); code != 0 {
			t.Fatalf("roost restart web: exit %d\n%s", code, out)
		}
	}
	if out, code := exitOf(t, asUser(alice, x.bin, "-s", sock, "cron", "run", "tick")); code != 0 {
		t.Fatalf("roost cron run tick: exit %d\n%s", code, out)
	}
	testutil.Eventually(t, 30*time.Second, "two more starts of web and a cron run", func() bool {
		fams = scrape()
		s, _ := testutil.MetricValue(fams, "roost_process_starts_total", a, "program=web")
		r, _ := testutil.MetricValue(fams, "roost_cron_runs_total", a, "job=tick")
		return s >= starts+2 && r >= 1
	})
	if v := val(fams, "roost_process_starts_total", a, "program=web"); v != starts+2 {
		t.Errorf("alice's web starts = %v after two restarts, want %v", v, starts+2)
	}
	if v := val(fams, "roost_cron_runs_total", a, "job=tick"); v != 1 {
		t.Errorf("alice's tick runs = %v, want 1", v)
	}
	if v := val(fams, "roost_process_starts_total", b, "program=web"); v != bobStarts {
		t.Errorf("bob's web starts moved with alice's restarts: %v, was %v", v, bobStarts)
	}

	// The master's own count: a restart of alice's supervisor.
	sup := val(fams, "roost_user_supervisor_restarts_total", a)
	if out, code := x.roost(t, "admin", "restart", alice.Name); code != 0 {
		t.Fatalf("roost admin restart: exit %d\n%s", code, out)
	}
	testutil.Eventually(t, 60*time.Second, "alice's supervisor restarted and answering", func() bool {
		fams = scrape()
		r, _ := testutil.MetricValue(fams, "roost_user_supervisor_restarts_total", a)
		up, _ := testutil.MetricValue(fams, "roost_user_metrics_up", a)
		return r == sup+1 && up == 1
	})
	if v := val(fams, "roost_user_supervisor_state", a, "state=RUNNING"); v != 1 {
		t.Errorf("alice's supervisor RUNNING = %v after its restart", v)
	}
}

// writeCron writes a user's project cron file, as the user owns it.
func (e *env) writeCron(a testutil.Account, body string) {
	e.t.Helper()
	cron := filepath.Join(a.Home, e.project, "cron")
	if err := os.WriteFile(cron, []byte(body), 0o644); err != nil {
		e.t.Fatal(err)
	}
	os.Chown(cron, a.UID, a.GID)
}
