package supervisor

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"roost/config"
	"roost/internal/procfs"
	"roost/internal/testutil"
	"roost/supervisor/api"
)

// confHead is the [supervisord] section of loadConf's files.
const confHead = "[supervisord]\nlogfile=%(here)s/supervisord.log\nchildlogdir=%(here)s\nloglevel=debug\nsilent=true\n"

// loadConf writes conf as supervisord.conf in a temp directory (with a
// [supervisord] section logging there) and loads it with config.Load,
// so the test runs what a user's file says.
func loadConf(t *testing.T, conf string) (*config.Config, string, func() (*config.Config, error)) {
	t.Helper()
	dir := t.TempDir()
	file := filepath.Join(dir, "supervisord.conf")
	if err := os.WriteFile(file, []byte(confHead+conf), 0o644); err != nil {
		t.Fatal(err)
	}
	load := func() (*config.Config, error) {
		return config.Load(file, config.LoadOptions{Env: []string{"PATH=/usr/bin:/bin"}, Dir: dir})
	}
	cfg, err := load()
	if err != nil {
		t.Fatal(err)
	}
	return cfg, dir, load
}

func isHealth(name string, h api.Health) func(api.Event) bool {
	return func(ev api.Event) bool {
		return ev.Name == name && ev.Type == "HEALTH_"+strings.ToUpper(string(h))
	}
}

// healthRestart runs web (a config of one program named web whose check
// fails once dir/flag exists), waits until it is healthy, creates the
// flag and waits until it is UNHEALTHY, restarted (a new pid RUNNING) and
// healthy again. It returns the time from the flag to the new RUNNING,
// and checks it against interval × retries + stopwaitsecs (+ timeouts,
// the new process's startsecs and a margin for a loaded machine).
func healthRestart(t *testing.T, conf string, during func(h *harness)) time.Duration {
	t.Helper()
	cfg, dir, load := loadConf(t, conf)
	hc := cfg.Processes()[0].Health
	// The race-built helper may take a while to listen on a loaded
	// machine: its startsecs gives it that time before the first check.
	stopwait := cfg.Processes()[0].StopWaitSecs + cfg.Processes()[0].StartSecs
	h := start(t, cfg, func(o *Options) { o.Load = load })
	h.waitFor(60*time.Second, 0, "web healthy", isHealth("web", api.HealthHealthy))
	if pi := h.info("web"); pi.Health != api.HealthHealthy || strings.Contains(pi.Description, "UNHEALTHY") {
		t.Fatalf("healthy web: %+v", pi)
	}
	pid1 := h.info("web").PID
	from := h.eventCount()
	t0 := time.Now()
	if err := os.WriteFile(filepath.Join(dir, "flag"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	i, ev := h.waitFor(60*time.Second, from, "web unhealthy", isHealth("web", api.HealthUnhealthy))
	if !strings.Contains(ev.Message, fmt.Sprintf("%d of %d failures in a row", hc.Retries, hc.Retries)) {
		t.Errorf("unhealthy event: %+v", ev)
	}
	if during != nil {
		during(h)
	}
	_, run := h.waitFor(60*time.Second, i, "web RUNNING again", func(ev api.Event) bool {
		return ev.Name == "web" && ev.To == api.Running && ev.Type == "PROCESS_STATE_RUNNING" && ev.PID != pid1
	})
	took := time.Unix(0, run.Time).Sub(t0)
	bound := time.Duration(hc.Retries)*(hc.Interval+hc.Timeout) + stopwait
	t.Logf("%s: unhealthy to restarted in %v (bound %v + margin)", hc.Kind, took.Round(time.Millisecond), bound)
	if took > bound+10*time.Second {
		t.Errorf("restart took %v, more than interval × retries + timeouts + stopwaitsecs = %v (+10 s)", took, bound)
	}
	h.waitFor(60*time.Second, i, "web healthy again", isHealth("web", api.HealthHealthy))
	if !strings.Contains(h.mainLog(), "web is UNHEALTHY: ") {
		t.Errorf("the main log does not say UNHEALTHY:\n%s", h.mainLog())
	}
	if alive(pid1) {
		t.Errorf("the unhealthy process %d still runs", pid1)
	}
	return took
}

func TestHealthHTTPRestartsHungServer(t *testing.T) {
	port := freeBlock(t, 1)
	healthRestart(t, fmt.Sprintf(`[program:web]
command=%s helper serve-until:http:%%(here)s/flag
environment=ROOST_TEST_HELPER="1",PORT="%d"
startsecs=2
stopwaitsecs=3
healthcheck=http://127.0.0.1:%%(ENV_PORT)s/healthz
healthcheck_interval=1
healthcheck_timeout=1
healthcheck_retries=2
`, testBin, port), nil)
}

// TestHealthTCPUnhealthyStatus: the server ignores SIGTERM, so it is
// STOPPING for stopwaitsecs, and status shows why meanwhile.
func TestHealthTCPUnhealthyStatus(t *testing.T) {
	port := freeBlock(t, 1)
	healthRestart(t, fmt.Sprintf(`[program:web]
command=%s helper serve-until:tcp:%%(here)s/flag
environment=ROOST_TEST_HELPER="1",PORT="%d",IGNORE_TERM="1"
startsecs=2
stopwaitsecs=5
healthcheck=tcp:%%(ENV_PORT)s
healthcheck_interval=1
healthcheck_timeout=1
healthcheck_retries=3
`, testBin, port), func(h *harness) {
		pi := h.info("web")
		if pi.Health != api.HealthUnhealthy || !strings.Contains(pi.Description, "UNHEALTHY: tcp 127.0.0.1:") ||
			!strings.Contains(pi.HealthDetail, "3 of 3 failures in a row") {
			t.Errorf("status while the unhealthy web stops: %+v", pi)
		}
	})
}

// TestHealthExecTimeoutKillsGroup: an exec check runs in the program's
// directory with its environment; one that hangs is killed at the
// timeout, with what it started.
func TestHealthExecTimeoutKillsGroup(t *testing.T) {
	check := `test ! -e flag || { sleep 100 & echo $! > gc.pid; wait; }; test "$CHECK_ENV" = yes`
	healthRestart(t, fmt.Sprintf(`[program:web]
command=/bin/sh -c "rm -f flag; exec sleep 1000"
directory=%%(here)s
environment=CHECK_ENV="yes"
startsecs=0
stopwaitsecs=2
healthcheck=exec:/bin/sh -c '%s'
healthcheck_interval=1
healthcheck_timeout=1
healthcheck_retries=2
`, check), func(h *harness) {
		gc := readPid(t, filepath.Join(filepath.Dir(h.cfg.File), "gc.pid"))
		deadline := time.Now().Add(10 * time.Second)
		for {
			pi, err := procfs.Read(gc)
			if err != nil || pi.State == 'Z' {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the timed-out check's sleep %d still runs", gc)
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
}

// TestHealthNoCheckNoHealth: a program without a check has no health and
// no HEALTH_ events.
func TestHealthNoCheckNoHealth(t *testing.T) {
	cfg, _, load := loadConf(t, "[program:plain]\ncommand=/bin/sleep 1000\nstartsecs=0\n")
	h := start(t, cfg, func(o *Options) { o.Load = load })
	h.waitState(30*time.Second, 0, "plain", api.Running)
	if pi := h.info("plain"); pi.Health != "" {
		t.Errorf("health of a program without a check: %q", pi.Health)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, ev := range h.events {
		if strings.HasPrefix(ev.Type, "HEALTH_") {
			t.Errorf("event %+v", ev)
		}
	}
}

// TestRollingRestartUsesHealthCheck: a rolling restart waits for the
// program's own check when it declares one.
func TestRollingRestartUsesHealthCheck(t *testing.T) {
	cfg, _, load := loadConf(t, `[program:web]
command=/bin/sh -c 'trap "rm -f ready; exit 0" TERM; sleep 1; touch ready; sleep 1000 & wait'
directory=%(here)s
startsecs=0
healthcheck=exec:test -e ready
healthcheck_interval=1
healthcheck_retries=30
`)
	h := start(t, cfg, func(o *Options) { o.Load = load })
	h.waitFor(60*time.Second, 0, "web healthy", isHealth("web", api.HealthHealthy))
	begin := time.Now()
	res, err := h.s.RollingRestart(t.Context(), "web")
	if err != nil || len(res) != 1 || res[0].Status != api.Success {
		t.Fatalf("rolling restart: %v %+v", err, res)
	}
	if took := time.Since(begin); took < 900*time.Millisecond {
		t.Errorf("the rolling restart took %v: it did not wait for the check", took)
	}
	if !strings.Contains(h.mainLog(), "web is ready (exec test -e ready)") {
		t.Errorf("main log:\n%s", h.mainLog())
	}
}

// TestHealthExecRunsAsUser: the exec check of a program with user= runs
// as that user (with that user's groups), in the program's directory.
func TestHealthExecRunsAsUser(t *testing.T) {
	testutil.RequireRoot(t)
	alice := testutil.RequireUser(t, "roost-alice")
	work, err := os.MkdirTemp("", "roost-health-user-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(work) })
	if err := os.Chmod(work, 0o777); err != nil {
		t.Fatal(err)
	}
	cfg, _, load := loadConf(t, fmt.Sprintf(`[program:web]
command=/bin/sleep 1000
user=roost-alice
directory=%s
startsecs=0
healthcheck=exec:/bin/sh -c 'id -un > who.tmp && mv who.tmp who'
healthcheck_interval=30
`, work))
	h := start(t, cfg, func(o *Options) { o.Load = load })
	h.waitFor(60*time.Second, 0, "web healthy", isHealth("web", api.HealthHealthy))
	who := filepath.Join(work, "who")
	b, err := os.ReadFile(who)
	if err != nil || strings.TrimSpace(string(b)) != alice.Name {
		t.Fatalf("the check ran as %q (%v), want %s", b, err, alice.Name)
	}
	if st, err := os.Stat(who); err != nil || int(st.Sys().(*syscall.Stat_t).Uid) != alice.UID {
		t.Errorf("who is not %s's: %v", alice.Name, err)
	}
}
