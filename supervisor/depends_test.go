package supervisor

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"roost/internal/testutil"
	"roost/supervisor/api"
)

// orderProgram is a program that appends "start NAME" to order.log when it
// starts and "stop NAME" when it is stopped.
func orderProgram(name, extra string) string {
	return fmt.Sprintf(`[program:%[1]s]
command=/bin/sh -c 'echo start %[1]s >> order.log; trap "echo stop %[1]s >> order.log; kill \$! 2>/dev/null; exit 0" TERM; sleep 1000 & wait'
directory=%%(here)s
startsecs=0
stopwaitsecs=5
%[2]s
`, name, extra)
}

// lines returns order.log's lines once it has n (a started program
// writes its line soon after it is RUNNING, with startsecs=0).
func lines(t *testing.T, dir string, n int) []string {
	t.Helper()
	var ls []string
	testutil.Eventually(t, 30*time.Second, fmt.Sprintf("%d lines in order.log", n), func() bool {
		b, _ := os.ReadFile(filepath.Join(dir, "order.log"))
		ls = strings.Split(strings.TrimSpace(string(b)), "\n")
		return len(ls) >= n
	})
	return ls
}

// before reports whether line a comes before line b in ls (both present).
func before(ls []string, a, b string) bool {
	i, j := slices.Index(ls, a), slices.Index(ls, b)
	return i >= 0 && j >= 0 && i < j
}

// TestDependsOnOrder: web (priority 1) depends on db (900, with a check
// that passes two seconds after its start) and cache (999). It starts after
// both, db healthy; it stops before them, at shutdown and at `stop all`;
// `start web` starts db and cache first.
func TestDependsOnOrder(t *testing.T) {
	conf := orderProgram("web", "priority=1\ndepends_on=db,cache") +
		strings.Replace(orderProgram("db", "priority=900\nhealthcheck=exec:test -e db.ready\nhealthcheck_interval=1\nhealthcheck_retries=10"),
			"echo start db >> order.log;", "rm -f db.ready; echo start db >> order.log; (sleep 2; touch db.ready) &", 1) +
		orderProgram("cache", "priority=999")
	cfg, dir, load := loadConf(t, conf)
	h := start(t, cfg, func(o *Options) { o.Load = load })
	testutil.Eventually(t, 30*time.Second, "web waiting in status", func() bool {
		pi := h.info("web")
		return pi.Description == "Not started, waiting for db, cache (depends_on)"
	})
	h.waitState(60*time.Second, 0, "web", api.Running)
	ls := lines(t, dir, 3)
	if !before(ls, "start db", "start web") || !before(ls, "start cache", "start web") {
		t.Fatalf("start order: %q", ls)
	}
	if pi := h.info("db"); pi.Health != api.HealthHealthy {
		t.Errorf("web started while db is %q", pi.Health)
	}
	_, hdb := h.waitFor(time.Second, 0, "db healthy", isHealth("db", api.HealthHealthy))
	_, rweb := h.waitState(time.Second, 0, "web", api.Running)
	if hdb.Time > rweb.Time {
		t.Errorf("web RUNNING before db was healthy")
	}

	// stop all: dependents first.
	os.Remove(filepath.Join(dir, "order.log"))
	res := h.s.StopAll(context.Background(), true)
	if len(res) != 3 {
		t.Fatalf("stop all: %+v", res)
	}
	ls = lines(t, dir, 3)
	if !before(ls, "stop web", "stop db") || !before(ls, "stop web", "stop cache") {
		t.Fatalf("stop all order: %q", ls)
	}

	// start web: its dependencies first.
	os.Remove(filepath.Join(dir, "order.log"))
	if err := h.s.StartProcess(context.Background(), "web", true); err != nil {
		t.Fatalf("start web: %v", err)
	}
	ls = lines(t, dir, 3)
	if !before(ls, "start db", "start web") || !before(ls, "start cache", "start web") {
		t.Fatalf("start web order: %q", ls)
	}

	// Shutdown: dependents first (supervisord's reverse priority order
	// would stop cache, then db, then web).
	os.Remove(filepath.Join(dir, "order.log"))
	h.stop()
	ls = lines(t, dir, 3)
	if !before(ls, "stop web", "stop db") || !before(ls, "stop web", "stop cache") || len(ls) != 3 {
		t.Fatalf("shutdown order: %q", ls)
	}
}

// TestDependsOnFatalDependency: a dependency that cannot start makes
// `start` fail with its name, and the dependent is not started.
func TestDependsOnFatalDependency(t *testing.T) {
	conf := orderProgram("web", "depends_on=db\nautostart=false") + `[program:db]
command=/bin/sh -c "exit 3"
startsecs=1
startretries=0
autostart=false
`
	cfg, _, load := loadConf(t, conf)
	h := start(t, cfg, func(o *Options) { o.Load = load })
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	err := h.s.StartProcess(ctx, "web", true)
	if err == nil || !strings.Contains(err.Error(), "dependency db is FATAL") {
		t.Fatalf("start web with a failing db: %v", err)
	}
	if st := h.info("web").State; st != api.Stopped {
		t.Errorf("web is %s", st)
	}
}

// TestUpdateDependsOnOnly: an update that changes only depends_on keeps
// the process running; one that changes its healthcheck restarts it.
func TestUpdateDependsOnOnly(t *testing.T) {
	base := "[program:db]\ncommand=/bin/sleep 1000\nstartsecs=0\n[program:web]\ncommand=/bin/sleep 1000\nstartsecs=0\n"
	cfg, dir, load := loadConf(t, base)
	h := start(t, cfg, func(o *Options) { o.Load = load })
	h.waitState(60*time.Second, 0, "web", api.Running)
	pid := h.info("web").PID
	rewrite := func(extra string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, "supervisord.conf"), []byte(confHead+base+extra), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := h.s.Update(context.Background(), nil); err != nil {
			t.Fatal(err)
		}
	}
	rewrite("depends_on=db\n")
	if pi := h.info("web"); pi.PID != pid || pi.State != api.Running {
		t.Fatalf("web after a depends_on change: %+v (pid was %d)", pi, pid)
	}
	rewrite("depends_on=db\nhealthcheck=exec:/bin/true\n")
	h.waitFor(60*time.Second, 0, "web healthy", isHealth("web", api.HealthHealthy))
	if pi := h.info("web"); pi.PID == pid {
		t.Fatalf("web kept pid %d after its check changed", pid)
	}
}
