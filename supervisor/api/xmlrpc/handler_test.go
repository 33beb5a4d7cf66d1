package xmlrpc

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"roost/supervisor/api"
	"roost/supervisor/api/apitest"
)

// quiet is the Options tests use: no log output.
var quiet = Options{Logger: slog.New(slog.DiscardHandler)}

// newTestServer returns a fake backend with procs (by default grp:a, grp:b
// and web, STOPPED), and a client of the handlers served over it on a unix
// socket. The backend holds started processes in STARTING until the test
// moves them (Hold), and reports starts and canceled waits on its channels.
func newTestServer(t *testing.T, opts Options, procs ...*apitest.Proc) (*apitest.Backend, *rpcClient, string) {
	if procs == nil {
		procs = []*apitest.Proc{
			{Group: "grp", Name: "a", Autostart: true},
			{Group: "grp", Name: "b", Autostart: true},
			{Group: "web", Name: "web", Autostart: true},
		}
	}
	f := apitest.New(procs...)
	f.MainLog = []byte("2026-01-01 00:00:00,000 INFO supervisord started\n")
	f.Hold = true
	f.Starting = make(chan string, 16)
	f.Canceled = make(chan struct{}, 16)
	if opts.Logger == nil {
		opts.Logger = quiet.Logger
	}
	sock := serve(t, mux(f, opts))
	return f, newClient(t, sock), sock
}

// wantMethods is system.listMethods of supervisord 4.2.5, with each
// method's system.methodSignature.
var wantMethods = map[string][]string{
	"supervisor.addProcessGroup": {"boolean", "string"}, "supervisor.clearAllProcessLogs": {"array"},
	"supervisor.clearLog": {"boolean"}, "supervisor.clearProcessLog": {"boolean", "string"},
	"supervisor.clearProcessLogs": {"boolean", "string"}, "supervisor.getAPIVersion": {"string"},
	"supervisor.getAllConfigInfo": {"array"}, "supervisor.getAllProcessInfo": {"array"},
	"supervisor.getIdentification": {"string"}, "supervisor.getPID": {"int"},
	"supervisor.getProcessInfo": {"struct", "string"}, "supervisor.getState": {"struct"},
	"supervisor.getSupervisorVersion": {"string"}, "supervisor.getVersion": {"string"},
	"supervisor.readLog": {"string", "int", "int"}, "supervisor.readMainLog": {"string", "int", "int"},
	"supervisor.readProcessLog":       {"string", "string", "int", "int"},
	"supervisor.readProcessStderrLog": {"string", "string", "int", "int"},
	"supervisor.readProcessStdoutLog": {"string", "string", "int", "int"},
	"supervisor.reloadConfig":         {"array"}, "supervisor.removeProcessGroup": {"boolean", "string"},
	"supervisor.restart": {"boolean"}, "supervisor.sendProcessStdin": {"boolean", "string", "string"},
	"supervisor.sendRemoteCommEvent": {"boolean", "string", "string"}, "supervisor.shutdown": {"boolean"},
	"supervisor.signalAllProcesses": {"array", "string"}, "supervisor.signalProcess": {"boolean", "string", "string"},
	"supervisor.signalProcessGroup": {"array", "string", "string"}, "supervisor.startAllProcesses": {"array", "boolean"},
	"supervisor.startProcess": {"boolean", "string", "boolean"}, "supervisor.startProcessGroup": {"array", "string", "boolean"},
	"supervisor.stopAllProcesses": {"array", "boolean"}, "supervisor.stopProcess": {"boolean", "string", "boolean"},
	"supervisor.stopProcessGroup": {"array", "string", "boolean"}, "supervisor.tailProcessLog": {"array", "string", "int", "int"},
	"supervisor.tailProcessStderrLog": {"array", "string", "int", "int"},
	"supervisor.tailProcessStdoutLog": {"array", "string", "int", "int"},
	"system.listMethods":              {"array"}, "system.methodHelp": {"string", "string"},
	"system.methodSignature": {"array", "string"}, "system.multicall": {"array", "array"},
}

func TestIntrospection(t *testing.T) {
	_, c, _ := newTestServer(t, Options{})
	var want []any
	for _, n := range sortedKeys(wantMethods) {
		want = append(want, n)
	}
	if d := cmp.Diff(want, c.mustCall("system.listMethods")); d != "" {
		t.Errorf("listMethods (-supervisord +roost):\n%s", d)
	}
	for name, sig := range wantMethods {
		if d := cmp.Diff(anySlice(sig), c.mustCall("system.methodSignature", name)); d != "" {
			t.Errorf("methodSignature(%s) (-supervisord +roost):\n%s", name, d)
		}
		help, _ := c.mustCall("system.methodHelp", name).(string)
		if !strings.Contains(help, "@return "+sig[0]) {
			t.Errorf("methodHelp(%s) = %q, no @return", name, help)
		}
	}
	c.wantFault(4, "SIGNATURE_UNSUPPORTED", "system.methodHelp", "nope")
	c.wantFault(4, "SIGNATURE_UNSUPPORTED", "system.methodSignature", "supervisor.nope")
	c.wantFault(4, "SIGNATURE_UNSUPPORTED", "system.methodSignature", 5)
}

func sortedKeys[V any](m map[string]V) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	for i := range ks {
		for j := i + 1; j < len(ks); j++ {
			if ks[j] < ks[i] {
				ks[i], ks[j] = ks[j], ks[i]
			}
		}
	}
	return ks
}

// TestFaults checks fault codes and strings against what supervisord 4.2.5
// answers to the same calls.
func TestFaults(t *testing.T) {
	f, c, _ := newTestServer(t, Options{})
	f.Transition("web", api.Running)
	for _, m := range []string{"supervisor.nope", "nope", "a.b.c", "supervisor._update", "supervisor.", ".getPID", "supervisor"} {
		c.wantFault(1, "UNKNOWN_METHOD", m)
	}
	c.wantFault(2, "INCORRECT_PARAMETERS", "supervisor.getPID", 1)
	c.wantFault(2, "INCORRECT_PARAMETERS", "supervisor.startProcess")
	c.wantFault(2, "INCORRECT_PARAMETERS", "supervisor.startProcess", "web", true, 1)
	c.wantFault(2, "INCORRECT_PARAMETERS", "system.multicall")
	c.wantFault(2, "INCORRECT_PARAMETERS: 5", "supervisor.sendProcessStdin", "web", 5)
	c.wantFault(2, "INCORRECT_PARAMETERS: name must be a string, not int", "supervisor.getProcessInfo", 5)
	c.wantFault(2, "INCORRECT_PARAMETERS: offset must be an int, not string", "supervisor.readLog", "x", 0)
	c.wantFault(10, "BAD_NAME: nope", "supervisor.startProcess", "nope")
	c.wantFault(10, "BAD_NAME: nope:*", "supervisor.startProcess", "nope:*")
	c.wantFault(10, "BAD_NAME: nope:*", "supervisor.stopProcess", "nope:*")
	c.wantFault(10, "BAD_NAME: nope:*", "supervisor.signalProcess", "nope:*", "HUP")
	c.wantFault(10, "BAD_NAME: nope", "supervisor.startProcessGroup", "nope")
	c.wantFault(10, "BAD_NAME: grp:*", "supervisor.getProcessInfo", "grp:*")
	c.wantFault(10, "BAD_NAME: grp:", "supervisor.readProcessStdoutLog", "grp:", 0, 0)
	c.wantFault(10, "BAD_NAME: grp:*", "supervisor.tailProcessStderrLog", "grp:*", 0, 0)
	c.wantFault(10, "BAD_NAME: grp:*", "supervisor.clearProcessLogs", "grp:*")
	c.wantFault(10, "BAD_NAME: nope", "supervisor.signalProcess", "nope", "FOO") // the name first
	c.wantFault(11, "BAD_SIGNAL: FOO", "supervisor.signalProcess", "web", "FOO")
	c.wantFault(11, "BAD_SIGNAL: 40", "supervisor.signalProcess", "web", 40)
	c.wantFault(60, "ALREADY_STARTED: web", "supervisor.startProcess", "web")
	c.wantFault(70, "NOT_RUNNING: grp:a", "supervisor.stopProcess", "grp:a")
	c.wantFault(3, "BAD_ARGUMENTS", "supervisor.readProcessStdoutLog", "web", -1, 5)
	c.wantFault(90, "ALREADY_ADDED: grp", "supervisor.addProcessGroup", "grp")
	c.wantFault(91, "STILL_RUNNING: web", "supervisor.removeProcessGroup", "web")

	// Once the supervisor shuts down every supervisor.* call is refused,
	// except sendRemoteCommEvent, and system.* still answers.
	if v := c.mustCall("supervisor.shutdown"); v != true {
		t.Errorf("shutdown = %#v", v)
	}
	c.wantFault(6, "SHUTDOWN_STATE", "supervisor.getVersion")
	c.wantFault(6, "SHUTDOWN_STATE", "supervisor.getAllProcessInfo")
	c.wantFault(6, "SHUTDOWN_STATE", "supervisor.shutdown")
	c.wantFault(2, "INCORRECT_PARAMETERS", "supervisor.getVersion", 1) // arguments are checked first
	if v := c.mustCall("supervisor.sendRemoteCommEvent", "t", "d"); v != true {
		t.Errorf("sendRemoteCommEvent = %#v", v)
	}
	if _, ok := c.mustCall("system.listMethods").([]any); !ok {
		t.Error("listMethods refused during shutdown")
	}
	v := c.mustCall("system.multicall", []any{Struct{{"methodName", "supervisor.getPID"}}})
	if d := cmp.Diff([]any{Struct{{"faultCode", 6}, {"faultString", "SHUTDOWN_STATE"}}}, v); d != "" {
		t.Errorf("multicall during shutdown:\n%s", d)
	}
}

func TestMethods(t *testing.T) {
	f, c, _ := newTestServer(t, Options{})
	f.Hold = false
	f.AppendLog("web", api.Stdout, "hello\nworld\n")
	f.AppendLog("web", api.Stderr, "oops\n")
	f.Pending = api.Changes{Added: []string{"new"}}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	events := f.Subscribe(ctx)

	for _, tc := range []struct {
		method string
		params []any
		want   any
	}{
		{"supervisor.getAPIVersion", nil, "3.0"},
		{"supervisor.getVersion", nil, "3.0"},
		{"supervisor.getSupervisorVersion", nil, "0.0.0-test"},
		{"supervisor.getIdentification", nil, "supervisor"},
		{"supervisor.getState", nil, Struct{{"statecode", 1}, {"statename", "RUNNING"}}},
		{"supervisor.getPID", nil, 42},
		{"supervisor.readLog", []any{-15, 0}, "visord started\n"},
		{"supervisor.readMainLog", []any{0, 4}, "2026"},
		{"supervisor.readProcessStdoutLog", []any{"web", 6, 0}, "world\n"},
		{"supervisor.readProcessLog", []any{"web", -3, 0}, "ld\n"},
		{"supervisor.readProcessStderrLog", []any{"web", 0, 2}, "oo"},
		{"supervisor.tailProcessStdoutLog", []any{"web", 0, 5}, []any{"orld\n", 12, true}},
		{"supervisor.tailProcessLog", []any{"web", 12, 100}, []any{"", 12, false}},
		{"supervisor.tailProcessStderrLog", []any{"web", 0, 100}, []any{"oops\n", 5, false}},
		{"supervisor.reloadConfig", nil, []any{[]any{[]any{"new"}, []any{}, []any{}}}},
		{"supervisor.startProcess", []any{"web"}, true},
		{"supervisor.stopProcess", []any{"web", false}, true},
		{"supervisor.startProcessGroup", []any{"grp"}, []any{
			Struct{{"name", "a"}, {"group", "grp"}, {"status", 80}, {"description", "OK"}},
			Struct{{"name", "b"}, {"group", "grp"}, {"status", 80}, {"description", "OK"}},
		}},
		{"supervisor.startAllProcesses", nil, []any{
			Struct{{"name", "web"}, {"group", "web"}, {"status", 80}, {"description", "OK"}},
		}},
		{"supervisor.signalProcess", []any{"web", "hup"}, true},
		{"supervisor.signalProcess", []any{"grp:*", 10}, []any{
			Struct{{"name", "a"}, {"group", "grp"}, {"status", 80}, {"description", "OK"}},
			Struct{{"name", "b"}, {"group", "grp"}, {"status", 80}, {"description", "OK"}},
		}},
		{"supervisor.signalProcessGroup", []any{"grp", "SIGBOGUS"}, []any{
			Struct{{"name", "a"}, {"group", "grp"}, {"status", 11}, {"description", "BAD_SIGNAL: SIGBOGUS"}},
			Struct{{"name", "b"}, {"group", "grp"}, {"status", 11}, {"description", "BAD_SIGNAL: SIGBOGUS"}},
		}},
		{"supervisor.signalAllProcesses", []any{"USR1"}, []any{
			Struct{{"name", "a"}, {"group", "grp"}, {"status", 80}, {"description", "OK"}},
			Struct{{"name", "b"}, {"group", "grp"}, {"status", 80}, {"description", "OK"}},
			Struct{{"name", "web"}, {"group", "web"}, {"status", 80}, {"description", "OK"}},
		}},
		{"supervisor.sendProcessStdin", []any{"web", "input\n"}, true},
		{"supervisor.sendProcessStdin", []any{"web", []byte{0, 1}}, true},
		{"supervisor.sendRemoteCommEvent", []any{"type", "data"}, true},
		{"supervisor.stopProcessGroup", []any{"grp", true}, []any{
			Struct{{"name", "a"}, {"group", "grp"}, {"status", 80}, {"description", "OK"}},
			Struct{{"name", "b"}, {"group", "grp"}, {"status", 80}, {"description", "OK"}},
		}},
		{"supervisor.stopProcess", []any{"grp:*"}, []any{}},
		{"supervisor.stopAllProcesses", nil, []any{
			Struct{{"name", "web"}, {"group", "web"}, {"status", 80}, {"description", "OK"}},
		}},
		{"supervisor.clearProcessLogs", []any{"web"}, true},
		{"supervisor.clearProcessLog", []any{"grp:a"}, true},
		{"supervisor.clearAllProcessLogs", nil, []any{
			Struct{{"name", "a"}, {"group", "grp"}, {"status", 80}, {"description", "OK"}},
			Struct{{"name", "b"}, {"group", "grp"}, {"status", 80}, {"description", "OK"}},
			Struct{{"name", "web"}, {"group", "web"}, {"status", 80}, {"description", "OK"}},
		}},
		{"supervisor.removeProcessGroup", []any{"grp"}, true},
		{"supervisor.clearLog", nil, true},
		{"supervisor.readLog", []any{0, 0}, ""},
	} {
		got, err := c.call(tc.method, tc.params...)
		if err != nil {
			t.Errorf("%s%v: %v", tc.method, tc.params, err)
			continue
		}
		if d := cmp.Diff(tc.want, got); d != "" {
			t.Errorf("%s%v (-want +got):\n%s", tc.method, tc.params, d)
		}
	}
	if d := cmp.Diff("input\n\x00\x01", string(f.Stdin["web"])); d != "" {
		t.Errorf("stdin: %s", d)
	}
	if d := cmp.Diff([]syscall.Signal{syscall.SIGHUP, syscall.SIGUSR1}, f.Proc("web").Signals); d != "" {
		t.Errorf("signals: %s", d)
	}
	// (That startProcess waits by default is TestWait's first case.)
	var comm []string
	for len(events) > 0 {
		if ev := <-events; ev.Type == "REMOTE_COMMUNICATION" {
			comm = append(comm, ev.Message)
		}
	}
	if !cmp.Equal(comm, []string{"type data"}) {
		t.Errorf("backend got remote communication events %q, want [\"type data\"]", comm)
	}
	if v := c.mustCall("supervisor.restart"); v != true {
		t.Errorf("restart = %#v", v)
	}
	c.wantFault(6, "SHUTDOWN_STATE", "supervisor.getState")
}

func contains(ss []string, s string) bool {
	for _, e := range ss {
		if e == s {
			return true
		}
	}
	return false
}

func TestProcessInfo(t *testing.T) {
	f, c, _ := newTestServer(t, Options{})
	f.Transition("web", api.Running)
	info, _ := f.ProcessInfo("web")
	v := c.mustCall("supervisor.getProcessInfo", "web")
	st, ok := v.(Struct)
	if !ok {
		t.Fatalf("getProcessInfo = %#v", v)
	}
	var names []string
	for _, m := range st {
		names = append(names, m.Name)
	}
	want := []string{"name", "group", "start", "stop", "now", "state", "statename", "spawnerr", "exitstatus",
		"logfile", "stdout_logfile", "stderr_logfile", "pid", "description"}
	if d := cmp.Diff(want, names); d != "" {
		t.Errorf("members (-supervisord +roost):\n%s", d)
	}
	if got, _ := st.Get("pid"); got != info.PID {
		t.Errorf("pid = %v, want %d", got, info.PID)
	}
	if got, _ := st.Get("description"); !strings.HasPrefix(got.(string), "pid ") {
		t.Errorf("description = %q", got)
	}
	if got, _ := st.Get("logfile"); got != "/fake/web.out" {
		t.Errorf("logfile = %q", got)
	}
	all, _ := c.mustCall("supervisor.getAllProcessInfo").([]any)
	if len(all) != 3 || all[2].(Struct)[0].Value != "web" {
		t.Errorf("getAllProcessInfo = %#v", all)
	}

	cfgs, _ := c.mustCall("supervisor.getAllConfigInfo").([]any)
	if len(cfgs) != 3 {
		t.Fatalf("getAllConfigInfo = %#v", cfgs)
	}
	names = nil
	for _, m := range cfgs[0].(Struct) {
		names = append(names, m.Name)
	}
	want = []string{"autostart", "directory", "uid", "command", "exitcodes", "group", "group_prio", "inuse",
		"killasgroup", "name", "process_prio", "redirect_stderr", "startretries", "startsecs",
		"stdout_capture_maxbytes", "stdout_events_enabled", "stdout_logfile", "stdout_logfile_backups",
		"stdout_logfile_maxbytes", "stdout_syslog", "stopsignal", "stopwaitsecs", "stderr_capture_maxbytes",
		"stderr_events_enabled", "stderr_logfile", "stderr_logfile_backups", "stderr_logfile_maxbytes",
		"stderr_syslog", "serverurl"}
	if d := cmp.Diff(want, names); d != "" {
		t.Errorf("config members (-supervisord +roost):\n%s", d)
	}
	for name, want := range map[string]any{"directory": "none", "uid": "none", "serverurl": "none", "exitcodes": []any{0}, "stopsignal": 15} {
		if got, _ := cfgs[0].(Struct).Get(name); !cmp.Equal(got, want) {
			t.Errorf("config %s = %#v, want %#v", name, got, want)
		}
	}
	if got, _ := configInfoStruct(api.ConfigInfo{UID: "1001"}).Get("uid"); got != 1001 {
		t.Errorf("numeric uid = %#v, want the int supervisord sends", got)
	}
}

func TestMulticall(t *testing.T) {
	f, c, _ := newTestServer(t, Options{})
	f.Hold = false
	v := c.mustCall("system.multicall", []any{
		Struct{{"methodName", "supervisor.getVersion"}},
		Struct{{"methodName", "system.multicall"}, {"params", []any{[]any{}}}},
		Struct{},
		"x",
		Struct{{"methodName", "supervisor.getProcessInfo"}, {"params", []any{"nope"}}},
		Struct{{"methodName", "supervisor.getPID"}, {"params", []any{"extra"}}},
		Struct{{"methodName", "supervisor.startProcess"}, {"params", []any{"web"}}},
		Struct{{"methodName", "supervisor.startProcess"}, {"params", []any{"web"}}},
		Struct{{"methodName", "supervisor.getState"}, {"params", "ab"}},
		Struct{{"methodName", 5}},
		Struct{{"methodName", "nope"}},
	})
	fault := func(code int, s string) Struct { return Struct{{"faultCode", code}, {"faultString", s}} }
	want := []any{
		"3.0", // unwrapped, as supervisord 4.2.5 returns it
		fault(2, "INCORRECT_PARAMETERS: Recursive system.multicall forbidden"),
		fault(2, "INCORRECT_PARAMETERS: No methodName"),
		fault(2, "INCORRECT_PARAMETERS: call must be a struct, not string"),
		fault(10, "BAD_NAME: nope"),
		fault(2, "INCORRECT_PARAMETERS"),
		true,
		fault(60, "ALREADY_STARTED: web"),
		fault(2, "INCORRECT_PARAMETERS: params must be an array, not string"),
		fault(2, "INCORRECT_PARAMETERS: methodName must be a string, not int"),
		fault(1, "UNKNOWN_METHOD"),
	}
	if d := cmp.Diff(want, v); d != "" {
		t.Errorf("multicall (-want +got):\n%s", d)
	}
	c.wantFault(2, "INCORRECT_PARAMETERS: calls must be an array, not string", "system.multicall", "abc")
	if v := c.mustCall("system.multicall", []any{}); !cmp.Equal(v, []any{}) {
		t.Errorf("empty multicall = %#v", v)
	}
}

// TestWait checks that wait=True calls block until the backend's
// operation completes, that wait=False ones do not, that waits in a
// multicall run in order, and that a client that goes away ends the wait.
func TestWait(t *testing.T) {
	f, c, _ := newTestServer(t, Options{})
	type result struct {
		v   any
		err error
	}
	async := func(ctx context.Context, method string, params ...any) chan result {
		ch := make(chan result, 1)
		go func() {
			v, err := c.callCtx(ctx, method, params...)
			ch <- result{v, err}
		}()
		return ch
	}
	deadline := time.After(30 * time.Second)
	started := func(want string) {
		t.Helper()
		select {
		case n := <-f.Starting:
			if n != want {
				t.Fatalf("started %s, want %s", n, want)
			}
		case <-deadline:
			t.Fatalf("%s never started", want)
		}
	}
	notYet := func(ch chan result, what string) {
		t.Helper()
		select {
		case r := <-ch:
			t.Fatalf("%s returned %#v, %v before the process was RUNNING", what, r.v, r.err)
		default:
		}
	}
	finish := func(ch chan result) result {
		t.Helper()
		select {
		case r := <-ch:
			return r
		case <-deadline:
			t.Fatal("call never returned")
		}
		return result{}
	}

	// wait=True (the default): returns once RUNNING.
	ch := async(context.Background(), "supervisor.startProcess", "web")
	started("web")
	notYet(ch, "startProcess(web)")
	f.Transition("web", api.Running)
	if r := finish(ch); r.v != true || r.err != nil {
		t.Errorf("startProcess(web) = %#v, %v", r.v, r.err)
	}

	// wait=False: returns while still STARTING.
	f.Transition("web", api.Stopped)
	if v := c.mustCall("supervisor.startProcess", "web", false); v != true {
		t.Errorf("startProcess(web, False) = %#v", v)
	}
	started("web")
	if info, _ := f.ProcessInfo("web"); info.State != api.Starting {
		t.Errorf("after startProcess(web, False) web is %s", info.State)
	}

	// The process fails while STARTING: ABNORMAL_TERMINATION.
	f.Transition("web", api.Stopped)
	ch = async(context.Background(), "supervisor.startProcess", "web", true)
	started("web")
	f.Transition("web", api.Backoff)
	var fe *Fault
	if r := finish(ch); !errors.As(r.err, &fe) || fe.Code != 40 || fe.String != "ABNORMAL_TERMINATION: web" {
		t.Errorf("startProcess(web) of a failing process = %#v, %v", r.v, r.err)
	}

	// A multicall runs its waits one after the other.
	ch = async(context.Background(), "system.multicall", []any{
		Struct{{"methodName", "supervisor.startProcess"}, {"params", []any{"grp:a"}}},
		Struct{{"methodName", "supervisor.startProcess"}, {"params", []any{"grp:b"}}},
	})
	started("grp:a")
	notYet(ch, "multicall")
	select {
	case n := <-f.Starting:
		t.Fatalf("%s started before grp:a was RUNNING", n)
	default:
	}
	f.Transition("grp:a", api.Running)
	started("grp:b")
	notYet(ch, "multicall")
	f.Transition("grp:b", api.Running)
	if r := finish(ch); !cmp.Equal(r.v, []any{true, true}) {
		t.Errorf("multicall = %#v, %v", r.v, r.err)
	}

	// The client goes away: the backend's wait ends with it.
	f.Transition("web", api.Stopped)
	ctx, cancel := context.WithCancel(context.Background())
	ch = async(ctx, "supervisor.startProcess", "web")
	started("web")
	cancel()
	if r := finish(ch); !errors.Is(r.err, context.Canceled) {
		t.Errorf("canceled call = %#v, %v", r.v, r.err)
	}
	select {
	case <-f.Canceled:
	case <-deadline:
		t.Fatal("the backend's wait did not end with the client")
	}
}

func TestHTTP(t *testing.T) {
	_, c, sock := newTestServer(t, Options{MaxRequestBytes: 1000})
	get := func(path string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest("GET", "http://localhost"+path, nil)
		resp, err := c.http.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	if r := get("/RPC2"); r.StatusCode != 400 {
		t.Errorf("GET /RPC2: %s, want 400 as supervisord", r.Status)
	}
	for _, body := range []string{"garbage", "<methodCall><methodName></methodName></methodCall>"} {
		if r, data, _ := c.post(context.Background(), []byte(body)); r.StatusCode != 400 {
			t.Errorf("POST %q: %s %s, want 400 as supervisord", body, r.Status, data)
		}
	}
	r, data, err := c.post(context.Background(), mustEncode(t, "supervisor.getVersion"))
	if err != nil || r.StatusCode != 200 || r.Header.Get("Content-Type") != "text/xml" || r.ContentLength != int64(len(data)) {
		t.Errorf("response %v %v %v", r, err, r.Header)
	}
	// A request over the cap is a fault; the connection is then closed.
	big := mustEncode(t, "supervisor.sendProcessStdin", "web", strings.Repeat("x", 2000))
	r, data, err = c.post(context.Background(), big)
	if err != nil || r.StatusCode != 200 {
		t.Fatalf("big request: %v %v", r, err)
	}
	_, ferr := DecodeResponse(bytes.NewReader(data))
	var fe *Fault
	if !errors.As(ferr, &fe) || fe.Code != 2 || fe.String != "INCORRECT_PARAMETERS: request body larger than 1000 bytes" {
		t.Errorf("big request: %v", ferr)
	}
	// And the server still answers.
	c2 := newClient(t, sock)
	if v := c2.mustCall("supervisor.getVersion"); v != "3.0" {
		t.Errorf("after a big request: %#v", v)
	}
}

func mustEncode(t *testing.T, method string, params ...any) []byte {
	b, err := encodeCall(method, params...)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestExtraMethods(t *testing.T) {
	var logs bytes.Buffer
	echo := Method{
		Func:      func(_ context.Context, p []any) (any, error) { return p, nil },
		Signature: []string{"array"},
		Help:      "echo the params",
	}
	failing := Method{Func: func(context.Context, []any) (any, error) { return nil, errors.New("boom") }}
	_, c, _ := newTestServer(t, Options{Logger: slog.New(slog.NewTextHandler(&logs, nil)), Methods: map[string]Method{
		"test.echo": echo, "test.fail": failing,
		"supervisor.getPID": echo, "bad": echo, "a.b.c": echo, "test._x": echo, "test.nil": {},
	}})
	if v := c.mustCall("test.echo", 1, "a", nil); !cmp.Equal(v, []any{1, "a", nil}) {
		t.Errorf("test.echo = %#v", v)
	}
	c.wantFault(30, "FAILED: boom", "test.fail")
	c.wantFault(4, "SIGNATURE_UNSUPPORTED", "system.methodSignature", "test.fail")
	if v := c.mustCall("system.methodHelp", "test.echo"); v != "echo the params" {
		t.Errorf("methodHelp = %#v", v)
	}
	if v := c.mustCall("supervisor.getPID"); v != 42 {
		t.Errorf("an extra method replaced getPID: %#v", v)
	}
	for _, name := range []string{"supervisor.getPID", "bad", "a.b.c", "test._x", "test.nil"} {
		if !strings.Contains(logs.String(), "method="+name) {
			t.Errorf("no error logged for extra method %s:\n%s", name, logs.String())
		}
	}
	names, _ := c.mustCall("system.listMethods").([]any)
	if !contains(anyStrings(names), "test.echo") || contains(anyStrings(names), "bad") {
		t.Errorf("listMethods = %v", names)
	}
}

func anyStrings(vs []any) []string {
	var out []string
	for _, v := range vs {
		s, _ := v.(string)
		out = append(out, s)
	}
	return out
}
