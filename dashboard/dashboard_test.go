package dashboard

import (
	"bufio"
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"roost/deploy"
	"roost/internal/testutil"
	"roost/supervisor/api"
	"roost/supervisor/api/apitest"
)

// countingBackend counts the event subscriptions alive and the snapshots
// taken.
type countingBackend struct {
	*apitest.Backend
	subs, reads atomic.Int32
}

func (b *countingBackend) Subscribe(ctx context.Context) <-chan api.Event {
	b.subs.Add(1)
	in := b.Backend.Subscribe(ctx)
	out := make(chan api.Event)
	go func() {
		defer b.subs.Add(-1)
		defer close(out)
		for ev := range in {
			select {
			case out <- ev:
			case <-ctx.Done():
			}
		}
	}()
	return out
}

func (b *countingBackend) AllProcessInfo() []api.ProcessInfo {
	b.reads.Add(1)
	return b.Backend.AllProcessInfo()
}

func newBackend() *countingBackend {
	return &countingBackend{Backend: apitest.New(
		&apitest.Proc{Group: "web", Name: "web", State: api.Running},
		&apitest.Proc{Group: "<b>g", Name: "<script>x", State: api.Running},
	)}
}

// TestEventsCostNothingWithoutAClient: the dashboard starts no goroutine
// and holds no subscription until a page connects, holds one while it is
// connected (each supervisor event makes one snapshot), and none after.
func TestEventsCostNothingWithoutAClient(t *testing.T) {
	b := newBackend()
	g0 := runtime.NumGoroutine()
	d := New(b, Options{})
	if g := runtime.NumGoroutine(); g != g0 {
		t.Errorf("New started %d goroutines", g-g0)
	}
	srv := httptest.NewServer(d)
	defer srv.Close()
	idle := runtime.NumGoroutine()

	// Events while nobody looks cost no snapshot.
	b.Transition("web", api.Stopped)
	b.Transition("web", api.Running)
	if n, r := b.subs.Load(), b.reads.Load(); n != 0 || r != 0 {
		t.Fatalf("without a client: %d subscriptions, %d snapshots", n, r)
	}

	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/ui/events", nil)
	tr := &http.Transport{}
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Errorf("Content-Type %q", ct)
	}
	rd := bufio.NewReader(resp.Body)
	next := func() string {
		for {
			line, err := rd.ReadString('\n')
			if err != nil {
				t.Fatalf("event stream: %v", err)
			}
			if s, ok := strings.CutPrefix(line, "data: "); ok {
				return s
			}
		}
	}
	if first := next(); !strings.Contains(first, `"statename":"RUNNING"`) {
		t.Errorf("first snapshot: %s", first)
	}
	if n := b.subs.Load(); n != 1 {
		t.Errorf("%d subscriptions with one client", n)
	}
	b.Transition("web", api.Stopped)
	if s := next(); !strings.Contains(s, `"name":"web","group":"web","start":`) || !strings.Contains(s, `"statename":"STOPPED"`) {
		t.Errorf("snapshot after web stopped: %s", s)
	}

	cancel()
	resp.Body.Close()
	tr.CloseIdleConnections()
	testutil.Eventually(t, 10*time.Second, "the subscription and its goroutines to end", func() bool {
		return b.subs.Load() == 0 && runtime.NumGoroutine() <= idle
	})
	reads := b.reads.Load()
	b.Transition("web", api.Running)
	time.Sleep(200 * time.Millisecond) // observing that nothing happens
	if r := b.reads.Load(); r != reads {
		t.Errorf("an event after the client left made %d snapshots", r-reads)
	}
}

// TestActionNeedsSameOriginAndToken: a POST must name this host in
// Origin (else Referer) and carry the page's token.
func TestActionNeedsSameOriginAndToken(t *testing.T) {
	b := newBackend()
	d := New(b, Options{})
	srv := httptest.NewServer(d)
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	pid := b.Proc("web").PID
	for _, tc := range []struct {
		name, origin, referer, token string
		want                         int
	}{
		{"other origin", "http://evil.example", "", d.csrf, 403},
		{"other port", "http://127.0.0.1:1", "", d.csrf, 403},
		{"null origin, no referer", "null", "", d.csrf, 403},
		{"neither", "", "", d.csrf, 403},
		{"other referer", "", "http://evil.example/ui/", d.csrf, 403},
		{"no token", srv.URL, "", "", 403},
		{"wrong token", srv.URL, "", strings.Repeat("a", len(d.csrf)), 403},
		{"origin and token", srv.URL, "", d.csrf, 200},
		{"referer and token", "", "http://" + host + "/ui/", d.csrf, 200},
	} {
		form := url.Values{"target": {"web"}, "action": {"restart"}, "csrf": {tc.token}}
		req, _ := http.NewRequest("POST", srv.URL+"/ui/action", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Accept", "application/json")
		if tc.origin != "" {
			req.Header.Set("Origin", tc.origin)
		}
		if tc.referer != "" {
			req.Header.Set("Referer", tc.referer)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("%s: %s, want %d", tc.name, resp.Status, tc.want)
		}
		newPID := b.Proc("web").PID
		if (tc.want == 200) != (newPID != pid) {
			t.Errorf("%s: pid %d → %d", tc.name, pid, newPID)
		}
		pid = newPID
	}
	// A GET does not act.
	resp, err := http.Get(srv.URL + "/ui/action?target=web&action=stop&csrf=" + d.csrf)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode < 400 || b.Proc("web").State != api.Running {
		t.Errorf("GET /ui/action: %s, web %v", resp.Status, b.Proc("web").State)
	}
}

// TestPageEscapesNames: names reach the page as text.
func TestPageEscapesNames(t *testing.T) {
	rels := func() ([]deploy.Release, error) {
		return []deploy.Release{{ID: "20261207T155412Z-1a2b3c4", State: deploy.StateFailed, Error: "<img src=x onerror=alert(1)>"}}, nil
	}
	srv := httptest.NewServer(New(newBackend(), Options{Releases: rels}))
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/ui/")
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		b.WriteString(sc.Text() + "\n")
	}
	resp.Body.Close()
	page := b.String()
	if strings.Contains(page, "<script>x") || strings.Contains(page, "<b>g") || strings.Contains(page, "<img") ||
		!strings.Contains(page, "&lt;script&gt;x") || !strings.Contains(page, "20261207T155412Z-1a2b3c4") {
		t.Errorf("a name reached the page unescaped:\n%s", page)
	}
	for _, h := range []string{"Content-Security-Policy", "X-Frame-Options"} {
		if resp.Header.Get(h) == "" {
			t.Errorf("no %s header", h)
		}
	}
}

// TestLineWriter: whole lines become data: fields, a cut first line is
// dropped, CR and partial lines wait.
func TestLineWriter(t *testing.T) {
	rec := httptest.NewRecorder()
	lw := &lineWriter{w: rec, rc: http.NewResponseController(rec), skip: true}
	lw.Write([]byte("cut line\none\r\ntw"))
	lw.Write([]byte("o\n<script>\n"))
	lw.Write([]byte("part"))
	want := "data: one\n\ndata: two\ndata: <script>\n\n"
	if got := rec.Body.String(); got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

// TestForwarder: the loopback forwarder wants its token as the path's
// first segment and its own Host, strips the token before relaying, and
// never sets a cookie (cookies are not port-scoped).
func TestForwarder(t *testing.T) {
	var paths []string
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		paths = append(paths, r.URL.RequestURI())
		if r.Header.Get("Cookie") != "" {
			t.Errorf("a Cookie header was relayed: %q", r.Header.Get("Cookie"))
		}
		w.Header().Set("Referrer-Policy", "unsafe-url") // the forwarder's wins
		w.Write([]byte("dashboard"))
	})
	f := NewForwarder(next, "8080")
	if ok, _ := regexp.MatchString(`^http://127\.0\.0\.1:8080/[0-9a-f]{48}/ui/$`, f.URL()); !ok || !strings.Contains(f.URL(), f.Token()) {
		t.Errorf("URL %q", f.URL())
	}
	tok := "/" + f.Token()
	wrong := "/" + strings.Repeat("0", len(f.Token()))
	for _, tc := range []struct {
		name, target, host string
		code               int
		location, relayed  string
	}{
		{"no token", "/ui/", "127.0.0.1:8080", 403, "", ""},
		{"the root", "/", "127.0.0.1:8080", 403, "", ""},
		{"the old query token", "/ui/?token=" + f.Token(), "127.0.0.1:8080", 403, "", ""},
		{"a wrong token segment", wrong + "/ui/", "127.0.0.1:8080", 403, "", ""},
		{"a token prefix", tok[:20] + "/ui/", "127.0.0.1:8080", 403, "", ""},
		{"the token with more", tok + "x/ui/", "127.0.0.1:8080", 403, "", ""},
		{"the token not first", "/ui" + tok + "/ui/", "127.0.0.1:8080", 403, "", ""},
		{"another Host (DNS rebinding)", tok + "/ui/", "evil.example:8080", 403, "", ""},
		{"another port in Host", tok + "/ui/", "127.0.0.1:8081", 403, "", ""},
		{"the token alone", tok, "127.0.0.1:8080", 303, tok + "/ui/", ""},
		{"the token and a slash", tok + "/", "localhost:8080", 303, tok + "/ui/", ""},
		{"ui without its slash", tok + "/ui", "127.0.0.1:8080", 303, tok + "/ui/", ""},
		{"the page", tok + "/ui/", "127.0.0.1:8080", 200, "", "/ui/"},
		{"a request of the page", tok + "/ui/log?name=web&stream=stdout", "LOCALHOST:8080", 200, "", "/ui/log?name=web&stream=stdout"},
	} {
		paths = nil
		req := httptest.NewRequest("GET", tc.target, nil)
		req.Host = tc.host
		req.Header.Set("Cookie", "roost_ui_8080="+f.Token()+"; other=1")
		rec := httptest.NewRecorder()
		f.ServeHTTP(rec, req)
		h := rec.Result().Header
		if rec.Code != tc.code || h.Get("Location") != tc.location {
			t.Errorf("%s: %s: %d Location %q, want %d %q", tc.name, tc.target, rec.Code, h.Get("Location"), tc.code, tc.location)
		}
		if tc.code == 403 && !strings.Contains(rec.Body.String(), "forbidden") {
			t.Errorf("%s: body %q", tc.name, rec.Body.String())
		}
		if tc.code == 403 && tc.host == "127.0.0.1:8080" && !strings.Contains(rec.Body.String(), "open the URL `roost ui` printed") {
			t.Errorf("%s: body %q does not say which URL to open", tc.name, rec.Body.String())
		}
		if want := []string{tc.relayed}; tc.relayed == "" && len(paths) != 0 || tc.relayed != "" && !slices.Equal(paths, want) {
			t.Errorf("%s: relayed %q, want %q", tc.name, paths, tc.relayed)
		}
		if c := h.Values("Set-Cookie"); len(c) != 0 {
			t.Errorf("%s: Set-Cookie %q", tc.name, c)
		}
		if p := h.Values("Referrer-Policy"); !slices.Equal(p, []string{"same-origin"}) {
			t.Errorf("%s: Referrer-Policy %q", tc.name, p)
		}
	}
}
