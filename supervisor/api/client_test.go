package api_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"roost/supervisor/api"
	"roost/supervisor/api/apitest"
)

func TestClientProcesses(t *testing.T) {
	path, _ := serve(t, fakeBackend(), api.ServerOptions{})
	c := dial(t, path)
	ctx := ctxT(t)
	infos, err := c.Processes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, in := range infos {
		names = append(names, in.Namespec()+"="+in.StateName)
	}
	want := []string{"web=RUNNING", "grp:a=STOPPED", "grp:b=RUNNING", "bad=STOPPED"}
	if diff := cmp.Diff(want, names); diff != "" {
		t.Errorf("Processes (-want +got):\n%s", diff)
	}
	in, err := c.Process(ctx, "grp:b")
	if err != nil || in.Name != "b" || in.Group != "grp" || in.PID == 0 {
		t.Errorf("Process(grp:b) = %+v, %v", in, err)
	}
	_, err = c.Process(ctx, "nope")
	if e := asError(t, err); e.Code != api.BadName || e.Detail != "nope" {
		t.Errorf("Process(nope) error = %#v", e)
	}
	v, err := c.Version(ctx)
	if err != nil || v != "0.0.0-test" {
		t.Errorf("Version = %q, %v", v, err)
	}
	si, err := c.Supervisor(ctx)
	if err != nil || si.PID != 42 || si.StateName != "RUNNING" || si.Identification != "supervisor" {
		t.Errorf("Supervisor = %+v, %v", si, err)
	}
	ci, err := c.ConfigInfo(ctx)
	if err != nil || len(ci) != 4 {
		t.Errorf("ConfigInfo = %+v, %v", ci, err)
	}
}

func asError(t *testing.T, err error) *api.Error {
	t.Helper()
	var e *api.Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T) is not an *api.Error", err, err)
	}
	return e
}

func TestClientProcessControl(t *testing.T) {
	b := fakeBackend()
	path, _ := serve(t, b, api.ServerOptions{})
	c := dial(t, path)
	ctx := ctxT(t)

	if _, err := c.Start(ctx, "web", true); asError(t, err).Code != api.AlreadyStarted {
		t.Errorf("start running web: %v", err)
	}
	if _, err := c.Start(ctx, "bad", true); asError(t, err).Code != api.SpawnError {
		t.Errorf("start bad: %v", err)
	}
	res, err := c.Start(ctx, "grp:a", true)
	if err != nil || len(res) != 1 || res[0].Status != api.Success || res[0].Name != "a" || res[0].Group != "grp" {
		t.Errorf("start grp:a = %+v, %v", res, err)
	}
	res, err = c.Stop(ctx, "grp:*", true)
	if err != nil || len(res) != 2 {
		t.Fatalf("stop grp:* = %+v, %v", res, err)
	}
	if _, err := c.Stop(ctx, "nogroup:*", true); asError(t, err).Code != api.BadName {
		t.Errorf("stop nogroup:*: %v", err)
	}
	res, err = c.Restart(ctx, "grp:a", true) // stopped: restart just starts it
	if err != nil || len(res) != 1 || res[0].Status != api.Success {
		t.Errorf("restart stopped grp:a = %+v, %v", res, err)
	}
	res, err = c.Signal(ctx, "all", "usr1")
	if err != nil || len(res) != 2 { // web and grp:a run
		t.Errorf("signal all = %+v, %v", res, err)
	}
	if got := b.Proc("web").Signals; len(got) != 1 || got[0] != syscall.SIGUSR1 {
		t.Errorf("web got signals %v, want [SIGUSR1]", got)
	}
	if _, err := c.Signal(ctx, "web", "NOPE"); asError(t, err).Code != api.BadSignal {
		t.Errorf("signal NOPE: %v", err)
	}
	res, err = c.Stop(ctx, "all", false)
	if err != nil || len(res) != 2 || res[0].Name != "a" { // reverse order
		t.Errorf("stop all = %+v, %v", res, err)
	}
	if _, err := c.Stop(ctx, "web", true); asError(t, err).Code != api.NotRunning {
		t.Errorf("stop stopped web: %v", err)
	}
	if _, err := c.Start(ctx, "web", true); err != nil {
		t.Fatal(err)
	}
	if err := c.SendStdin(ctx, "web", []byte("hi\n")); err != nil || string(b.Stdin["web"]) != "hi\n" {
		t.Errorf("stdin: %v, got %q", err, b.Stdin["web"])
	}
}

func TestClientLogs(t *testing.T) {
	b := fakeBackend()
	b.AppendLog("web", api.Stdout, "line one\nline two\n")
	b.AppendLog("", "", "main log\n")
	path, _ := serve(t, b, api.ServerOptions{})
	c := dial(t, path)
	ctx := ctxT(t)

	data, err := c.ReadLog(ctx, "web", api.Stdout, -9, 0)
	if err != nil || string(data) != "line two\n" {
		t.Errorf("ReadLog -9 = %q, %v", data, err)
	}
	data, next, overflow, err := c.TailLog(ctx, "web", api.Stdout, 0, 4)
	if err != nil || string(data) != "two\n" || next != 18 || !overflow {
		t.Errorf("TailLog = %q %d %v %v", data, next, overflow, err)
	}
	if _, err := c.ReadLog(ctx, "web", api.Stdout, -1, 5); asError(t, err).Code != api.BadArguments {
		t.Errorf("bad offsets: %v", err)
	}
	if data, err := c.ReadMainLog(ctx, 0, 0); err != nil || string(data) != "main log\n" {
		t.Errorf("ReadMainLog = %q, %v", data, err)
	}
	res, err := c.Clear(ctx, "web")
	if err != nil || len(res) != 1 {
		t.Errorf("Clear = %v %v", res, err)
	}
	if data, _ := c.ReadLog(ctx, "web", api.Stdout, 0, 0); len(data) != 0 {
		t.Errorf("log after clear: %q", data)
	}
}

func TestClientFollow(t *testing.T) {
	b := fakeBackend()
	b.AppendLog("web", api.Stdout, "old\n")
	path, _ := serve(t, b, api.ServerOptions{})
	c := dial(t, path)

	ctx, cancel := context.WithCancel(ctxT(t))
	w := &signalWriter{first: make(chan struct{})}
	done := make(chan error, 1)
	go func() { done <- c.FollowLog(ctx, "web", api.Stdout, 1600, w) }()
	<-w.first
	b.AppendLog("web", api.Stdout, "new\n")
	deadline := time.After(10 * time.Second)
	for w.buf.String() != "old\nnew\n" {
		select {
		case <-deadline:
			t.Fatalf("followed %q, want old and new lines", w.buf.String())
		case <-time.After(5 * time.Millisecond):
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("FollowLog after cancel: %v", err)
	}
	// Errors known up front come back as *api.Error.
	if err := c.FollowLog(ctxT(t), "nope", api.Stdout, 0, io.Discard); asError(t, err).Code != api.BadName {
		t.Errorf("follow nope: %v", err)
	}
	if err := c.FollowLog(ctxT(t), "web", "stdin", 0, io.Discard); asError(t, err).Code != api.BadArguments {
		t.Errorf("follow stdin: %v", err)
	}
}

func TestClientEvents(t *testing.T) {
	b := fakeBackend()
	path, _ := serve(t, b, api.ServerOptions{})
	c := dial(t, path)
	ctx, cancel := context.WithCancel(ctxT(t))
	defer cancel()
	got := make(chan api.Event, 16)
	done := make(chan error, 1)
	go func() {
		done <- c.Events(ctx, func(ev api.Event) error { got <- ev; return nil })
	}()
	// Subscription is asynchronous: retry the trigger until an event flows.
	deadline := time.After(10 * time.Second)
	for {
		c.Stop(ctx, "web", true)
		c.Start(ctx, "web", true)
		select {
		case ev := <-got:
			if !strings.HasPrefix(ev.Type, "PROCESS_STATE_") || ev.Name != "web" {
				t.Errorf("event %+v", ev)
			}
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Events after cancel: %v", err)
			}
			return
		case <-deadline:
			t.Fatal("no event within 10s")
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func TestClientConfigChanges(t *testing.T) {
	b := fakeBackend()
	b.Pending = api.Changes{Added: []string{"new"}, Changed: []string{"web"}}
	path, _ := serve(t, b, api.ServerOptions{})
	c := dial(t, path)
	ctx := ctxT(t)
	ch, err := c.Reread(ctx)
	want := api.Changes{Added: []string{"new"}, Changed: []string{"web"}, Removed: []string{}}
	if err != nil || !cmp.Equal(ch, want) {
		t.Errorf("Reread = %+v, %v", ch, err)
	}
	if err := c.AddGroup(ctx, "new"); err != nil {
		t.Errorf("AddGroup: %v", err)
	}
	if err := c.AddGroup(ctx, "new"); asError(t, err).Code != api.AlreadyAdded {
		t.Errorf("AddGroup twice: %v", err)
	}
	if err := c.RemoveGroup(ctx, "web"); asError(t, err).Code != api.StillRunning {
		t.Errorf("RemoveGroup running: %v", err)
	}
	if _, err := c.Update(ctx, []string{"web", "x"}); err != nil {
		t.Errorf("Update: %v", err)
	}
	if got := b.UpdateNames; len(got) != 1 || !cmp.Equal(got[0], []string{"web", "x"}) {
		t.Errorf("Update names = %v", got)
	}
	b.RereadErr = api.Errorf(api.CantReread, "supervisord.conf:3: [program:x] startsecs: \"abc\" is not an integer")
	_, err = c.Reread(ctx)
	if e := asError(t, err); e.Code != api.CantReread || !strings.Contains(e.Detail, "supervisord.conf:3:") {
		t.Errorf("Reread broken = %#v", e)
	}
	if err := c.Shutdown(ctx); err != nil || b.ShutdownCalled != 1 {
		t.Errorf("Shutdown: %v (%d calls)", err, b.ShutdownCalled)
	}
	if err := c.Reload(ctx); err != nil || b.RestartCalled != 1 {
		t.Errorf("Reload: %v (%d calls)", err, b.RestartCalled)
	}
}

func TestClientRefusesUntrustedServer(t *testing.T) {
	path, _ := serve(t, fakeBackend(), api.ServerOptions{})
	_, err := api.Dial(path, api.WithServerUIDs(os.Geteuid()+12345))
	if !errors.Is(err, api.ErrUntrustedServer) {
		t.Fatalf("Dial with a foreign trusted uid: %v, want ErrUntrustedServer", err)
	}
	if _, err := api.Dial(path, api.WithServerUIDs(os.Geteuid())); err != nil {
		t.Fatalf("Dial trusting our uid: %v", err)
	}
}

func TestClientCapsResponses(t *testing.T) {
	b := apitest.New(&apitest.Proc{Group: "web", Name: "web", State: api.Running})
	b.AppendLog("web", api.Stdout, strings.Repeat("x", 4096))
	path, _ := serve(t, b, api.ServerOptions{})
	c := dial(t, path, api.WithMaxResponseBytes(1024))
	if _, err := c.ReadLog(ctxT(t), "web", api.Stdout, 0, 0); !errors.Is(err, api.ErrTooLarge) {
		t.Errorf("4 KiB log with a 1 KiB cap: %v, want ErrTooLarge", err)
	}
	if _, err := c.Processes(ctxT(t)); err != nil {
		t.Errorf("small response: %v", err)
	}
}

func TestClientConnectErrors(t *testing.T) {
	dir := t.TempDir()
	_, err := api.Dial(filepath.Join(dir, "none.sock"))
	if !errors.Is(err, syscall.ENOENT) {
		t.Errorf("Dial missing socket: %v, want ENOENT", err)
	}
	stale := filepath.Join(dir, "stale.sock")
	ln, _ := net.ListenUnix("unix", &net.UnixAddr{Name: stale, Net: "unix"})
	ln.SetUnlinkOnClose(false)
	ln.Close()
	if _, err := api.Dial(stale); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("Dial stale socket: %v, want ECONNREFUSED", err)
	}
}

func TestClientNotRoost(t *testing.T) {
	path := filepath.Join(t.TempDir(), "other.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.NotFoundHandler()}
	go srv.Serve(ln)
	defer srv.Close()
	c := dial(t, path)
	if _, err := c.Processes(ctxT(t)); !errors.Is(err, api.ErrNotRoost) {
		t.Errorf("Processes against a non-roost server: %v, want ErrNotRoost", err)
	}
}

func TestClientLastLines(t *testing.T) {
	b := apitest.New(&apitest.Proc{Group: "web", Name: "web", State: api.Running})
	var log strings.Builder
	for i := range 20000 {
		fmt.Fprintf(&log, "line %d\n", i) // ~200 KB: several backward reads
	}
	b.AppendLog("web", api.Stdout, log.String()+"no newline")
	path, _ := serve(t, b, api.ServerOptions{})
	c := dial(t, path)
	ctx := ctxT(t)
	for n, want := range map[int]string{
		0:     "",
		1:     "no newline",
		3:     "line 19998\nline 19999\nno newline",
		15000: strings.Join(strings.SplitAfter(log.String(), "\n")[5001:20000], "") + "no newline",
	} {
		got, err := c.LastLines(ctx, "web", api.Stdout, n)
		if err != nil || string(got) != want {
			t.Errorf("LastLines(%d) = %d bytes %v, want %d bytes", n, len(got), err, len(want))
		}
	}
	all, err := c.LastLines(ctx, "web", api.Stdout, 1_000_000)
	if err != nil || string(all) != log.String()+"no newline" {
		t.Errorf("LastLines(more than there are) = %d bytes, %v", len(all), err)
	}
	if _, err := c.LastLines(ctx, "nope", api.Stdout, 3); asError(t, err).Code != api.BadName {
		t.Errorf("LastLines(nope): %v", err)
	}
}

// TestProcessesViewStatus: ?view=status sends each process's name, group,
// state, statename and description and nothing else, ProcessesStatus
// reads them as Processes does, and another view is BAD_ARGUMENTS.
func TestProcessesViewStatus(t *testing.T) {
	path, _ := serve(t, fakeBackend(), api.ServerOptions{})
	c := dial(t, path)
	ctx := ctxT(t)
	full, err := c.Processes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	brief, err := c.ProcessesStatus(ctx)
	if err != nil {
		t.Fatal(err)
	}
	shown := func(infos []api.ProcessInfo) []api.ProcessInfo {
		out := make([]api.ProcessInfo, len(infos))
		for i, in := range infos {
			out[i] = api.ProcessInfo{Name: in.Name, Group: in.Group, State: in.State, StateName: in.StateName, Description: in.Description}
		}
		return out
	}
	if diff := cmp.Diff(shown(full), brief); diff != "" {
		t.Errorf("ProcessesStatus (-Processes' fields +got):\n%s", diff)
	}

	resp := rawGet(t, path, "/api/v1/processes?view=status")
	var raw []map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&raw); err != nil || resp.StatusCode != 200 {
		t.Fatalf("view=status: %d, %v", resp.StatusCode, err)
	}
	if len(raw) != len(full) {
		t.Fatalf("view=status: %d processes, want %d", len(raw), len(full))
	}
	for _, p := range raw {
		var keys []string
		for k := range p {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		if want := []string{"description", "group", "name", "state", "statename"}; !slices.Equal(keys, want) {
			t.Errorf("view=status keys = %v, want %v", keys, want)
		}
	}

	resp = rawGet(t, path, "/api/v1/processes?view=table")
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 400 || !strings.Contains(string(body), `"BAD_ARGUMENTS"`) || !strings.Contains(string(body), "view=table") {
		t.Errorf("view=table: %d %s, want 400 BAD_ARGUMENTS naming it", resp.StatusCode, body)
	}
}
