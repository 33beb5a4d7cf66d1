package master

// TEMPORARY until the control plane (supervisor/api server, client) lands:
// then the admin socket is served by api.Server's plumbing and programs()
// asks through api.Client.

import (
	"context"
	"errors"
	"net"
	"net/http"
	"os"
)

type adminServer struct {
	ln  net.Listener
	h   http.Handler
	pth string
}

func (m *Master) listenAdmin(path string) (*adminServer, error) {
	os.Remove(path)
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, err
	}
	os.Chmod(path, 0o600)
	return &adminServer{ln: ln, h: m.adminHandler(), pth: path}, nil
}

func (a *adminServer) serve(ctx context.Context) error {
	srv := &http.Server{Handler: a.h}
	go func() { <-ctx.Done(); srv.Close() }()
	err := srv.Serve(a.ln)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

func (m *Master) programs(ctx context.Context, name string, uid int) (int, int, error) {
	return -1, -1, errors.New("not available yet")
}
