package main

import (
	"os/exec"
	"strings"
	"testing"
	"time"

	"roost/internal/testutil"
	"roost/supervisor/api"
)

// extensionPrograms uses every roost key of [program:x].
const extensionPrograms = `[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface
[supervisorctl]
serverurl=unix://%(here)s/roost.sock
[program:db]
command=/bin/sleep 1000
healthcheck=exec:/bin/true
healthcheck_interval=5
healthcheck_timeout=2
healthcheck_retries=2
[program:web]
command=/bin/sleep 1000
depends_on=db
healthcheck=tcp:127.0.0.1:9
[program:worker]
command=/bin/sleep 1000
autostart=false
notify=true
watchdog_sec=30
`

// TestExtensionKeysPortable: a file with healthcheck=, depends_on=,
// notify= and watchdog_sec= passes roost check and runs unchanged under
// Debian's supervisord 4.2.5, which ignores the keys; under roost db
// becomes healthy and web starts after it.
func TestExtensionKeysPortable(t *testing.T) {
	conf, sock := project(t, "", extensionPrograms)
	out, err := roostCmd("check", "-c", conf).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "web: starts after db (depends_on); health check tcp 127.0.0.1:9 every 10s (timeout 5s), restarted after 3 failures in a row\n") ||
		!strings.Contains(string(out), "worker: RUNNING at READY=1 (notify), restarted after 30s without WATCHDOG=1\n") ||
		strings.Contains(string(out), "unknown option") {
		t.Fatalf("roost check: %v\n%s", err, out)
	}

	sv := testutil.RequireBinary(t, "supervisord")
	ctl := testutil.RequireBinary(t, "supervisorctl")
	svp := startProc(t, exec.Command(sv, "-n", "-c", conf))
	var status string
	testutil.Eventually(t, 60*time.Second, "supervisord runs db and web", func() bool {
		b, _ := exec.Command(ctl, "-c", conf, "status").CombinedOutput()
		s := string(b)
		status = s
		return strings.Count(s, "RUNNING") == 2 && strings.Contains(s, "worker") && strings.Contains(s, "STOPPED")
	})
	t.Logf("supervisorctl status:\n%s", status)
	exec.Command(ctl, "-c", conf, "shutdown").Run()
	svp.wait(t, 60*time.Second)

	p := startProc(t, roostCmd("run", "-c", conf))
	c := dialWhenUp(t, sock, p)
	infos := waitState(t, c, "db and web running", allRunning("db", "web"))
	var db, web api.ProcessInfo
	for _, in := range infos {
		switch in.Name {
		case "db":
			db = in
		case "web":
			web = in
		}
	}
	if web.Start < db.Start {
		t.Errorf("db %+v\nweb %+v", db, web)
	}
	// Nothing listens on port 9: web's check fails, and status says so.
	waitState(t, c, "web's check failing", func(infos []api.ProcessInfo) bool {
		for _, in := range infos {
			if in.Name == "web" {
				return in.Health == api.HealthFailing && strings.Contains(in.Description, "health check failing: tcp 127.0.0.1:9")
			}
		}
		return false
	})
}

// TestCheckDependencyErrors: a cycle or a missing name in depends_on is a
// file:line error of roost check (exit 1), and roost run refuses the file
// as it refuses any invalid one (exit 2).
func TestCheckDependencyErrors(t *testing.T) {
	cases := []struct{ programs, want string }{
		{"[program:a]\ncommand=/bin/sleep 1\ndepends_on=b\n[program:b]\ncommand=/bin/sleep 1\ndepends_on=a\n",
			"supervisord.conf:13: [program:b] depends_on: a cycle: a -> b -> a"},
		{"[program:web]\ncommand=/bin/sleep 1\ndepends_on=db\n",
			"supervisord.conf:10: [program:web] depends_on: no [program:db] in the configuration"},
	}
	for _, c := range cases {
		conf, _ := project(t, "", c.programs)
		out, err := roostCmd("check", "-c", conf).CombinedOutput()
		if exitCode(err) != 1 || !strings.Contains(string(out), c.want) {
			t.Errorf("roost check: %v\n%s\nwant %q", err, out, c.want)
		}
		out, err = roostCmd("run", "-c", conf).CombinedOutput()
		if exitCode(err) != 2 || !strings.Contains(string(out), c.want) {
			t.Errorf("roost run: %v\n%s\nwant %q", err, out, c.want)
		}
	}
}
