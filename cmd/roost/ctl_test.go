package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"roost/internal/testutil"
	"roost/supervisor/api"
	"roost/supervisor/api/apitest"
)

// fakeServer serves b on a fresh socket until the test ends.
func fakeServer(t *testing.T, b api.Backend, opts api.ServerOptions) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "roost.sock")
	srv := api.NewServer(b, opts)
	if err := srv.Listen(path); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { srv.Serve(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return path
}

func testBackend() *apitest.Backend {
	return apitest.New(
		&apitest.Proc{Group: "bad", Name: "bad", StartErr: api.NoFile},
		&apitest.Proc{Group: "grp", Name: "never"},
		&apitest.Proc{Group: "grp", Name: "quick", StartErr: api.SpawnError},
		&apitest.Proc{Group: "web", Name: "web", State: api.Running, PID: 101, Autostart: true},
		&apitest.Proc{Group: "worker", Name: "worker", State: api.Running, PID: 102, Autostart: true},
	)
}

// roost runs the command line in-process and returns stdout, stderr and the exit status.
func roost(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(append([]string{"roost"}, args...), &out, &errOut)
	return out.String(), errOut.String(), code
}

type ctlCase struct {
	args []string
	out  string
	code int
}

func runCases(t *testing.T, sock string, cases []ctlCase) {
	t.Helper()
	for _, tc := range cases {
		out, errOut, code := roost(t, append([]string{"-s", sock}, tc.args...)...)
		if out != tc.out || code != tc.code {
			t.Errorf("roost %s:\n got (exit %d):\n%s\nwant (exit %d):\n%s\nstderr: %s",
				strings.Join(tc.args, " "), code, out, tc.code, tc.out, errOut)
		}
	}
}

func TestCtlStatus(t *testing.T) {
	sock := fakeServer(t, testBackend(), api.ServerOptions{})
	runCases(t, sock, []ctlCase{
		{[]string{"status"}, "" +
			"bad                              STOPPED   Not started\n" +
			"grp:never                        STOPPED   Not started\n" +
			"grp:quick                        STOPPED   Not started\n" +
			"web                              RUNNING   pid 101, uptime 0:00:00\n" +
			"worker                           RUNNING   pid 102, uptime 0:00:00\n", 3},
		{[]string{"status", "web", "worker"}, "" +
			"web                              RUNNING   pid 101, uptime 0:00:00\n" +
			"worker                           RUNNING   pid 102, uptime 0:00:00\n", 0},
		{[]string{"status", "nope"}, "nope: ERROR (no such process)\n", 4},
		{[]string{"status", "nogrp:*"}, "nogrp: ERROR (no such group)\n", 4},
		{[]string{"status", "grp:*"}, "" +
			"grp:never                        STOPPED   Not started\n" +
			"grp:quick                        STOPPED   Not started\n", 3},
		{[]string{"status", "nope", "web"}, "nope: ERROR (no such process)\n" +
			"web                              RUNNING   pid 101, uptime 0:00:00\n", 4},
	})
	// Flags after the verb, and the socket from the environment.
	out, _, code := roost(t, "status", "-s", sock, "web")
	if code != 0 || !strings.HasPrefix(out, "web ") {
		t.Errorf("status -s after the verb: exit %d, %q", code, out)
	}
	t.Setenv("ROOST_SOCKET", sock)
	out, _, code = roost(t, "status", "web")
	if code != 0 || !strings.HasPrefix(out, "web ") {
		t.Errorf("status with $ROOST_SOCKET: exit %d, %q", code, out)
	}
	for _, args := range [][]string{{"status", "--json", "web"}, {"status", "web", "--json"}} {
		out, _, code = roost(t, args...)
		var infos []api.ProcessInfo
		if err := json.Unmarshal([]byte(out), &infos); err != nil || code != 0 || len(infos) != 1 || infos[0].PID != 101 {
			t.Errorf("%v: exit %d, %v, %q", args, code, err, out)
		}
	}
}

func TestCtlStatusWidth(t *testing.T) {
	long := strings.Repeat("x", 40)
	b := apitest.New(&apitest.Proc{Group: "g", Name: long, State: api.Running, PID: 5},
		&apitest.Proc{Group: "a", Name: "a", State: api.Running, PID: 6})
	sock := fakeServer(t, b, api.ServerOptions{})
	w := len("g:"+long) + 3
	runCases(t, sock, []ctlCase{{[]string{"status"},
		"g:" + long + "   RUNNING   pid 5, uptime 0:00:00\n" +
			"a" + strings.Repeat(" ", w-1) + "RUNNING   pid 6, uptime 0:00:00\n", 0}})
}

func TestCtlStartStop(t *testing.T) {
	sock := fakeServer(t, testBackend(), api.ServerOptions{})
	runCases(t, sock, []ctlCase{
		{[]string{"start", "nope"}, "nope: ERROR (no such process)\n", 1},
		{[]string{"start", "web"}, "web: ERROR (already started)\n", 0},
		{[]string{"start", "bad"}, "bad: ERROR (no such file)\n", 1},
		{[]string{"start", "grp:quick"}, "grp:quick: ERROR (spawn error)\n", 7},
		{[]string{"start", "nogrp:*"}, "nogrp: ERROR (no such group)\n", 2},
		{[]string{"start"}, "Error: start requires a process name\n" + startHelp + "\n", 2},
		{[]string{"stop", "nope"}, "nope: ERROR (no such process)\n", 1},
		{[]string{"stop", "grp:never"}, "grp:never: ERROR (not running)\n", 0},
		{[]string{"stop"}, "Error: stop requires a process name\n" + stopHelp + "\n", 1},
		{[]string{"restart", "grp:never"}, "grp:never: ERROR (not running)\ngrp:never: started\n", 0},
		{[]string{"restart", "grp:*"}, "grp:never: stopped\ngrp:never: started\ngrp:quick: ERROR (spawn error)\n", 7},
		{[]string{"stop", "grp:*"}, "grp:never: stopped\n", 0},
		{[]string{"stop", "all"}, "worker: stopped\nweb: stopped\n", 0},
		{[]string{"start", "all"}, "" +
			"bad: ERROR (no such file)\n" +
			"grp:never: started\n" +
			"grp:quick: ERROR (spawn error)\n" +
			"web: started\n" +
			"worker: started\n", 7},
		{[]string{"signal", "HUP", "web"}, "web: signalled\n", 0},
		{[]string{"signal", "FOO", "web"}, "web: ERROR (bad signal name)\n", 1},
		{[]string{"signal", "HUP", "grp:*"}, "grp:never: signalled\n", 0},
		{[]string{"signal", "FOO", "grp:*"}, "grp:never: ERROR (bad signal name)\n", 1},
		{[]string{"signal", "1", "all"}, "grp:never: signalled\nweb: signalled\nworker: signalled\n", 0},
		{[]string{"signal", "HUP", "bad"}, "bad: ERROR (not running)\n", 7},
		{[]string{"signal", "HUP"}, "Error: signal requires a signal name and a process name\n" + signalHelp + "\n", 1},
	})
}

func TestCtlInfoVerbs(t *testing.T) {
	b := testBackend()
	b.AppendLog("web", api.Stdout, "one\ntwo\nthree\n")
	b.AppendLog("", "", "main log line\n")
	sock := fakeServer(t, b, api.ServerOptions{})
	runCases(t, sock, []ctlCase{
		{[]string{"pid"}, "42\n", 0},
		{[]string{"pid", "web"}, "101\n", 0},
		{[]string{"pid", "grp:never"}, "0\n", 7},
		{[]string{"pid", "nope"}, "No such process nope\n", 1},
		{[]string{"pid", "all"}, "0\n0\n0\n101\n102\n", 0},
		{[]string{"avail"}, "" +
			"bad                              in use    manual    999:999\n" +
			"grp:never                        in use    manual    999:999\n" +
			"grp:quick                        in use    manual    999:999\n" +
			"web                              in use    auto      999:999\n" +
			"worker                           in use    auto      999:999\n", 0},
		{[]string{"avail", "x"}, "Error: avail accepts no arguments\n" + availHelp + "\n", 1},
		{[]string{"version"}, "0.0.0-test\n", 0},
		{[]string{"tail", "web"}, "one\ntwo\nthree\n\n", 0},
		{[]string{"tail", "-4", "web"}, "ree\n\n", 0},
		{[]string{"tail", "-n", "2", "web"}, "two\nthree\n", 0},
		{[]string{"tail", "-n2", "web", "stdout"}, "two\nthree\n", 0},
		{[]string{"tail", "nope"}, "nope: ERROR (no such process name)\n", 1},
		{[]string{"tail", "web", "bogus"}, "Error: bad channel 'bogus'\n", 1},
		{[]string{"tail", "-x", "web"}, "Error: bad argument -x\n", 1},
		{[]string{"tail", "-f"}, "Error: tail requires process name\n", 1},
		{[]string{"tail"}, "Error: too few arguments\n" + tailHelp + "\n", 1},
		{[]string{"tail", "a", "b", "c"}, "Error: too many arguments\n" + tailHelp + "\n", 1},
		{[]string{"maintail"}, "main log line\n\n", 0},
		{[]string{"maintail", "-5"}, "line\n\n", 0},
		{[]string{"maintail", "x"}, "Error: bad argument x\n", 1},
		{[]string{"clear", "web"}, "web: cleared\n", 0},
		{[]string{"clear", "nope"}, "nope: ERROR (no such process)\n", 1},
		{[]string{"clear", "all"}, "bad: cleared\ngrp:never: cleared\ngrp:quick: cleared\nweb: cleared\nworker: cleared\n", 0},
		{[]string{"tail", "web"}, "\n", 0},
	})
}

func TestCtlConfigVerbs(t *testing.T) {
	b := testBackend()
	sock := fakeServer(t, b, api.ServerOptions{})
	runCases(t, sock, []ctlCase{
		{[]string{"reread"}, "No config updates to processes\n", 0},
		{[]string{"reread", "x"}, "Error: reread accepts no arguments\n" + rereadHelp + "\n", 1},
	})
	b.Pending = api.Changes{Added: []string{"newp"}, Changed: []string{"web", "grp"}, Removed: []string{"worker"}}
	runCases(t, sock, []ctlCase{
		{[]string{"reread"}, "grp: changed\nnewp: available\nweb: changed\nworker: disappeared\n", 0},
		{[]string{"update", "nosuch", "web"}, "ERROR: no such group: nosuch\nweb: stopped\nweb: updated process group\n", 1},
	})
	if got := b.UpdateNames; len(got) != 1 || strings.Join(got[0], ",") != "web" {
		t.Errorf("update sent groups %v, want [web]", got)
	}
	b.Pending = api.Changes{Added: []string{"newp"}, Changed: []string{"grp"}, Removed: []string{"worker"}}
	runCases(t, sock, []ctlCase{
		{[]string{"update", "nosuch"}, "ERROR: no such group: nosuch\n", 1},
		{[]string{"update"}, "" +
			"worker: stopped\nworker: removed process group\n" +
			"grp: stopped\ngrp: updated process group\n" +
			"newp: added process group\n", 0},
	})
	if n := len(b.UpdateNames); n != 2 {
		t.Errorf("update called %d times, want 2 (not for only unknown groups)", n)
	}
	b.Pending = api.Changes{Added: []string{"extra"}}
	runCases(t, sock, []ctlCase{
		{[]string{"add", "extra"}, "extra: added process group\n", 0},
		{[]string{"add", "extra"}, "ERROR: process group already active\n", 0},
		{[]string{"add", "zzz"}, "ERROR: no such process/group: zzz\n", 1},
		{[]string{"remove", "web"}, "ERROR: process/group still running: web\n", 1},
		{[]string{"remove", "extra"}, "extra: removed process group\n", 0},
		{[]string{"remove", "zzz"}, "ERROR: no such process/group: zzz\n", 1},
		{[]string{"reload"}, "Restarted supervisord\n", 0},
		{[]string{"shutdown"}, "Shut down\n", 0},
		{[]string{"shutdown", "now"}, "Error: shutdown accepts no arguments\n" + shutdownHelp + "\n", 1},
	})
	b.RereadErr = api.Errorf(api.CantReread, "supervisord.conf:7: [program:web] startsecs: \"abc\" is not an integer")
	runCases(t, sock, []ctlCase{
		{[]string{"reread"}, "ERROR: CANT_REREAD: supervisord.conf:7: [program:web] startsecs: \"abc\" is not an integer\n", 1},
		{[]string{"update"}, "ERROR: CANT_REREAD: supervisord.conf:7: [program:web] startsecs: \"abc\" is not an integer\n", 1},
	})
	if b.ShutdownCalled != 1 || b.RestartCalled != 1 {
		t.Errorf("shutdown %d, reload %d calls, want 1 each", b.ShutdownCalled, b.RestartCalled)
	}
}

func TestCtlLogs(t *testing.T) {
	b := testBackend()
	b.AppendLog("web", api.Stdout, "w1\nw2\n")
	b.AppendLog("web", api.Stderr, "oops\n")
	b.AppendLog("worker", api.Stdout, "k1\nk2\nk3")
	sock := fakeServer(t, b, api.ServerOptions{})
	runCases(t, sock, []ctlCase{
		{[]string{"logs", "-n", "1", "web", "worker"}, "" +
			"web    | w2\n" +
			"web    | oops\n" +
			"worker | k3\n", 0},
		{[]string{"logs", "web", "nope"}, "nope: ERROR (no such process)\n" +
			"web | w1\nweb | w2\nweb | oops\n", 1},
	})

	// Follow: lines from several logs arrive whole and prefixed.
	var out testutil.Buffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() {
		done <- runCtx(ctx, []string{"roost", "-s", sock, "logs", "-f", "-n", "0", "web", "worker"}, &out)
	}()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(out.String(), "worker | k4\n") {
		b.AppendLog("web", api.Stdout, "partial ")
		b.AppendLog("worker", api.Stdout, "\nk4\n")
		b.AppendLog("web", api.Stdout, "line\n")
		if time.Now().After(deadline) {
			t.Fatalf("logs -f printed %q", out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	<-done
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		if line != "" && line != "web    | partial line" && !strings.HasPrefix(line, "worker | ") {
			t.Errorf("logs -f line %q is not whole or not prefixed", line)
		}
	}
}

func TestCtlConnectErrors(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "none.sock")
	runCases(t, missing, []ctlCase{
		{[]string{"status"}, "unix://" + missing + " no such file\n", 4},
		{[]string{"start", "web"}, "unix://" + missing + " no such file\n", 7},
		{[]string{"shutdown"}, "ERROR: unix://" + missing + " no such file (already shut down?)\n", 1},
	})
	out, errOut, code := roost(t, "-s", "http://localhost:9001", "status")
	if code != 2 || !strings.Contains(errOut, "unix sockets") {
		t.Errorf("http serverurl: exit %d, %q %q", code, out, errOut)
	}
	out, _, code = roost(t, "frobnicate", "x")
	if out != "*** Unknown syntax: frobnicate x\n" || code != 1 {
		t.Errorf("unknown verb: exit %d, %q", code, out)
	}
}

func TestCtlAuth(t *testing.T) {
	sock := fakeServer(t, testBackend(), api.ServerOptions{Username: "u", Password: "p"})
	runCases(t, sock, []ctlCase{
		{[]string{"status", "web"}, "Server requires authentication\n", 1},
		{[]string{"-u", "u", "-p", "wrong", "status", "web"}, "Server requires authentication\n", 1},
		{[]string{"-u", "u", "-p", "p", "status", "web"}, "web                              RUNNING   pid 101, uptime 0:00:00\n", 0},
		{[]string{"status", "-u", "u", "-p", "p", "web"}, "web                              RUNNING   pid 101, uptime 0:00:00\n", 0},
	})
}

func TestParseTail(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want tailArgs
	}{
		{[]string{"web"}, tailArgs{bytes: 1600, lines: -1, name: "web", channel: api.Stdout}},
		{[]string{"-f", "web", "STDERR"}, tailArgs{follow: true, bytes: 1600, lines: -1, name: "web", channel: api.Stderr}},
		{[]string{"-100", "g:web"}, tailArgs{bytes: 100, lines: -1, name: "g:web", channel: api.Stdout}},
		{[]string{"-f", "-n", "5", "web"}, tailArgs{follow: true, bytes: 1600, lines: 5, name: "web", channel: api.Stdout}},
		{[]string{"--lines=7", "web"}, tailArgs{bytes: 1600, lines: 7, name: "web", channel: api.Stdout}},
	} {
		got, msg, _ := parseTail(tc.args)
		if msg != "" || got != tc.want {
			t.Errorf("parseTail(%v) = %+v %q, want %+v", tc.args, got, msg, tc.want)
		}
	}
}

// runCtx runs a command line in-process until ctx ends, stdout to out.
func runCtx(ctx context.Context, args []string, out *testutil.Buffer) int {
	var errOut bytes.Buffer
	return runContext(ctx, args, out, &errOut)
}

func TestCtlTailFollow(t *testing.T) {
	b := testBackend()
	b.AppendLog("web", api.Stderr, strings.Repeat("x", 2000)+"old\n")
	sock := fakeServer(t, b, api.ServerOptions{})
	var out testutil.Buffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() { done <- runCtx(ctx, []string{"roost", "-s", sock, "tail", "-f", "web", "stderr"}, &out) }()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(out.String(), "old\n") {
		if time.Now().After(deadline) {
			t.Fatalf("tail -f printed %q", out.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
	b.AppendLog("web", api.Stderr, "new\n")
	for !strings.Contains(out.String(), "new\n") {
		if time.Now().After(deadline) {
			t.Fatalf("tail -f printed %q", out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	if code := <-done; code != 0 {
		t.Errorf("tail -f after Ctrl-C: exit %d, want 0", code)
	}
	got := out.String()
	// supervisorctl's banner, the last 1024 bytes, what came, and a newline at the end.
	if !strings.HasPrefix(got, "==> Press Ctrl-C to exit <==\n"+strings.Repeat("x", 1020)+"old\nnew\n") || !strings.HasSuffix(got, "\n\n") {
		t.Errorf("tail -f output %q", got)
	}
}

// The ctl verbs read only the socket (and credentials) from a
// configuration, so a mistake in a program section (which `roost check`
// reports) does not stop `roost status` from reaching the server. A broken
// [unix_http_server] still does, with its file:line.
func TestCtlConfigBrokenElsewhere(t *testing.T) {
	sock := fakeServer(t, testBackend(), api.ServerOptions{Username: "u", Password: "p"})
	dir := t.TempDir()
	conf := filepath.Join(dir, "supervisord.conf")
	write := func(text string) {
		t.Helper()
		if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("[supervisord]\n[supervisorctl]\nserverurl=unix://" + sock + "\nusername=u\npassword=p\n" +
		"[program:web]\ncommand=/bin/true\nstartsecs=1o\n")
	if _, errOut, code := roost(t, "check", "-c", conf); code == 0 {
		t.Fatalf("roost check accepted a broken program section: %s", errOut)
	}
	out, errOut, code := roost(t, "-c", conf, "status", "web")
	if want := "web                              RUNNING   pid 101, uptime 0:00:00\n"; out != want || code != 0 {
		t.Fatalf("status with a program broken: exit %d, %q (stderr %q)", code, out, errOut)
	}
	write("[supervisord]\n[unix_http_server]\nchmod=0700\n")
	out, errOut, code = roost(t, "-c", conf, "status")
	if code != 2 || !strings.Contains(errOut, "supervisord.conf:2") || !strings.Contains(errOut, "file: required") {
		t.Fatalf("status with [unix_http_server] broken: exit %d, %q %q", code, out, errOut)
	}
}

// TestCtlRestartAsksOnlyWhatItNeeds: restart resolves a process's exact
// name with one small request, not the listing of every process (with
// 1000 programs, decoding it cost more than the restart), and asks for the
// proxy routes only for a RUNNING process alone in its program; a group's
// name falls back to the lean status listing. The lines printed are
// supervisorctl's either way.
func TestCtlRestartAsksOnlyWhatItNeeds(t *testing.T) {
	var mu sync.Mutex
	var asked []string
	sock := fakeServer(t, testBackend(), api.ServerOptions{Wrap: func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodGet {
				mu.Lock()
				asked = append(asked, r.URL.RequestURI())
				mu.Unlock()
			}
			h.ServeHTTP(w, r)
		})
	}})
	for _, tc := range []struct {
		args     []string
		out      string
		want     []string // GET requests that must be among those made
		listing  bool     // the whole listing (any view) was asked for
		routesOK bool     // the proxy routes may be asked for
	}{
		{[]string{"restart", "web"}, "web: stopped\nweb: started\n", []string{"/api/v1/processes/web", "/api/v1/proxy"}, false, true},
		{[]string{"restart", "grp:never"}, "grp:never: ERROR (not running)\ngrp:never: started\n", []string{"/api/v1/processes/grp:never"}, false, false},
		{[]string{"restart", "grp"}, "grp:never: stopped\ngrp:never: started\ngrp:quick: ERROR (spawn error)\n", nil, true, false},
	} {
		mu.Lock()
		asked = nil
		mu.Unlock()
		out, errOut, _ := roost(t, append([]string{"-s", sock}, tc.args...)...)
		if out != tc.out {
			t.Errorf("roost %s: %q (stderr %q), want %q", strings.Join(tc.args, " "), out, errOut, tc.out)
		}
		mu.Lock()
		got := slices.Clone(asked)
		mu.Unlock()
		var listing, routes bool
		for _, u := range got {
			listing = listing || u == "/api/v1/processes" || strings.HasPrefix(u, "/api/v1/processes?")
			routes = routes || u == "/api/v1/proxy"
			if strings.HasPrefix(u, "/api/v1/processes?") && u != "/api/v1/processes?view=status" {
				t.Errorf("roost %s asked for the listing with every field: %s", strings.Join(tc.args, " "), u)
			}
		}
		if listing != tc.listing || (routes && !tc.routesOK) {
			t.Errorf("roost %s asked %q", strings.Join(tc.args, " "), got)
		}
		for _, w := range tc.want {
			if !slices.Contains(got, w) {
				t.Errorf("roost %s did not ask %s (asked %q)", strings.Join(tc.args, " "), w, got)
			}
		}
	}
}
