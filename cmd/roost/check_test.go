package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"roost/internal/testutil"
)

// runRoost runs the binary in dir and returns stdout, stderr and the exit code.
func runRoost(t *testing.T, bin, dir string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Env = []string{"HOME=" + dir, "USER=alice", "PATH=/usr/bin:/bin", "TMPDIR=" + os.TempDir()}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		var ee *exec.ExitError
		code := 0
		if errors.As(err, &ee) {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return stdout.String(), stderr.String(), code
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("roost %v did not finish", args)
		return "", "", 0
	}
}

func write(t *testing.T, path, text string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

const checkValid = `[supervisord]
logfile=%(here)s/supervisord.log
[program:web]
command=/bin/sh -c "exec sleep 1000"
process_name=%(program_name)s_%(process_num)02d
numprocs=2
stdout_logfile=%(here)s/web.log
autostrat=true
[group:app]
programs=web
[include]
files=conf.d/*.conf
[proxy:web]
hosts=alice.example.test
static=/static/ = static
`

const checkInvalid = `[supervisord]

[program:api]
command=/bin/true
startsecs=1o
[program:other]
command=/bin/true
stopsignal=NOPE
`

func TestCheckCommand(t *testing.T) {
	bin := testutil.RoostBinary(t, nil)

	t.Run("valid with warnings", func(t *testing.T) {
		dir := t.TempDir()
		write(t, filepath.Join(dir, "supervisord.conf"), checkValid)
		write(t, filepath.Join(dir, "conf.d", "worker.conf"), "[program:worker]\ncommand=/bin/cat\nautostart=false\n")
		out, errOut, code := runRoost(t, bin, dir, "check", "-c", "supervisord.conf")
		if code != 0 {
			t.Fatalf("exit %d, want 0\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
		}
		for _, want := range []string{
			"warning: supervisord.conf:8: [program:web] autostrat: unknown option (did you mean autostart?)",
			"supervisord.conf: valid: 3 process(es) in 2 group(s), 1 warning(s)",
			"app:web_00", "app:web_01", "worker", `/bin/sh -c "exec sleep 1000"`,
			"proxy web: alice.example.test -> app:web_00 app:web_01; /static/ -> " + filepath.Join(dir, "static"),
		} {
			if !strings.Contains(out, want) {
				t.Errorf("output lacks %q:\n%s", want, out)
			}
		}
	})

	t.Run("the services file", func(t *testing.T) {
		dir := t.TempDir()
		write(t, filepath.Join(dir, "supervisord.conf"), "[program:web]\ncommand=/bin/cat\n")
		services := filepath.Join(dir, ".config", "roost", "services.conf")
		write(t, services, "[program:db]\ncommand=/bin/cat\n")
		out, errOut, code := runRoost(t, bin, dir, "check", "-c", "supervisord.conf")
		if code != 0 || !strings.Contains(out, "valid: 2 process(es)") {
			t.Fatalf("with a services file: exit %d\n%s%s", code, out, errOut)
		}
		write(t, services, "[program:db]\ncommand=/bin/cat\nstartsecs=soon\n")
		out, _, code = runRoost(t, bin, dir, "check", "-c", "supervisord.conf")
		if code != 1 || !strings.Contains(out, "services.conf:3: [program:db] startsecs") {
			t.Errorf("a broken services file: exit %d, want 1 naming services.conf:3\n%s", code, out)
		}
	})

	t.Run("invalid", func(t *testing.T) {
		dir := t.TempDir()
		write(t, filepath.Join(dir, "supervisord.conf"), checkInvalid)
		out, _, code := runRoost(t, bin, dir, "check", "-c", "supervisord.conf")
		if code != 1 {
			t.Fatalf("exit %d, want 1\n%s", code, out)
		}
		want := "supervisord.conf:5: [program:api] startsecs: \"1o\" is not an integer\n" +
			"supervisord.conf:8: [program:other] stopsignal: \"NOPE\" is not a signal name; use e.g. TERM, HUP, INT, QUIT, KILL, USR1 or USR2\n" +
			"supervisord.conf: invalid: 2 error(s)\n"
		if out != want {
			t.Errorf("got:\n%s\nwant:\n%s", out, want)
		}
	})

	t.Run("json", func(t *testing.T) {
		dir := t.TempDir()
		write(t, filepath.Join(dir, "supervisord.conf"), checkInvalid)
		out, _, code := runRoost(t, bin, dir, "check", "--json", "-c", filepath.Join(dir, "supervisord.conf"))
		if code != 1 {
			t.Fatalf("exit %d, want 1", code)
		}
		var r struct {
			Valid  bool   `json:"valid"`
			File   string `json:"file"`
			Errors []struct {
				Pos struct {
					File string `json:"file"`
					Line int    `json:"line"`
				} `json:"pos"`
				Section, Key, Message, Text string
			} `json:"errors"`
			Warnings  []any `json:"warnings"`
			Processes []any `json:"processes"`
		}
		if err := json.Unmarshal([]byte(out), &r); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		if r.Valid || r.File != filepath.Join(dir, "supervisord.conf") || len(r.Errors) != 2 || r.Errors[0].Pos.Line != 5 || r.Errors[0].Pos.File != "supervisord.conf" ||
			r.Errors[0].Section != "program:api" || r.Errors[0].Key != "startsecs" || r.Warnings == nil || r.Processes == nil {
			t.Errorf("unexpected result: %+v", r)
		}

		write(t, filepath.Join(dir, "supervisord.conf"), checkValid)
		out, _, code = runRoost(t, bin, dir, "check", "--json")
		if code != 0 {
			t.Fatalf("exit %d, want 0\n%s", code, out)
		}
		var ok struct {
			Valid     bool
			Processes []struct {
				Name, Group, Program, Kind, Command string
				Argv                                []string
				Autostart                           bool
				StdoutLogfile                       string `json:"stdout_logfile"`
			}
			Proxies []struct {
				Hosts []string
			}
		}
		if err := json.Unmarshal([]byte(out), &ok); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		if !ok.Valid || len(ok.Processes) != 2 || ok.Processes[0].Name != "app:web_00" ||
			strings.Join(ok.Processes[0].Argv, "|") != "/bin/sh|-c|exec sleep 1000" ||
			ok.Processes[0].StdoutLogfile != filepath.Join(dir, "web.log") || len(ok.Proxies) != 1 {
			t.Errorf("unexpected result: %+v", ok)
		}
	})

	t.Run("found like supervisorctl", func(t *testing.T) {
		dir := t.TempDir()
		write(t, filepath.Join(dir, "etc", "supervisord.conf"), "[supervisord]\n[program:frometc]\ncommand=/bin/true\n")
		out, _, code := runRoost(t, bin, dir, "check")
		if code != 0 || !strings.Contains(out, "etc/supervisord.conf: valid") || !strings.Contains(out, "frometc") {
			t.Errorf("exit %d:\n%s", code, out)
		}
		write(t, filepath.Join(dir, "supervisord.conf"), "[supervisord]\n[program:fromcwd]\ncommand=/bin/true\n")
		out, _, code = runRoost(t, bin, dir, "check")
		if code != 0 || !strings.Contains(out, "fromcwd") {
			t.Errorf("./supervisord.conf comes first; exit %d:\n%s", code, out)
		}
	})

	t.Run("usage errors", func(t *testing.T) {
		dir := t.TempDir()
		for _, args := range [][]string{{"check", "--bogus"}, {"check", "extra"}, {"check", "-c"}} {
			_, errOut, code := runRoost(t, bin, dir, args...)
			if code != 2 || !strings.Contains(errOut, "roost check:") {
				t.Errorf("%v: exit %d, want 2; stderr:\n%s", args, code, errOut)
			}
		}
	})

	t.Run("missing file", func(t *testing.T) {
		out, _, code := runRoost(t, bin, t.TempDir(), "check", "-c", "nope.conf")
		if code != 1 || !strings.Contains(out, "nope.conf: no such file") {
			t.Errorf("exit %d:\n%s", code, out)
		}
	})

	t.Run("echo_supervisord_conf", func(t *testing.T) {
		// The acceptance test: the example configuration supervisord's
		// documentation prints, unmodified, is valid.
		echo := testutil.RequireBinary(t, "echo_supervisord_conf")
		sample, err := exec.Command(echo).Output()
		if err != nil {
			t.Fatal(err)
		}
		dir := t.TempDir()
		write(t, filepath.Join(dir, "supervisord.conf"), string(sample))
		out, _, code := runRoost(t, bin, dir, "check", "-c", "supervisord.conf")
		if code != 0 || !strings.Contains(out, "supervisord.conf: valid: 0 process(es)") {
			t.Errorf("exit %d:\n%s", code, out)
		}
	})
}
