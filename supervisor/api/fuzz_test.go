package api_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"roost/supervisor/api"
)

// hostile is what the fuzzed server answers every request with.
type hostile struct {
	mu          sync.Mutex
	status      int
	contentType string
	header      string // a Roost-Log-Offset value
	body        []byte
}

func (h *hostile) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	status, ct, hdr, body := h.status, h.contentType, h.header, h.body
	h.mu.Unlock()
	w.Header().Set("Content-Type", ct)
	w.Header().Set(api.HeaderLogOffset, hdr)
	w.Header().Set(api.HeaderLogOverflow, hdr)
	w.WriteHeader(status)
	w.Write(body)
}

// FuzzClientHostileServer feeds the client arbitrary answers, as a user's
// supervisor hostile to the master could: the client must return an error
// or a value, never panic, hang or read past its cap.
func FuzzClientHostileServer(f *testing.F) {
	f.Add(200, "application/json", "0", []byte(`[{"name":"web","group":"web","state":20}]`))
	f.Add(200, "application/json", "12", []byte(`{"results":[{"name":"a","status":80}]}`))
	f.Add(404, "application/json", "x", []byte(`{"error":{"code":10,"name":"BAD_NAME","message":"BAD_NAME: web"}}`))
	f.Add(500, "text/plain", "", []byte("oops"))
	f.Add(200, "application/x-ndjson", "-1", []byte("{\"type\":\"PROCESS_STATE_RUNNING\"}\n{bad\n"))
	f.Add(200, "application/json", "1", []byte(`{"error":{"code":-7,"name":"","message":""}}`))

	h := &hostile{}
	dir := f.TempDir()
	path := filepath.Join(dir, "h.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		f.Fatal(err)
	}
	srv := &http.Server{Handler: h}
	go srv.Serve(ln)
	f.Cleanup(func() { srv.Close() })
	c, err := api.Dial(path, api.WithMaxResponseBytes(4096))
	if err != nil {
		f.Fatal(err)
	}

	f.Fuzz(func(t *testing.T, status int, ct, hdr string, body []byte) {
		if status < 100 || status > 999 {
			status = 200 + (status%100+100)%100
		}
		if len(hdr) > 100 {
			hdr = hdr[:100]
		}
		if _, err := strconv.Unquote(`"` + hdr + `"`); err != nil {
			hdr = "" // header values with control bytes are refused by net/http
		}
		h.mu.Lock()
		h.status, h.contentType, h.header, h.body = status, ct, hdr, body
		h.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		check := func(what string, err error) {
			if err != nil && errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("%s hung: %v", what, err)
			}
		}
		_, err := c.Processes(ctx)
		check("Processes", err)
		_, err = c.Start(ctx, "web", true)
		check("Start", err)
		data, err := c.ReadLog(ctx, "web", api.Stdout, -1600, 0)
		check("ReadLog", err)
		if len(data) > 4096 {
			t.Fatalf("ReadLog returned %d bytes past the 4096 cap", len(data))
		}
		_, _, _, err = c.TailLog(ctx, "web", api.Stdout, 0, 100)
		check("TailLog", err)
		_, err = c.Reread(ctx)
		check("Reread", err)
		err = c.Events(ctx, func(api.Event) error { return nil })
		check("Events", err)
		_, err = c.LastLines(ctx, "web", api.Stdout, 5)
		check("LastLines", err)
	})
}
