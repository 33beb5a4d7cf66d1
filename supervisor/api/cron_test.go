package api_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"roost/internal/testutil"
	"roost/supervisor/api"
	"roost/supervisor/api/apitest"
)

// cronBackend is the fake Backend with a fake cron side: jobs are records,
// the log is lines "job | text", a follow gets what Emit sends.
type cronBackend struct {
	*apitest.Backend
	mu      sync.Mutex
	info    api.CronInfo
	runs    []string
	lines   []string
	follows chan chan string // a follower's channel, once it is following
}

func newCronBackend() *cronBackend {
	next := time.Date(2026, 11, 22, 3, 4, 5, 0, time.FixedZone("CET", 3600))
	return &cronBackend{
		Backend: apitest.New(),
		info: api.CronInfo{File: "/p/cron", Log: "/p/logs/cron.log", Jobs: []api.CronJob{
			{Name: "backup", Line: 3, Schedule: "@daily", Command: "backup.sh", Zone: "Local", Next: next},
			{Name: "busy", Line: 5, Schedule: "@every 1m", Command: "sleep 100", Zone: "UTC", Running: true, PID: 77, Runs: 1, LastStart: next},
		}},
		lines:   []string{"backup | one", "busy | two", "backup | three"},
		follows: make(chan chan string, 1),
	}
}

var _ api.CronBackend = (*cronBackend)(nil)

func (b *cronBackend) Cron() api.CronInfo {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.info
}

func (b *cronBackend) job(name string) (*api.CronJob, error) {
	for i := range b.info.Jobs {
		if b.info.Jobs[i].Name == name {
			return &b.info.Jobs[i], nil
		}
	}
	return nil, api.Errorf(api.BadName, "%s", name)
}

func (b *cronBackend) RunCronJob(name string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	j, err := b.job(name)
	if err != nil {
		return err
	}
	if j.Running {
		return api.Errorf(api.AlreadyStarted, "%s", name)
	}
	b.runs = append(b.runs, name)
	return nil
}

func (b *cronBackend) ReadCronLog(name string, lines int) ([]byte, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if name != "" {
		if _, err := b.job(name); err != nil {
			return nil, err
		}
	}
	var out []string
	for _, l := range b.lines {
		if name == "" || strings.HasPrefix(l, name+" | ") {
			out = append(out, l+"\n")
		}
	}
	return []byte(strings.Join(out[max(0, len(out)-lines):], "")), nil
}

func (b *cronBackend) FollowCronLog(ctx context.Context, name string, lines int, w io.Writer) error {
	data, err := b.ReadCronLog(name, lines)
	if err != nil {
		return err
	}
	w.Write(data)
	ch := make(chan string)
	b.follows <- ch
	for {
		select {
		case <-ctx.Done():
			return nil
		case l := <-ch:
			w.Write([]byte(l + "\n"))
		}
	}
}

func TestCronList(t *testing.T) {
	path, _ := serve(t, newCronBackend(), api.ServerOptions{})
	c := dial(t, path)
	info, err := c.Cron(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	if info.File != "/p/cron" || len(info.Jobs) != 2 || info.Jobs[1].PID != 77 || !info.Jobs[0].Next.Equal(time.Date(2026, 11, 22, 2, 4, 5, 0, time.UTC)) {
		t.Errorf("Cron() = %+v", info)
	}
	// The wire form: RFC 3339 times, zero times left out.
	body, _ := io.ReadAll(rawGet(t, path, "/api/v1/cron").Body)
	resp := string(body)
	for _, want := range []string{`"next":"2026-11-22T03:04:05+01:00"`, `"last_start":"2026-11-22T03:04:05+01:00"`, `"running":true`, `"pid":77`} {
		if !strings.Contains(resp, want) {
			t.Errorf("GET /api/v1/cron lacks %s:\n%s", want, resp)
		}
	}
	if strings.Contains(resp, `"last_end"`) {
		t.Errorf("a zero last_end is sent:\n%s", resp)
	}
}

func TestCronRun(t *testing.T) {
	b := newCronBackend()
	path, _ := serve(t, b, api.ServerOptions{})
	c := dial(t, path)
	ctx := ctxT(t)
	if err := c.RunCronJob(ctx, "backup"); err != nil {
		t.Fatal(err)
	}
	if err := c.RunCronJob(ctx, "nosuch"); api.CodeOf(err) != api.BadName {
		t.Errorf("run nosuch: %v, want BAD_NAME", err)
	}
	if err := c.RunCronJob(ctx, "busy"); api.CodeOf(err) != api.AlreadyStarted {
		t.Errorf("run busy: %v, want ALREADY_STARTED", err)
	}
	if b.runs[0] != "backup" || len(b.runs) != 1 {
		t.Errorf("runs %v", b.runs)
	}
	if code := rawStatus(t, path, http.MethodPost, "/api/v1/cron/busy/run"); code != http.StatusConflict {
		t.Errorf("HTTP status for a running job: %d, want 409", code)
	}
}

func TestCronLogRead(t *testing.T) {
	path, _ := serve(t, newCronBackend(), api.ServerOptions{})
	c := dial(t, path)
	ctx := ctxT(t)
	for _, tc := range []struct {
		name  string
		lines int
		want  string
	}{
		{"backup", 20, "backup | one\nbackup | three\n"},
		{"backup", 1, "backup | three\n"},
		{"", 2, "busy | two\nbackup | three\n"},
		{"busy", 0, ""},
	} {
		got, err := c.CronLog(ctx, tc.name, tc.lines)
		if err != nil || string(got) != tc.want {
			t.Errorf("CronLog(%q, %d) = %q, %v; want %q", tc.name, tc.lines, got, err, tc.want)
		}
	}
	if _, err := c.CronLog(ctx, "nosuch", 5); api.CodeOf(err) != api.BadName {
		t.Errorf("log of nosuch: %v", err)
	}
	if _, err := c.CronLog(ctx, "backup", -1); api.CodeOf(err) != api.BadArguments {
		t.Errorf("lines=-1: %v", err)
	}
	if err := c.FollowCronLog(ctx, "nosuch", 5, io.Discard); api.CodeOf(err) != api.BadName {
		t.Errorf("follow nosuch: %v", err)
	}
}

func TestCronLogFollow(t *testing.T) {
	b := newCronBackend()
	path, _ := serve(t, b, api.ServerOptions{})
	c := dial(t, path)
	ctx, cancel := context.WithCancel(ctxT(t))
	got := &testutil.Buffer{}
	done := make(chan error, 1)
	go func() { done <- c.FollowCronLog(ctx, "backup", 1, got) }()
	ch := <-b.follows
	ch <- "backup | four"
	deadline := time.Now().Add(10 * time.Second)
	for got.String() != "backup | three\nbackup | four\n" {
		if time.Now().After(deadline) {
			t.Fatalf("followed %q", got.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("FollowCronLog after cancel: %v", err)
	}
}

func TestCronWithoutCronBackend(t *testing.T) {
	path, _ := serve(t, fakeBackend(), api.ServerOptions{})
	c := dial(t, path)
	if _, err := c.Cron(ctxT(t)); api.CodeOf(err) != api.UnknownMethod {
		t.Errorf("Cron on a backend without cron: %v, want UNKNOWN_METHOD", err)
	}
}

// rawStatus returns the HTTP status of a request on the socket.
func rawStatus(t *testing.T, sock, method, path string) int {
	t.Helper()
	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", sock)
	}}}
	req, _ := http.NewRequest(method, "http://roost"+path, nil)
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestCronJobStatus(t *testing.T) {
	end := time.Date(2026, 11, 22, 3, 4, 5, 0, time.UTC)
	for _, tc := range []struct {
		j    api.CronJob
		want string
	}{
		{api.CronJob{}, "never"},
		{api.CronJob{Running: true, PID: 12}, "running (pid 12)"},
		{api.CronJob{Running: true}, "running"},
		{api.CronJob{LastEnd: end, LastDuration: 1.234}, "exit 0 (1.2s)"},
		{api.CronJob{LastEnd: end, LastExitStatus: 3, LastDuration: 0.0051}, "exit 3 (5ms)"},
		{api.CronJob{LastEnd: end, LastExitStatus: -1, LastError: "terminated by SIGTERM", LastDuration: 125.4}, "terminated by SIGTERM (2m5s)"},
	} {
		if got := tc.j.Status(); got != tc.want {
			t.Errorf("Status(%+v) = %q, want %q", tc.j, got, tc.want)
		}
	}
}
