package doctor_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"roost/doctor"
	"roost/internal/testutil"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testutil.RemoveRoostBinary()
	os.Exit(code)
}

// find returns the named check, or fails the test.
func find(t *testing.T, r *doctor.Report, name string) doctor.Check {
	t.Helper()
	for _, c := range r.Checks {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("no check %q in:\n%s", name, text(r))
	return doctor.Check{}
}

func has(r *doctor.Report, name string, st doctor.Status) bool {
	for _, c := range r.Checks {
		if c.Name == name && c.Status == st {
			return true
		}
	}
	return false
}

func text(r *doctor.Report) string {
	var b bytes.Buffer
	r.WriteText(&b)
	return b.String()
}

// asUser runs the roost binary as a throwaway user.
func asUser(a testutil.Account, bin string, env []string, args ...string) *exec.Cmd {
	cmd := exec.Command(bin, args...)
	groups := make([]uint32, len(a.Groups))
	for i, g := range a.Groups {
		groups[i] = uint32(g)
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(a.UID), Gid: uint32(a.GID), Groups: groups}}
	cmd.Env = append([]string{"HOME=" + a.Home, "USER=" + a.Name, "PATH=/usr/bin:/bin"}, env...)
	cmd.Dir = a.Home
	return cmd
}

// The doctor against a real master, a real user supervisor and a real
// program, with nginx's own test: what passes, and each thing it must catch
// (nginx not including the master's file, a broken file on disk, the
// master stopped), with the exit status and --json of `roost doctor`.
func TestDoctorRealMaster(t *testing.T) {
	testutil.RequireRoot(t)
	alice := testutil.RequireUser(t, testutil.UserA)
	ngx := testutil.Nginx(t)
	testutil.RequireBinary(t, "python3")
	bin := testutil.RoostBinary(t, nil)

	dir, err := os.MkdirTemp("", "roost-doctor-")
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(dir, 0o755)
	t.Cleanup(func() { os.RemoveAll(dir) })
	project := fmt.Sprintf(".roost-doctor-%d", os.Getpid())
	projDir := filepath.Join(alice.Home, project)
	t.Cleanup(func() { os.RemoveAll(projDir) })
	confDir := projDir + "-config" // roost.toml config_dir: alice's services file
	t.Cleanup(func() { os.RemoveAll(confDir) })

	// nginx's main configuration, first without the master's file.
	os.MkdirAll(filepath.Join(dir, "conf.d"), 0o755)
	output := filepath.Join(dir, "conf.d", "roost.conf")
	mainConf := func(include bool) string {
		extra := ""
		if include {
			extra = "    include " + output + ";"
		}
		return testutil.NginxMain(t, filepath.Join(dir, "nginx"), "", extra)
	}
	nconf := mainConf(false)
	q := func(args ...string) string {
		b, _ := json.Marshal(args)
		return string(b)
	}
	base := testutil.FreePort(t)
	if base > 65000 {
		base = 40000
	}
	toml := fmt.Sprintf(`run_dir = %q
state_dir = %q
[users]
names = [%q]
project = %q
config_dir = %q
[ports]
range = "%d-%d"
per_user = 10
[proxy]
enabled = true
listen = "127.0.0.1:%d"
output = %q
test_command = %s
reload_command = ["/bin/true"]
hosts = ["{user}.localhost"]
`, filepath.Join(dir, "run"), filepath.Join(dir, "state"), alice.Name, project, project+"-config", base, base+19, testutil.FreePort(t), output,
		q(ngx, "-p", filepath.Join(dir, "nginx"), "-c", nconf, "-t"))
	conf := filepath.Join(dir, "roost.toml")
	if err := os.WriteFile(conf, []byte(toml), 0o644); err != nil {
		t.Fatal(err)
	}

	writeProject := func(body string) {
		t.Helper()
		os.MkdirAll(projDir, 0o755)
		os.Chown(projDir, alice.UID, alice.GID)
		f := filepath.Join(projDir, "supervisord.conf")
		if err := os.WriteFile(f+".tmp", []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		os.Chown(f+".tmp", alice.UID, alice.GID)
		if err := os.Rename(f+".tmp", f); err != nil {
			t.Fatal(err)
		}
	}
	good := `[supervisord]

[program:web]
command=python3 -m http.server %(ENV_PORT)s --bind 127.0.0.1
directory=%(here)s
stdout_logfile=NONE
stderr_logfile=NONE

[proxy:web]
hosts = %(ENV_USER)s.localhost
`
	writeProject(good)

	master := exec.Command(bin, "master", "-c", conf)
	var mlog bytes.Buffer
	master.Stdout, master.Stderr = &mlog, &mlog
	master.Env = []string{"PATH=/usr/sbin:/usr/bin:/bin", "NOTIFY_SOCKET="}
	if err := master.Start(); err != nil {
		t.Fatal(err)
	}
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		master.Process.Signal(syscall.SIGTERM)
		done := make(chan error, 1)
		go func() { done <- master.Wait() }()
		select {
		case <-done:
		case <-time.After(90 * time.Second):
			master.Process.Kill()
			<-done
			t.Errorf("the master did not stop within 90 s of SIGTERM")
		}
	}
	t.Cleanup(func() {
		stop()
		if t.Failed() {
			t.Logf("master output:\n%s", mlog.String())
		}
	})

	ctx := context.Background()
	opts := doctor.Options{MasterConfig: conf}
	user := "user " + alice.Name

	// Everything runs and nginx -t passes, but nginx does not read the
	// master's file: the doctor says so, and fails.
	var r *doctor.Report
	testutil.Eventually(t, 60*time.Second, "the user running with its program and its file written", func() bool {
		r = doctor.Root(ctx, opts)
		_, err := os.Stat(output)
		return has(r, user, doctor.OK) && err == nil
	})
	for _, name := range []string{"roost.toml", "master", user + " socket", "nginx -t"} {
		if c := find(t, r, name); c.Status != doctor.OK {
			t.Errorf("%s: %s %s, want ok", name, c.Status, c.Detail)
		}
	}
	if c := find(t, r, "nginx include"); c.Status != doctor.Fail || !strings.Contains(c.Fix, "nginx-include.conf") {
		t.Errorf("nginx include without the include: %+v, want fail with the fix", c)
	}
	if !r.Failed() {
		t.Errorf("a report with a failed check does not fail:\n%s", text(r))
	}
	if c := find(t, r, "host "+alice.Name+".localhost"); c.Status != doctor.OK {
		t.Errorf("host check: %+v", c)
	}

	// With the include, root's report passes, and so does the binary's.
	mainConf(true)
	r = doctor.Root(ctx, opts)
	if r.Failed() {
		t.Fatalf("with nginx including the file the report fails:\n%s", text(r))
	}
	out, err := exec.Command(bin, "doctor", "-c", conf).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "0 failed") {
		t.Errorf("roost doctor as root: %v\n%s", err, out)
	}

	// As the user: supervisor, project, file (validated with the
	// supervisor's PORT), the route served; JSON, exit 0.
	userDoctor := func() (map[string]doctor.Check, bool, int) {
		t.Helper()
		cmd := asUser(alice, bin, []string{"ROOST_MASTER_CONFIG=" + conf}, "doctor", "--json")
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		var rep struct {
			As     string         `json:"as"`
			OK     bool           `json:"ok"`
			Checks []doctor.Check `json:"checks"`
		}
		if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil || rep.As != alice.Name {
			t.Fatalf("roost doctor --json as %s: %v\n%s%s", alice.Name, err, stdout.String(), stderr.String())
		}
		m := map[string]doctor.Check{}
		for _, c := range rep.Checks {
			m[c.Name] = c
		}
		return m, rep.OK, code
	}
	var checks map[string]doctor.Check
	testutil.Eventually(t, 30*time.Second, "the master's verdict on [proxy:web]", func() bool {
		var ok bool
		checks, ok, _ = userDoctor()
		return ok && checks["[proxy:web]"].Status == doctor.OK
	})
	for _, name := range []string{"listed", "supervisor", "project", "supervisord.conf"} {
		if checks[name].Status != doctor.OK {
			t.Errorf("as the user, %s: %+v", name, checks[name])
		}
	}
	if !strings.Contains(checks["[proxy:web]"].Detail, "served") {
		t.Errorf("[proxy:web]: %+v", checks["[proxy:web]"])
	}

	// A broken edit: the file on disk is named with its line, exit 1.
	writeProject(strings.Replace(good, "stdout_logfile=NONE", "startsecs=1o\nstdout_logfile=NONE", 1))
	checks, ok, code := userDoctor()
	c := checks["supervisord.conf"]
	if ok || code != 1 || c.Status != doctor.Fail || !strings.Contains(c.Detail, "supervisord.conf:6") || !strings.Contains(c.Detail, "startsecs") {
		t.Errorf("broken file: ok=%v exit %d, %+v; want a fail naming supervisord.conf:6 startsecs, exit 1", ok, code, c)
	}
	writeProject(good)

	// The services file (roost service add's, in the config_dir the master
	// gives the supervisor) is part of what the supervisor runs: a broken
	// line there is named too, as roost check and roost run name it.
	os.MkdirAll(confDir, 0o700)
	os.Chown(confDir, alice.UID, alice.GID)
	services := filepath.Join(confDir, "services.conf")
	if err := os.WriteFile(services, []byte("[program:db]\ncommand=/bin/true\nstartsecs=1o\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	os.Chown(services, alice.UID, alice.GID)
	checks, ok, code = userDoctor()
	c = checks["supervisord.conf"]
	if ok || code != 1 || c.Status != doctor.Fail || !strings.Contains(c.Detail, "services.conf:3") {
		t.Errorf("broken services file: ok=%v exit %d, %+v; want a fail naming services.conf:3, exit 1", ok, code, c)
	}
	os.Remove(services)

	// The master stopped: root's doctor says so with the fix.
	stop()
	r = doctor.Root(ctx, opts)
	if c := find(t, r, "master"); c.Status != doctor.Fail || !strings.Contains(c.Fix, "systemctl start roost") {
		t.Errorf("master stopped: %+v", c)
	}
	if _, err := exec.Command(bin, "doctor", "-c", conf).CombinedOutput(); err == nil {
		t.Errorf("roost doctor exits 0 with the master stopped")
	}
}

// Without roost.toml or a running master: the findings and their fixes,
// as a user.
func TestDoctorUserNothingThere(t *testing.T) {
	home := t.TempDir()
	r := doctor.User(context.Background(), doctor.Options{MasterConfig: filepath.Join(home, "missing.toml")}, "nobody-here", home)
	if !r.Failed() {
		t.Fatalf("nothing installed, yet the report passes:\n%s", text(r))
	}
	if c := find(t, r, "project"); c.Status != doctor.Fail || !strings.Contains(c.Fix, "mkdir -p "+filepath.Join(home, "current")) {
		t.Errorf("project: %+v", c)
	}
	os.MkdirAll(filepath.Join(home, "current"), 0o755)
	r = doctor.User(context.Background(), doctor.Options{MasterConfig: filepath.Join(home, "missing.toml")}, "nobody-here", home)
	if c := find(t, r, "supervisord.conf"); c.Status != doctor.Fail {
		t.Errorf("supervisord.conf missing: %+v", c)
	}
	var b bytes.Buffer
	if err := r.WriteJSON(&b); err != nil || !strings.Contains(b.String(), `"ok": false`) {
		t.Errorf("JSON: %v\n%s", err, b.String())
	}
}

// A user's doctor reads roost.toml's [limits] and [deploy]: the limits
// that bound them, and their repository, missing (with the command that
// makes it) or there.
func TestDoctorUserLimitsAndDeploy(t *testing.T) {
	home := t.TempDir()
	toml := filepath.Join(home, "roost.toml")
	os.WriteFile(toml, []byte("[users]\nnames = [\"nobody-here\"]\n[limits]\nmemory_max = \"512M\"\npids_max = 200\n"+
		"[user.nobody-here.limits]\npids_max = 50\n[deploy]\nenabled = true\n"), 0o644)
	r := doctor.User(context.Background(), doctor.Options{MasterConfig: toml}, "nobody-here", home)
	if c := find(t, r, "cgroups"); !strings.Contains(c.Detail, "roost.toml's limits memory_max 512M, pids_max 50") {
		t.Errorf("cgroups: %+v", c)
	}
	if c := find(t, r, "deploy"); c.Status != doctor.Warn || c.Fix != "roost deploy --init" {
		t.Errorf("deploy without a repository: %+v", c)
	}
	os.MkdirAll(filepath.Join(home, "repo.git"), 0o755)
	r = doctor.User(context.Background(), doctor.Options{MasterConfig: toml}, "nobody-here", home)
	if c := find(t, r, "deploy"); c.Status != doctor.OK || !strings.Contains(c.Detail, "git remote add roost nobody-here@HOST:repo.git") {
		t.Errorf("deploy with a repository: %+v", c)
	}
}

// What a user's supervisor says reaches root's terminal as one printable
// line: no escape sequence, no line of its own.
func TestTextIsPrintable(t *testing.T) {
	r := &doctor.Report{As: "root", Checks: []doctor.Check{{
		Name: "user x", Status: doctor.Fail, Detail: "exit 2: \x1b]0;pwned\x07\x1b[2Jline\nfake  ok  line", Fix: "\x1b[31mred",
	}}}
	got := text(r)
	if strings.ContainsAny(got, "\x1b\x07") || strings.Count(got, "\n") != 4 {
		t.Errorf("control characters or extra lines reach the terminal:\n%q", got)
	}
	if !strings.Contains(got, "exit 2: ?]0;pwned??[2Jline | fake ok line") {
		t.Errorf("detail not kept readable: %q", got)
	}
}
