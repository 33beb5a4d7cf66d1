package master

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"

	"roost/supervisor/api"
	"roost/supervisor/api/apitest"
)

// fakeProxy is the helper supervisor's backend for the "proxy FILE" step:
// whatever FILE holds is its answer about its routes.
type fakeProxy struct {
	*apitest.Backend
	file, verdict string
}

func (f *fakeProxy) Proxy() api.ProxyInfo {
	var info api.ProxyInfo
	data, _ := os.ReadFile(f.file)
	json.Unmarshal(data, &info)
	return info
}

func (f *fakeProxy) SetProxyStatus(st api.ProxyStatus) error {
	data, _ := json.MarshalIndent(st, "", "  ")
	tmp := f.verdict + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, f.verdict)
}

// serveFakeProxy serves the control API with a fakeProxy on sock.
func serveFakeProxy(sock, file string) (stop func(), err error) {
	b := &fakeProxy{Backend: apitest.New(), file: file, verdict: filepath.Join(filepath.Dir(sock), "verdict.json")}
	srv := api.NewServer(b, api.ServerOptions{})
	if err := srv.Listen(sock); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		srv.Serve(ctx)
		close(done)
	}()
	return func() { cancel(); <-done }, nil
}
