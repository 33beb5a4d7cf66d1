package master

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"roost/internal/testutil"
	"roost/master/acme"
	"roost/supervisor/api"
)

// The acceptance test of HTTPS: the real master, real supervisors for
// roost-alice and roost-bob, the real nginx on loopback, and pebble (the
// Let's Encrypt test server, PEBBLE_VA_ALWAYS_VALID off) validating
// HTTP-01 through nginx's HTTP port, with pebble-challtestsrv answering
// 127.0.0.1 for every name.
func TestE2ETLS(t *testing.T) {
	e := newEnv(t, testutil.UserA, testutil.UserB)
	alice, bob := e.users[0], e.users[1]
	base := freeRange(t)
	ngPort, tlsPort := base+99, base+98
	n := startNginx(t, filepath.Join(e.dir, "nginx"), ngPort)
	aliceHost, bobHost := alice.Name+".example.test", bob.Name+".example.test"
	// Granted to alice, and refused by pebble (a name with as few labels
	// as any other: pebble's block list indexes labels past a shorter
	// name's end).
	refused := alice.Name + "-refused.test"
	p := testutil.StartPebble(t, testutil.PebbleOptions{HTTPPort: ngPort, Blocklist: []string{refused}})

	e.writeProject(alice, fmt.Sprintf(`[supervisord]
[program:web]
command=%s serve-http
[proxy:web]
hosts = %s, %s, *.w.%s, evil.com
`, helperExe, aliceHost, refused, aliceHost))
	e.writeProject(bob, fmt.Sprintf(`[supervisord]
[program:web]
command=%s serve-http
[proxy:web]
hosts = %s
`, helperExe, bobHost))
	e.writeConf([]string{alice.Name, bob.Name}, n.proxyConf(base, nil, fmt.Sprintf(`[tls]
acme = true
listen = "127.0.0.1:%d"
directory = %q
ca_roots = [%q]
redirect_http = true
[user.%s]
hosts = [%q]
[user.%s]
tls = false
`, tlsPort, p.Directory, p.CAFile, alice.Name, refused, bob.Name)))
	x := startMaster(t, e)

	tlsState := func() map[string]acme.HostStatus {
		out, code := x.roost(t, "admin", "tls", "--json")
		var st TLSStatus
		m := map[string]acme.HostStatus{}
		if code != 0 || json.Unmarshal([]byte(out), &st) != nil {
			return m
		}
		for _, h := range st.Hosts {
			m[h.Host] = h
		}
		return m
	}
	testutil.Eventually(t, 90*time.Second, aliceHost+" issued", func() bool { return tlsState()[aliceHost].State == "issued" })

	roots := x509.NewCertPool()
	rootPEM := p.Roots(t)
	if !roots.AppendCertsFromPEM(rootPEM) {
		t.Fatal("pebble's root is not PEM")
	}
	hc := httpsClient(roots, tlsPort)
	var serial atomic.Pointer[big.Int]
	getTLS := func() (int, string, error) {
		resp, err := hc.Get("https://" + aliceHost + "/")
		if err != nil {
			return 0, "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if resp.TLS != nil && len(resp.TLS.PeerCertificates) > 0 {
			serial.Store(resp.TLS.PeerCertificates[0].SerialNumber)
		}
		return resp.StatusCode, string(b), err
	}
	// nginx reloads with the certificate shortly after it is stored.
	testutil.Eventually(t, 30*time.Second, "HTTPS to alice's app through nginx", func() bool {
		code, body, err := getTLS()
		return err == nil && code == 200 && strings.HasPrefix(body, "user="+alice.Name+" ")
	})

	if resp, err := hc.Get("https://" + aliceHost + "/"); err != nil || resp.ProtoMajor != 2 {
		t.Errorf("HTTPS: %v, want HTTP/2", err)
	} else {
		resp.Body.Close()
	}

	// curl, with pebble's root and the right SNI.
	rootFile := filepath.Join(e.dir, "pebble-root.pem")
	if err := os.WriteFile(rootFile, rootPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	if curl, err := exec.LookPath("curl"); err == nil {
		// Through the registry of the master's children (this process runs
		// one, whose reaper takes any other child for an orphan).
		out, code := exitOf(t, exec.Command(curl, "-sS", "--max-time", "20", "--cacert", rootFile, "--resolve",
			fmt.Sprintf("%s:%d:127.0.0.1", aliceHost, tlsPort), fmt.Sprintf("https://%s:%d/", aliceHost, tlsPort)))
		if code != 0 || !strings.HasPrefix(out, "user="+alice.Name+" ") {
			t.Errorf("curl --cacert: exit %d\n%s", code, out)
		}
	} else {
		testutil.Require(t, false, "curl is not installed")
	}

	// Plain HTTP redirects alice's host, but not the challenge path; bob
	// (tls = false) stays on plain HTTP.
	noFollow := n.client(2)
	noFollow.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	// (Eventually: a worker of the configuration before the certificate
	// may still take a connection or two while nginx reloads.)
	var code int
	var loc string
	testutil.Eventually(t, 30*time.Second, "plain HTTP redirects to https", func() bool {
		resp, err := noFollow.Get("http://" + aliceHost + "/x?y=1")
		if err != nil {
			return false
		}
		resp.Body.Close()
		code, loc = resp.StatusCode, resp.Header.Get("Location")
		return code == http.StatusMovedPermanently && loc == "https://"+aliceHost+"/x?y=1"
	})
	if code, _, err := get(noFollow, aliceHost, "/.well-known/acme-challenge/nothing"); err != nil || code != 404 {
		t.Errorf("challenge path on HTTP: %d %v, want 404 from the challenge directory", code, err)
	}
	waitGet(t, noFollow, bobHost, "/", "bob on plain HTTP", func(code int, body string) bool {
		return code == 200 && strings.HasPrefix(body, "user="+bob.Name+" ")
	})

	// The refused host failed, with the reason and a next attempt; the
	// wildcard is skipped with a note; bob's host and the host outside the
	// policy are never requested.
	testutil.Eventually(t, 60*time.Second, refused+" failed", func() bool {
		h := tlsState()[refused]
		return h.State == "failed" && h.Error != "" && h.NextTry > time.Now().Unix()
	})
	st := tlsState()
	if h := st["*.w."+aliceHost]; h.State != "skipped" || !strings.Contains(h.Note, "wildcard") {
		t.Errorf("wildcard: %+v", h)
	}
	if h := st[bobHost]; h.State != "skipped" || !strings.Contains(h.Note, "tls = false") {
		t.Errorf("bob's host: %+v", h)
	}
	if _, ok := st["evil.com"]; ok {
		t.Error("a host outside the policy is listed")
	}
	if strings.Contains(p.Log.String(), "evil.com") || strings.Contains(p.Log.String(), bobHost) {
		t.Errorf("pebble was asked about a host outside the policy or opted out:\n%s", p.Log.String())
	}

	// Root sees the failure among alice's problems.
	testutil.Eventually(t, 30*time.Second, "roost admin users lists the failed host", func() bool {
		out, code := x.roost(t, "admin", "users")
		return code == 0 && strings.Contains(out, "tls "+refused+": failed: ")
	})

	// The user sees their hosts' state in `roost proxy`.
	x.waitProxy(t, alice.Name, "TLS state", func(i api.ProxyInfo) bool {
		if i.Status == nil {
			return false
		}
		states := map[string]string{}
		for _, h := range i.Status.TLS {
			states[h.Host] = h.State
		}
		return states[aliceHost] == "issued" && states[refused] == "failed" && len(states) == 3
	})
	if out, code := x.roost(t, "--user", alice.Name, "proxy"); code != 0 || !strings.Contains(out, aliceHost+": issued") {
		t.Errorf("roost proxy: exit %d\n%s", code, out)
	}

	// A forced renewal replaces the certificate with no failed request.
	first := serial.Load()
	if out, code := x.roost(t, "admin", "tls", "renew", aliceHost); code != 0 {
		t.Fatalf("roost admin tls renew: exit %d\n%s", code, out)
	}
	var failures []string
	testutil.Eventually(t, 90*time.Second, "the renewed certificate served", func() bool {
		code, body, err := getTLS()
		if err != nil || code != 200 || !strings.HasPrefix(body, "user="+alice.Name+" ") {
			failures = append(failures, fmt.Sprintf("%d %v", code, err))
		}
		s := serial.Load()
		return s != nil && s.Cmp(first) != 0
	})
	if len(failures) > 0 {
		t.Errorf("%d requests failed during the renewal: %v", len(failures), failures)
	}
	// Plain HTTP for bob never broke.
	if code, body, err := get(noFollow, bobHost, "/"); err != nil || code != 200 || !strings.HasPrefix(body, "user="+bob.Name) {
		t.Errorf("bob after all: %d %v %q", code, err, body)
	}

	// Keys are root's alone.
	f := filepath.Join(e.stateDir, "acme", "certs", aliceHost, "key.pem")
	if fi, err := os.Stat(f); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("%s: %v %v, want 0600", f, fi.Mode(), err)
	}
}

// httpsClient connects every request to nginx's TLS port, with the URL's
// host as SNI, trusting roots only.
func httpsClient(roots *x509.CertPool, port int) *http.Client {
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	return &http.Client{
		Timeout: 20 * time.Second,
		Transport: &http.Transport{
			TLSClientConfig:   &tls.Config{RootCAs: roots},
			ForceAttemptHTTP2: true,
			DisableKeepAlives: true, // each request sees the certificate nginx serves now
			DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				return (&net.Dialer{}).DialContext(ctx, "tcp", addr)
			},
		},
	}
}
