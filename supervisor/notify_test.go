package supervisor

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"roost/internal/testutil"
	"roost/sdnotify"
	"roost/supervisor/api"
)

// notifyPy is a notify program in Python: it waits for the file named by
// its first argument, sleeps its second argument (seconds), sends READY=1
// with a STATUS=, then pings WATCHDOG=1 every 0.3 s while ./hang does not
// exist.
const notifyPy = `import os, socket, sys, time
if os.path.exists("hang"):
    os.remove("hang")
env = "env-" + os.environ["SUPERVISOR_PROCESS_NAME"]
with open(env + ".tmp", "w") as f:
    f.write(os.environ.get("NOTIFY_SOCKET", "") + "\n" + os.environ.get("WATCHDOG_USEC", "") + "\n")
os.rename(env + ".tmp", env)  # readers never see half of it
while not os.path.exists(sys.argv[1]):
    time.sleep(0.05)
time.sleep(float(sys.argv[2]))
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.sendto(b"READY=1\nSTATUS=serving 3 clients", os.environ["NOTIFY_SOCKET"])
while True:
    if not os.path.exists("hang"):
        s.sendto(b"WATCHDOG=1", os.environ["NOTIFY_SOCKET"])
    time.sleep(0.3)
`

// spoofPy sends READY=1 to the socket a notify program wrote to env-a,
// from a process that is not that program's.
const spoofPy = `import os, socket, time
while not os.path.exists("env-a"):
    time.sleep(0.05)
path = open("env-a").read().split("\n")[0]
socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM).sendto(b"READY=1", path)
open("b.sent", "w").close()
time.sleep(1000)
`

// startPython runs conf (PYTHON in it is python3) with the scripts above
// in its directory.
func startPython(t *testing.T, conf string) (*harness, string) {
	t.Helper()
	python := testutil.RequireBinary(t, "python3")
	cfg, dir, load := loadConf(t, strings.ReplaceAll(conf, "PYTHON", python))
	for name, text := range map[string]string{"notify.py": notifyPy, "spoof.py": spoofPy} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return start(t, cfg, func(o *Options) { o.Load = load }), dir
}

// TestNotifyReady: a notify program is STARTING until it sends READY=1
// (startsecs does not make it RUNNING), and a READY=1 from another program
// or from a process that is no program does not count.
func TestNotifyReady(t *testing.T) {
	h, dir := startPython(t, `[program:a]
command=PYTHON notify.py b.sent 2
directory=%(here)s
notify=true
startsecs=1
[program:b]
command=PYTHON spoof.py
directory=%(here)s
startsecs=0
`)
	_, starting := h.waitState(60*time.Second, 0, "a", api.Starting)
	env := strings.Split(string(waitFile(t, filepath.Join(dir, "env-a"))), "\n")
	if !strings.HasPrefix(env[0], "/") || env[1] != "" {
		t.Fatalf("a's NOTIFY_SOCKET and WATCHDOG_USEC: %q", env)
	}
	// From the supervisor's own process (no program's): dropped.
	if err := sdnotify.Send(env[0], "READY=1"); err != nil {
		t.Fatal(err)
	}
	waitFile(t, filepath.Join(dir, "b.sent"))
	st, err := os.Stat(filepath.Join(dir, "b.sent"))
	if err != nil {
		t.Fatal(err)
	}
	_, running := h.waitState(60*time.Second, 0, "a", api.Running)
	if d := time.Unix(0, running.Time).Sub(st.ModTime()); d < 1500*time.Millisecond {
		t.Errorf("a became RUNNING %v after b sent READY=1 for it: before its own READY=1 (2 s later)", d)
	}
	if d := time.Unix(0, running.Time).Sub(time.Unix(0, starting.Time)); d < 2*time.Second {
		t.Errorf("a was STARTING for %v only", d)
	}
	if n := strings.Count(h.mainLog(), "which is no notify=true program's"); n < 2 {
		t.Errorf("%d READY=1 of others dropped, want 2:\n%s", n, h.mainLog())
	}
	if !strings.Contains(h.mainLog(), "success: a entered RUNNING state, it sent READY=1 (notify)") {
		t.Errorf("main log:\n%s", h.mainLog())
	}
	testutil.Eventually(t, 10*time.Second, "STATUS= in a's description", func() bool {
		pi := h.info("a")
		return strings.HasSuffix(pi.Description, ", serving 3 clients") && pi.NotifyStatus == "serving 3 clients"
	})
}

// TestNotifyWatchdog: a notify program that stops pinging for watchdog_sec
// is restarted; while it pings it is not.
func TestNotifyWatchdog(t *testing.T) {
	h, dir := startPython(t, `[program:c]
command=PYTHON notify.py notify.py 0
directory=%(here)s
notify=true
watchdog_sec=3
stopwaitsecs=2
`)
	_, run1 := h.waitState(60*time.Second, 0, "c", api.Running)
	env := strings.Split(string(waitFile(t, filepath.Join(dir, "env-c"))), "\n")
	if env[1] != "3000000" {
		t.Errorf("WATCHDOG_USEC=%q", env[1])
	}
	// Pinging every 0.3 s: still the same process after more than watchdog_sec.
	time.Sleep(4 * time.Second) // a window where nothing may happen, not a synchronisation
	if pi := h.info("c"); pi.PID != run1.PID || pi.State != api.Running {
		t.Fatalf("a pinging program was restarted: %+v; events:%s", pi, h.eventList())
	}
	from := h.eventCount()
	t0 := time.Now()
	if err := os.WriteFile(filepath.Join(dir, "hang"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	i, ev := h.waitFor(60*time.Second, from, "watchdog timeout", func(ev api.Event) bool {
		return ev.Name == "c" && ev.Type == "WATCHDOG_TIMEOUT"
	})
	if ev.PID != run1.PID || !strings.Contains(ev.Message, "no WATCHDOG=1 for 3s") {
		t.Errorf("event: %+v", ev)
	}
	_, run2 := h.waitFor(60*time.Second, i, "c RUNNING again", func(ev api.Event) bool {
		return ev.Name == "c" && ev.Type == "PROCESS_STATE_RUNNING" && ev.PID != run1.PID
	})
	t.Logf("hang to restarted: %v", time.Unix(0, run2.Time).Sub(t0).Round(time.Millisecond))
	if !strings.Contains(h.mainLog(), "c: watchdog timeout: no WATCHDOG=1 for 3s; restarting it") {
		t.Errorf("main log:\n%s", h.mainLog())
	}
}

// TestNotifyExitBeforeReady: a notify program that exits before READY=1
// did not start (BACKOFF, then FATAL), whatever startsecs says.
func TestNotifyExitBeforeReady(t *testing.T) {
	cfg, _, load := loadConf(t, `[program:d]
command=/bin/sh -c "sleep 0.2"
notify=true
startsecs=0
startretries=1
`)
	h := start(t, cfg, func(o *Options) { o.Load = load })
	h.waitState(60*time.Second, 0, "d", api.Fatal)
	for _, st := range h.states("d") {
		if st == api.Running {
			t.Fatalf("d was RUNNING: %v", h.states("d"))
		}
	}
}
