package xmlrpc

import (
	"encoding/json"
	"fmt"
	"strings"
	"syscall"
	"testing"

	"roost/supervisor/api"
)

// TestDescribeMatchesSupervisord compares Describe with supervisord's own
// _interpretProcessInfo, run by the real Python in this time zone.
func TestDescribeMatchesSupervisord(t *testing.T) {
	var infos []api.ProcessInfo
	for _, st := range []api.State{api.Stopped, api.Starting, api.Running, api.Backoff, api.Stopping, api.Exited, api.Fatal, api.Unknown} {
		for _, tc := range []struct {
			start, stop, now int64
			spawnErr         string
		}{
			{0, 0, 1795316368, ""},
			{1795316360, 1795316365, 1795316368, "can't find command 'x'"},
			{1795316360, 0, 1795316360 + 86400 + 3725, ""},
			{1795316360, 1795290000, 1795316360 + 3*86400, ""},
			{1795316368, 1700000000, 1795316300, ""}, // clock set back
			{1, 43200, 1795316368, ""},
		} {
			infos = append(infos, api.ProcessInfo{Name: "web", State: st, Start: tc.start, Stop: tc.stop, Now: tc.now, PID: 4321, SpawnErr: tc.spawnErr})
		}
	}
	var dicts []map[string]any
	for _, p := range infos {
		dicts = append(dicts, map[string]any{"name": p.Name, "state": int(p.State), "start": p.Start, "stop": p.Stop,
			"now": p.Now, "pid": p.PID, "spawnerr": p.SpawnErr})
	}
	in, _ := json.Marshal(dicts)
	out := runPython(t, `
import json, sys
from supervisor.rpcinterface import SupervisorNamespaceRPCInterface as I
print(json.dumps([I._interpretProcessInfo(None, d) for d in json.load(sys.stdin)]))
`, in)
	var want []string
	if err := json.Unmarshal(out, &want); err != nil {
		t.Fatal(err)
	}
	for i, p := range infos {
		if got := api.Describe(p); got != want[i] {
			t.Errorf("Describe(%s start=%d stop=%d now=%d) = %q, supervisord says %q", p.State, p.Start, p.Stop, p.Now, got, want[i])
		}
	}
}

// TestParseSignalMatchesSupervisord compares ParseSignal with supervisord's
// signal_number.
func TestParseSignalMatchesSupervisord(t *testing.T) {
	inputs := []any{"0", "_DFL", "9", " 9 ", "kill", "sigkill", "Sigterm", "SIG_IGN", "SIGRTMIN", "RTMAX",
		"IOT", "CLD", "POLL", "hup", "usr1", "USR2", "WINCH", "40", "64", "65", "-1", "32", "1.5", "", "SIG", "KILLL",
		9, 0, 31, 32, 34, 35, 64, 100, -15, true, false, 15.7, nil}
	for n := 0; n <= 70; n++ {
		inputs = append(inputs, fmt.Sprint(n))
	}
	in, _ := json.Marshal(inputs)
	out := runPython(t, `
import json, sys
from supervisor.datatypes import signal_number
out = []
for v in json.load(sys.stdin):
    try:
        out.append(int(signal_number(v)))
    except Exception:
        out.append(None)
print(json.dumps(out))
`, in)
	var want []*int
	if err := json.Unmarshal(out, &want); err != nil {
		t.Fatal(err)
	}
	for i, v := range inputs {
		got, err := ParseSignal(v)
		switch {
		case want[i] == nil && err == nil:
			t.Errorf("ParseSignal(%#v) = %d, supervisord refuses it", v, got)
		case want[i] == nil && api.CodeOf(err) != api.BadSignal:
			t.Errorf("ParseSignal(%#v): %v, want BAD_SIGNAL", v, err)
		case want[i] != nil && refusedByRoost(v, *want[i]):
			if err == nil {
				t.Errorf("ParseSignal(%#v) = %d; roost refuses signal 0 and Python's SIG_ constants", v, got)
			}
		case want[i] != nil && (err != nil || got != syscall.Signal(*want[i])):
			t.Errorf("ParseSignal(%#v) = %d, %v; supervisord says %d", v, got, err, *want[i])
		}
	}
	if _, err := ParseSignal("FOO"); err == nil || err.Error() != "BAD_SIGNAL: FOO" {
		t.Errorf("ParseSignal(FOO): %v", err)
	}
}

// refusedByRoost reports the values supervisord's signal_number accepts but
// roost refuses on purpose: signal 0 and the handler constants Python's
// signal module names SIG_DFL, SIG_IGN, SIG_BLOCK...
func refusedByRoost(v any, n int) bool {
	if n == 0 {
		return true
	}
	s, ok := v.(string)
	if !ok {
		return false
	}
	name := strings.ToUpper(strings.TrimSpace(s))
	return strings.HasPrefix(name, "_") || strings.HasPrefix(name, "SIG_")
}
