package nginx

import (
	"fmt"
	"sort"
	"strings"
)

// ChallengePrefix is the URL path ACME's HTTP-01 challenge fetches; every
// route's plain HTTP server block serves it from TLS.ChallengeDir.
const ChallengePrefix = "/.well-known/acme-challenge/"

// TLS is HTTPS for the routed hosts. The zero value renders plain HTTP
// only, as before.
type TLS struct {
	// Listen holds nginx's TLS listen addresses ("443"); HTTPS server
	// blocks are written only for hosts with a certificate in Certs.
	Listen []string `json:"listen,omitempty"`
	// ChallengeDir is the root-owned directory the master writes ACME
	// HTTP-01 tokens to; every route's HTTP server block serves
	// ChallengePrefix from it. "" writes no challenge location.
	ChallengeDir string `json:"challenge_dir,omitempty"`
	// Certs are the certificate and key files by host name (lower case,
	// no wildcard). A host routed by no accepted route is ignored.
	Certs map[string]Cert `json:"certs,omitempty"`
	// RedirectHTTP answers plain HTTP with a 301 to https:// for every
	// host with a certificate; the challenge path stays on HTTP.
	RedirectHTTP bool `json:"redirect_http,omitempty"`
}

// Cert is one host's certificate chain and key, absolute paths.
type Cert struct {
	Chain string `json:"chain"`
	Key   string `json:"key"`
	// Serial (hex) is written in a comment beside the files: a renewed
	// certificate changes the configuration, so the master installs it
	// and nginx reloads and reads the new files.
	Serial string `json:"serial,omitempty"`
}

// tlsConf is TLS once validated.
type tlsConf struct {
	listen   []string
	dir      string
	certs    map[string]Cert
	redirect bool
}

// compileTLS validates the master's TLS input.
func compileTLS(t TLS) (*tlsConf, error) {
	c := &tlsConf{dir: t.ChallengeDir, certs: map[string]Cert{}, redirect: t.RedirectHTTP}
	for _, l := range t.Listen {
		s, err := checkListen(l)
		if err != nil {
			return nil, fmt.Errorf("tls: %w", err)
		}
		c.listen = append(c.listen, s)
	}
	if c.dir != "" {
		if err := checkAbsDir(c.dir, "challenge directory"); err != nil {
			return nil, fmt.Errorf("tls: %w", err)
		}
	}
	if len(t.Certs) > 0 && len(c.listen) == 0 {
		return nil, fmt.Errorf("tls: certificates given without a listen address")
	}
	for h, ct := range t.Certs {
		s, err := checkHost(h, false)
		if err != nil {
			return nil, fmt.Errorf("tls: certificate for %q: %w", h, err)
		}
		for _, f := range []string{ct.Chain, ct.Key} {
			if err := checkPathChars(f, "certificate file"); err != nil || !strings.HasPrefix(f, "/") {
				return nil, fmt.Errorf("tls: certificate for %q: file %q must be an absolute path", h, f)
			}
		}
		if len(ct.Serial) > 64 || strings.Trim(ct.Serial, "0123456789abcdef") != "" {
			return nil, fmt.Errorf("tls: certificate for %q: serial %q is not lower-case hex", h, ct.Serial)
		}
		c.certs[s] = ct
	}
	return c, nil
}

// Routed is one accepted route's hosts: exactly the names Render writes in
// its server blocks, after the policy and every ownership rule.
type Routed struct {
	User    string   `json:"user"`
	Section string   `json:"section"`
	Hosts   []string `json:"hosts"`
}

// RoutedHosts returns the hosts Render would route for in, by route: the
// only names a certificate may be requested for.
func RoutedHosts(in Input) ([]Routed, error) {
	_, routes, err := prepare(in)
	if err != nil {
		return nil, err
	}
	var out []Routed
	for _, r := range routes {
		ro := Routed{User: r.user.Name, Section: r.src.Section}
		for _, c := range r.claims {
			if !c.dropped {
				ro.Hosts = append(ro.Hosts, c.pat.String())
			}
		}
		out = append(out, ro)
	}
	return out, nil
}

// splitTLS splits a route's hosts into those served over plain HTTP and
// those with a certificate (sorted).
func (rd *renderer) splitTLS(r *route) (plain, secure []string) {
	for _, c := range r.claims {
		if c.dropped {
			continue
		}
		h := c.pat.String()
		if _, ok := rd.tls.certs[h]; ok && !c.pat.wild {
			secure = append(secure, h)
		} else {
			plain = append(plain, h)
		}
	}
	sort.Strings(secure)
	return plain, secure
}

// writeChallenge writes the ACME HTTP-01 location, served from root's
// directory (never a user's).
func (rd *renderer) writeChallenge(w *writer) {
	if rd.tls.dir == "" {
		return
	}
	w.open("location", "^~", w.quote(ChallengePrefix))
	w.line("alias", w.quote(rd.tls.dir+"/"))
	w.line("default_type", "text/plain")
	w.line("access_log", "off")
	w.close()
}

// writeTLSDefault answers TLS for a name no certificate covers by
// refusing the handshake, so no user's certificate is shown for it.
func (rd *renderer) writeTLSDefault(w *writer) {
	if len(rd.tls.certs) == 0 || !rd.pol.defaultSrv {
		return
	}
	w.blank()
	w.comment("TLS for names without a certificate: the handshake is refused.")
	w.open("server")
	for _, l := range rd.tls.listen {
		w.line("listen", l, "ssl", "http2", "default_server")
	}
	w.line("ssl_reject_handshake", "on")
	w.close()
}
