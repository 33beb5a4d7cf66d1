package supervisor

import (
	"context"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"roost/config"
	"roost/internal/testutil"
	"roost/supervisor/api"
	"roost/supervisor/api/xmlrpc"
)

// TestRealSupervisorctl drives the runtime with the real supervisorctl
// (Debian's supervisor 4.2.5) over the XML-RPC adapter: the oracle's own
// client must see supervisord's answers, including `update` (which
// supervisorctl performs as stop/remove/add calls).
func TestRealSupervisorctl(t *testing.T) {
	ctl := testutil.RequireBinary(t, "supervisorctl")
	dir := t.TempDir()
	sock := filepath.Join(dir, "roost.sock")
	conf := filepath.Join(dir, "supervisord.conf")
	write := func(extra string) {
		t.Helper()
		data := `[supervisord]
logfile=%(here)s/supervisord.log
childlogdir=%(here)s
silent=true
[unix_http_server]
file=` + sock + `
[supervisorctl]
serverurl=unix://` + sock + `
[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface
[program:web]
command=/bin/sleep 1000
startsecs=0
[program:quick]
command=/bin/sh -c "exit 1"
autostart=false
` + extra
		if err := os.WriteFile(conf, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("")
	cfg, err := config.Load(conf, config.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	h := start(t, cfg)
	h.waitState(5*time.Second, 0, "web", api.Running)

	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/RPC2", xmlrpc.NewHandler(h.s, xmlrpc.Options{}))
	srv := &http.Server{Handler: mux}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })

	run := func(args ...string) (string, int) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, ctl, append([]string{"-c", conf}, args...)...)
		// A plain exec.Cmd child of the process that runs a Supervisor:
		// the reaper must leave its exit to its own Wait.
		out, err := cmd.CombinedOutput()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatalf("supervisorctl %v: %v", args, err)
		}
		return string(out), code
	}

	if out, code := run("status", "web"); code != 0 || !strings.HasPrefix(out, "web ") || !strings.Contains(out, "RUNNING") {
		t.Errorf("status web: %d %q", code, out)
	}
	if out, code := run("start", "quick"); code != 7 || strings.TrimSpace(out) != "quick: ERROR (spawn error)" {
		t.Errorf("start quick: %d %q", code, out)
	}
	if out, _ := run("stop", "web"); strings.TrimSpace(out) != "web: stopped" {
		t.Errorf("stop web: %q", out)
	}
	if out, code := run("stop", "web"); code != 0 || strings.TrimSpace(out) != "web: ERROR (not running)" {
		t.Errorf("stop web again: %d %q", code, out)
	}
	if out, _ := run("start", "web"); strings.TrimSpace(out) != "web: started" {
		t.Errorf("start web: %q", out)
	}
	if out, code := run("start", "nope"); code != 1 || strings.TrimSpace(out) != "nope: ERROR (no such process)" {
		t.Errorf("start nope: %d %q", code, out)
	}

	write("[program:extra]\ncommand=/bin/sleep 1001\nstartsecs=0\n")
	if out, _ := run("reread"); strings.TrimSpace(out) != "extra: available" {
		t.Errorf("reread: %q", out)
	}
	if out, _ := run("update"); strings.TrimSpace(out) != "extra: added process group" {
		t.Errorf("update: %q", out)
	}
	h.waitState(5*time.Second, 0, "extra", api.Running)
	if out, _ := run("status", "extra"); !strings.Contains(out, "RUNNING") {
		t.Errorf("status extra: %q", out)
	}

	// supervisorctl's update of a changed group: stop, remove, add.
	pid := h.info("extra").PID
	write("[program:extra]\ncommand=/bin/sleep 1002\nstartsecs=0\n")
	if out, _ := run("update"); out != "extra: stopped\nextra: updated process group\n" {
		t.Errorf("update of a changed group: %q", out)
	}
	h.waitFor(5*time.Second, 0, "extra running again", func(ev api.Event) bool {
		return ev.Name == "extra" && ev.To == api.Running && ev.PID != pid
	})
}
