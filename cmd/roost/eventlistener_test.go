package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"roost/internal/testutil"
)

// The event listeners of the acceptance test are written on Debian's
// supervisor.childutils, as real listeners are, and run unchanged under
// supervisord 4.2.5 and roost.

// recorderPy records every event it receives, one JSON object a line
// (headers and payload), then answers OK; argv[2] is a pause before the
// answer (so a pool's other process gets the next event).
const recorderPy = `import json, sys, time
from supervisor import childutils
out = sys.argv[1]
pause = float(sys.argv[2]) if len(sys.argv) > 2 else 0
while True:
    headers, payload = childutils.listener.wait(sys.stdin, sys.stdout)
    with open(out, 'a') as f:
        f.write(json.dumps({"headers": headers, "payload": payload}) + "\n")
    if pause:
        time.sleep(pause)
    childutils.listener.ok(sys.stdout)
`

// crashmailPy is a crashmail-style listener: on PROCESS_STATE_FATAL of
// the program "flaky" it starts it again through the supervisor's XML-RPC
// (childutils.getRPCInterface, SUPERVISOR_SERVER_URL).
const crashmailPy = `import os, sys
from supervisor import childutils
rpc = childutils.getRPCInterface(os.environ)
while True:
    headers, payload = childutils.listener.wait(sys.stdin, sys.stdout)
    fields, _ = childutils.eventdata(payload + '\n')
    if headers['eventname'] == 'PROCESS_STATE_FATAL' and fields['processname'] == 'flaky':
        rpc.supervisor.startProcess(fields['groupname'] + ':' + fields['processname'], False)
        with open(sys.argv[1], 'a') as f:
            f.write('restarted flaky\n')
    childutils.listener.ok(sys.stdout)
`

// listenerConf: crash starts, stays up past startsecs, exits unexpectedly,
// is restarted, exits too quickly twice and goes FATAL; flaky goes FATAL
// at once and the crashmail listener starts it again; talk prints lines
// with stdout_events_enabled and a process communication block. Three
// pools: rec records everything (and TICK_5), pair (numprocs=2) shares
// PROCESS_STATE between its two processes. In capture mode supervisord
// holds output until it is longer than a marker: talk's last line is long.
// The startsecs leave two seconds of margin on each side of every exit:
// supervisord notices an exit up to a second late (more on a busy machine),
// and an exit it notices after startsecs is one from RUNNING.
const listenerConf = oracleHead + `
[program:crash]
command=/bin/sh -c 'if [ -e %(here)s/crash.flag ]; then exit 1; fi; touch %(here)s/crash.flag; sleep 5; exit 3'
startsecs=3
startretries=1

[program:flaky]
command=/bin/sh -c 'if [ -e %(here)s/flaky.flag ]; then exec sleep 1000; fi; touch %(here)s/flaky.flag; exit 1'
startsecs=3
startretries=0

[program:talk]
command=/bin/sh -c 'echo one; sleep 0.3; echo two; sleep 0.3; printf "<!--XSUPERVISOR:BEGIN-->hello comm<!--XSUPERVISOR:END-->\n"; sleep 0.3; echo three, a line longer than a marker; exec sleep 1000'
stdout_events_enabled=true
stdout_capture_maxbytes=1MB

[eventlistener:crashmail]
command=/usr/bin/python3 %(here)s/crashmail.py %(here)s/crashmail.out
events=PROCESS_STATE_FATAL

[eventlistener:pair]
command=/usr/bin/python3 %(here)s/recorder.py %(here)s/pair-%(process_num)d.out 0.2
process_name=%(program_name)s_%(process_num)d
numprocs=2
buffer_size=100
events=PROCESS_STATE

[eventlistener:rec]
command=/usr/bin/python3 %(here)s/recorder.py %(here)s/events.out
buffer_size=100
events=PROCESS_STATE,PROCESS_LOG_STDOUT,PROCESS_COMMUNICATION,SUPERVISOR_STATE_CHANGE,PROCESS_GROUP,TICK_5
`

// record is one event a recorder received.
type record struct {
	Headers map[string]string `json:"headers"`
	Payload string            `json:"payload"`
}

// fields parses the payload's first line ("k:v k:v").
func (r record) fields() map[string]string {
	line, _, _ := strings.Cut(r.Payload, "\n")
	m := map[string]string{}
	for _, kv := range strings.Fields(line) {
		k, v, _ := strings.Cut(kv, ":")
		m[k] = v
	}
	return m
}

// data is what follows the payload's first line.
func (r record) data() string {
	_, d, _ := strings.Cut(r.Payload, "\n")
	return d
}

func readRecords(t *testing.T, path string) []record {
	t.Helper()
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []record
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var r record
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			continue // a line being written
		}
		out = append(out, r)
	}
	return out
}

// digest is a recorded stream reduced to what must match supervisord's:
// per process, its state events (types and payload fields other than
// pids) in order, and its output's events in order; the other events in
// order; each process's PROCESS_LOG data concatenated (supervisord sends a
// chunk per read: how a program's lines fall into reads is timing, and so
// is the order of a process's output and its state changes). Serials and
// times are left out; TICKs are checked on their own.
type digest struct {
	Procs  map[string][]string
	Other  []string
	Output map[string]string
	Ticks  []int64
}

func digestOf(recs []record) digest {
	d := digest{Procs: map[string][]string{}, Output: map[string]string{}}
	for _, r := range recs {
		name := r.Headers["eventname"]
		f := r.fields()
		h := fmt.Sprintf("ver:%s server:%s pool:%s", r.Headers["ver"], r.Headers["server"], r.Headers["pool"])
		switch {
		case strings.HasPrefix(name, "TICK_"):
			when, _ := strconv.ParseInt(f["when"], 10, 64)
			d.Ticks = append(d.Ticks, when)
			continue
		case strings.HasPrefix(name, "PROCESS_LOG_"):
			proc := f["groupname"] + ":" + f["processname"]
			d.Output[proc+" "+f["channel"]] += r.data()
			continue
		}
		proc, ok := f["processname"]
		if !ok {
			d.Other = append(d.Other, h+" "+name+" "+strings.TrimSpace(r.Payload))
			continue
		}
		delete(f, "pid")
		keys := make([]string, 0, len(f))
		for k := range f {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		line := h + " " + name
		for _, k := range keys {
			line += " " + k + ":" + f[k]
		}
		proc = f["groupname"] + ":" + proc
		if strings.HasPrefix(name, "PROCESS_COMMUNICATION_") {
			line += fmt.Sprintf(" data:%q", r.data())
			proc += " output"
		}
		d.Procs[proc] = append(d.Procs[proc], line)
	}
	return d
}

// has reports whether proc's sequence has an event named like suffix.
func (d digest) has(proc, name string) bool {
	return slices.ContainsFunc(d.Procs[proc], func(l string) bool { return strings.Contains(l, " "+name+" ") })
}

// listenerRun is one side of the comparison.
type listenerRun struct {
	dir  string
	proc *supervisorProc
}

func (l listenerRun) rec(t *testing.T) digest {
	return digestOf(readRecords(t, filepath.Join(l.dir, "events.out")))
}

// pair merges the two pair processes' records by serial, and says how many
// each got.
func (l listenerRun) pair(t *testing.T) ([]record, [2]int) {
	var all []record
	var n [2]int
	for i := range 2 {
		rs := readRecords(t, filepath.Join(l.dir, fmt.Sprintf("pair-%d.out", i)))
		n[i] = len(rs)
		all = append(all, rs...)
	}
	sort.SliceStable(all, func(a, b int) bool {
		sa, _ := strconv.Atoi(all[a].Headers["serial"])
		sb, _ := strconv.Atoi(all[b].Headers["serial"])
		return sa < sb
	})
	return all, n
}

// done reports whether the scenario has played out in what a run's
// listeners recorded.
func (l listenerRun) done(t *testing.T) bool {
	d := l.rec(t)
	pair, _ := l.pair(t)
	p := digestOf(pair)
	cm, _ := os.ReadFile(filepath.Join(l.dir, "crashmail.out"))
	return len(d.Ticks) > 0 && d.has("crash:crash", "PROCESS_STATE_FATAL") &&
		len(d.Procs["flaky:flaky"]) >= 5 && d.has("flaky:flaky", "PROCESS_STATE_RUNNING") &&
		strings.Contains(d.Output["talk:talk stdout"], "marker\n") &&
		d.has("talk:talk output", "PROCESS_COMMUNICATION_STDOUT") && d.has("talk:talk", "PROCESS_STATE_RUNNING") &&
		d.has("pair:pair_1", "PROCESS_STATE_RUNNING") && d.has("crashmail:crashmail", "PROCESS_STATE_RUNNING") &&
		p.has("crash:crash", "PROCESS_STATE_FATAL") && len(p.Procs["flaky:flaky"]) >= 5 &&
		strings.Contains(string(cm), "restarted flaky")
}

// startListenerRun writes conf and the listeners into a directory of its
// own and starts cmd on it.
func startListenerRun(t *testing.T, who, conf string, cmd func(conf string) *exec.Cmd) listenerRun {
	dir := filepath.Join(t.TempDir(), who)
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, text := range map[string]string{"supervisord.conf": conf, "recorder.py": recorderPy, "crashmail.py": crashmailPy} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return listenerRun{dir: dir, proc: startProc(t, cmd(filepath.Join(dir, "supervisord.conf")))}
}

// TestEventListenersMatchSupervisord is the acceptance test of
// [eventlistener:x]: the same configuration and the same childutils
// listeners under supervisord 4.2.5 and `roost run`; the events each
// listener received must match (types, payload fields but pids, the order
// per process), a crashmail-style listener restarts a FATAL program on
// both, a numprocs=2 pool shares its events (each to exactly one process),
// TICK_5 comes on the 5-second boundaries, and the real supervisorctl shows
// the listeners in status as supervisord does.
func TestEventListenersMatchSupervisord(t *testing.T) {
	supervisord := testutil.RequireBinary(t, "supervisord")
	supervisorctl := testutil.RequireBinary(t, "supervisorctl")
	_, err := os.Stat("/usr/lib/python3/dist-packages/supervisor/childutils.py")
	testutil.Require(t, err == nil, "Debian's python3 supervisor package (supervisor.childutils)")

	sv := startListenerRun(t, "supervisord", listenerConf, func(conf string) *exec.Cmd { return exec.Command(supervisord, "-n", "-c", conf) })
	rr := startListenerRun(t, "roost", listenerConf, func(conf string) *exec.Cmd { return roostCmd("run", "--no-watch", "-c", conf) })
	runs := map[string]listenerRun{"supervisord": sv, "roost": rr}

	for who, r := range runs {
		testutil.Eventually(t, 90*time.Second, who+"'s listeners to record the whole scenario", func() bool {
			if r.done(t) {
				return true
			}
			select {
			case err := <-r.proc.done:
				r.proc.done <- err
				t.Fatalf("%s exited: %v\n%s", who, err, r.proc.out.String())
			default:
			}
			return false
		})
	}

	// What each listener received.
	want, got := sv.rec(t), rr.rec(t)
	compareDigests(t, "rec", want, got)
	for who, d := range map[string]digest{"supervisord": want, "roost": got} {
		for i, w := range d.Ticks {
			if w%5 != 0 || (i > 0 && w != d.Ticks[i-1]+5) {
				t.Errorf("%s: TICK_5 when:%d (after %v): want consecutive multiples of 5", who, w, d.Ticks[:i])
			}
		}
	}
	for who, r := range runs {
		recs := readRecords(t, filepath.Join(r.dir, "events.out"))
		for i, rec := range recs {
			if rec.Headers["serial"] != strconv.Itoa(i) || rec.Headers["poolserial"] != strconv.Itoa(i) {
				t.Errorf("%s: event %d of rec has serial %s poolserial %s: want both %d (one pool, nothing lost)",
					who, i, rec.Headers["serial"], rec.Headers["poolserial"], i)
				break
			}
			if n, _ := strconv.Atoi(rec.Headers["len"]); n != len(rec.Payload) {
				t.Errorf("%s: %s len:%d for a payload of %d bytes", who, rec.Headers["eventname"], n, len(rec.Payload))
			}
		}
	}

	// The pool of two: every PROCESS_STATE event to exactly one of them.
	wantPair, wantN := sv.pair(t)
	gotPair, gotN := rr.pair(t)
	compareDigests(t, "pair", digestOf(wantPair), digestOf(gotPair))
	for who, pr := range map[string]struct {
		recs []record
		n    [2]int
	}{"supervisord": {wantPair, wantN}, "roost": {gotPair, gotN}} {
		if pr.n[0] == 0 || pr.n[1] == 0 {
			t.Errorf("%s: the pair's processes received %d and %d events: want both some", who, pr.n[0], pr.n[1])
		}
		for i := 1; i < len(pr.recs); i++ {
			if pr.recs[i].Headers["poolserial"] == pr.recs[i-1].Headers["poolserial"] {
				t.Errorf("%s: poolserial %s delivered twice in the pair", who, pr.recs[i].Headers["poolserial"])
			}
		}
	}

	// The real supervisorctl shows the listeners as supervisord does.
	wantStatus, wantCode := supervisorctlOn(supervisorctl, filepath.Join(sv.dir, "supervisord.conf"))("status")
	gotStatus, gotCode := supervisorctlOn(supervisorctl, filepath.Join(rr.dir, "supervisord.conf"))("status")
	if normalize(gotStatus) != normalize(wantStatus) || gotCode != wantCode {
		t.Errorf("supervisorctl status:\nsupervisord (exit %d):\n%s\nroost (exit %d):\n%s", wantCode, wantStatus, gotCode, gotStatus)
	}
}

// compareDigests reports every difference, with both sides in full.
func compareDigests(t *testing.T, pool string, want, got digest) {
	t.Helper()
	var diffs []string
	names := map[string]bool{}
	for n := range want.Procs {
		names[n] = true
	}
	for n := range got.Procs {
		names[n] = true
	}
	sorted := make([]string, 0, len(names))
	for n := range names {
		sorted = append(sorted, n)
	}
	sort.Strings(sorted)
	for _, n := range sorted {
		if !slices.Equal(want.Procs[n], got.Procs[n]) {
			diffs = append(diffs, fmt.Sprintf("process %s:\n%s", n, lineDiff(want.Procs[n], got.Procs[n])))
		}
	}
	if !slices.Equal(want.Other, got.Other) {
		diffs = append(diffs, "supervisor and group events:\n"+lineDiff(want.Other, got.Other))
	}
	for k := range want.Output {
		if want.Output[k] != got.Output[k] {
			diffs = append(diffs, fmt.Sprintf("PROCESS_LOG data of %s: supervisord %q, roost %q", k, want.Output[k], got.Output[k]))
		}
	}
	for k := range got.Output {
		if _, ok := want.Output[k]; !ok {
			diffs = append(diffs, fmt.Sprintf("PROCESS_LOG data of %s: roost only: %q", k, got.Output[k]))
		}
	}
	if len(diffs) > 0 {
		t.Errorf("pool %s: the events differ from supervisord's (- supervisord, + roost):\n%s", pool, strings.Join(diffs, "\n"))
	}
}

// lineDiff is a small LCS diff of two line lists.
func lineDiff(a, b []string) string {
	n, m := len(a), len(b)
	lcs := make([][]int, n+1)
	for i := range lcs {
		lcs[i] = make([]int, m+1)
	}
	for i := n - 1; i >= 0; i-- {
		for j := m - 1; j >= 0; j-- {
			if a[i] == b[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	var sb strings.Builder
	i, j := 0, 0
	for i < n || j < m {
		switch {
		case i < n && j < m && a[i] == b[j]:
			sb.WriteString("  " + a[i] + "\n")
			i++
			j++
		case j < m && (i == n || lcs[i][j+1] >= lcs[i+1][j]):
			sb.WriteString("+ " + b[j] + "\n")
			j++
		default:
			sb.WriteString("- " + a[i] + "\n")
			i++
		}
	}
	return sb.String()
}

// updateConfs are a pool and a program, then the pool subscribed to more
// and a program added: `supervisorctl update` removes the changed pool and
// adds it again (a new subscription, a new buffer); roost update does the
// same.
var updateConfs = [2]string{oracleHead + `
[program:a]
command=/bin/sleep 1000

[eventlistener:rec]
command=/usr/bin/python3 %(here)s/recorder.py %(here)s/events.out
events=PROCESS_GROUP
`, oracleHead + `
[program:a]
command=/bin/sleep 1000

[program:b]
command=/bin/sleep 1000

[eventlistener:rec]
command=/usr/bin/python3 %(here)s/recorder.py %(here)s/events.out
events=PROCESS_GROUP,PROCESS_STATE_RUNNING
`}

// TestEventListenerUpdateMatchesSupervisord: after `supervisorctl update`
// the pool hears what its new events= says, from its own
// PROCESS_GROUP_ADDED on, under roost as under supervisord.
func TestEventListenerUpdateMatchesSupervisord(t *testing.T) {
	supervisord := testutil.RequireBinary(t, "supervisord")
	supervisorctl := testutil.RequireBinary(t, "supervisorctl")
	_, err := os.Stat("/usr/lib/python3/dist-packages/supervisor/childutils.py")
	testutil.Require(t, err == nil, "Debian's python3 supervisor package (supervisor.childutils)")

	runs := map[string]listenerRun{}
	for who, cmd := range map[string]func(string) *exec.Cmd{
		"supervisord": func(conf string) *exec.Cmd { return exec.Command(supervisord, "-n", "-c", conf) },
		"roost":       func(conf string) *exec.Cmd { return roostCmd("run", "--no-watch", "-c", conf) },
	} {
		runs[who] = startListenerRun(t, who, updateConfs[0], cmd)
	}
	recorded := func(r listenerRun, want ...string) bool {
		d := r.rec(t)
		all := strings.Join(d.Other, "\n") + "\n"
		for _, lines := range d.Procs {
			all += strings.Join(lines, "\n") + "\n"
		}
		for _, w := range want {
			if !strings.Contains(all, w) {
				return false
			}
		}
		return true
	}
	for who, r := range runs {
		testutil.Eventually(t, 60*time.Second, who+"'s listener to hear group a", func() bool {
			return recorded(r, "groupname:a")
		})
		if err := os.WriteFile(filepath.Join(r.dir, "supervisord.conf"), []byte(updateConfs[1]), 0o644); err != nil {
			t.Fatal(err)
		}
		// supervisorctl's update removes and adds a changed group by
		// itself; roost's own update (and HUP, and the watcher) must too.
		update := supervisorctlOn(supervisorctl, filepath.Join(r.dir, "supervisord.conf"))
		if who == "roost" {
			update = func(args ...string) (string, int) {
				out, errOut, code := roost(t, append([]string{"-c", filepath.Join(r.dir, "supervisord.conf")}, args...)...)
				return out + errOut, code
			}
		}
		if out, code := update("update"); code != 0 {
			t.Fatalf("%s: update: exit %d\n%s", who, code, out)
		}
		testutil.Eventually(t, 60*time.Second, who+"'s new listener to hear b and itself RUNNING", func() bool {
			return recorded(r, "groupname:b", "PROCESS_STATE_RUNNING from_state:STARTING groupname:b",
				"PROCESS_STATE_RUNNING from_state:STARTING groupname:rec")
		})
	}
	compareDigests(t, "rec", runs["supervisord"].rec(t), runs["roost"].rec(t))
}
