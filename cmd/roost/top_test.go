package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
	"unicode/utf8"

	"golang.org/x/sys/unix"

	"roost/internal/testutil"
	"roost/supervisor/api"
	"roost/top"
)

// topProject runs a busy loop, a sleeper that held 20 MB once, and a plain
// sleeper under a real `roost run`, and returns its socket.
func topProject(t *testing.T) (string, *api.Client) {
	t.Helper()
	conf, sock := project(t, "", `[program:busy]
command=/bin/sh -c 'while :; do :; done'

[program:idle]
command=/bin/sleep 300

[program:peaky]
command=/bin/sh -c 'x=$(head -c 20000000 /dev/zero | tr "\0" a); x=; echo freed; sleep 300'
`)
	p := startProc(t, roostCmd("run", "--no-watch", "-c", conf))
	c := dialWhenUp(t, sock, p)
	waitState(t, c, "all running", allRunning("busy", "idle", "peaky"))
	return sock, c
}

func rowOf(f top.Frame, name string) top.Row {
	for _, r := range f.Rows {
		if r.Name == name {
			return r
		}
	}
	return top.Row{Name: name + " (missing)", CPUPercent: -2}
}

// A busy program shows high CPU %, a sleeping one about none, in the
// one-shot JSON; the table of -n 1 has a line per program.
func TestTopOneShot(t *testing.T) {
	sock, _ := topProject(t)
	var f top.Frame
	// The machine is shared (CI's 2 cores under -race, other builds): a
	// busy loop gets anything from 15% to all of a CPU, so "busy" here is
	// 10% or more, and idle is below 2%; ask again until it shows.
	testutil.Eventually(t, 90*time.Second, "busy above 10% and idle below 2% of a CPU", func() bool {
		out, errOut, code := roost(t, "-s", sock, "top", "--once", "--json", "-d", "1")
		if code != 0 {
			t.Fatalf("roost top --once --json: exit %d: %s%s", code, out, errOut)
		}
		if strings.Count(out, "\n") != 1 {
			t.Fatalf("one frame is one line of JSON, got:\n%s", out)
		}
		if err := json.Unmarshal([]byte(out), &f); err != nil {
			t.Fatalf("roost top --json: %v\n%s", err, out)
		}
		busy, idle := rowOf(f, "busy"), rowOf(f, "idle")
		t.Logf("busy %.1f%%, idle %.1f%% over %.2fs", busy.CPUPercent, idle.CPUPercent, f.Interval)
		return busy.CPUPercent > 10 && idle.CPUPercent >= 0 && idle.CPUPercent < 2
	})
	if f.Interval < 0.9 || len(f.Rows) != 3 {
		t.Errorf("frame: interval %.2f, %d rows", f.Interval, len(f.Rows))
	}
	for _, r := range f.Rows {
		if r.State != "RUNNING" || r.PID <= 0 || r.Memory <= 0 || r.MemoryPeak < r.Memory/2 || r.Pids < 1 || r.Uptime < 0 {
			t.Errorf("row %+v", r)
		}
	}

	out, errOut, code := roost(t, "-s", sock, "top", "-n", "2", "-d", "0.2", "--sort", "cpu")
	if code != 0 {
		t.Fatalf("roost top -n 2: exit %d: %s%s", code, out, errOut)
	}
	frames := strings.Split(strings.TrimSpace(out), "\n\n")
	if len(frames) != 2 {
		t.Fatalf("-n 2 printed %d frames:\n%s", len(frames), out)
	}
	lines := strings.Split(frames[1], "\n")
	if len(lines) != 5 || !strings.HasPrefix(lines[1], "NAME") || !strings.Contains(lines[1], "PEAK") {
		t.Fatalf("frame:\n%s", frames[1])
	}
	names := map[string]bool{}
	for _, l := range lines[2:] {
		f := strings.Fields(l)
		if len(f) != 8 || f[1] != "RUNNING" {
			t.Errorf("row %q: want 8 fields, RUNNING", l)
			continue
		}
		names[f[0]] = true
	}
	if !names["busy"] || !names["idle"] || !names["peaky"] {
		t.Errorf("rows %v, frame:\n%s", names, frames[1])
	}
}

// status --json says a program's peak memory: a shell that held 20 MB
// and gave it back.
func TestStatusMemoryPeak(t *testing.T) {
	_, c := topProject(t)
	var u *api.Usage
	testutil.Eventually(t, 30*time.Second, "peaky's peak past 16 MB", func() bool {
		infos, err := c.ProcessesWithUsage(context.Background())
		if err != nil {
			return false
		}
		for _, in := range infos {
			if in.Name == "peaky" {
				u = in.Usage
			}
		}
		return u != nil && u.MemoryPeak >= 16<<20
	})
	if u.MemoryRSS >= u.MemoryPeak || u.PeakFrom != "vmhwm" {
		t.Errorf("usage %+v: want RSS below the peak, from vmhwm (no cgroup of its own here)", *u)
	}
}

func TestTopUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"top", "--sort", "pid"}, `unknown order "pid"`},
		{[]string{"top", "-d", "0"}, "give 0.1 to 3600 seconds"},
		{[]string{"top", "-n", "-1"}, "give a count of frames"},
		{[]string{"top", "web"}, `unexpected argument "web"`},
	} {
		out, errOut, code := roost(t, append([]string{"-s", "/nonexistent/roost.sock"}, tc.args...)...)
		if code != exitInvalidArgs || !strings.Contains(out+errOut, tc.want) {
			t.Errorf("roost %v: exit %d, %q%q; want %d and %q", tc.args, code, out, errOut, exitInvalidArgs, tc.want)
		}
	}
	out, _, code := roost(t, "-s", "/nonexistent/roost.sock", "top", "--once")
	if code != exitStatusUnknown || !strings.Contains(out, "no such file") {
		t.Errorf("no supervisor: exit %d, %q", code, out)
	}
}

// openPTY opens a pseudo-terminal pair of rows x cols: the master side
// the test reads and types into, and the terminal roost top gets.
func openPTY(t *testing.T, rows, cols int) (ptm, pts *os.File) {
	t.Helper()
	ptm, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ptm.Close() })
	if err := unix.IoctlSetPointerInt(int(ptm.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetUint32(int(ptm.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	pts, err = os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pts.Close() })
	if err := unix.IoctlSetWinsize(int(pts.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: uint16(rows), Col: uint16(cols)}); err != nil {
		t.Fatal(err)
	}
	return ptm, pts
}

// On a terminal, top takes the alternate screen, redraws in place within
// the terminal's width (and again when it changes), and q quits, giving
// the screen back.
func TestTopOnTerminal(t *testing.T) {
	sock, _ := topProject(t)
	ptm, pts := openPTY(t, 12, 44)
	cmd := roostCmd("-s", sock, "top", "-d", "0.3")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = pts, pts, pts
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true}
	out := &testutil.Buffer{}
	go io.Copy(out, ptm) // until the pty closes at the end of the test
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-done
	})
	screen := func() string { return out.String() }
	testutil.Eventually(t, 60*time.Second, "three frames, the later with a CPU total", func() bool {
		return strings.Count(screen(), "\x1b[H") >= 3 && strings.Contains(screen(), "CPU ")
	})
	if !strings.HasPrefix(screen(), "\x1b[?1049h") {
		t.Errorf("no alternate screen first: %q", screen()[:min(40, len(screen()))])
	}
	// Every line of every frame fits 44 columns; the narrow table keeps
	// NAME, STATE and CPU% and leaves PEAK out.
	frames := strings.Split(screen(), "\x1b[H")
	last := frames[len(frames)-2] // the last complete one
	for _, l := range strings.Split(strings.ReplaceAll(last, "\r", ""), "\n") {
		l = strings.TrimSuffix(strings.TrimSuffix(l, "\x1b[J"), "\x1b[K")
		if n := utf8.RuneCountInString(l); n > 44 {
			t.Errorf("a line of %d runes on a 44-column terminal: %q", n, l)
		}
	}
	if !strings.Contains(last, "CPU%") || strings.Contains(last, "PEAK") || !strings.Contains(last, "busy") {
		t.Errorf("frame on 44 columns:\n%s", last)
	}
	// A wider terminal (SIGWINCH): the next frame has room for PEAK.
	mark := len(screen())
	if err := unix.IoctlSetWinsize(int(pts.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: 12, Col: 100}); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 30*time.Second, "PEAK on 100 columns", func() bool {
		return strings.Contains(screen()[mark:], "PEAK")
	})
	if _, err := ptm.Write([]byte("q")); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		done <- err // for the cleanup
		if err != nil {
			t.Errorf("after q: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("top still runs 30s after q; screen:\n%q", screen())
	}
	testutil.Eventually(t, 10*time.Second, "the screen given back", func() bool {
		return strings.Contains(screen(), "\x1b[?25h\x1b[?1049l")
	})
}
