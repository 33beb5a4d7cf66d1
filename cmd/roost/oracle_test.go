package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"roost/internal/testutil"
)

// oracleHead is the start of a configuration run both by the real
// supervisord and by roost, each in its own directory: the socket, the
// logs and the pidfile beside the file.
const oracleHead = `[unix_http_server]
file=%(here)s/ctl.sock

[supervisorctl]
serverurl=unix://%(here)s/ctl.sock

[supervisord]
logfile=%(here)s/supervisord.log
pidfile=%(here)s/supervisord.pid
childlogdir=%(here)s

[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface
`

// oracleConf is run both by the real supervisord and by roost: every state
// status shows (RUNNING, STOPPED, FATAL, EXITED), a group, numprocs and a
// name longer than status's 30-column minimum.
const oracleConf = oracleHead + `
[program:web]
command=/bin/sleep 1000
stdout_logfile=%(here)s/web.log

[program:idle]
command=/bin/sleep 1000
autostart=false

[program:missing]
command=/nonexistent/roost-oracle-binary
startretries=0

[program:brief]
command=/bin/sh -c 'sleep 1.5'
autorestart=false

[program:a_program_with_a_rather_long_name]
command=/bin/sleep 1000
process_name=%(program_name)s_%(process_num)d
numprocs=2

[group:team]
programs=idle,brief
`

var (
	reUptime = regexp.MustCompile(`pid \d+, uptime \d+:\d\d:\d\d`)
	reDate   = regexp.MustCompile(`[A-Z][a-z]{2} \d\d \d\d:\d\d [AP]M`)
	rePid    = regexp.MustCompile(`(?m)^\d+$`)
)

// normalize replaces what differs between two runs: pids, uptimes, dates.
func normalize(s string) string {
	s = reUptime.ReplaceAllString(s, "pid PID, uptime UPTIME")
	s = reDate.ReplaceAllString(s, "DATE")
	return rePid.ReplaceAllString(s, "PID")
}

// settled reports whether a status output shows no process in transition
// and the brief program has exited.
func settled(status string) bool {
	for _, st := range []string{"STARTING", "BACKOFF", "STOPPING"} {
		if strings.Contains(status, st) {
			return false
		}
	}
	return strings.Contains(status, "team:brief") && strings.Contains(status, "EXITED")
}

// ctlRunner runs one ctl command line against one supervisor.
type ctlRunner func(args ...string) (string, int)

// supervisorctlOn runs the supervisorctl at path with the configuration
// file conf, and returns its output (stdout and stderr) and exit status.
func supervisorctlOn(path, conf string) ctlRunner {
	return func(args ...string) (string, int) {
		cmd := exec.Command(path, append([]string{"-c", conf}, args...)...)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		code := exitCode(cmd.Run())
		return out.String(), code
	}
}

func exitCode(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}

// TestStatusMatchesSupervisorctl is the acceptance test of the ctl verbs:
// the same configuration runs under the real supervisord 4.2.5 and under
// two `roost run`s; the same commands go to supervisorctl (against
// supervisord), to roost's ctl and to the real supervisorctl against roost,
// and the outputs (pids, uptimes and dates normalized) and exit statuses
// must be equal byte for byte.
func TestStatusMatchesSupervisorctl(t *testing.T) {
	supervisord := testutil.RequireBinary(t, "supervisord")
	supervisorctl := testutil.RequireBinary(t, "supervisorctl")

	dirs := map[string]string{}
	for _, who := range []string{"supervisord", "roost", "roost2"} {
		d := filepath.Join(t.TempDir(), who)
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d, "supervisord.conf"), []byte(oracleConf), 0o644); err != nil {
			t.Fatal(err)
		}
		dirs[who] = d
	}
	svConf := filepath.Join(dirs["supervisord"], "supervisord.conf")
	roostConf := filepath.Join(dirs["roost"], "supervisord.conf")
	roost2Conf := filepath.Join(dirs["roost2"], "supervisord.conf")

	sv := exec.Command(supervisord, "-n", "-c", svConf)
	svProc := startProc(t, sv)
	rProc := startProc(t, roostCmd("run", "--no-watch", "-c", roostConf))
	r2Proc := startProc(t, roostCmd("run", "--no-watch", "-c", roost2Conf))

	runners := map[string]ctlRunner{
		"supervisorctl": supervisorctlOn(supervisorctl, svConf),
		// The real supervisorctl against roost, through its XML-RPC.
		"supervisorctl->roost": supervisorctlOn(supervisorctl, roost2Conf),
		"roost": func(args ...string) (string, int) {
			out, errOut, code := roost(t, append([]string{"-c", roostConf}, args...)...)
			return out + errOut, code
		},
	}

	// Both must come up and settle before anything is compared.
	for name, r := range runners {
		deadline := time.Now().Add(30 * time.Second)
		for {
			out, code := r("status")
			out = fmt.Sprintf("%s(exit %d)", out, code)
			if settled(out) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s never settled; last status:\n%s\nsupervisord output:\n%s\nroost output:\n%s\nroost2 output:\n%s",
					name, out, svProc.out.String(), rProc.out.String(), r2Proc.out.String())
			}
			time.Sleep(50 * time.Millisecond)
		}
	}

	for _, args := range [][]string{
		{"status"},
		{"status", "web", "team:*"},
		{"status", "nope"},
		{"status", "nogroup:*"},
		{"status", "a_program_with_a_rather_long_name:*"},
		{"start", "web"},
		{"start", "nope"},
		{"start", "nogroup:*"},
		{"stop", "team:idle"},
		{"stop", "nope"},
		{"stop", "web"},
		{"status", "web"},
		{"start", "web"},
		{"restart", "web"},
		{"pid", "nope"},
		{"pid", "team:idle"},
		{"signal", "HUP", "nope"},
		{"signal", "FOO", "web"},
		{"signal", "USR1", "team:idle"},
		{"avail"},
		{"reread"},
		{"clear", "web"},
		{"clear", "nope"},
		{"tail", "web"},
		{"tail", "nope"},
		{"tail", "web", "bogus"},
		{"add", "nope"},
		{"remove", "nope"},
		{"remove", "web"},
		{"update", "nope"},
		{"start"},
		{"status"},
	} {
		want, wantCode := runners["supervisorctl"](args...)
		for _, who := range []string{"roost", "supervisorctl->roost"} {
			got, gotCode := runners[who](args...)
			if normalize(got) != normalize(want) || gotCode != wantCode {
				t.Errorf("%s:\nsupervisorctl -> supervisord (exit %d):\n%s\n%s (exit %d):\n%s",
					strings.Join(args, " "), wantCode, want, who, gotCode, got)
			}
		}
	}
}
