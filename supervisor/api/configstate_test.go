package api_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"roost/supervisor/api"
)

// stateBackend is a fake backend whose configuration state the test sets.
type stateBackend struct {
	api.Backend
	st atomic.Pointer[api.ConfigState]
}

func (b *stateBackend) ConfigState() api.ConfigState { return *b.st.Load() }

// While nothing of the file runs, the process, log, group and config
// resources answer CANT_REREAD naming file:line (JSON and XML-RPC); the
// state, the version and reread keep answering; a STALE or a saved
// configuration refuses nothing.
func TestConfigGate(t *testing.T) {
	b := &stateBackend{Backend: fakeBackend()}
	broken := api.ConfigState{State: api.ConfigError, Running: "none", Error: "supervisord.conf:3: [program:web] startsecs: \"1o\" is not an integer"}
	b.st.Store(&broken)
	path, _ := serve(t, b, api.ServerOptions{})
	c := dial(t, path)
	ctx := ctxT(t)

	if _, err := c.Processes(ctx); api.CodeOf(err) != api.CantReread || !strings.Contains(err.Error(), "supervisord.conf:3") {
		t.Errorf("Processes while CONFIG-ERROR: %v", err)
	}
	if _, err := c.Start(ctx, "web", false); api.CodeOf(err) != api.CantReread {
		t.Errorf("Start while CONFIG-ERROR: %v", err)
	}
	if _, err := c.ConfigInfo(ctx); api.CodeOf(err) != api.CantReread {
		t.Errorf("ConfigInfo while CONFIG-ERROR: %v", err)
	}
	if _, err := c.Version(ctx); err != nil {
		t.Errorf("Version while CONFIG-ERROR: %v", err)
	}
	st, err := c.ConfigState(ctx)
	if err != nil || st.State != api.ConfigError || st.Error != broken.Error {
		t.Errorf("ConfigState = %+v, %v", st, err)
	}
	for _, ok := range []api.ConfigState{
		{State: api.ConfigStale, Running: "previous", Error: "supervisord.conf:5: x"},
		{State: api.ConfigError, Running: "saved", Error: "supervisord.conf:5: x"},
		{State: api.ConfigOK},
	} {
		b.st.Store(&ok)
		if _, err := c.Processes(ctx); err != nil {
			t.Errorf("Processes while %s/%s: %v", ok.State, ok.Running, err)
		}
	}
}

func TestConfigStateSummary(t *testing.T) {
	for _, c := range []struct {
		st   api.ConfigState
		want string
	}{
		{api.ConfigState{State: api.ConfigOK}, ""},
		{api.ConfigState{State: api.ConfigError, Running: "none", Error: "f:3: e"}, "not applied: f:3: e; no programs run until it is fixed"},
		{api.ConfigState{State: api.ConfigError, Running: "saved", Error: "f:3: e"}, "running the last configuration that applied"},
		{api.ConfigState{State: api.ConfigStale, Running: "previous", Error: "f:3: e"}, "the running configuration is the previous one"},
		{api.ConfigState{State: api.ConfigOK, Cron: "cron:2: bad"}, "the cron file on disk is not applied: cron:2: bad"},
	} {
		got := c.st.Summary()
		if c.want == "" && got != "" || !strings.Contains(got, c.want) {
			t.Errorf("Summary(%+v) = %q, want %q in it", c.st, got, c.want)
		}
	}
}

// A server leaves no lock file behind (a project directory stays clean for
// `cp -r`), and the lock still excludes a second server while the first
// runs, and after it, across many rounds of starting and stopping.
func TestSocketLeavesNoLockFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "roost.sock")
	for range 20 {
		a := api.NewServer(fakeBackend(), api.ServerOptions{})
		if err := a.Listen(path); err != nil {
			t.Fatal(err)
		}
		b := api.NewServer(fakeBackend(), api.ServerOptions{})
		if err := b.Listen(path); err == nil {
			t.Fatal("a second server listened on a socket in use")
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- a.Serve(ctx) }()
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		for _, f := range []string{path, path + ".lock"} {
			if _, err := os.Lstat(f); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("%s left behind: %v", f, err)
			}
		}
	}
}
