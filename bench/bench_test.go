package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"roost/internal/procfs"
	"roost/internal/testutil"
)

// stream returns the writer's output for n lines.
func stream(t *testing.T, n int64) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := writeLines(&b, n); err != nil {
		t.Fatal(err)
	}
	if int64(b.Len()) != n*lineLen {
		t.Fatalf("writeLines(%d) wrote %d bytes, want %d", n, b.Len(), n*lineLen)
	}
	return b.Bytes()
}

// rotate writes data as a log rotated at the given byte offsets into
// dir/w.log and its backups, keeping the last keep files.
func rotate(t *testing.T, dir string, data []byte, cuts []int, keep int) string {
	t.Helper()
	base := filepath.Join(dir, "w.log")
	var files [][]byte
	prev := 0
	for _, c := range append(cuts, len(data)) {
		files = append(files, data[prev:c])
		prev = c
	}
	if len(files) > keep {
		files = files[len(files)-keep:]
	}
	for i, f := range files {
		name := base
		if back := len(files) - 1 - i; back > 0 {
			name = fmt.Sprintf("%s.%d", base, back)
		}
		if err := os.WriteFile(name, f, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return base
}

func TestWriterLines(t *testing.T) {
	data := stream(t, 2000)
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	if len(lines) != 2000 {
		t.Fatalf("%d lines, want 2000", len(lines))
	}
	for i, l := range []int{0, 9, 10, 999, 1999} {
		want := fmt.Sprintf("%010d roost-bench", l)
		if !strings.HasPrefix(lines[l], want) || len(lines[l]) != lineLen-1 {
			t.Errorf("line %d = %q, want prefix %q and length %d", i, lines[l], want, lineLen-1)
		}
	}
}

func TestCheckLines(t *testing.T) {
	const n = 5000
	data := stream(t, n)
	drop := func(k int) []byte { // data without line k
		return append(append([]byte(nil), data[:k*lineLen]...), data[(k+1)*lineLen:]...)
	}
	dup := append(append(append([]byte(nil), data[:300*lineLen]...), data[299*lineLen:300*lineLen]...), data[300*lineLen:]...)
	tests := []struct {
		name string
		data []byte
		cuts []int
		keep int
		want lineCheck
	}{
		{"one file", data, nil, 4, lineCheck{Files: 1, Checked: n, First: 0}},
		{"rotated at line ends", data, []int{1000 * lineLen, 2500 * lineLen}, 4,
			lineCheck{Files: 3, Checked: n, First: 0}},
		{"rotated inside lines", data, []int{1000*lineLen + 37, 2500*lineLen + 99}, 4,
			lineCheck{Files: 3, Checked: n - 2, First: 0, Split: 2}},
		{"old files rotated away", data, []int{1000 * lineLen, 2000 * lineLen, 3000 * lineLen, 4000 * lineLen}, 3,
			lineCheck{Files: 3, Checked: 3000, First: 2000}},
		{"oldest kept file starts inside a line", data, []int{1000*lineLen + 37, 2000*lineLen + 5, 3000*lineLen + 60, 4000*lineLen + 90}, 3,
			lineCheck{Files: 3, Checked: 2997, First: 2001, Split: 3}},
		{"oldest kept file starts inside the number", data, []int{1000*lineLen + 3}, 1,
			lineCheck{Files: 1, Checked: n - 1001, First: 1001, Split: 1}},
		{"a line lost", drop(1234), []int{2000 * lineLen}, 4, lineCheck{Files: 2, Checked: n - 1, First: 0, Lost: 1}},
		{"tail lost", data[:(n-10)*lineLen], nil, 4, lineCheck{Files: 1, Checked: n - 10, First: 0, Lost: 10}},
		{"a line repeated", dup, nil, 4, lineCheck{Files: 1, Checked: n, First: 0, Corrupt: 1}},
		{"torn at the end", data[:n*lineLen-5], nil, 4, lineCheck{Files: 1, Checked: n - 1, First: 0, Lost: 1, Corrupt: 1}},
		{"bytes lost at a rotation", append(append([]byte(nil), data[:100*lineLen+20]...), data[100*lineLen+40:]...),
			[]int{100*lineLen + 20}, 4, lineCheck{Files: 2, Checked: n - 1, First: 0, Split: 1, Corrupt: 1, Lost: 1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			base := rotate(t, t.TempDir(), tc.data, tc.cuts, tc.keep)
			got, err := checkLines(base, n)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("checkLines = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestLastLineNumber(t *testing.T) {
	dir := t.TempDir()
	data := stream(t, 300)
	base := rotate(t, dir, data, []int{200 * lineLen}, 4)
	if got := lastLineNumber(base); got != 299 {
		t.Errorf("lastLineNumber = %d, want 299", got)
	}
	// Just rotated: the live file is empty, the last line is in .1.
	base = rotate(t, t.TempDir(), data, []int{300 * lineLen}, 4)
	if got := lastLineNumber(base); got != 299 {
		t.Errorf("after rotation: lastLineNumber = %d, want 299", got)
	}
	base = rotate(t, t.TempDir(), data[:len(data)-3], nil, 4)
	if got := lastLineNumber(base); got != -1 {
		t.Errorf("torn line: lastLineNumber = %d, want -1", got)
	}
}

func TestLogFilesRejectsStrangers(t *testing.T) {
	dir := t.TempDir()
	base := filepath.Join(dir, "w.log")
	for _, f := range []string{base, base + ".1", base + ".2026-11-22"} {
		if err := os.WriteFile(f, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := logFiles(base); err == nil || !strings.Contains(err.Error(), ".2026-11-22") {
		t.Errorf("logFiles with a foreign backup name: err = %v, want one naming it", err)
	}
}

func TestParseStat(t *testing.T) {
	st, err := parseStat([]byte("4242 (we ird) (x)) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 17 0 0 20 0 1 0 5 1000 10"))
	if err != nil {
		t.Fatal(err)
	}
	if st.comm != "we ird) (x)" || st.utime != 250 || st.stime != 17 {
		t.Errorf("parseStat = %+v", st)
	}
	if _, err := parseStat([]byte("12 (x")); err == nil {
		t.Error("parseStat accepted a stat without ')'")
	}
	if self, err := readStat(os.Getpid()); err != nil || self.comm == "" {
		t.Errorf("readStat(self) = %+v, %v", self, err)
	}
	if !isChild(os.Getpid(), os.Getppid()) || isChild(os.Getpid(), os.Getpid()) {
		t.Error("isChild is wrong about the test process")
	}
}

func TestSummary(t *testing.T) {
	for _, tc := range []struct {
		in             []float64
		min, med, maxv float64
	}{
		{[]float64{3}, 3, 3, 3},
		{[]float64{5, 1, 3}, 1, 3, 5},
		{[]float64{4, 1, 3, 2}, 1, 2.5, 4},
	} {
		s := summarize3(tc.in)
		if s.min != tc.min || s.median != tc.med || s.max != tc.maxv || s.n != len(tc.in) {
			t.Errorf("summarize3(%v) = %+v", tc.in, s)
		}
	}
	if s := summarize3(nil); s.ok() {
		t.Error("an empty series has a number")
	}
	a, b := summarize3([]float64{1}), summarize3([]float64{50})
	if got := ratio(a, b); got != "0.02× (1/50.0)" {
		t.Errorf("ratio = %q", got)
	}
	if got := ratio(b, a); got != "50.0×" {
		t.Errorf("ratio = %q", got)
	}
	if got := ratio(a, summary{}); got != "—" {
		t.Errorf("ratio with a missing side = %q", got)
	}
	if got := uMS.format(0.0123); got != "12.3 ms" {
		t.Errorf("uMS.format = %q", got)
	}
	if got := uMiB.format(30310); got != "29.6 MiB" {
		t.Errorf("uMiB.format = %q", got)
	}
	if got := cell(summarize3([]float64{0.001, 0.002, 0.004}), uMS); got != "1.00 / **2.00** / 4.00 ms" {
		t.Errorf("cell = %q", got)
	}
}

func TestProblems(t *testing.T) {
	r := newResults()
	r.add("a", vSup, 1)
	r.unavailable("a", vRoost, "not available yet")
	r.fail("b", vSup, errors.New("boom"))
	r.add("c", vSup, 1)
	r.fail("c", vSup, errors.New("once"))
	got := r.problems([]key{{"a", vSup}, {"a", vRoost}, {"b", vSup}, {"c", vSup}, {"d", vSup}})
	want := []string{"b (supervisord): failed: boom", "c (supervisord): some runs failed: once", "d (supervisord): produced no number"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("problems =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestAllIn(t *testing.T) {
	st := []procState{{"web:web_01", "RUNNING", 7}, {"db", "STOPPED", 0}}
	if !allIn([]string{"web:web_01"}, "RUNNING")(st) || allIn([]string{"web:web_01", "db"}, "RUNNING")(st) {
		t.Error("allIn disagrees with the states")
	}
	if allIn([]string{"a", "b", "c"}, "RUNNING")(st) {
		t.Error("allIn holds with fewer processes than names")
	}
}

func TestStatusLines(t *testing.T) {
	out := "p0001                            RUNNING   pid 10, uptime 0:00:03\np0002                            STARTING  \n"
	if err := statusLines([]byte(out), 2); err == nil {
		t.Error("statusLines accepted a STARTING process")
	}
	if err := statusLines([]byte(out), 1); err != nil {
		t.Error(err)
	}
}

// TestSupervisordSession drives the real supervisord through the harness:
// start-up detection, the XML-RPC poller, kill -9 detection and a clean
// stop that leaves no process behind.
func TestSupervisordSession(t *testing.T) {
	sd := testutil.RequireBinary(t, "supervisord")
	sc := testutil.RequireBinary(t, "supervisorctl")
	if err := becomeSubreaper(); err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "rb") // short: the socket path has a limit
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	w, err := sleepWorkload(dir, 3)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	b := &bench{o: &options{ns: []int{3}, ctlRepsSm: 1}, t: newTracker(), res: newResults(), stderr: os.Stderr,
		started: time.Now(), supervisorctl: sc}
	t.Cleanup(b.t.cleanup)
	d := supervisordDaemon{supervisord: sd, supervisorctl: sc}
	pw, err := newPIDWatcher(0)
	if err != nil {
		t.Fatal(err)
	}
	r, err := launch(b.t, d, w)
	if err != nil {
		t.Fatal(err)
	}
	pw.parent = r.pid()
	up, err := b.waitStarted(ctx, r, pw, 3)
	if err != nil {
		t.Fatal(err)
	}
	if el := up.Sub(r.started); el <= 0 || el > time.Minute {
		t.Errorf("start-up took %s", el)
	}
	st, err := d.states(ctx, w)
	if err != nil || len(st) != 3 || st[0].Name != "p0001" || st[0].PID <= 0 {
		t.Fatalf("states = %v, %v", st, err)
	}
	kids, err := children(r.pid())
	if err != nil || len(kids) != 3 {
		t.Fatalf("children = %v, %v; want the 3 sleeps", kids, err)
	}
	lat, err := b.killOnce(ctx, r)
	if err != nil {
		t.Fatal(err)
	}
	if lat <= 0 || lat > 10*time.Second {
		t.Errorf("kill -9 → new pid: %s", lat)
	}
	after, err := children(r.pid())
	if err != nil || len(after) != 3 {
		t.Errorf("after the kill: children = %v, %v", after, err)
	}
	if err := b.timeCtl(ctx, w, "status.3", vSup, d.ctl("status"), func(out []byte) error { return statusLines(out, 3) }); err != nil {
		t.Error(err)
	}
	if s := b.res.get("status.3", vSup); !s.ok() || s.median <= 0 {
		t.Errorf("status round trip = %+v", s)
	}
	m, err := readMem(r.pid())
	if err != nil || m.RSS <= 0 || m.PSS <= 0 || m.PSS > m.RSS {
		t.Errorf("readMem = %+v, %v", m, err)
	}
	c0, err := readCPU(r.pid())
	if err != nil || c0.Threads != 1 || c0.Sched <= 0 {
		t.Errorf("readCPU = %+v, %v", c0, err)
	}
	sleeps := append(after, kids...)
	b.stopDaemon(r)
	if len(b.res.notes) > 0 {
		t.Errorf("notes after stopping: %v", b.res.notes)
	}
	for _, p := range sleeps {
		if pr, err := procfs.Read(p); err == nil && pr.State != 'Z' {
			t.Errorf("process %d survived the daemon's stop", p)
		}
	}
}

func TestCPUDelta(t *testing.T) {
	a := cpuUsage{Ticks: 1, Sched: 1.004, Voluntary: 10, Involuntary: 2, TIDs: map[int]bool{1: true, 2: true}}
	b := cpuUsage{Ticks: 1.5, Sched: 1.507, Voluntary: 15, Involuntary: 3, TIDs: map[int]bool{1: true, 2: true, 3: true}}
	d := b.sub(a)
	if !d.Exact || math.Abs(d.CPU-0.503) > 1e-9 || d.Switches != 6 {
		t.Errorf("delta = %+v", d)
	}
	delete(b.TIDs, 2) // a thread exited: fall back to ticks
	if d := b.sub(a); d.Exact || d.CPU != 0.5 || d.Switches != -1 {
		t.Errorf("delta after a thread exit = %+v", d)
	}
}

func TestHeadline(t *testing.T) {
	b := &bench{o: &options{ns: []int{10, 100}}, res: newResults()}
	for _, s := range []struct {
		fig        string
		sup, roost float64
	}{{"pss.100", 30000, 15000}, {"pss.10", 29000, 11000}, {"status.100", 0.2, 0.01}, {figLogRate, 900, 600}} {
		b.res.add(s.fig, vSup, s.sup)
		b.res.add(s.fig, vRoost, s.roost)
	}
	want := readmeMarker + " [BENCHMARKS.md](BENCHMARKS.md) — roost against supervisord 4.2.5 on one machine, medians: " +
		"idle memory (PSS, 100 programs) 2.00× smaller, `status` (100 programs) 20.0× faster, log capture 1.50× slower."
	if got := b.headline(); got != want {
		t.Errorf("headline =\n%s\nwant\n%s", got, want)
	}
	b.roostWhy = "not available yet (no `roost run`)"
	if got := b.headline(); !strings.Contains(got, "not available yet") {
		t.Errorf("headline without roost = %s", got)
	}
}

// oldestChild finds the child that has run longest, with its age.
func TestOldestChild(t *testing.T) {
	first := exec.Command("/bin/sleep", "30")
	if err := first.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { first.Process.Kill(); first.Wait() })
	time.Sleep(30 * time.Millisecond) // start times are in 10 ms ticks: make the two differ
	second := exec.Command("/bin/sleep", "30")
	if err := second.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { second.Process.Kill(); second.Wait() })
	pid, age, err := oldestChild(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if pid != first.Process.Pid {
		t.Errorf("oldest child %d, want %d (the first sleep)", pid, first.Process.Pid)
	}
	if age < 0 || age > time.Minute {
		t.Errorf("age %v", age)
	}
}

// TestUsersOption: -users picks the master part's user counts, sorted, so
// the goal rows use the largest; -quick has only two users to run.
func TestUsersOption(t *testing.T) {
	o, err := parseOptions([]string{"-users", "50, 5"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(o.users) != "[5 50]" {
		t.Errorf("users = %v, want [5 50]", o.users)
	}
	for _, args := range [][]string{{"-users", "0"}, {"-users", "x"}, {"-quick", "-users", "3"}} {
		if _, err := parseOptions(args, io.Discard); err == nil {
			t.Errorf("%v: no error", args)
		}
	}
	if o, _ := parseOptions(nil, io.Discard); fmt.Sprint(o.users) != "[1 10 50]" {
		t.Errorf("default users = %v", o.users)
	}
}
