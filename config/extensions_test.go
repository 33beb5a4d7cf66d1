package config

import (
	"slices"
	"testing"
	"time"
)

func TestHealthCheckKinds(t *testing.T) {
	cases := []struct {
		value  string
		kind   HealthKind
		target string
		argv   []string
	}{
		{"http://127.0.0.1:%(ENV_PORT)s/health", HealthHTTP, "http://127.0.0.1:8000/health", nil},
		{"https://localhost/", HealthHTTP, "https://localhost/", nil},
		{"tcp:%(ENV_PORT)s", HealthTCP, "127.0.0.1:8000", nil},
		{"tcp:localhost:6379", HealthTCP, "localhost:6379", nil},
		{"tcp:[::1]:80", HealthTCP, "[::1]:80", nil},
		{"exec:/usr/bin/pg_isready -q -h '/run/a b'", HealthExec, "/usr/bin/pg_isready -q -h '/run/a b'", []string{"/usr/bin/pg_isready", "-q", "-h", "/run/a b"}},
	}
	for _, c := range cases {
		cfg := mustLoad(t, "[program:a]\ncommand=/bin/a\nhealthcheck="+c.value+"\n")
		hc := cfg.Processes()[0].Health
		if hc == nil || hc.Kind != c.kind || hc.Target != c.target || !slices.Equal(hc.Argv, c.argv) {
			t.Errorf("%s: got %+v", c.value, hc)
			continue
		}
		if hc.Interval != 10*time.Second || hc.Timeout != 5*time.Second || hc.Retries != 3 {
			t.Errorf("%s: defaults: got %+v", c.value, hc)
		}
	}
	cfg := mustLoad(t, "[program:a]\ncommand=/bin/a\n")
	if p := cfg.Processes()[0]; p.Health != nil || p.DependsOn != nil || p.Notify || p.WatchdogSec != 0 {
		t.Errorf("a program without the keys: %+v", p)
	}
}

// TestHealthCheckPerProcessPort: with numprocs, each process checks its
// own port (the check is read inside the numprocs loop).
func TestHealthCheckPerProcessPort(t *testing.T) {
	cfg := mustLoad(t, `[program:a]
command=/bin/a
process_name=a%(process_num)d
numprocs=2
healthcheck=tcp:90%(process_num)02d
`)
	ps := cfg.Processes()
	if len(ps) != 2 || ps[0].Health.Target != "127.0.0.1:9000" || ps[1].Health.Target != "127.0.0.1:9001" {
		t.Fatalf("got %+v, %+v", ps[0].Health, ps[1].Health)
	}
}

func TestExtensionErrors(t *testing.T) {
	cases := []struct {
		name, conf, pos, sub string
	}{
		{"unknown kind", "[program:a]\ncommand=/bin/a\nhealthcheck=udp:53", "supervisord.conf:4", "unknown health check"},
		{"tcp port", "[program:a]\ncommand=/bin/a\nhealthcheck=tcp:99999", "supervisord.conf:4", "not between 1 and 65535"},
		{"tcp port empty", "[program:a]\ncommand=/bin/a\nhealthcheck=tcp:", "supervisord.conf:4", "not between 1 and 65535"},
		{"http no host", "[program:a]\ncommand=/bin/a\nhealthcheck=http:///x", "supervisord.conf:4", "not a URL"},
		{"http userinfo", "[program:a]\ncommand=/bin/a\nhealthcheck=http://u:p@h/", "supervisord.conf:4", "not a URL"},
		{"exec empty", "[program:a]\ncommand=/bin/a\nhealthcheck=exec:", "supervisord.conf:4", "needs a command"},
		{"exec quote", "[program:a]\ncommand=/bin/a\nhealthcheck=exec:/bin/x 'open", "supervisord.conf:4", "cannot split"},
		{"interval zero", "[program:a]\ncommand=/bin/a\nhealthcheck=tcp:80\nhealthcheck_interval=0", "supervisord.conf:5", "1 or more"},
		{"retries word", "[program:a]\ncommand=/bin/a\nhealthcheck=tcp:80\nhealthcheck_retries=many", "supervisord.conf:5", "not an integer"},
		{"watchdog without notify", "[program:a]\ncommand=/bin/a\nwatchdog_sec=5", "supervisord.conf:4", "needs notify = true"},
		{"notify bool", "[program:a]\ncommand=/bin/a\nnotify=maybe", "supervisord.conf:4", "not a boolean"},
		{"missing dependency", "[program:web]\ncommand=/bin/a\ndepends_on=dbb\n[program:db]\ncommand=/bin/b", "supervisord.conf:4", "no [program:dbb] in the configuration (did you mean db?)"},
		{"self", "[program:web]\ncommand=/bin/a\ndepends_on=web", "supervisord.conf:4", "a cycle: web -> web"},
		{"cycle", "[program:a]\ncommand=/bin/a\ndepends_on=b\n[program:b]\ncommand=/bin/b\ndepends_on=c\n[program:c]\ncommand=/bin/c\ndepends_on=a",
			"supervisord.conf:10", "a cycle: a -> b -> c -> a"},
		{"empty name", "[program:a]\ncommand=/bin/a\ndepends_on=b,,c", "supervisord.conf:4", "an empty name"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { wantErrorAt(t, c.conf, c.pos, c.sub) })
	}
}

func TestExtensionWarnings(t *testing.T) {
	cfg := mustLoad(t, "[program:a]\ncommand=/bin/a\nhealthcheck_retries=5\n[eventlistener:e]\ncommand=/bin/cat\nevents=TICK_5\nhealthcheck=tcp:80\n")
	var knob, listener bool
	for _, w := range cfg.Warnings {
		knob = knob || (w.Pos.Line == 4 && w.Key == "healthcheck_retries")
		listener = listener || (w.Pos.Line == 8 && w.Key == "healthcheck")
	}
	if !knob || !listener {
		t.Errorf("want warnings at lines 4 (a knob without healthcheck) and 8 (not for event listeners), got %v", cfg.Warnings)
	}
	if cfg.Group("e").Processes[0].Health != nil {
		t.Error("an event listener got a health check")
	}
	cfg = mustLoad(t, "[program:web]\ncommand=/bin/a\ndepends_on=db, cache ,db\n[program:db]\ncommand=/bin/b\n[program:cache]\ncommand=/bin/c\n")
	if got := cfg.ProcessesOf("web")[0].DependsOn; !slices.Equal(got, []string{"db", "cache"}) {
		t.Errorf("depends_on: got %q", got)
	}
}
