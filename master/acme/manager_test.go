package acme

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"roost/internal/testutil"
)

// challengeServer serves dir at /.well-known/acme-challenge/ on loopback,
// as nginx does for the master, refusing the hosts in refuse.
func challengeServer(t *testing.T, dir string, refuse ...string) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fs := http.StripPrefix("/.well-known/acme-challenge/", http.FileServer(http.Dir(dir)))
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host, _, _ := strings.Cut(r.Host, ":")
		for _, h := range refuse {
			if h == host {
				http.Error(w, "no", http.StatusNotFound)
				return
			}
		}
		fs.ServeHTTP(w, r)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().(*net.TCPAddr).Port
}

type harness struct {
	m       *Manager
	dir     string
	pebble  *testutil.Pebble
	changed chan struct{}
}

func start(t *testing.T, o testutil.PebbleOptions, refuse ...string) *harness {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "acme")
	// The port pebble validates on must be known before pebble starts:
	// serve the challenge directory first.
	if err := os.MkdirAll(filepath.Join(dir, challengesDir), 0o755); err != nil {
		t.Fatal(err)
	}
	o.HTTPPort = challengeServer(t, filepath.Join(dir, challengesDir), refuse...)
	p := testutil.StartPebble(t, o)
	h := &harness{dir: dir, pebble: p, changed: make(chan struct{}, 100)}
	m, err := New(Config{Dir: dir, Directory: p.Directory, CARoots: []string{p.CAFile},
		Log:     slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn})),
		Changed: func() { h.changed <- struct{}{} }, RetryBase: time.Second, RetryMax: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	h.m = m
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); m.Run(ctx) }()
	t.Cleanup(func() { cancel(); wg.Wait() })
	return h
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

func (h *harness) status(host string) HostStatus {
	for _, s := range h.m.Status() {
		if s.Host == host {
			return s
		}
	}
	return HostStatus{}
}

// leaf reads the stored certificate of host, checked against pebble's root.
func (h *harness) leaf(t *testing.T, host string) *x509.Certificate {
	t.Helper()
	f, ok := h.m.Certs()[host]
	if !ok {
		t.Fatalf("no certificate for %s", host)
	}
	data, err := os.ReadFile(f.Chain)
	if err != nil {
		t.Fatal(err)
	}
	var certs []*x509.Certificate
	for rest := data; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		certs = append(certs, c)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(h.pebble.Roots(t)) {
		t.Fatal("pebble's root is not PEM")
	}
	inter := x509.NewCertPool()
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	if _, err := certs[0].Verify(x509.VerifyOptions{DNSName: host, Roots: roots, Intermediates: inter}); err != nil {
		t.Fatalf("the certificate of %s does not verify against pebble's root: %v", host, err)
	}
	return certs[0]
}

// A routed host gets a certificate through HTTP-01 (the token really is
// fetched from the challenge directory); keys are root-only, the
// wildcard is skipped with a note, a host pebble refuses is failed and
// retried with backoff while the others are issued.
func TestIssueAndFailures(t *testing.T) {
	testutil.RequireRoot(t)
	h := start(t, testutil.PebbleOptions{Blocklist: []string{"refused.example.test"}}, "unserved.example.test")
	h.m.Want([]Want{
		{Host: "alice.example.test", User: "alice"},
		{Host: "refused.example.test", User: "alice"},
		{Host: "unserved.example.test", User: "bob"},
		{Host: "*.alice.example.test", User: "alice", Skip: "wildcard hosts need DNS-01"},
	})
	testutil.Eventually(t, 60*time.Second, "alice.example.test issued", func() bool {
		return h.status("alice.example.test").State == StateIssued
	})
	c := h.leaf(t, "alice.example.test")
	if len(c.DNSNames) != 1 || c.DNSNames[0] != "alice.example.test" {
		t.Errorf("certificate names %v", c.DNSNames)
	}
	f := h.m.Certs()["alice.example.test"]
	for _, p := range []string{f.Key, f.Chain, filepath.Join(h.dir, accountKeyFile)} {
		fi, err := os.Stat(p)
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v, %v; want 0600", p, fi.Mode(), err)
		}
	}
	if fi, err := os.Stat(filepath.Dir(f.Key)); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("certificate directory: %v %v; want 0700", fi.Mode(), err)
	}
	ents, _ := os.ReadDir(h.m.ChallengeDir())
	if len(ents) != 0 {
		t.Errorf("challenge tokens left behind: %d", len(ents))
	}
	if s := h.status("*.alice.example.test"); s.State != StateSkipped || s.Note == "" {
		t.Errorf("wildcard: %+v", s)
	}
	for _, host := range []string{"refused.example.test", "unserved.example.test"} {
		testutil.Eventually(t, 60*time.Second, host+" failed twice (retried)", func() bool {
			s := h.status(host)
			return s.State == StateFailed && s.Failures >= 2 && s.Error != "" && s.NextTry > 0
		})
	}
	if _, ok := h.m.Certs()["refused.example.test"]; ok {
		t.Error("a refused host has a certificate")
	}
	if s := h.status("alice.example.test"); s.State != StateIssued {
		t.Errorf("alice.example.test after the others failed: %+v", s)
	}
	if err := h.m.Renew(context.Background(), "nobody.example.test"); err == nil {
		t.Error("renewing a host that is not routed succeeded")
	}
}

// A short-lived certificate is renewed by the timer at 2/3 of its
// lifetime; a forced renewal replaces it at once; a new manager on the
// same directory serves the stored certificate without asking again.
func TestRenewal(t *testing.T) {
	testutil.RequireRoot(t)
	h := start(t, testutil.PebbleOptions{Validity: 30 * time.Second})
	h.m.Want([]Want{{Host: "bob.example.test", User: "bob"}})
	testutil.Eventually(t, 60*time.Second, "bob.example.test issued", func() bool {
		return h.status("bob.example.test").State == StateIssued
	})
	first := h.leaf(t, "bob.example.test").SerialNumber
	testutil.Eventually(t, 90*time.Second, "the timer renewed the certificate", func() bool {
		_, ok := h.m.Certs()["bob.example.test"]
		return ok && h.leaf(t, "bob.example.test").SerialNumber.Cmp(first) != 0
	})
	second := h.leaf(t, "bob.example.test").SerialNumber
	if err := h.m.Renew(context.Background(), "bob.example.test"); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 60*time.Second, "the forced renewal replaced the certificate", func() bool {
		s := h.leaf(t, "bob.example.test").SerialNumber
		return s.Cmp(first) != 0 && s.Cmp(second) != 0
	})

	m2, err := New(Config{Dir: h.dir, Directory: h.pebble.Directory, CARoots: []string{h.pebble.CAFile}})
	if err != nil {
		t.Fatal(err)
	}
	if len(m2.hosts) != 1 || m2.hosts["bob.example.test"].cert == nil {
		t.Errorf("the stored certificate was not loaded: %v", m2.hosts)
	}
	// Offered at once, before the master says what it routes (no
	// HTTPS gap after a restart), and not in the status until wanted.
	m2.publish()
	if _, ok := m2.Certs()["bob.example.test"]; !ok || len(m2.Status()) != 0 {
		t.Errorf("after a restart: certs %v, status %v", m2.Certs(), m2.Status())
	}
}

// Nothing a caller passes becomes a path outside the certificate store.
func TestHostilePaths(t *testing.T) {
	for _, h := range []string{"../etc", "a/b", "", "A.example.test", "a..b", "*.x.test", strings.Repeat("a", 300)} {
		if checkHost(h) == nil {
			t.Errorf("%q accepted", h)
		}
	}
	c := &challengeFiles{dir: t.TempDir()}
	if err := c.Present(context.Background(), "x", "../../etc/passwd", "k"); err == nil {
		t.Error("a token with a path was written")
	}
}

// A failure is retried after a doubling delay, capped, and never sooner
// than the server's Retry-After; a success clears the failures.
func TestBackoffAndRetryAfter(t *testing.T) {
	testutil.RequireRoot(t) // the store is made root's
	m, err := New(Config{Dir: filepath.Join(t.TempDir(), "acme"), Directory: "https://127.0.0.1:1/dir",
		RetryBase: time.Minute, RetryMax: 10 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	m.want([]Want{{Host: "a.example.test", User: "alice"}})
	fail := errors.New("boom")
	for i, want := range []time.Duration{time.Minute, 2 * time.Minute, 4 * time.Minute, 8 * time.Minute, 10 * time.Minute, 10 * time.Minute} {
		before := time.Now()
		m.done(result{host: "a.example.test", err: fail})
		h := m.hosts["a.example.test"]
		if got := h.due.Sub(before); got < want || got > want+5*time.Second || h.failures != i+1 {
			t.Errorf("failure %d: retry in %v (failures %d), want %v", i+1, got, h.failures, want)
		}
	}
	before := time.Now()
	m.done(result{host: "a.example.test", err: fail, rateLimited: true, retryAfter: 3 * time.Hour})
	if got := m.hosts["a.example.test"].due.Sub(before); got < 3*time.Hour || got > 3*time.Hour+5*time.Second {
		t.Errorf("rate limited: retry in %v, want the server's 3h", got)
	}
	m.publish()
	if s := m.Status()[0]; s.State != StateFailed || s.Error != "boom" || s.Failures != 7 {
		t.Errorf("status %+v", s)
	}
}
