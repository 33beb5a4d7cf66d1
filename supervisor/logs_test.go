package supervisor

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"roost/config"
	"roost/internal/testutil"
	"roost/supervisor/api"
)

func TestProcessLogs(t *testing.T) {
	dir := t.TempDir()
	both := prog("both", "print:3", "stderr:oops", "sleep")
	both.StartSecs = 0
	redirected := prog("redirected", "print:2", "stderr:to-stdout", "sleep")
	redirected.StartSecs = 0
	redirected.RedirectStderr = true
	redirected.Stdout = config.LogConfig{File: filepath.Join(dir, "redirected.log"), MaxBytes: 1 << 20, Backups: 2}
	redirected.Stderr = config.LogConfig{}
	none := prog("none", "print:5", "sleep")
	none.StartSecs = 0
	none.Stdout, none.Stderr = config.LogConfig{}, config.LogConfig{}
	h := start(t, testConfig(t, homog(both, redirected, none)...))
	for _, n := range []string{"both", "redirected", "none"} {
		h.waitState(5*time.Second, 0, n, api.Running)
	}
	read := func(name string, st api.Stream) string {
		b, err := h.s.ReadProcessLog(name, st, 0, 0)
		if err != nil {
			t.Fatalf("ReadProcessLog(%s, %s): %v", name, st, err)
		}
		return string(b)
	}
	testutil.Eventually(t, 10*time.Second, "both's output", func() bool {
		return read("both", api.Stdout) == "line 1\nline 2\nline 3\n" && read("both", api.Stderr) == "oops\n"
	})
	testutil.Eventually(t, 10*time.Second, "redirected output", func() bool {
		out := read("redirected", api.Stdout)
		return strings.Contains(out, "line 2\n") && strings.Contains(out, "to-stdout\n")
	})
	if _, err := h.s.ReadProcessLog("redirected", api.Stderr, 0, 0); api.CodeOf(err) != api.NoFile {
		t.Errorf("stderr of a redirect_stderr program: %v, want NO_FILE", err)
	}
	if _, err := h.s.ReadProcessLog("none", api.Stdout, 0, 0); api.CodeOf(err) != api.NoFile {
		t.Errorf("NONE log: %v, want NO_FILE", err)
	}
	if b, off, over, err := h.s.TailProcessLog("none", api.Stdout, 0, 100); err != nil || len(b) != 0 || off != 0 || over {
		t.Errorf("tail of NONE: %q %d %v %v", b, off, over, err)
	}
	if _, err := h.s.ReadProcessLog("both", api.Stdout, 0, -1); api.CodeOf(err) != api.BadArguments {
		t.Errorf("negative length: %v, want BAD_ARGUMENTS", err)
	}
	if b, _ := h.s.ReadProcessLog("both", api.Stdout, -7, 0); string(b) != "line 3\n" {
		t.Errorf("last 7 bytes: %q", b)
	}
	b, off, over, err := h.s.TailProcessLog("both", api.Stdout, 0, 7)
	if err != nil || string(b) != "line 3\n" || off != 21 || !over {
		t.Errorf("TailProcessLog: %q %d %v %v", b, off, over, err)
	}
	info := h.info("redirected")
	if info.StdoutLogfile != filepath.Join(dir, "redirected.log") || info.StderrLogfile != "" {
		t.Errorf("redirected info: %+v", info)
	}
	if info := h.info("none"); info.StdoutLogfile != "" || info.StderrLogfile != "" {
		t.Errorf("none info: %+v", info)
	}

	// Follow sees new output; Clear empties both logs.
	var buf testutil.Buffer
	ctx, cancel := context.WithCancel(context.Background())
	followed := make(chan error, 1)
	go func() { followed <- h.s.FollowProcessLog(ctx, "both", api.Stdout, 100, &buf) }()
	testutil.Eventually(t, 10*time.Second, "follow's tail", func() bool { return strings.Contains(buf.String(), "line 3\n") })
	if err := h.s.ClearProcessLogs("both"); err != nil {
		t.Fatal(err)
	}
	if read("both", api.Stdout) != "" || read("both", api.Stderr) != "" {
		t.Errorf("logs not cleared")
	}
	if err := h.s.StopProcess(context.Background(), "both", true); err != nil {
		t.Fatal(err)
	}
	if err := h.s.StartProcess(context.Background(), "both", true); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 10*time.Second, "output of the restarted program", func() bool { return read("both", api.Stdout) == "line 1\nline 2\nline 3\n" })
	testutil.Eventually(t, 10*time.Second, "follow across restart and clear", func() bool {
		return strings.Count(buf.String(), "line 1\n") >= 1 && strings.HasSuffix(buf.String(), "line 3\n")
	})
	cancel()
	select {
	case <-followed:
	case <-time.After(5 * time.Second):
		t.Fatal("FollowProcessLog did not return after cancel")
	}
	if rs := h.s.ClearAllProcessLogs(); len(rs) != 3 || rs[0].Status != api.Success {
		t.Errorf("ClearAllProcessLogs: %+v", rs)
	}
	if err := h.s.ReopenLogs(); err != nil {
		t.Errorf("ReopenLogs: %v", err)
	}
}

func TestPartialLineFlushedAtExitWhileGrandchildHoldsPipe(t *testing.T) {
	dir := t.TempDir()
	p := shprog("partial", "printf 'no newline'; sleep 100 & echo $! > "+filepath.Join(dir, "gc.pid")+"; exit 0")
	p.StartSecs = 0
	p.Autorestart = config.AutorestartFalse
	h := start(t, testConfig(t, homog(p)...))
	h.waitState(5*time.Second, 0, "partial", api.Exited)
	gc := readPid(t, filepath.Join(dir, "gc.pid"))
	if !alive(gc) {
		t.Fatal("the grandchild is gone; the test proves nothing")
	}
	testutil.Eventually(t, 10*time.Second, "the partial line", func() bool {
		b, _ := h.s.ReadProcessLog("partial", api.Stdout, 0, 0)
		return string(b) == "no newline"
	})
}

func TestMainLogAPI(t *testing.T) {
	h := start(t, testConfig(t, homog(sleeper("m"))...))
	h.waitState(5*time.Second, 0, "m", api.Running)
	b, err := h.s.ReadMainLog(0, 0)
	if err != nil || !strings.Contains(string(b), "spawned: 'm' with pid") {
		t.Fatalf("ReadMainLog: %q %v", b, err)
	}
	var buf testutil.Buffer
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go h.s.FollowMainLog(ctx, 0, &buf)
	if err := h.s.StopProcess(context.Background(), "m", true); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 10*time.Second, "the stop in the followed main log", func() bool { return strings.Contains(buf.String(), "stopped: m (") })
	if err := h.s.ClearMainLog(); err != nil {
		t.Fatal(err)
	}
	b, _ = h.s.ReadMainLog(0, 0)
	if strings.Contains(string(b), "spawned") {
		t.Errorf("main log not cleared: %q", b)
	}
	if h.s.Identification() != "supervisor" || h.s.Version() != "test" || h.s.PID() != os.Getpid() || h.s.State() != api.SupervisorRunning {
		t.Errorf("identification %q version %q pid %d state %v", h.s.Identification(), h.s.Version(), h.s.PID(), h.s.State())
	}
}

func TestNoMainLogFile(t *testing.T) {
	cfg := testConfig(t, homog(sleeper("q"))...)
	cfg.Supervisord.Logfile = ""
	h := start(t, cfg)
	h.waitState(5*time.Second, 0, "q", api.Running)
	if _, err := h.s.ReadMainLog(0, 0); api.CodeOf(err) != api.NoFile {
		t.Errorf("ReadMainLog without a log: %v", err)
	}
}
