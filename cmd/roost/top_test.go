package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

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
