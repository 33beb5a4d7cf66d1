// Package acme obtains and renews the certificates of the hosts the
// master routes, over ACME (RFC 8555) with HTTP-01 through nginx, using
// go-acme/lego. It runs as root inside the master: the account key, the
// certificates and their keys live under the master's state directory,
// root-only; the challenge tokens go to a root-owned directory nginx
// serves at /.well-known/acme-challenge/ for every routed host.
//
// One owner goroutine (Run) keeps every host's state; one issuance runs
// at a time, in a worker it starts. Nothing polls: a single timer wakes
// the owner when the next host is due (a renewal at 2/3 of the lifetime,
// at most 30 days before expiry, or a retry after a failure, with
// exponential backoff and the server's Retry-After respected).
package acme

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	legoacme "github.com/go-acme/lego/v5/acme"
	"github.com/go-acme/lego/v5/certcrypto"
	"github.com/go-acme/lego/v5/certificate"
	"github.com/go-acme/lego/v5/lego"
	legolog "github.com/go-acme/lego/v5/log"
	"github.com/go-acme/lego/v5/registration"
)

// Defaults for Config.
const (
	DefaultRetryBase = time.Minute
	DefaultRetryMax  = 6 * time.Hour
	// renewWindow is the most a certificate is renewed before it expires.
	renewWindow = 30 * 24 * time.Hour
	// issueTimeout bounds one issuance (order, challenge, finalize).
	issueTimeout = 5 * time.Minute
	// maxErrorLen bounds an error kept for the status.
	maxErrorLen = 400
)

// Host states, as `roost admin tls` and `roost proxy` show them.
const (
	StatePending = "pending" // no certificate yet; issuance due or running
	StateIssued  = "issued"  // a valid certificate is served
	StateFailed  = "failed"  // the last attempt failed; retried at NextTry
	StateSkipped = "skipped" // never requested (see Note)
)

// Config is what the master gives the manager.
type Config struct {
	// Dir is root's directory for the account, certificates and
	// challenges ({state_dir}/acme).
	Dir string
	// ChallengeDir is where HTTP-01 tokens go, a directory nginx's
	// workers can read ("" for Dir/challenges). The master uses
	// {run_dir}/acme-challenge: the state directory stays 0700.
	ChallengeDir string
	// Directory is the ACME directory URL.
	Directory string
	// Email is the account's contact ("" for none).
	Email string
	// CARoots are extra PEM files trusted for Directory's TLS.
	CARoots []string
	// Log receives the manager's and lego's messages.
	Log *slog.Logger
	// Changed is called (from the manager's goroutine, so it must not
	// block) when the certificates Certs returns or any host's Status
	// changed.
	Changed func()
	// RetryBase and RetryMax bound the backoff after a failure.
	RetryBase, RetryMax time.Duration
}

// Want is a host the master routes and wants a certificate for.
type Want struct {
	Host string
	User string
	// Skip, when set, says why this host gets no certificate (a wildcard,
	// an opt-out); it is reported, never requested.
	Skip string
}

// HostStatus is one host's certificate state.
type HostStatus struct {
	Host     string `json:"host"`
	User     string `json:"user"`
	State    string `json:"state"`
	Note     string `json:"note,omitempty"`
	Error    string `json:"error,omitempty"` // the last failure, kept until a success
	NotAfter int64  `json:"not_after,omitempty"`
	RenewAt  int64  `json:"renew_at,omitempty"`
	NextTry  int64  `json:"next_try,omitempty"` // unix seconds of the next attempt
	Failures int    `json:"failures,omitempty"`
	Issuing  bool   `json:"issuing,omitempty"`
}

// ErrUnknownHost is Renew's answer for a host that is not routed.
var ErrUnknownHost = errors.New("no routed host by that name")

// hostState is one host, owned by Run.
type hostState struct {
	host, user, skip string
	wanted           bool
	files            Files
	cert             *x509.Certificate
	due              time.Time // zero: nothing due
	failures         int
	lastErr          string
}

type result struct {
	host        string
	chain, key  []byte
	err         error
	retryAfter  time.Duration
	rateLimited bool
}

type renewReq struct {
	host  string
	reply chan error
}

// Manager obtains and renews certificates. Create it with New, run it with
// Run; Want, Certs, Status and Renew are safe from any goroutine.
type Manager struct {
	cfg     Config
	log     *slog.Logger
	wantc   chan []Want
	renewc  chan renewReq
	resultc chan result

	certs  atomic.Pointer[map[string]Files]
	status atomic.Pointer[[]HostStatus]

	// owned by Run
	hosts     map[string]*hostState
	busy      string // the host being issued, "" when idle
	certKey   string // what Certs last published, to call Changed only on change
	statusKey string // and what Status published

	// owned by the worker (one at a time)
	client *lego.Client
}

// New prepares the directories and loads the certificates already stored.
func New(cfg Config) (*Manager, error) {
	if cfg.RetryBase <= 0 {
		cfg.RetryBase = DefaultRetryBase
	}
	if cfg.RetryMax <= 0 {
		cfg.RetryMax = DefaultRetryMax
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.Changed == nil {
		cfg.Changed = func() {}
	}
	if !filepath.IsAbs(cfg.Dir) {
		return nil, fmt.Errorf("acme directory %q is not absolute", cfg.Dir)
	}
	if cfg.ChallengeDir == "" {
		cfg.ChallengeDir = filepath.Join(cfg.Dir, challengesDir)
	}
	for _, d := range []struct {
		path string
		perm os.FileMode
	}{{cfg.Dir, 0o700}, {filepath.Join(cfg.Dir, certsDir), 0o700}, {cfg.ChallengeDir, 0o755}} {
		// Dir and certs/ are root's alone (nginx's master process reads
		// the keys as root); nginx's workers (nobody) read the tokens.
		if err := mkdirOwned(d.path, d.perm); err != nil {
			return nil, fmt.Errorf("acme: %w", err)
		}
	}
	m := &Manager{
		cfg: cfg, log: cfg.Log.With("component", "acme"),
		wantc: make(chan []Want, 1), renewc: make(chan renewReq), resultc: make(chan result, 1),
		hosts: map[string]*hostState{},
	}
	legolog.SetDefault(m.log)
	for _, h := range storedHosts(cfg.Dir) {
		f := certFiles(cfg.Dir, h)
		c, err := loadCert(f)
		if err != nil {
			m.log.Warn("stored certificate not loaded; it will be requested again", "host", h, "err", err)
			continue
		}
		m.hosts[h] = &hostState{host: h, files: f, cert: c}
	}
	empty := map[string]Files{}
	m.certs.Store(&empty)
	m.status.Store(&[]HostStatus{})
	m.publish() // the stored certificates are offered at once
	return m, nil
}

// ChallengeDir is the directory nginx serves /.well-known/acme-challenge/ from.
func (m *Manager) ChallengeDir() string { return m.cfg.ChallengeDir }

// Want replaces the set of hosts the master routes. Hosts no longer
// wanted keep their files but are no longer served or renewed.
func (m *Manager) Want(ws []Want) {
	ws = append([]Want(nil), ws...)
	for {
		select {
		case m.wantc <- ws:
			return
		default:
		}
		select {
		case <-m.wantc: // replace a set not yet read: the latest wins
		default:
		}
	}
}

// Certs returns the certificate files of every host that has one, routed
// or not: the caller serves only those it routes.
func (m *Manager) Certs() map[string]Files { return *m.certs.Load() }

// Status returns every wanted host's state, sorted by host.
func (m *Manager) Status() []HostStatus { return *m.status.Load() }

// Renew makes host ("" for every wanted host) due now.
func (m *Manager) Renew(ctx context.Context, host string) error {
	req := renewReq{host: host, reply: make(chan error, 1)}
	select {
	case m.renewc <- req:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-req.reply:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Run is the owner goroutine; it returns when ctx is done (after the
// running issuance, if any, gave up).
func (m *Manager) Run(ctx context.Context) {
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	for {
		m.startDue(ctx)
		m.publish()
		var tc <-chan time.Time
		if at, ok := m.nextDue(); ok && m.busy == "" {
			timer.Reset(time.Until(at))
			tc = timer.C
		}
		select {
		case <-ctx.Done():
			if m.busy != "" {
				<-m.resultc
			}
			return
		case ws := <-m.wantc:
			m.want(ws)
		case req := <-m.renewc:
			req.reply <- m.renew(req.host)
		case res := <-m.resultc:
			m.done(res)
		case <-tc:
		}
		if tc != nil && !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
	}
}

func (m *Manager) want(ws []Want) {
	for _, h := range m.hosts {
		h.wanted = false
	}
	now := time.Now()
	for _, w := range ws {
		if w.Skip == "" {
			if err := checkHost(w.Host); err != nil {
				w.Skip = err.Error()
			}
		}
		h := m.hosts[w.Host]
		if h == nil {
			h = &hostState{host: w.Host, files: certFiles(m.cfg.Dir, w.Host)}
			m.hosts[w.Host] = h
		}
		h.wanted, h.user, h.skip = true, w.User, w.Skip
		if h.skip != "" {
			continue
		}
		if h.due.IsZero() {
			if h.cert != nil {
				h.due = renewAt(h.cert)
			} else {
				h.due = now
			}
		}
	}
	for name, h := range m.hosts {
		if !h.wanted && h.cert == nil && name != m.busy {
			delete(m.hosts, name)
		}
	}
}

func (m *Manager) renew(host string) error {
	found := false
	for _, h := range m.hosts {
		if h.wanted && h.skip == "" && (host == "" || h.host == host) {
			h.due, found = time.Now(), true
		}
	}
	if !found && host != "" {
		return fmt.Errorf("%q: %w", host, ErrUnknownHost)
	}
	return nil
}

// nextDue is the earliest due time of a wanted host.
func (m *Manager) nextDue() (time.Time, bool) {
	var at time.Time
	for _, h := range m.hosts {
		if h.wanted && h.skip == "" && !h.due.IsZero() && (at.IsZero() || h.due.Before(at)) {
			at = h.due
		}
	}
	return at, !at.IsZero()
}

// startDue starts the issuance of the most overdue host, when idle.
func (m *Manager) startDue(ctx context.Context) {
	if m.busy != "" || ctx.Err() != nil {
		return
	}
	at, ok := m.nextDue()
	if !ok || at.After(time.Now()) {
		return
	}
	var names []string
	for name, h := range m.hosts {
		if h.wanted && h.skip == "" && !h.due.IsZero() && !h.due.After(at) {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	host := names[0]
	m.busy = host
	m.hosts[host].due = time.Time{}
	m.log.Info("requesting a certificate", "host", host, "user", m.hosts[host].user)
	go func() {
		ictx, cancel := context.WithTimeout(ctx, issueTimeout)
		defer cancel()
		m.resultc <- m.obtain(ictx, host)
	}()
}

// done records an issuance's outcome.
func (m *Manager) done(res result) {
	m.busy = ""
	h := m.hosts[res.host]
	if h == nil {
		h = &hostState{host: res.host, files: certFiles(m.cfg.Dir, res.host)}
		m.hosts[res.host] = h
	}
	if res.err == nil {
		files, err := saveCert(m.cfg.Dir, res.host, res.chain, res.key)
		var c *x509.Certificate
		if err == nil {
			c, err = loadCert(files)
		}
		if err == nil {
			h.files, h.cert, h.failures, h.lastErr = files, c, 0, ""
			h.due = renewAt(c)
			m.log.Info("certificate stored", "host", res.host, "not_after", c.NotAfter.UTC().Format(time.RFC3339),
				"renew_at", h.due.UTC().Format(time.RFC3339))
			return
		}
		res.err = fmt.Errorf("store the certificate: %w", err)
	}
	h.failures++
	h.lastErr = oneLine(res.err.Error())
	wait := m.cfg.RetryBase << min(h.failures-1, 20)
	if wait > m.cfg.RetryMax || wait <= 0 {
		wait = m.cfg.RetryMax
	}
	if res.retryAfter > wait {
		wait = res.retryAfter
	}
	h.due = time.Now().Add(wait)
	m.log.Warn("certificate request failed; retrying later", "host", res.host, "failures", h.failures,
		"retry_in", wait.Round(time.Second), "rate_limited", res.rateLimited, "err", h.lastErr)
}

// publish stores the snapshots and calls Changed when Certs changed.
func (m *Manager) publish() {
	certs := map[string]Files{}
	var st []HostStatus
	var key strings.Builder
	for _, h := range m.hosts {
		if !h.wanted {
			// A stored certificate is offered even before the master
			// says the host is routed (after a restart): the master
			// serves only the routed hosts' certificates.
			if h.cert != nil {
				f := h.files
				f.Serial = h.cert.SerialNumber.Text(16)
				certs[h.host] = f
				fmt.Fprintf(&key, "%s %s\n", h.host, h.cert.SerialNumber)
			}
			continue
		}
		s := HostStatus{Host: h.host, User: h.user, Failures: h.failures, Error: h.lastErr, Issuing: m.busy == h.host}
		switch {
		case h.skip != "":
			s.State, s.Note = StateSkipped, h.skip
		case h.cert != nil:
			s.State = StateIssued
			s.NotAfter, s.RenewAt = h.cert.NotAfter.Unix(), renewAt(h.cert).Unix()
			if time.Now().After(h.cert.NotAfter) {
				s.Note = "the certificate has expired"
			}
			f := h.files
			f.Serial = h.cert.SerialNumber.Text(16)
			certs[h.host] = f
			fmt.Fprintf(&key, "%s %s\n", h.host, h.cert.SerialNumber)
		case h.failures > 0:
			s.State = StateFailed
		default:
			s.State = StatePending
		}
		if h.skip == "" && !h.due.IsZero() {
			s.NextTry = h.due.Unix()
		}
		st = append(st, s)
	}
	sort.Slice(st, func(i, j int) bool { return st[i].Host < st[j].Host })
	if st == nil {
		st = []HostStatus{}
	}
	m.status.Store(&st)
	lines := strings.Split(key.String(), "\n")
	sort.Strings(lines)
	k := strings.Join(lines, "\n")
	sj, _ := json.Marshal(st)
	if k != m.certKey || string(sj) != m.statusKey {
		m.certKey, m.statusKey = k, string(sj)
		m.certs.Store(&certs)
		m.cfg.Changed()
	}
}

// renewAt is when a certificate is renewed: at 2/3 of its lifetime, but
// never more than 30 days before it expires.
func renewAt(c *x509.Certificate) time.Time {
	life := c.NotAfter.Sub(c.NotBefore)
	return c.NotAfter.Add(-min(renewWindow, life/3))
}

// oneLine keeps an error from the ACME server printable and bounded.
func oneLine(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
	if len(s) > maxErrorLen {
		s = s[:maxErrorLen] + "…"
	}
	return s
}

// obtain runs one issuance for host (in the worker goroutine).
func (m *Manager) obtain(ctx context.Context, host string) result {
	res := result{host: host}
	client, err := m.legoClient(ctx)
	if err != nil {
		res.err = err
		return res
	}
	r, err := client.Certificate.Obtain(ctx, certificate.ObtainRequest{
		Domains: []string{host}, Bundle: true, KeyType: certcrypto.EC256,
	})
	if err != nil {
		res.err = err
		var rl *legoacme.RateLimitedError
		if errors.As(err, &rl) {
			res.rateLimited, res.retryAfter = true, rl.RetryAfter
		}
		return res
	}
	res.chain, res.key = r.Certificate, r.PrivateKey
	return res
}

// account is the ACME account lego acts for.
type account struct {
	email string
	reg   *legoacme.ExtendedAccount
	key   crypto.Signer
}

func (a *account) GetEmail() string                           { return a.email }
func (a *account) GetRegistration() *legoacme.ExtendedAccount { return a.reg }
func (a *account) GetPrivateKey() crypto.Signer               { return a.key }

// legoClient makes (once) the lego client: the account key from Dir (made
// on first use), the account registered with the server, HTTP-01 through
// the challenge directory.
func (m *Manager) legoClient(ctx context.Context) (*lego.Client, error) {
	if m.client != nil {
		return m.client, nil
	}
	key, err := m.accountKey()
	if err != nil {
		return nil, err
	}
	hc, err := httpClient(m.cfg.CARoots)
	if err != nil {
		return nil, err
	}
	acct := &account{email: m.cfg.Email, key: key}
	lc := lego.NewConfig(acct)
	lc.CADirURL, lc.HTTPClient, lc.UserAgent = m.cfg.Directory, hc, "roost-master"
	client, err := lego.NewClient(lc)
	if err != nil {
		return nil, fmt.Errorf("acme directory %s: %w", m.cfg.Directory, err)
	}
	if err := client.Challenge.SetHTTP01Provider(&challengeFiles{dir: m.ChallengeDir()}); err != nil {
		return nil, err
	}
	reg, err := client.Registration.Register(ctx, registration.RegisterOptions{TermsOfServiceAgreed: true})
	if err != nil {
		return nil, fmt.Errorf("register the ACME account: %w", err)
	}
	acct.reg = reg
	m.client = client
	return client, nil
}

// accountKey reads Dir/account.key, or makes it.
func (m *Manager) accountKey() (crypto.Signer, error) {
	p := filepath.Join(m.cfg.Dir, accountKeyFile)
	if data, err := os.ReadFile(p); err == nil {
		return certcrypto.ParsePEMPrivateKey(data)
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		return nil, err
	}
	if err := writeAtomic(p, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		return nil, err
	}
	return k, nil
}

// httpClient trusts the system's roots and the ca_roots files.
func httpClient(roots []string) (*http.Client, error) {
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	for _, f := range roots {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("ca_roots: %w", err)
		}
		if !pool.AppendCertsFromPEM(data) {
			return nil, fmt.Errorf("ca_roots: no PEM certificate in %s", f)
		}
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = nil
	tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	return &http.Client{Timeout: time.Minute, Transport: tr}, nil
}

// challengeFiles is lego's HTTP-01 provider: key authorizations as files
// in root's challenge directory, which nginx serves.
type challengeFiles struct{ dir string }

func (c *challengeFiles) Present(_ context.Context, domain, token, keyAuth string) error {
	if !tokenRE().MatchString(token) {
		return fmt.Errorf("challenge token %q is not base64url", token)
	}
	return writeAtomic(filepath.Join(c.dir, token), []byte(keyAuth), 0o644)
}

func (c *challengeFiles) CleanUp(_ context.Context, domain, token, keyAuth string) error {
	if !tokenRE().MatchString(token) {
		return nil
	}
	err := os.Remove(filepath.Join(c.dir, token))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return err
}
