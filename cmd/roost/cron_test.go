package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"roost/internal/testutil"
	"roost/supervisor/api"
)

// ctlRoost runs a ctl verb of the real binary and returns stdout and the
// exit status.
func ctlRoost(t *testing.T, bin string, args ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, args...).Output()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("roost %v: %v", args, err)
	}
	return string(out), code
}

// cronList is `roost cron list --json`.
func cronList(t *testing.T, bin, conf string) api.CronInfo {
	t.Helper()
	out, code := ctlRoost(t, bin, "-c", conf, "cron", "list", "--json")
	var info api.CronInfo
	if err := json.Unmarshal([]byte(out), &info); code != 0 || err != nil {
		t.Fatalf("cron list --json: exit %d, %v:\n%s", code, err, out)
	}
	return info
}

func jobOf(info api.CronInfo, name string) api.CronJob {
	for _, j := range info.Jobs {
		if j.Name == name {
			return j
		}
	}
	return api.CronJob{}
}

// waitCronList polls `roost cron list --json` (bounded) until cond holds.
func waitCronList(t *testing.T, bin, conf, what string, cond func(api.CronInfo) bool) api.CronInfo {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		info := cronList(t, bin, conf)
		if cond(info) {
			return info
		}
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s: %+v", what, info)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitFileHas polls a file (bounded) until it matches re, and returns it.
func waitFileHas(t *testing.T, path string, re *regexp.Regexp) string {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		b, _ := os.ReadFile(path)
		if re.Match(b) {
			return string(b)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s does not match %s:\n%s", path, re, b)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

const cronE2E = `# The end-to-end test's cron file.
GREETING = "hello from cron"

# name: hello
@every 1s echo "$GREETING in $(pwd)"

# name: slow
@every 1s echo start; sleep 2.5; echo end

# name: busy
@reboot echo $$ > busy.pid; exec sleep 1000

# name: manual
@yearly echo manual run
`

// TestCronEndToEnd is the acceptance test: the real binary runs a project
// with @every 1s jobs.
func TestCronEndToEnd(t *testing.T) {
	bin := testutil.RoostBinary(t, nil)
	dir := t.TempDir()
	os.Mkdir(filepath.Join(dir, "logs"), 0o755)
	conf := filepath.Join(dir, "supervisord.conf")
	write(t, conf, "[unix_http_server]\nfile=%(here)s/roost.sock\n\n"+
		"[supervisord]\nlogfile=%(here)s/logs/main.log\n\n[program:web]\ncommand=/bin/sleep 1000\n")
	write(t, filepath.Join(dir, "cron"), cronE2E)
	p := startProc(t, exec.Command(bin, "run", "-c", conf))
	dialWhenUp(t, filepath.Join(dir, "roost.sock"), p)

	// Env lines applied, in the project directory, lines in logs/cron.log
	// with the job's name.
	cronLog := filepath.Join(dir, "logs", "cron.log")
	line := `\d{4}-\d\d-\d\d \d\d:\d\d:\d\d `
	waitFileHas(t, cronLog, regexp.MustCompile(`(?m)^`+line+`hello \| hello from cron in `+regexp.QuoteMeta(dir)+`\n`+
		`(.*\n)*`+line+`hello \| hello from cron in `))

	// The slow job is skipped while it runs; the list shows the count.
	info := waitCronList(t, bin, conf, "slow to skip", func(i api.CronInfo) bool { return jobOf(i, "slow").Skipped >= 1 })
	if info.Log != cronLog || info.File != filepath.Join(dir, "cron") || len(info.Jobs) != 4 {
		t.Errorf("cron list: %+v", info)
	}
	hello := jobOf(info, "hello")
	if hello.Runs < 2 || hello.Schedule != "@every 1s" || hello.Next.IsZero() {
		t.Errorf("hello: %+v", hello)
	}
	busy := jobOf(info, "busy")
	if !busy.Running || busy.PID == 0 || busy.Schedule != "@reboot" || !busy.Next.IsZero() {
		t.Errorf("busy: %+v", busy)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "busy.pid")); strings.TrimSpace(string(b)) != strconv.Itoa(busy.PID) {
		t.Errorf("busy.pid %q, list says pid %d", b, busy.PID)
	}
	raw, _ := ctlRoost(t, bin, "-c", conf, "cron", "list", "--json")
	if !regexp.MustCompile(`"next": "\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)"`).MatchString(raw) {
		t.Errorf("cron list --json times are not RFC 3339:\n%s", raw)
	}
	main := waitFileHas(t, filepath.Join(dir, "logs", "main.log"), regexp.MustCompile(`cron: skipped slow: still running \(pid \d+\)`))
	for _, re := range []string{`cron: hello started pid \d+`, `cron: hello exited 0 after \d`, `cron: 4 job\(s\) from `} {
		if !regexp.MustCompile(re).MatchString(main) {
			t.Errorf("main log lacks %s:\n%s", re, main)
		}
	}

	// The table a person reads.
	out, code := ctlRoost(t, bin, "-c", conf, "cron", "list")
	if code != 0 || !strings.HasPrefix(out, "NAME") || !regexp.MustCompile(`(?m)^busy +@reboot +- +\S+ \S+ \(\d+[sm] ago\) +running \(pid \d+\) +0 *$`).MatchString(out) ||
		!regexp.MustCompile(`(?m)^manual +@yearly +\S+ \S+ \(in \d+\S\) +never +never +0 *$`).MatchString(out) || !strings.Contains(out, "log: "+cronLog) {
		t.Errorf("cron list: exit %d:\n%s", code, out)
	}

	// cron run, its errors, cron log.
	if out, code := ctlRoost(t, bin, "-c", conf, "cron", "run", "manual"); out != "manual: started\n" || code != 0 {
		t.Errorf("cron run manual: exit %d, %q", code, out)
	}
	if out, code := ctlRoost(t, bin, "-c", conf, "cron", "run", "nosuch"); out != "nosuch: ERROR (no such job)\n" || code != 1 {
		t.Errorf("cron run nosuch: exit %d, %q", code, out)
	}
	if out, code := ctlRoost(t, bin, "-c", conf, "cron", "run", "busy"); out != "busy: ERROR (already running)\n" || code != 1 {
		t.Errorf("cron run busy: exit %d, %q", code, out)
	}
	waitCronList(t, bin, conf, "manual to run", func(i api.CronInfo) bool { return jobOf(i, "manual").Status() != "never" })
	if out, code := ctlRoost(t, bin, "-c", conf, "cron", "log", "manual"); code != 0 ||
		!regexp.MustCompile(`^`+line+`manual \| manual run\n$`).MatchString(out) {
		t.Errorf("cron log manual: exit %d, %q", code, out)
	}
	if out, code := ctlRoost(t, bin, "-c", conf, "cron", "log", "-n", "2", "hello"); code != 0 || strings.Count(out, " hello | hello from cron in ") != 2 {
		t.Errorf("cron log -n 2 hello: exit %d, %q", code, out)
	}

	// An invalid edit keeps the jobs and says why.
	write(t, filepath.Join(dir, "cron"), cronE2E+"61 * * * * echo bad minute\n")
	info = waitCronList(t, bin, conf, "the invalid file to be reported", func(i api.CronInfo) bool { return i.Error != "" })
	if !strings.HasPrefix(info.Error, "cron:15: minute field") || len(info.Jobs) != 4 {
		t.Errorf("after an invalid edit: %+v", info)
	}
	if j := jobOf(info, "busy"); j.PID != busy.PID || !j.Running {
		t.Errorf("busy after the invalid edit: %+v (was pid %d)", j, busy.PID)
	}
	waitFileHas(t, filepath.Join(dir, "logs", "main.log"), regexp.MustCompile(`cron:15: minute field .* \(the running cron jobs are kept\)`))
	if out, _ := ctlRoost(t, bin, "-c", conf, "cron", "list"); !strings.Contains(out, "not valid") || !strings.Contains(out, "  cron:15: minute field") {
		t.Errorf("cron list after an invalid edit:\n%s", out)
	}
	if out, code := ctlRoost(t, bin, "check", "-c", conf); code != 1 || !strings.Contains(out, "cron:15: minute field") {
		t.Errorf("check after an invalid edit: exit %d:\n%s", code, out)
	}

	// Shutdown stops the running jobs: nothing is left.
	slow := jobOf(cronList(t, bin, conf), "slow")
	p.cmd.Process.Signal(syscall.SIGTERM)
	if code := p.wait(t, 60*time.Second); code != 0 {
		t.Fatalf("roost run exit %d:\n%s", code, p.out.String())
	}
	for _, pid := range []int{busy.PID, slow.PID} {
		if pid == 0 {
			continue
		}
		if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); err == nil {
			t.Errorf("job pid %d still exists after roost exited", pid)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "logs", "main.log")); !strings.Contains(string(b), "cron: busy terminated by SIGTERM") {
		t.Errorf("main log:\n%s", b)
	}
}

// TestCronRunFlagAndBadFile: --cron FILE elsewhere; an invalid cron file
// at start is a configuration error (exit 2, nothing started).
func TestCronRunFlagAndBadFile(t *testing.T) {
	bin := testutil.RoostBinary(t, nil)
	dir := t.TempDir()
	conf := filepath.Join(dir, "supervisord.conf")
	write(t, conf, "[unix_http_server]\nfile=%(here)s/roost.sock\n\n[supervisord]\nlogfile=%(here)s/main.log\n")
	other := filepath.Join(t.TempDir(), "jobs")
	write(t, other, "@daily\n")
	p := startProc(t, exec.Command(bin, "run", "-c", conf, "--cron", other))
	if code := p.wait(t, 60*time.Second); code != 2 {
		t.Fatalf("exit %d with an invalid cron file, want 2:\n%s", code, p.out.String())
	}
	if out := p.out.String(); !strings.Contains(out, other+":1: missing command after @daily") || !strings.Contains(out, "nothing was started") {
		t.Errorf("output:\n%s", out)
	}

	write(t, other, "# name: there\n@reboot echo from elsewhere\n")
	p = startProc(t, exec.Command(bin, "run", "-c", conf, "--cron", other))
	dialWhenUp(t, filepath.Join(dir, "roost.sock"), p)
	waitFileHas(t, filepath.Join(dir, "cron.log"), regexp.MustCompile(` there \| from elsewhere\n`))
	// The watcher watches the cron file's own directory.
	deadline := time.Now().Add(60 * time.Second)
	for jobOf(cronList(t, bin, conf), "added").Name == "" {
		if time.Now().After(deadline) {
			t.Fatalf("the edit of %s was not applied", other)
		}
		write(t, other, "# name: there\n@reboot echo from elsewhere\n# name: added\n@daily true\n")
		time.Sleep(200 * time.Millisecond)
	}
}

// TestCronRunsAsTheUser: roost run as root with [supervisord] user= runs
// the jobs as that user, with the user's groups and environment.
func TestCronRunsAsTheUser(t *testing.T) {
	alice := testutil.RequireUser(t, testutil.UserA)
	bin := testutil.RoostBinary(t, nil)
	dir, err := os.MkdirTemp("", "roost-cron-user-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chown(dir, alice.UID, alice.GID)
	os.Chmod(dir, 0o755)
	conf := filepath.Join(dir, "supervisord.conf")
	write(t, conf, "[unix_http_server]\nfile=%(here)s/roost.sock\n\n[supervisord]\nuser="+alice.Name+"\nlogfile=%(here)s/main.log\n")
	write(t, filepath.Join(dir, "cron"), "# name: who\n@reboot echo \"uid=$(id -u) groups=$(id -G)\"\n")
	os.Chown(conf, alice.UID, alice.GID)
	p := startProc(t, exec.Command(bin, "run", "-c", conf))
	log := waitFileHas(t, filepath.Join(dir, "cron.log"), regexp.MustCompile(` who \| uid=.*\n`))
	m := regexp.MustCompile(`who \| uid=(\d+) groups=([\d ]+)`).FindStringSubmatch(log)
	if m == nil {
		t.Fatalf("cron.log: %q", log)
	}
	if m[1] != strconv.Itoa(alice.UID) {
		t.Errorf("job ran as uid %s, want alice's %d", m[1], alice.UID)
	}
	checkGroups(t, "job", m[2], alice)
	if fi, err := os.Stat(filepath.Join(dir, "cron.log")); err == nil {
		if st := fi.Sys().(*syscall.Stat_t); int(st.Uid) != alice.UID {
			t.Errorf("cron.log is owned by uid %d, want alice's %d", st.Uid, alice.UID)
		}
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	if code := p.wait(t, 60*time.Second); code != 0 {
		t.Errorf("roost run exit %d:\n%s", code, p.out.String())
	}
}

func TestCheckCron(t *testing.T) {
	bin := testutil.RoostBinary(t, nil)
	dir := t.TempDir()
	write(t, filepath.Join(dir, "supervisord.conf"), "[supervisord]\nlogfile=%(here)s/s.log\n")
	write(t, filepath.Join(dir, "cron"), "MAILTO=me\n# name: backup\n30 2 * * 1-5 ./backup\n@reboot warm\n")
	out, _, code := runRoost(t, bin, dir, "check")
	if code != 0 || !strings.Contains(out, "warning: cron:1: MAILTO is ignored") ||
		!strings.Contains(out, "cron: valid: 2 job(s), 1 warning(s)") ||
		!regexp.MustCompile(`(?m)^backup +30 2 \* \* 1-5 +\d{4}-\d\d-\d\d 02:30:00 +\./backup$`).MatchString(out) ||
		!regexp.MustCompile(`(?m)^line-4 +@reboot +at start +warm$`).MatchString(out) {
		t.Errorf("check: exit %d:\n%s", code, out)
	}

	write(t, filepath.Join(dir, "cron"), "@daily\n# name: bad name\n0 0 30 2 * never\n")
	out, _, code = runRoost(t, bin, dir, "check")
	want := "cron:1: missing command after @daily\n" +
		"cron:2: job name \"bad name\" contains ' ': names cannot contain spaces, control characters, ':' or '/'\n"
	if code != 1 || !strings.Contains(out, want) || !strings.Contains(out, "cron:3: ") || !strings.HasSuffix(out, "cron: invalid: 3 error(s)\n") {
		t.Errorf("check: exit %d:\n%s", code, out)
	}
	out, _, code = runRoost(t, bin, dir, "check", "--json")
	var r struct {
		Valid bool
		Cron  struct {
			File   string
			Valid  bool
			Errors []struct {
				File, Message, Text string
				Line                int
			}
		}
	}
	if err := json.Unmarshal([]byte(out), &r); err != nil || code != 1 || r.Valid || r.Cron.Valid || len(r.Cron.Errors) != 3 ||
		r.Cron.Errors[0].Line != 1 || r.Cron.Errors[0].File != "cron" || r.Cron.File != filepath.Join(dir, "cron") {
		t.Errorf("check --json: exit %d, %v: %+v\n%s", code, err, r, out)
	}

	// The example's cron file is valid.
	out, _, code = runRoost(t, bin, ".", "check", "-c", filepath.Join("..", "..", "examples", "hello", "supervisord.conf"))
	if code != 0 || !strings.Contains(out, "cron: valid: 3 job(s)\n") {
		t.Errorf("check examples/hello: exit %d:\n%s", code, out)
	}
}

// TestCronManagedLogDir: under the master, cron.log goes to --logdir
// unless the file sets childlogdir, even when it moves the main log.
func TestCronManagedLogDir(t *testing.T) {
	bin := testutil.RoostBinary(t, nil)
	home := t.TempDir()
	logDir := filepath.Join(home, "log")
	runDir := t.TempDir()
	conf := filepath.Join(home, "current", "supervisord.conf")
	write(t, conf, "[supervisord]\nlogfile=%(here)s/main.log\n")
	write(t, filepath.Join(home, "current", "cron"), "# name: hi\n@reboot echo managed\n")
	sock := filepath.Join(runDir, "roost.sock")
	cmd := exec.Command(bin, "run", "--managed", "--socket", sock, "--logdir", logDir, "-c", conf)
	cmd.Dir = home
	p := startProc(t, cmd)
	dialWhenUp(t, sock, p)
	waitFileHas(t, filepath.Join(logDir, "cron.log"), regexp.MustCompile(` hi \| managed\n`))
	if out, code := ctlRoost(t, bin, "-s", sock, "cron", "log", "hi"); code != 0 || !strings.HasSuffix(out, " hi | managed\n") {
		t.Errorf("cron log hi: exit %d, %q", code, out)
	}
}
