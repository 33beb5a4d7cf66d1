package metrics

import (
	"context"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"roost/internal/testutil"
)

// serveUnix serves h on a unix socket in a fresh directory until the test ends.
func serveUnix(t *testing.T, h http.Handler) string {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "roost.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return sock
}

// A user's supervisor is untrusted: of what it serves, the master keeps
// only the supervisor's own families with their types and label names,
// each series once, and puts its own user label on them.
func TestScrapeUserKeepsOnlyTheSupervisorsFamilies(t *testing.T) {
	hostile := `# TYPE roost_nginx_applies_total counter
roost_nginx_applies_total 999
# TYPE roost_process_starts_total counter
roost_process_starts_total{program="web"} 3
roost_process_starts_total{program="web"} 4
roost_process_starts_total{program="api"} 7
roost_process_starts_total{program="db",user="roost-bob"} 5
roost_process_starts_total{program="db",extra="x"} 5
# TYPE roost_process_state counter
roost_process_state{program="web",state="RUNNING"} 1
# TYPE roost_user_metrics_up gauge
roost_user_metrics_up{user="roost-bob"} 1
`
	sock := serveUnix(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		w.Write([]byte(hostile))
	}))
	ms, err := scrapeUser(context.Background(), sock, os.Geteuid(), "roost-alice")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, m := range ms {
		key := m.d.name
		for i, l := range m.d.labels {
			key += " " + l + "=" + m.lv[i]
		}
		got[key] = m.v
	}
	if len(got) != 2 {
		t.Errorf("kept %d series, want 2 (web once, api):\n%v", len(got), got)
	}
	want := 0
	for k, v := range got {
		switch {
		case containsAll(k, "roost_process_starts_total", "program=web", "user=roost-alice") && v == 3:
			want++
		case containsAll(k, "roost_process_starts_total", "program=api", "user=roost-alice") && v == 7:
			want++
		default:
			t.Errorf("kept %s = %v", k, v)
		}
	}
	if want != 2 {
		t.Errorf("want web=3 and api=7 with user=roost-alice; got %v", got)
	}
}

func containsAll(s string, parts ...string) bool {
	for _, p := range parts {
		if !strings.Contains(s, p) {
			return false
		}
	}
	return true
}

// A supervisor that never answers costs the scrape its timeout, no more;
// one that is not the user's (the uid check) is refused.
func TestScrapeUserBounded(t *testing.T) {
	block := make(chan struct{})
	t.Cleanup(func() { close(block) })
	sock := serveUnix(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-block:
		case <-r.Context().Done():
		}
	}))
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := scrapeUser(ctx, sock, os.Geteuid(), "roost-alice"); err == nil {
		t.Error("a stuck supervisor's scrape succeeded")
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("a stuck supervisor held the scrape %v", d)
	}
	testutil.RequireRoot(t)
	if _, err := scrapeUser(context.Background(), sock, 4242, "roost-alice"); err == nil {
		t.Error("a socket served by root was accepted as uid 4242's")
	}
}
