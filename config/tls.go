package config

import (
	"crypto/x509"
	"net/mail"
	"net/url"
	"os"
	"regexp"
	"strings"
	"sync"
)

// The [tls] defaults.
const (
	// DefaultTLSListen is nginx's TLS listen address for every routed host.
	DefaultTLSListen = "443"
	// DefaultACMEDirectory is Let's Encrypt's production directory.
	DefaultACMEDirectory = "https://acme-v02.api.letsencrypt.org/directory"
)

// MasterTLS is the [tls] table: HTTPS for the routed hosts, with
// certificates the master obtains and renews over ACME (HTTP-01 through
// nginx). It needs [proxy] enabled.
type MasterTLS struct {
	// ACME turns certificates on.
	ACME bool `json:"acme"`
	// Email is the ACME account's contact ("" registers without one).
	Email string `json:"email,omitempty"`
	// Listen holds nginx's TLS listen addresses ("443", "[::]:443").
	Listen []string `json:"listen"`
	// Directory is the ACME directory URL (RFC 8555), https only.
	Directory string `json:"directory"`
	// CARoots are PEM files the master trusts, besides the system's
	// roots, when it talks to Directory (a private ACME server).
	CARoots []string `json:"ca_roots,omitempty"`
	// RedirectHTTP makes plain HTTP answer 301 to https:// for every host
	// with a certificate (the ACME challenge path stays on HTTP).
	RedirectHTTP bool `json:"redirect_http"`
	// SkipHosts are host names that never get a certificate.
	SkipHosts []string `json:"skip_hosts,omitempty"`
}

// TLSFor reports whether user name's hosts get certificates: [tls] acme
// is on and [user.NAME] tls is not false.
func (m *Master) TLSFor(name string) bool {
	if !m.TLS.ACME {
		return false
	}
	if o, ok := m.User[name]; ok && o.TLS != nil {
		return *o.TLS
	}
	return true
}

// rawTLS is [tls] as TOML decodes it.
type rawTLS struct {
	ACME         bool     `toml:"acme"`
	Email        *string  `toml:"email"`
	Listen       any      `toml:"listen"`
	Directory    *string  `toml:"directory"`
	CARoots      []string `toml:"ca_roots"`
	RedirectHTTP bool     `toml:"redirect_http"`
	SkipHosts    []string `toml:"skip_hosts"`
}

// tlsListenRE matches what [tls] listen accepts: PORT, IPV4:PORT,
// [IPV6]:PORT or *:PORT (config/nginx checks it again when it renders).
var tlsListenRE = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`^(?:(?:\*|[0-9.]{7,15}|\[[0-9a-fA-F:.]{2,45}\]):)?[0-9]{1,5}$`)
})

// tlsHostRE matches a plain DNS name (no wildcard) for skip_hosts.
var tlsHostRE = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`^(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$`)
})

// masterTLS reads and validates the [tls] table.
func masterTLS(rt *rawTLS, m *Master, d *diagList, pos func(string) Pos) {
	t := &m.TLS
	t.ACME, t.RedirectHTTP = rt.ACME, rt.RedirectHTTP
	t.Listen = []string{DefaultTLSListen}
	t.Directory = DefaultACMEDirectory
	if l, ok := listenList(rt.Listen, "tls", "443", d, pos); ok {
		t.Listen = l
	}
	if len(t.Listen) == 0 {
		d.errorf(pos("tls.listen"), "tls", "listen", "empty: give at least one address, e.g. listen = \"443\"")
	}
	for _, l := range t.Listen {
		if !tlsListenRE().MatchString(l) {
			d.errorf(pos("tls.listen"), "tls", "listen", "%q is not a listen address: write PORT, ADDRESS:PORT or [IPV6]:PORT, e.g. \"443\"", l)
		}
		for _, p := range m.Proxy.Listen {
			if p == l {
				d.errorf(pos("tls.listen"), "tls", "listen", "%q is also [proxy] listen: HTTPS needs an address of its own, e.g. \"443\"", l)
			}
		}
	}
	if rt.Email != nil {
		t.Email = *rt.Email
		if a, err := mail.ParseAddress(t.Email); err != nil || a.Address != t.Email || a.Name != "" || strings.ContainsAny(t.Email, " \t\r\n\x00") {
			d.errorf(pos("tls.email"), "tls", "email", "%q is not a plain e-mail address such as \"admin@example.com\"", t.Email)
		}
	}
	if rt.Directory != nil {
		t.Directory = *rt.Directory
		u, err := url.Parse(t.Directory)
		if err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil || strings.ContainsAny(t.Directory, " \t\r\n\x00") {
			d.errorf(pos("tls.directory"), "tls", "directory", "%q is not an https:// URL: give the ACME directory, e.g. %q", t.Directory, DefaultACMEDirectory)
		}
	}
	for _, f := range rt.CARoots {
		p, err := rootPath(f)
		if err != nil {
			d.errorf(pos("tls.ca_roots"), "tls", "ca_roots", "%v", err)
			continue
		}
		if err := checkPEMRoots(p); err != nil {
			d.errorf(pos("tls.ca_roots"), "tls", "ca_roots", "%v", err)
			continue
		}
		t.CARoots = append(t.CARoots, p)
	}
	for _, h := range rt.SkipHosts {
		lh := strings.ToLower(strings.TrimSuffix(h, "."))
		if len(lh) > 253 || !tlsHostRE().MatchString(lh) {
			d.errorf(pos("tls.skip_hosts"), "tls", "skip_hosts", "%q is not a host name such as \"www.example.com\"", h)
			continue
		}
		t.SkipHosts = append(t.SkipHosts, lh)
	}
	if t.ACME && !m.Proxy.Enabled {
		d.errorf(pos("tls.acme"), "tls", "acme", "certificates are for the routed hosts: turn on [proxy] enabled = true, or set acme = false")
	}
}

// checkPEMRoots checks that file holds at least one PEM certificate.
func checkPEMRoots(file string) error {
	data, err := readRegularFile(file, maxMasterFile)
	if err != nil {
		return err
	}
	if !x509.NewCertPool().AppendCertsFromPEM(data) {
		return &os.PathError{Op: "read", Path: file, Err: errNoPEM}
	}
	return nil
}

// errNoPEM is a ca_roots file without a certificate.
var errNoPEM = errorString("no PEM certificate in the file: give the CA's root certificate (-----BEGIN CERTIFICATE-----)")

type errorString string

func (e errorString) Error() string { return string(e) }
