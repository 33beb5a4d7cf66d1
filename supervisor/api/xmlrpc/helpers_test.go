package xmlrpc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"roost/supervisor/api"
)

// rpcClient calls a handler through real HTTP.
type rpcClient struct {
	t    testing.TB
	url  string
	http *http.Client
}

// serve serves h on a unix socket in a temp dir until the test ends and
// returns the socket's path.
func serve(t testing.TB, h http.Handler) string {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "roost.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("serve: %v", err)
		}
	}()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		srv.Close()
		<-done
	})
	return sock
}

// mux is how the control plane mounts this package's handlers.
func mux(b api.Backend, opts Options) *http.ServeMux {
	m := http.NewServeMux()
	m.Handle("/RPC2", NewHandler(b, opts))
	lt := NewLogtailHandler(b)
	m.Handle("/logtail/", lt)
	m.Handle("/mainlogtail", lt)
	return m
}

func newClient(t testing.TB, sock string) *rpcClient {
	tr := &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", sock)
	}}
	t.Cleanup(tr.CloseIdleConnections)
	return &rpcClient{t: t, url: "http://localhost/RPC2", http: &http.Client{Transport: tr}}
}

func (c *rpcClient) post(ctx context.Context, body []byte) (*http.Response, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, "POST", c.url, bytes.NewReader(body))
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("Content-Type", "text/xml")
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	return resp, data, err
}

// callCtx calls method and returns its value or a *Fault.
func (c *rpcClient) callCtx(ctx context.Context, method string, params ...any) (any, error) {
	body, err := encodeCall(method, params...)
	if err != nil {
		c.t.Fatal(err)
	}
	resp, data, err := c.post(ctx, body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != 200 {
		return nil, fmt.Errorf("HTTP %s: %s", resp.Status, data)
	}
	return DecodeResponse(bytes.NewReader(data))
}

func (c *rpcClient) call(method string, params ...any) (any, error) {
	return c.callCtx(context.Background(), method, params...)
}

// mustCall calls method and fails the test on a fault.
func (c *rpcClient) mustCall(method string, params ...any) any {
	c.t.Helper()
	v, err := c.call(method, params...)
	if err != nil {
		c.t.Fatalf("%s%v: %v", method, params, err)
	}
	return v
}

// wantFault calls method and requires the fault (code, text).
func (c *rpcClient) wantFault(code int, text, method string, params ...any) {
	c.t.Helper()
	v, err := c.call(method, params...)
	var f *Fault
	if !errors.As(err, &f) {
		c.t.Errorf("%s%v = %#v, %v; want fault %d %q", method, params, v, err, code, text)
		return
	}
	if f.Code != code || f.String != text {
		c.t.Errorf("%s%v: fault %d %q; want %d %q", method, params, f.Code, f.String, code, text)
	}
}

func mustRead(t testing.TB, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
