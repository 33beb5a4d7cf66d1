package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"roost/internal/testutil"
	"roost/supervisor/api"
	"roost/supervisor/api/apitest"
)

// Issue 13 point 8: running out of file descriptors must not wedge the
// control socket.

// fdLimitedRun starts `roost run -c conf` under prlimit --nofile=n:n.
func fdLimitedRun(t *testing.T, n int, conf string) *supervisorProc {
	t.Helper()
	prlimit := testutil.RequireBinary(t, "prlimit")
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	lim := fmt.Sprintf("--nofile=%d:%d", n, n)
	cmd := exec.Command(prlimit, lim, exe, "run", "--no-watch", "-c", conf)
	cmd.Env = append(os.Environ(), "ROOST_TEST_AS_ROOST=1")
	return startProc(t, cmd)
}

// fdProject writes a project for alice with n programs and extra
// [supervisord] lines, and returns its config and socket.
func fdProject(t *testing.T, alice testutil.Account, n int, supervisord string) (conf, sock string) {
	t.Helper()
	top := sharedTempDir(t, "roost-fds-")
	project := filepath.Join(top, "project")
	ownedDir(t, project, alice, 0o755)
	var b strings.Builder
	b.WriteString("[unix_http_server]\nfile=%(here)s/roost.sock\n\n[supervisord]\nuser=" + alice.Name +
		"\nlogfile=%(here)s/main.log\nchildlogdir=%(here)s\n" + supervisord + "\n")
	for i := range n {
		fmt.Fprintf(&b, "[program:p%02d]\ncommand=sleep 1000\nstartsecs=0\nstartretries=1\n\n", i)
	}
	conf = filepath.Join(project, "supervisord.conf")
	write(t, conf, b.String())
	os.Chown(conf, alice.UID, alice.GID)
	return conf, filepath.Join(project, "roost.sock")
}

// openFiles lists what pid's descriptors point to.
func openFiles(t *testing.T, pid int) []string {
	t.Helper()
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		if l, err := os.Readlink(filepath.Join(dir, e.Name())); err == nil {
			out = append(out, l)
		}
	}
	return out
}

// TestFDExhaustionKeepsSocket: 40 programs under ulimit -n 64 (minfds
// lowered to allow the start): the programs that cannot get descriptors
// go FATAL saying why, hold no log file, and the socket answers status
// every time; stopping everything gives the descriptors back.
func TestFDExhaustionKeepsSocket(t *testing.T) {
	alice := testutil.RequireUser(t, testutil.UserA)
	conf, sock := fdProject(t, alice, 40, "minfds=48")
	p := fdLimitedRun(t, 64, conf)
	c := dialWhenUp(t, sock, p)
	settled := func(infos []api.ProcessInfo) bool {
		for _, in := range infos {
			if in.State != api.Running && in.State != api.Fatal {
				return false
			}
		}
		return len(infos) == 40
	}
	infos := waitState(t, c, "every program RUNNING or FATAL", settled)
	running, fatal := 0, 0
	for _, in := range infos {
		if in.State == api.Running {
			running++
			continue
		}
		fatal++
		if !strings.Contains(in.SpawnErr, "too many open files") || !strings.Contains(in.SpawnErr, "minfds") {
			t.Errorf("%s is FATAL with spawnerr %q, want it to say too many open files and minfds", in.Name, in.SpawnErr)
		}
	}
	if running == 0 || fatal == 0 {
		t.Errorf("%d RUNNING and %d FATAL: want both under a 64-descriptor limit", running, fatal)
	}
	files := openFiles(t, p.cmd.Process.Pid)
	if len(files) > 64 {
		t.Errorf("the supervisor holds %d descriptors, over its limit of 64", len(files))
	}
	for _, in := range infos {
		if in.State != api.Fatal {
			continue
		}
		for _, f := range files {
			if f == in.StdoutLogfile || f == in.StderrLogfile {
				t.Errorf("FATAL %s still holds its log %s open", in.Name, f)
			}
		}
	}

	// The socket answers, again and again, through the ctl.
	for i := range 5 {
		out, errOut, code := roost(t, "--user", alice.Name, "-s", sock, "status")
		if code != exitStatusDead || strings.Count(out, "\n") != 40 || !strings.Contains(out, "FATAL") ||
			!strings.Contains(out, "too many open files") {
			t.Fatalf("status #%d under fd exhaustion: exit %d:\n%s\n%s", i+1, code, out, errOut)
		}
	}
	// Stopping everything closes the programs' pipes and logs.
	out, errOut, code := roost(t, "--user", alice.Name, "-s", sock, "stop", "all")
	if code != 0 {
		t.Fatalf("stop all: exit %d:\n%s\n%s", code, out, errOut)
	}
	waitState(t, c, "every program stopped", func(infos []api.ProcessInfo) bool {
		for _, in := range infos {
			if in.State == api.Running || in.State == api.Stopping {
				return false
			}
		}
		return true
	})
	testutil.Eventually(t, 30*time.Second, "the supervisor holds fewer than 24 descriptors once all stopped", func() bool {
		return len(openFiles(t, p.cmd.Process.Pid)) < 24
	})
}

// TestMinfdsRefusesToStart: with the default minfds (1024) and a hard
// limit of 64, roost refuses to start as supervisord does, saying why.
func TestMinfdsRefusesToStart(t *testing.T) {
	alice := testutil.RequireUser(t, testutil.UserA)
	conf, _ := fdProject(t, alice, 1, "")
	p := fdLimitedRun(t, 64, conf)
	code := p.wait(t, 60*time.Second)
	out := p.out.String()
	if code != exitUsage || !strings.Contains(out, "The minimum number of file descriptors required to run this process is 1024") ||
		!strings.Contains(out, "will only allow you to open 64 file descriptors") {
		t.Errorf("roost run under ulimit -n 64 with minfds=1024: exit %d, want %d and supervisord's message:\n%s", code, exitUsage, out)
	}
}

// fullFDsServerMain is the test binary as a server whose fd table is full
// (TestMain runs it when ROOST_TEST_FULL_FDS names a socket path): it
// listens, then opens /dev/null until EMFILE, then serves.
func fullFDsServerMain(path string) int {
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &syscall.Rlimit{Cur: 64, Max: 64}); err != nil {
		os.Stderr.WriteString(err.Error() + "\n")
		return 1
	}
	srv := api.NewServer(apitest.New(&apitest.Proc{Group: "web", Name: "web", State: api.Running, PID: 7}), api.ServerOptions{})
	if err := srv.Listen(path); err != nil {
		os.Stderr.WriteString(err.Error() + "\n")
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	devNulls := func() int {
		n := 0
		ents, _ := os.ReadDir("/proc/self/fd")
		for _, e := range ents {
			if l, _ := os.Readlink("/proc/self/fd/" + e.Name()); l == os.DevNull {
				n++
			}
		}
		return n
	}
	before := devNulls()
	done := make(chan struct{})
	go func() { srv.Serve(ctx); close(done) }()
	// Fill the table only once Serve holds its reserve (on /dev/null).
	for deadline := time.Now().Add(30 * time.Second); devNulls() == before; {
		if time.Now().After(deadline) {
			os.Stderr.WriteString("Serve took no reserve descriptor\n")
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	var held []*os.File
	for {
		f, err := os.Open(os.DevNull)
		if err != nil {
			break
		}
		held = append(held, f)
	}
	os.Stdout.WriteString("fd table full after " + strconv.Itoa(len(held)) + " opens\n") // no new fd needed
	<-done
	return 0
}

// TestFullFDTableAnswers: a server whose every descriptor is taken still
// answers status, again and again, through its reserve descriptor.
func TestFullFDTableAnswers(t *testing.T) {
	testutil.RequireRoot(t)
	dir := t.TempDir()
	sock := filepath.Join(dir, "roost.sock")
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), "ROOST_TEST_FULL_FDS="+sock)
	p := startProc(t, cmd)
	testutil.Eventually(t, 30*time.Second, "the server's fd table is full", func() bool {
		return strings.Contains(p.out.String(), "fd table full")
	})
	for i := range 5 {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		var out testutil.Buffer
		code := runCtx(ctx, []string{"roost", "-s", sock, "status"}, &out)
		cancel()
		if code != 0 || !strings.Contains(out.String(), "web") || !strings.Contains(out.String(), "RUNNING") {
			t.Fatalf("status #%d against a full fd table: exit %d:\n%s\nserver: %s", i+1, code, out.String(), p.out.String())
		}
	}
}
