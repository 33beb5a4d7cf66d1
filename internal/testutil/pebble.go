package testutil

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// ToolsDir is where scripts/setup-test-env installs the Go tools the tests
// run (pebble, pebble-challtestsrv); $ROOST_TEST_TOOLS overrides it.
func ToolsDir() string {
	if d := os.Getenv("ROOST_TEST_TOOLS"); d != "" {
		return d
	}
	return "/opt/roost-test-tools/bin"
}

// RequireTool returns a Go tool scripts/setup-test-env installs, found in
// ToolsDir or on PATH.
func RequireTool(t testing.TB, name string) string {
	t.Helper()
	p := filepath.Join(ToolsDir(), name)
	if _, err := os.Stat(p); err == nil {
		return p
	}
	return RequireBinary(t, name)
}

// Pebble is a running Let's Encrypt test ACME server (pebble) on loopback,
// with pebble-challtestsrv as its DNS server answering 127.0.0.1 for every
// name, so that HTTP-01 validation connects to 127.0.0.1:HTTPPort.
type Pebble struct {
	// Directory is the ACME directory URL.
	Directory string
	// CAFile is the PEM file that makes Directory's TLS certificate
	// trusted (a CA made for the test).
	CAFile string
	// HTTPPort is the port pebble validates HTTP-01 challenges on.
	HTTPPort int
	mgmt     string
	client   *http.Client
	Log      *Buffer
}

// PebbleOptions tune StartPebble.
type PebbleOptions struct {
	// HTTPPort is where HTTP-01 validation connects (nginx's port).
	HTTPPort int
	// Validity is the lifetime of issued certificates (0: 90 days).
	Validity time.Duration
	// Blocklist are names pebble refuses to issue for.
	Blocklist []string
}

// StartPebble starts pebble and pebble-challtestsrv for the test; both
// are stopped when it ends. PEBBLE_VA_ALWAYS_VALID stays off: every
// challenge is really fetched.
func StartPebble(t testing.TB, o PebbleOptions) *Pebble {
	t.Helper()
	pebble := RequireTool(t, "pebble")
	chall := RequireTool(t, "pebble-challtestsrv")
	dir := t.TempDir()
	caFile, certFile, keyFile := LoopbackCA(t, dir)
	dnsPort, mgmtPort, chMgmt, listen, tlsPort := FreePort(t), FreePort(t), FreePort(t), FreePort(t), FreePort(t)
	validity := o.Validity
	if validity == 0 {
		validity = 90 * 24 * time.Hour
	}
	cfg := map[string]any{"pebble": map[string]any{
		"listenAddress":                  "127.0.0.1:" + strconv.Itoa(listen),
		"managementListenAddress":        "127.0.0.1:" + strconv.Itoa(mgmtPort),
		"certificate":                    certFile,
		"privateKey":                     keyFile,
		"httpPort":                       o.HTTPPort,
		"tlsPort":                        tlsPort,
		"ocspResponderURL":               "",
		"externalAccountBindingRequired": false,
		"domainBlocklist":                append([]string{"blocked-domain.example"}, o.Blocklist...),
		"retryAfter":                     map[string]int{"authz": 1, "order": 1},
		"keyAlgorithm":                   "ecdsa",
		"profiles": map[string]any{"default": map[string]any{
			"description": "roost tests", "validityPeriod": int(validity / time.Second),
		}},
	}}
	b, _ := json.Marshal(cfg)
	cfgFile := filepath.Join(dir, "pebble.json")
	if err := os.WriteFile(cfgFile, b, 0o644); err != nil {
		t.Fatal(err)
	}
	log := &Buffer{}
	t.Cleanup(func() {
		if t.Failed() {
			out := log.String()
			if len(out) > 8000 {
				out = out[len(out)-8000:]
			}
			t.Logf("pebble's output (tail):\n%s", out)
		}
	})
	start := func(name string, args []string, env ...string) {
		cmd := exec.Command(name, args...)
		cmd.Dir = dir
		cmd.Env = append([]string{"PATH=/usr/bin:/bin"}, env...)
		cmd.Stdout, cmd.Stderr = log, log
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		})
	}
	start(chall, []string{"-defaultIPv4", "127.0.0.1", "-defaultIPv6", "", "-dnsserver", "127.0.0.1:" + strconv.Itoa(dnsPort),
		"-management", "127.0.0.1:" + strconv.Itoa(chMgmt), "-http01", "", "-https01", "", "-tlsalpn01", "", "-doh", ""})
	start(pebble, []string{"-config", cfgFile, "-dnsserver", "127.0.0.1:" + strconv.Itoa(dnsPort)},
		"PEBBLE_VA_NOSLEEP=1", "PEBBLE_WFE_NONCEREJECT=0", "PEBBLE_VA_ALWAYS_VALID=0", "PEBBLE_AUTHZREUSE=0")
	pool := x509.NewCertPool()
	data, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	pool.AppendCertsFromPEM(data)
	p := &Pebble{
		Directory: fmt.Sprintf("https://127.0.0.1:%d/dir", listen), CAFile: caFile, HTTPPort: o.HTTPPort,
		mgmt:   fmt.Sprintf("https://127.0.0.1:%d", mgmtPort),
		client: &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}},
		Log:    log,
	}
	Eventually(t, 30*time.Second, "pebble and its DNS server answer", func() bool {
		resp, err := p.client.Get(p.Directory)
		if err != nil {
			return false
		}
		resp.Body.Close()
		c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(chMgmt), time.Second)
		if err != nil {
			return false
		}
		c.Close()
		return resp.StatusCode == 200
	})
	return p
}

// Roots returns the PEM of the root that signs pebble's certificates
// (what `curl --cacert` needs).
func (p *Pebble) Roots(t testing.TB) []byte {
	t.Helper()
	resp, err := p.client.Get(p.mgmt + "/roots/0")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("pebble roots: %v %d %s", err, resp.StatusCode, b)
	}
	return b
}

// LoopbackCA writes dir/ca.pem, a CA made for the test, and
// dir/cert.pem with dir/key.pem, a certificate for 127.0.0.1 and localhost
// it signed (pebble's own TLS listener, nginx -t's certificates).
func LoopbackCA(t testing.TB, dir string) (caFile, certFile, keyFile string) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "roost test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour), IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, DNSNames: []string{"localhost"},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, KeyUsage: x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caTmpl, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalECPrivateKey(key)
	caFile, certFile, keyFile = filepath.Join(dir, "ca.pem"), filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	for _, f := range []struct {
		path string
		typ  string
		der  []byte
	}{{caFile, "CERTIFICATE", caDER}, {certFile, "CERTIFICATE", der}, {keyFile, "EC PRIVATE KEY", kder}} {
		if err := os.WriteFile(f.path, pem.EncodeToMemory(&pem.Block{Type: f.typ, Bytes: f.der}), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return caFile, certFile, keyFile
}
