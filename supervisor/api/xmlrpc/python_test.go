package xmlrpc

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"roost/supervisor/api"
)

// echo is the extra method the Python client round-trips values through.
var echo = Method{
	Func:      func(_ context.Context, p []any) (any, error) { return p, nil },
	Signature: []string{"array"},
	Help:      "Return the parameters.",
}

// TestPythonClient drives the handler with Python's own xmlrpc.client (the
// library supervisorctl, Ansible and most scripts use): every XML-RPC type
// round-trips through test.echo, then a set of calls must answer what
// supervisord answers.
func TestPythonClient(t *testing.T) {
	f, _, sock := newTestServer(t, Options{Methods: map[string]Method{"test.echo": echo}})
	f.Transition("web", api.Starting)
	f.Transition("web", api.Running)
	f.AppendLog("web", api.Stdout, "\x1b[31mred\x1b[0m\r\nbad \xff byte\n")

	calls := [][]any{
		{"supervisor.getVersion", []any{}},
		{"supervisor.getState", []any{}},
		{"supervisor.readProcessStdoutLog", []any{"web", 0, 0}},
		{"supervisor.tailProcessStdoutLog", []any{"web", 0, 100}},
		{"supervisor.startProcess", []any{"web"}},
		{"supervisor.startProcess", []any{"nope:*", false}},
		{"supervisor.signalProcess", []any{"web", "NOPE"}},
		{"supervisor.sendProcessStdin", []any{"web", strings.Repeat("x", 1<<20)}},
		{"system.multicall", []any{[]any{
			map[string]any{"methodName": "supervisor.getAPIVersion"},
			map[string]any{"methodName": "supervisor.stopProcess", "params": []any{"grp:a"}},
		}}},
		{"supervisor.nope", []any{}},
	}
	in, _ := json.Marshal(calls)
	out := runPython(t, mustRead(t, "testdata/roundtrip.py"), in, sock)
	var got []map[string]any
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	want := []map[string]any{
		{"value": "3.0"},
		{"value": map[string]any{"statecode": 1.0, "statename": "RUNNING"}},
		// The characters XML cannot carry arrive as U+FFFD, CR as CR.
		{"value": "\uFFFD[31mred\uFFFD[0m\r\nbad \uFFFD byte\n"},
		{"value": []any{"\uFFFD[31mred\uFFFD[0m\r\nbad \uFFFD byte\n", 25.0, false}},
		{"fault": []any{60.0, "ALREADY_STARTED: web"}},
		{"fault": []any{10.0, "BAD_NAME: nope:*"}},
		{"fault": []any{11.0, "BAD_SIGNAL: NOPE"}},
		{"value": true},
		{"value": []any{"3.0", map[string]any{"faultCode": 70.0, "faultString": "NOT_RUNNING: grp:a"}}},
		{"fault": []any{1.0, "UNKNOWN_METHOD"}},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("(-want +got)\n%s", d)
	}
	if n := len(f.Stdin["web"]); n != 1<<20 {
		t.Errorf("stdin got %d bytes, want 1 MiB", n)
	}
}
