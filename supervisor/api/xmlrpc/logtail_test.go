package xmlrpc

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"roost/supervisor/api"
	"roost/supervisor/api/apitest"
)

func TestLogtail(t *testing.T) {
	f, c, _ := newTestServer(t, Options{},
		&apitest.Proc{Group: "grp", Name: "b", Logs: map[api.Stream][]byte{api.Stdout: nil}}, // like redirect_stderr: no stderr log
		&apitest.Proc{Group: "web", Name: "web"})
	long := strings.Repeat("0123456789", 200) + "\n"
	f.AppendLog("web", api.Stdout, long)
	f.AppendLog("web", api.Stderr, "err\n")

	do := func(method, path string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest(method, "http://localhost"+path, nil)
		resp, err := c.http.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}
	for path, want := range map[string]int{
		"/logtail/nope":         404,
		"/logtail/web/bogus":    404,
		"/logtail/web/stdout/x": 404,
		"/logtail/grp:*":        404,
		"/logtail/":             404,
		"/logtail/grp:b/stderr": 404,
		"/logtailweb":           404,
		"/mainlogtail/x":        404,
		"/logtail/grp%3Ab":      200,
		"/logtail/web":          200,
		"/logtail/web/stderr":   200,
		"/mainlogtail":          200,
	} {
		if r := do("HEAD", path); r.StatusCode != want {
			t.Errorf("HEAD %s: %s, want %d", path, r.Status, want)
		}
	}
	if r := do("POST", "/logtail/web"); r.StatusCode != 400 {
		t.Errorf("POST /logtail/web: %s, want 400 as supervisord", r.Status)
	}

	// A stream starts with the last 1024 bytes, then follows.
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", "http://localhost/logtail/web", nil)
	resp, err := c.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.Header.Get("Content-Type") != "text/plain;charset=utf-8" || resp.Header.Get("X-Accel-Buffering") != "no" ||
		len(resp.TransferEncoding) != 1 || resp.TransferEncoding[0] != "chunked" {
		t.Errorf("headers %v, transfer encoding %v", resp.Header, resp.TransferEncoding)
	}
	body := bufio.NewReader(resp.Body)
	first := make([]byte, TailBytes)
	if _, err := io.ReadFull(body, first); err != nil {
		t.Fatal(err)
	}
	if string(first) != long[len(long)-TailBytes:] {
		t.Errorf("stream began with %q, want the log's last %d bytes", first[:20], TailBytes)
	}
	f.AppendLog("web", api.Stdout, "more\n")
	line, err := body.ReadString('\n')
	if err != nil || line != "more\n" {
		t.Errorf("next line %q, %v", line, err)
	}
	// The client goes away: the backend's follow ends with it.
	cancel()
	select {
	case <-f.Canceled:
	case <-time.After(30 * time.Second):
		t.Fatal("the backend kept following after the client left")
	}
}
