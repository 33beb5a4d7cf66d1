package master

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"roost/config"
	"roost/config/nginx"
	"roost/master/acme"
	"roost/supervisor/api"
)

// HTTPS for the routed hosts (roost.toml [tls] acme). The router owns one
// acme.Manager while [tls] acme is on; at every render it gives nginx the
// certificates the manager holds for the routed hosts, and, once nginx
// runs the render (so every routed host serves the challenge location),
// tells the manager which hosts to hold certificates for: exactly the
// names config/nginx.RoutedHosts returns (never a host outside the
// policy), less wildcards (HTTP-01 cannot prove them), [tls] skip_hosts
// and users with [user.NAME] tls = false. A new or renewed certificate
// (or any change of a host's state) kicks the router into a render.

// acmeDirName is the manager's directory under the state dir.
const acmeDirName = "acme"

// challengeDirName is the HTTP-01 token directory under the run dir
// (0755, root's): nginx's workers read it, and the tokens are ephemeral.
const challengeDirName = "acme-challenge"

// tlsSide is the router's manager and what it was made from.
type tlsSide struct {
	mu  sync.Mutex // guards mgr for the admin socket's goroutines
	mgr *acme.Manager
	key string // directory, email, ca_roots: a change makes a new manager

	cancel context.CancelFunc
	done   chan struct{}
}

// manager is the running manager, or nil.
func (t *tlsSide) manager() *acme.Manager {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.mgr
}

// stop ends the manager (after a running issuance gives up).
func (t *tlsSide) stop() {
	t.mu.Lock()
	cancel, done := t.cancel, t.done
	t.mgr, t.cancel, t.done, t.key = nil, nil, nil, ""
	t.mu.Unlock()
	if cancel != nil {
		cancel()
		<-done
	}
}

// ensureTLS starts, stops or remakes the manager as roost.toml says
// (router goroutine).
func (r *router) ensureTLS(ctx context.Context, cfg *config.Master) {
	t := &r.tls
	if !cfg.TLS.ACME || !cfg.Proxy.Enabled {
		if t.manager() != nil {
			r.log.Info("[tls] acme is off: certificates are no longer requested or served")
			t.stop()
		}
		return
	}
	key := strings.Join(append([]string{cfg.StateDir, cfg.RunDir, cfg.TLS.Directory, cfg.TLS.Email}, cfg.TLS.CARoots...), "\x00")
	if t.manager() != nil && key == t.key {
		return
	}
	t.stop()
	mgr, err := acme.New(acme.Config{
		Dir: filepath.Join(cfg.StateDir, acmeDirName), ChallengeDir: filepath.Join(cfg.RunDir, challengeDirName), Directory: cfg.TLS.Directory, Email: cfg.TLS.Email,
		CARoots: cfg.TLS.CARoots, Log: r.m.log, Changed: r.kick,
	})
	if err != nil {
		r.log.Error("HTTPS is off: cannot prepare the certificate store", "err", err)
		return
	}
	mctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		mgr.Run(mctx)
	}()
	t.mu.Lock()
	t.mgr, t.key, t.cancel, t.done = mgr, key, cancel, done
	t.mu.Unlock()
	r.log.Info("[tls] acme is on", "directory", cfg.TLS.Directory, "store", filepath.Join(cfg.StateDir, acmeDirName))
}

// certWants says, for every routed host, whether it gets a certificate.
func certWants(cfg *config.Master, in nginx.Input) []acme.Want {
	routed, err := nginx.RoutedHosts(in)
	if err != nil {
		return nil
	}
	var out []acme.Want
	seen := map[string]bool{}
	for _, rt := range routed {
		for _, h := range rt.Hosts {
			if seen[h] {
				continue
			}
			seen[h] = true
			w := acme.Want{Host: h, User: rt.User}
			switch {
			case strings.HasPrefix(h, "*."):
				w.Skip = "a wildcard needs a DNS-01 challenge, which roost does not do: route the names themselves for HTTPS"
			case !cfg.TLSFor(rt.User):
				w.Skip = "[user." + rt.User + "] tls = false in roost.toml"
			case slices.Contains(cfg.TLS.SkipHosts, h):
				w.Skip = "[tls] skip_hosts in roost.toml"
			}
			out = append(out, w)
		}
	}
	return out
}

// addTLS gives the renderer the TLS settings and the certificates of the
// hosts that may have one.
func (r *router) addTLS(cfg *config.Master, in *nginx.Input) {
	mgr := r.tls.manager()
	if mgr == nil {
		return
	}
	in.TLS = nginx.TLS{Listen: cfg.TLS.Listen, ChallengeDir: mgr.ChallengeDir(), RedirectHTTP: cfg.TLS.RedirectHTTP}
	have := mgr.Certs()
	for _, w := range certWants(cfg, *in) {
		if f, ok := have[w.Host]; ok && w.Skip == "" {
			if in.TLS.Certs == nil {
				in.TLS.Certs = map[string]nginx.Cert{}
			}
			in.TLS.Certs[w.Host] = nginx.Cert{Chain: f.Chain, Key: f.Key, Serial: f.Serial}
		}
	}
}

// wantCerts tells the manager the routed hosts, once nginx runs the
// render (every routed host then serves the challenge).
func (r *router) wantCerts(cfg *config.Master, in nginx.Input) {
	mgr := r.tls.manager()
	if mgr == nil || r.apply.reason != "" || !r.haveApplied {
		return
	}
	mgr.Want(certWants(cfg, in))
}

// userTLS is the certificate state of user's hosts, for `roost proxy`,
// and the problems `roost admin users` lists.
func (r *router) userTLS(name string) ([]api.HostTLS, []string) {
	mgr := r.tls.manager()
	if mgr == nil {
		return nil, nil
	}
	var out []api.HostTLS
	var problems []string
	for _, s := range mgr.Status() {
		if s.User != name {
			continue
		}
		out = append(out, api.HostTLS{Host: s.Host, State: s.State, Note: s.Note, Error: s.Error, NotAfter: s.NotAfter, NextTry: s.NextTry})
		if s.State == acme.StateFailed || s.Error != "" {
			problems = append(problems, "tls "+s.Host+": "+s.State+": "+s.Error)
		}
	}
	return out, problems
}

// TLSStatus is what `roost admin tls` shows.
type TLSStatus struct {
	Enabled bool              `json:"enabled"`
	Hosts   []acme.HostStatus `json:"hosts"`
}

// TLS returns every routed host's certificate state.
func (m *Master) TLS() TLSStatus {
	mgr := m.router.tls.manager()
	if mgr == nil {
		return TLSStatus{Hosts: []acme.HostStatus{}}
	}
	return TLSStatus{Enabled: true, Hosts: mgr.Status()}
}

// RenewTLS makes host's certificate ("" for every host's) due now.
func (m *Master) RenewTLS(ctx context.Context, host string) error {
	mgr := m.router.tls.manager()
	if mgr == nil {
		return errTLSOff
	}
	return mgr.Renew(ctx, host)
}

// errTLSOff answers a renewal while [tls] acme is off.
var errTLSOff = errors.New("HTTPS is off: set [tls] acme = true in roost.toml")
