package supervisor

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"roost/config"
	"roost/internal/procfs"
	"roost/internal/testutil"
	"roost/supervisor/api"
)

// cronConfig is testConfig with a cron file in the project directory.
func cronConfig(t *testing.T, cron string, groups ...*config.Group) *config.Config {
	t.Helper()
	cfg := testConfig(t, groups...)
	writeCron(t, cfg, cron)
	return cfg
}

// writeCron replaces the cron file as editors do (write, rename).
func writeCron(t *testing.T, cfg *config.Config, text string) {
	t.Helper()
	path := filepath.Join(cfg.Here, "cron")
	if err := os.WriteFile(path+".tmp", []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(path+".tmp", path); err != nil {
		t.Fatal(err)
	}
}

// cronJob returns a job's record.
func cronJob(t *testing.T, s *Supervisor, name string) api.CronJob {
	t.Helper()
	for _, j := range s.Cron().Jobs {
		if j.Name == name {
			return j
		}
	}
	t.Fatalf("no cron job %q in %+v", name, s.Cron().Jobs)
	return api.CronJob{}
}

// waitCron polls (bounded) until a job's record satisfies cond.
func waitCron(t *testing.T, s *Supervisor, name, what string, cond func(api.CronJob) bool) api.CronJob {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		j := cronJob(t, s, name)
		if cond(j) {
			return j
		}
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s %s: %+v", name, what, j)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// runCron runs a job by hand and waits for that run to end.
func runCron(t *testing.T, s *Supervisor, name string) api.CronJob {
	t.Helper()
	before := cronJob(t, s, name).Runs
	if err := s.RunCronJob(name); err != nil {
		t.Fatalf("run %s: %v", name, err)
	}
	return waitCron(t, s, name, "to finish", func(j api.CronJob) bool { return j.Runs > before && !j.Running })
}

// waitLog waits (bounded) until the main log contains want.
func (h *harness) waitLog(want string) {
	h.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(h.mainLog(), want) {
		if time.Now().After(deadline) {
			h.t.Fatalf("main log lacks %q:\n%s", want, h.mainLog())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

var cronLine = regexp.MustCompile(`^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d (\S+) \| (.*)$`)

// cronLog returns cron.log's lines as "job | text", checking every prefix.
func cronLogLines(t *testing.T, cfg *config.Config) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(cfg.Here, "cron.log"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, l := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
		m := cronLine.FindStringSubmatch(l)
		if m == nil {
			t.Fatalf("cron.log line without its prefix: %q", l)
		}
		out = append(out, m[1]+" | "+m[2])
	}
	return out
}

func TestCronJobEnvironmentDirectoryAndLog(t *testing.T) {
	cfg := cronConfig(t, "GREETING = 'hello world'\n"+
		"# name: env\n"+
		"@yearly echo \"$GREETING from $(pwd) as $ROOST_CRON_JOB, $FROMCONF $SUPERVISOR_ENABLED\"; echo oops >&2; printf partial\n"+
		"# name: input\n"+
		"@yearly cat; echo 100\\% done%line one%line two%\n"+
		"# name: read\n"+
		"@yearly while read -r l; do echo \"got $l\"; done%first%last\n"+
		"# name: fails\n"+
		"@yearly exit 3\n")
	cfg.Supervisord.Environment = config.Environment{{Name: "FROMCONF", Value: "conf"}, {Name: "GREETING", Value: "overridden"}}
	h := start(t, cfg)

	j := runCron(t, h.s, "env")
	if j.LastExitStatus != 0 || j.LastError != "" || j.LastEnd.IsZero() || j.Runs != 1 || j.PID != 0 {
		t.Errorf("env after its run: %+v", j)
	}
	runCron(t, h.s, "input")
	runCron(t, h.s, "read") // cron ends the input with a newline, so read sees "last"
	if j := runCron(t, h.s, "fails"); j.LastExitStatus != 3 || j.LastError != "" {
		t.Errorf("fails after its run: %+v", j)
	}
	got := strings.Join(cronLogLines(t, cfg), "\n")
	want := "env | hello world from " + cfg.Here + " as env, conf 1\n" +
		"env | oops\n" +
		"env | partial\n" +
		"input | line one\n" +
		"input | line two\n" +
		"input | 100% done\n" +
		"read | got first\n" +
		"read | got last"
	if got != want {
		t.Errorf("cron.log:\n%s\nwant:\n%s", got, want)
	}
	h.waitLog("cron: fails exited 3 after ")
	log := h.mainLog()
	for _, re := range []string{`cron: env started pid \d+`, `cron: env exited 0 after \d`, `cron: 4 job\(s\) from `} {
		if !regexp.MustCompile(re).MatchString(log) {
			t.Errorf("main log lacks %s:\n%s", re, log)
		}
	}
	if info := h.s.Cron(); info.Log != filepath.Join(cfg.Here, "cron.log") || info.File != filepath.Join(cfg.Here, "cron") {
		t.Errorf("Cron(): file %s, log %s", info.File, info.Log)
	}
}

func TestCronRunErrors(t *testing.T) {
	cfg := cronConfig(t, "# name: busy\n@yearly sleep 1000\n")
	h := start(t, cfg)
	if err := h.s.RunCronJob("nosuch"); api.CodeOf(err) != api.BadName {
		t.Errorf("run nosuch: %v, want BAD_NAME", err)
	}
	if err := h.s.RunCronJob("busy"); err != nil {
		t.Fatal(err)
	}
	j := waitCron(t, h.s, "busy", "to report its pid", func(j api.CronJob) bool { return j.PID > 0 })
	if err := h.s.RunCronJob("busy"); api.CodeOf(err) != api.AlreadyStarted {
		t.Errorf("run busy while it runs: %v, want ALREADY_STARTED", err)
	}
	if pi, err := procfs.Read(j.PID); err != nil || pi.PGID != j.PID {
		t.Errorf("job pid %d: %+v, %v; want the leader of its own process group", j.PID, pi, err)
	}
}

func TestCronOverlapIsSkipped(t *testing.T) {
	cfg := cronConfig(t, "# name: slow\n@every 1s echo start; sleep 2.5; echo end\n")
	h := start(t, cfg)
	j := waitCron(t, h.s, "slow", "to skip a run", func(j api.CronJob) bool { return j.Skipped >= 1 })
	if j.Runs < 1 || !j.Running {
		t.Errorf("slow after a skip: %+v", j)
	}
	h.waitLog("cron: skipped slow: still running (pid " + strconv.Itoa(j.PID) + ")")
	j = waitCron(t, h.s, "slow", "to finish a run", func(j api.CronJob) bool { return !j.LastEnd.IsZero() })
	if j.LastExitStatus != 0 || j.LastDuration < 2 {
		t.Errorf("slow's first run: %+v", j)
	}
}

func TestCronConcurrentLinesDoNotMix(t *testing.T) {
	const n = 3000
	loop := func(tag string) string {
		return fmt.Sprintf("i=0; while [ $i -lt %d ]; do echo %s-$i-%s; i=$((i+1)); done", n, tag, strings.Repeat(tag, 40))
	}
	cfg := cronConfig(t, "# name: a\n@yearly "+loop("a")+"\n# name: b\n@yearly "+loop("b")+"\n")
	h := start(t, cfg)
	for _, name := range []string{"a", "b"} {
		if err := h.s.RunCronJob(name); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{"a", "b"} {
		waitCron(t, h.s, name, "to finish", func(j api.CronJob) bool { return !j.LastEnd.IsZero() })
	}
	next := map[string]int{}
	for _, l := range cronLogLines(t, cfg) {
		job, text, _ := strings.Cut(l, " | ")
		want := fmt.Sprintf("%s-%d-%s", job, next[job], strings.Repeat(job, 40))
		if text != want {
			t.Fatalf("line of %s: %q, want %q", job, text, want)
		}
		next[job]++
	}
	if next["a"] != n || next["b"] != n {
		t.Errorf("lines: %v, want %d of each", next, n)
	}
	// The API's filtered reads.
	b, err := h.s.ReadCronLog("b", 2)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	if len(lines) != 2 || !strings.HasSuffix(lines[0], fmt.Sprintf(" b | b-%d-", n-2)+strings.Repeat("b", 40)) ||
		!strings.HasSuffix(lines[1], fmt.Sprintf(" b | b-%d-", n-1)+strings.Repeat("b", 40)) {
		t.Errorf("ReadCronLog(b, 2) = %q", b)
	}
	if _, err := h.s.ReadCronLog("nosuch", 2); api.CodeOf(err) != api.BadName {
		t.Errorf("ReadCronLog(nosuch): %v", err)
	}
	all, _ := h.s.ReadCronLog("", 2*n)
	if c := bytes.Count(all, []byte("\n")); c != 2*n {
		t.Errorf("ReadCronLog(\"\", %d): %d lines", 2*n, c)
	}
}

func TestCronFollowLog(t *testing.T) {
	cfg := cronConfig(t, "# name: a\n@yearly echo a1; echo a2\n# name: b\n@yearly echo b1\n")
	h := start(t, cfg)
	runCron(t, h.s, "a")
	runCron(t, h.s, "b")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out := &testutil.Buffer{}
	done := make(chan error, 1)
	go func() { done <- h.s.FollowCronLog(ctx, "a", 1, out) }()
	waitFor := func(want string) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for stripCronPrefixes(out.String()) != want {
			if time.Now().After(deadline) {
				t.Fatalf("followed %q, want %q", out.String(), want)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	waitFor("a2\n")
	runCron(t, h.s, "b")
	runCron(t, h.s, "a")
	waitFor("a2\na1\na2\n")
	cancel()
	if err := <-done; err != nil {
		t.Errorf("FollowCronLog: %v", err)
	}
}

// stripCronPrefixes drops the time and name prefixes of cron.log lines.
func stripCronPrefixes(s string) string {
	var b strings.Builder
	for _, l := range strings.SplitAfter(s, "\n") {
		if m := cronLine.FindStringSubmatch(strings.TrimSuffix(l, "\n")); m != nil {
			b.WriteString(m[2] + "\n")
		} else {
			b.WriteString(l)
		}
	}
	return b.String()
}

func TestCronShutdownStopsJobs(t *testing.T) {
	cfg := testConfig(t)
	dir := cfg.Here
	writeCron(t, cfg, "# name: polite\n@reboot sleep 1000 & echo $! > "+dir+"/polite.child; wait\n"+
		"# name: stubborn\n@reboot trap '' TERM; echo $$ > "+dir+"/stubborn.pid; while :; do sleep 1; done\n")
	s, err := New(cfg, Options{Version: "test"})
	if err != nil {
		t.Fatal(err)
	}
	s.cron.stopWait = time.Second
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	defer cancel()
	polite := waitCron(t, s, "polite", "to run", func(j api.CronJob) bool { return j.PID > 0 }).PID
	politeChild := readPid(t, dir+"/polite.child")
	stubborn := readPid(t, dir+"/stubborn.pid")
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("Run did not return")
	}
	for _, pid := range []int{polite, politeChild, stubborn} {
		procGone(t, pid, 5*time.Second)
	}
	b, _ := os.ReadFile(cfg.Supervisord.Logfile)
	log := string(b)
	for _, want := range []string{"cron: stopping polite (pid ", "cron: polite terminated by SIGTERM after",
		"cron: killing stubborn (pid " + strconv.Itoa(stubborn) + ") with SIGKILL", "cron: stubborn terminated by SIGKILL after"} {
		if !strings.Contains(log, want) {
			t.Errorf("main log lacks %q:\n%s", want, log)
		}
	}
	if strings.Index(log, "cron: stubborn terminated") > strings.Index(log, "roost stopped") {
		t.Errorf("cron jobs stopped after the supervisor:\n%s", log)
	}
}

func TestCronReload(t *testing.T) {
	cfg := cronConfig(t, "# name: keep\n@yearly echo kept\n# name: gone\n@yearly sleep 1000\n# name: edit\n@yearly echo v1\n")
	h := start(t, cfg, func(o *Options) { o.Load = func() (*config.Config, error) { return cfg, nil } })
	runCron(t, h.s, "keep")
	if err := h.s.RunCronJob("gone"); err != nil {
		t.Fatal(err)
	}
	gonePID := waitCron(t, h.s, "gone", "to run", func(j api.CronJob) bool { return j.PID > 0 }).PID

	// keep is unchanged (moved lines, still named), gone removed while
	// running, edit changed, fresh added.
	writeCron(t, cfg, "FOO=bar\n\n# name: keep\n@yearly echo kept\n# name: edit\n@yearly echo v2\n# name: fresh\n@daily true\n")
	// keep's environment changed (FOO=bar is above it): it is a new job.
	if _, err := h.s.Update(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	h.waitLog("cron: applying cron: added [fresh], changed [keep edit], removed [gone]")
	procGone(t, gonePID, 30*time.Second)
	if j := cronJob(t, h.s, "keep"); j.Runs != 0 {
		t.Errorf("keep with a new environment kept its record: %+v", j)
	}

	runCron(t, h.s, "keep")
	writeCron(t, cfg, "FOO=bar\n\n# name: keep\n@yearly echo kept\n# name: edit\n@yearly echo v3\n# name: fresh\n@daily true\n")
	if _, err := h.s.Update(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	h.waitLog("cron: applying cron: added [], changed [edit], removed []")
	if j := cronJob(t, h.s, "keep"); j.Runs != 1 || j.Line != 4 {
		t.Errorf("keep lost its record in a reload that did not change it: %+v", j)
	}
	if j := cronJob(t, h.s, "fresh"); j.Next.IsZero() || j.Schedule != "@daily" {
		t.Errorf("fresh: %+v", j)
	}

	// An invalid file keeps the jobs, and says why.
	writeCron(t, cfg, "# name: keep\n@yearly echo kept\n61 * * * * bad minute\n")
	if _, err := h.s.Update(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	h.waitLog("cron:3: ")
	info := h.s.Cron()
	if len(info.Jobs) != 3 || !strings.HasPrefix(info.Error, "cron:3: ") {
		t.Errorf("after an invalid edit: %+v", info)
	}
	if !strings.Contains(h.mainLog(), "(the running cron jobs are kept)") {
		t.Errorf("main log:\n%s", h.mainLog())
	}
	// A missing file is no jobs, without an error.
	os.Remove(filepath.Join(cfg.Here, "cron"))
	if _, err := h.s.Update(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	if info := h.s.Cron(); len(info.Jobs) != 0 || info.Error != "" {
		t.Errorf("after removing the file: %+v", info)
	}
}

func TestCronWatcherAppliesSavedFile(t *testing.T) {
	cfg := cronConfig(t, "# name: one\n@yearly true\n")
	h := start(t, cfg, func(o *Options) {
		o.Watch = true
		o.Load = func() (*config.Config, error) { return cfg, nil }
	})
	// Until the watcher is armed a save goes unseen: save again until it
	// is seen (saving the same text again changes nothing).
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(h.mainLog(), "cron: applying cron: added [two]") {
		if time.Now().After(deadline) {
			t.Fatalf("the saved cron file was not applied:\n%s", h.mainLog())
		}
		writeCron(t, cfg, "# name: one\n@yearly true\n# name: two\n@yearly true\n")
		time.Sleep(300 * time.Millisecond)
	}
	if n := len(h.s.Cron().Jobs); n != 2 {
		t.Errorf("%d jobs after the save, want 2", n)
	}
}

func TestCronChangedOnDisk(t *testing.T) {
	cfg := cronConfig(t, "# name: one\n@yearly true\n")
	s, err := New(cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.cron.stop()
	if s.cron.changedOnDisk() {
		t.Error("changed right after New")
	}
	writeCron(t, cfg, "# name: two\n@yearly true\n")
	if !s.cron.changedOnDisk() {
		t.Error("an edit is not a change")
	}
	os.Remove(filepath.Join(cfg.Here, "cron"))
	if !s.cron.changedOnDisk() {
		t.Error("a removal is not a change")
	}
	s.cron.reload()
	if s.cron.changedOnDisk() || len(s.Cron().Jobs) != 0 {
		t.Errorf("after applying the removal: changed %v, %+v", s.cron.changedOnDisk(), s.Cron())
	}
}

func TestCronInvalidFileAtStart(t *testing.T) {
	cfg := cronConfig(t, "@daily\n")
	if _, err := New(cfg, Options{}); err == nil || !strings.Contains(err.Error(), "cron:1: missing command after @daily") {
		t.Errorf("New with an invalid cron file: %v", err)
	}
}

func TestCronLogPath(t *testing.T) {
	tmp := os.TempDir()
	for _, tc := range []struct {
		sv   config.Supervisord
		want string
	}{
		{config.Supervisord{Logfile: "/p/logs/supervisord.log", Childlogdir: "/c", ChildlogdirSet: true}, "/c/cron.log"},
		{config.Supervisord{Logfile: "/p/logs/supervisord.log", Childlogdir: tmp}, "/p/logs/cron.log"},
		{config.Supervisord{Logfile: "", Childlogdir: tmp}, filepath.Join(tmp, fmt.Sprintf("roost-cron-%d.log", os.Getuid()))},
		{config.Supervisord{Logfile: "syslog", Childlogdir: tmp}, filepath.Join(tmp, fmt.Sprintf("roost-cron-%d.log", os.Getuid()))},
		{config.Supervisord{Logfile: "/dev/stdout", Childlogdir: tmp}, filepath.Join(tmp, fmt.Sprintf("roost-cron-%d.log", os.Getuid()))},
	} {
		if got := cronLogPath(&config.Config{Supervisord: tc.sv}); got != tc.want {
			t.Errorf("cronLogPath(%+v) = %s, want %s", tc.sv, got, tc.want)
		}
	}
}

func TestCronName(t *testing.T) {
	for _, tc := range []struct{ path, dir, want string }{
		{"/p/cron", "/p", "cron"},
		{"/p/etc/cron", "/p", "etc/cron"},
		{"/elsewhere/cron", "/p", "/elsewhere/cron"},
		{"/p/cron", "", "/p/cron"},
	} {
		if got := cronName(tc.path, tc.dir); got != tc.want {
			t.Errorf("cronName(%s, %s) = %s, want %s", tc.path, tc.dir, got, tc.want)
		}
	}
}

func TestLastMatching(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cron.log")
	var b strings.Builder
	long := strings.Repeat("x", 100<<10) // lines across chunk boundaries
	for i := range 50 {
		fmt.Fprintf(&b, "2026-11-22 03:04:05 a | %d %s\n2026-11-22 03:04:05 b | %d\n", i, long[:i*2000], i)
	}
	b.WriteString("2026-11-22 03:04:05 a | " + long + "\n")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	isB := func(l []byte) bool { n, ok := cronLinePrefix(l); return ok && n == "b" }
	got, tail, err := lastMatching(path, 3, isB)
	if err != nil {
		t.Fatal(err)
	}
	want := "2026-11-22 03:04:05 b | 47\n2026-11-22 03:04:05 b | 48\n2026-11-22 03:04:05 b | 49\n"
	if string(got) != want {
		t.Errorf("last 3 of b: %q", got)
	}
	data := b.String()
	if !strings.HasPrefix(data[len(data)-int(tail):], "2026-11-22 03:04:05 b | 47\n") {
		t.Errorf("tail %d starts at %q", tail, data[len(data)-int(tail):][:40])
	}
	all, _, _ := lastMatching(path, 1000, func([]byte) bool { return true })
	if string(all) != data {
		t.Errorf("every line: %d bytes, want %d", len(all), len(data))
	}
	if got, _, err := lastMatching(filepath.Join(t.TempDir(), "none"), 3, isB); err != nil || len(got) != 0 {
		t.Errorf("missing file: %q, %v", got, err)
	}
}

// FuzzLastMatching checks the backward scan against a forward one, on
// small chunks so that lines cross chunk boundaries.
func FuzzLastMatching(f *testing.F) {
	f.Add([]byte("a\nb\na\n"), uint8(2))
	f.Add([]byte("no newline at the end"), uint8(1))
	f.Add([]byte("\n\n\na\n"), uint8(5))
	path := filepath.Join(f.TempDir(), "log")
	f.Fuzz(func(t *testing.T, data []byte, n uint8) {
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		match := func(l []byte) bool { return len(l) > 0 && l[0] == 'a' }
		got, tail, err := lastMatchingBy(path, int(n), match, 7)
		if err != nil {
			t.Fatal(err)
		}
		var lines [][]byte
		var starts []int
		for i := 0; i < len(data); {
			j := bytes.IndexByte(data[i:], '\n')
			end := len(data)
			if j >= 0 {
				end = i + j + 1
			}
			if match(data[i:end]) {
				lines, starts = append(lines, data[i:end]), append(starts, i)
			}
			i = end
		}
		k := max(0, len(lines)-int(n))
		want := bytes.Join(lines[k:], nil)
		if !bytes.Equal(got, want) {
			t.Fatalf("lastMatching(%q, %d) = %q, want %q", data, n, got, want)
		}
		wantTail := int64(0)
		if k < len(lines) && n > 0 {
			wantTail = int64(len(data) - starts[k])
		}
		if tail != wantTail {
			t.Fatalf("lastMatching(%q, %d): tail %d, want %d", data, n, tail, wantTail)
		}
	})
}
