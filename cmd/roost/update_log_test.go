package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"roost/internal/testutil"
)

// logSwitchConf is the configuration of TestUpdateLogPathSwitch with
// web's stdout_logfile set to log. web prints "tick PID" five times a
// second, so where its lines land shows which log its current process has.
func logSwitchConf(log string) string {
	return oracleHead + `
[program:web]
command=/bin/sh -c 'while :; do echo "tick $$"; sleep 0.2; done'
startsecs=0
stopasgroup=true
killasgroup=true
stdout_logfile=` + log + "\n"
}

// TestUpdateLogPathSwitch switches web's stdout_logfile AUTO -> file ->
// AUTO with the real supervisorctl's `update`, against the real
// supervisord 4.2.5 and against `roost run`, both running the same file,
// and checks where web's lines land after each step (issue 24); then
// roost's own `roost update` switches back to the file.
//
// AUTO -> file: both restart web, whose lines go to the file.
// file -> AUTO: supervisord 4.2.5 sees no change (its ProcessConfig.__eq__
// skips an option that is AUTO on either side), keeps web running and
// writing to the file; roost applies it, as any other change: web
// restarts, its lines go to the AUTO log. (DESIGN.md, "Where the runtime
// deliberately differs".)
func TestUpdateLogPathSwitch(t *testing.T) {
	supervisord := testutil.RequireBinary(t, "supervisord")
	supervisorctl := testutil.RequireBinary(t, "supervisorctl")

	type side struct {
		dir, conf string
		proc      *supervisorProc
	}
	sides := map[string]*side{}
	for _, who := range []string{"supervisord", "roost"} {
		d := filepath.Join(t.TempDir(), who)
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
		sides[who] = &side{dir: d, conf: filepath.Join(d, "supervisord.conf")}
	}
	write := func(log string) {
		t.Helper()
		for _, s := range sides {
			if err := os.WriteFile(s.conf, []byte(logSwitchConf(log)), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	write("AUTO")
	sides["supervisord"].proc = startProc(t, exec.Command(supervisord, "-n", "-c", sides["supervisord"].conf))
	sides["roost"].proc = startProc(t, roostCmd("run", "--no-watch", "-c", sides["roost"].conf))

	ctl := func(s *side, args ...string) (string, int) { return supervisorctlOn(supervisorctl, s.conf)(args...) }
	// pid waits until web runs and returns its pid.
	pid := func(who string) int {
		t.Helper()
		s := sides[who]
		var n int
		testutil.Eventually(t, 30*time.Second, who+": web running", func() bool {
			out, code := ctl(s, "pid", "web")
			n, _ = strconv.Atoi(strings.TrimSpace(out))
			return code == 0 && n > 0
		})
		return n
	}
	read := func(path string) string {
		data, _ := os.ReadFile(path)
		return string(data)
	}
	// autoLog is web's AUTO stdout log: supervisord names it
	// web-stdout---supervisor-RANDOM.log, roost web-stdout---supervisor.log.
	autoLog := func(who string) string {
		t.Helper()
		var path string
		testutil.Eventually(t, 30*time.Second, who+": web's AUTO log", func() bool {
			m, _ := filepath.Glob(filepath.Join(sides[who].dir, "web-stdout---supervisor*.log"))
			if len(m) == 1 {
				path = m[0]
			}
			return len(m) == 1
		})
		return path
	}
	// landsIn waits until lines of process p reach want, and checks that
	// none reached other.
	landsIn := func(who string, p int, want, other string) {
		t.Helper()
		tick := fmt.Sprintf("tick %d\n", p)
		testutil.Eventually(t, 30*time.Second, fmt.Sprintf("%s: %q in %s", who, tick, want), func() bool {
			return strings.Count(read(want), tick) >= 2
		})
		if strings.Contains(read(other), tick) {
			t.Errorf("%s: lines of pid %d also in %s", who, p, other)
		}
	}
	update := func(who string) string {
		t.Helper()
		out, code := ctl(sides[who], "update")
		if code != 0 {
			t.Errorf("%s: update exited %d: %s", who, code, out)
		}
		return out
	}
	failWithLogs := func() {
		if t.Failed() {
			for who, s := range sides {
				t.Logf("%s output:\n%s\nmain log:\n%s", who, s.proc.out.String(), read(filepath.Join(s.dir, "supervisord.log")))
			}
		}
	}
	t.Cleanup(failWithLogs)

	// AUTO.
	pids := map[string]int{}
	auto := map[string]string{}
	file := map[string]string{}
	for who, s := range sides {
		pids[who], auto[who], file[who] = pid(who), autoLog(who), filepath.Join(s.dir, "web.log")
		landsIn(who, pids[who], auto[who], file[who])
	}

	// AUTO -> file: supervisord and roost alike.
	write("%(here)s/web.log")
	const restarted = "web: stopped\nweb: updated process group\n"
	for who := range sides {
		if out := update(who); out != restarted {
			t.Errorf("%s: AUTO -> file: update said %q, want %q", who, out, restarted)
		}
		p := pid(who)
		if p == pids[who] {
			t.Fatalf("%s: AUTO -> file: web was not restarted (pid %d)", who, p)
		}
		pids[who] = p
		landsIn(who, p, file[who], auto[who])
	}

	// file -> AUTO.
	write("AUTO")
	// supervisord 4.2.5: nothing changes; web keeps writing to the file.
	if out := update("supervisord"); out != "" {
		t.Errorf("supervisord: file -> AUTO: update said %q; supervisord 4.2.5 says nothing", out)
	}
	if p := pid("supervisord"); p != pids["supervisord"] {
		t.Errorf("supervisord: file -> AUTO restarted web (pid %d -> %d): not supervisord 4.2.5", pids["supervisord"], p)
	}
	before := strings.Count(read(file["supervisord"]), "tick")
	testutil.Eventually(t, 30*time.Second, "supervisord: web's lines still in web.log", func() bool {
		return strings.Count(read(file["supervisord"]), "tick") >= before+2
	})
	// roost: the change is applied; web's lines go to the AUTO log.
	if out := update("roost"); out != restarted {
		t.Errorf("roost: file -> AUTO: update said %q, want %q", out, restarted)
	}
	p := pid("roost")
	if p == pids["roost"] {
		t.Fatalf("roost: file -> AUTO: web was not restarted (pid %d)", p)
	}
	landsIn("roost", p, auto["roost"], file["roost"])
	if m, _ := filepath.Glob(filepath.Join(sides["roost"].dir, "web-stdout---*.log")); len(m) != 1 {
		t.Errorf("roost: AUTO logs %v, want the one of the first start", m)
	}
	// And AUTO -> AUTO is no change, for both.
	for who := range sides {
		if out := update(who); out != "" {
			t.Errorf("%s: AUTO -> AUTO: update said %q, want nothing", who, out)
		}
	}

	// roost's own update (which restarts process by process, keeping the
	// log sinks whose paths did not change) applies AUTO -> file too.
	write("%(here)s/web.log")
	if out, errOut, code := roost(t, "-c", sides["roost"].conf, "update"); code != 0 {
		t.Fatalf("roost update: exit %d: %s%s", code, out, errOut)
	}
	q := pid("roost")
	if q == p {
		t.Fatalf("roost update: AUTO -> file: web was not restarted (pid %d)", q)
	}
	landsIn("roost", q, file["roost"], auto["roost"])
}
