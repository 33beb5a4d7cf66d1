package master

import (
	"context"
	"fmt"
	"path/filepath"

	"roost/audit"
	"roost/supervisor/api"
)

// maxProgramsResponse bounds what a user's supervisor may answer about
// its programs (1000 processes take about 400 KB).
const maxProgramsResponse = 4 << 20

// listenAdmin binds the admin socket with the control plane's plumbing: a
// 0600 socket in a directory only root can change, a stale socket replaced
// only under its lock, and every connection's SO_PEERCRED uid checked;
// the server runs as root, so root alone gets through.
//
// Every state-changing request is recorded in the master's audit log
// ({state_dir}/audit.log, root's, 0600), which users cannot change.
func (m *Master) listenAdmin(path string) (*api.Server, error) {
	opts := api.ServerOptions{Logger: m.log}
	if m.audit != nil {
		opts.Wrap = audit.Middleware(m.audit, audit.Options{Admin: true, AdminPrefix: adminPrefix,
			OnError: func(err error) { m.log.Error("audit log not written", "err", err) }})
	}
	srv := api.NewServer(nil, opts)
	srv.Mount(adminPrefix+"/", m.adminHandler())
	srv.Mount(dashboardPrefix, m.dashboardProxy())
	if err := srv.Listen(path); err != nil {
		return nil, err
	}
	return srv, nil
}

// programs asks a user's supervisor how many of its processes run, over
// its socket: the server must run as the user's uid (SO_PEERCRED), the
// answer is size-capped, and only counted. The question is abandoned when
// ctx ends, even if the supervisor never answers the connect.
func (m *Master) programs(ctx context.Context, name string, uid int) (running, total int, err error) {
	infos, err := askUser(ctx, m, name, uid, func(c *api.Client) ([]api.ProcessInfo, error) { return c.Processes(ctx) })
	if err != nil {
		return -1, -1, err
	}
	for _, pi := range infos {
		if pi.State == api.Running {
			running++
		}
	}
	return running, len(infos), nil
}

// askUser dials a user's supervisor (which must run as uid) and runs ask
// with its client, abandoning both when ctx ends.
func askUser[T any](ctx context.Context, m *Master, name string, uid int, ask func(*api.Client) (T, error)) (T, error) {
	path := filepath.Join(m.usersDir, name, SocketName)
	type result struct {
		v   T
		err error
	}
	ch := make(chan result, 1)
	go func() {
		c, err := api.Dial(path, api.WithServerUIDs(uid), api.WithMaxResponseBytes(maxProgramsResponse),
			api.WithHeader(audit.HeaderFrontEnd, audit.FrontAdmin))
		if err != nil {
			ch <- result{err: err}
			return
		}
		defer c.Close()
		v, err := ask(c)
		ch <- result{v: v, err: err}
	}()
	var zero T
	select {
	case res := <-ch:
		if res.err != nil {
			return zero, fmt.Errorf("ask %s's supervisor: %w", name, res.err)
		}
		return res.v, nil
	case <-ctx.Done():
		return zero, fmt.Errorf("ask %s's supervisor: %w", name, ctx.Err())
	}
}
