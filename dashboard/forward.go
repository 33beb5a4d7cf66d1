package dashboard

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"net"
	"net/http"
	"net/http/httputil"
	"strings"
)

// Dialer connects to a control socket (checking who serves it).
type Dialer func(ctx context.Context) (net.Conn, error)

// Proxy forwards requests over the unix socket dial reaches, their paths'
// prefix from replaced by to ("/admin/v1/users/alice/ui/" → "/ui/"). The
// Host header goes through unchanged, so the dashboard's same-origin check
// compares what the browser sees; responses are flushed as they come (the
// server-sent events).
func Proxy(dial Dialer, from, to string) http.Handler {
	tr := &http.Transport{
		DialContext:        func(ctx context.Context, _, _ string) (net.Conn, error) { return dial(ctx) },
		DisableCompression: true,
		DisableKeepAlives:  true, // nothing idles: a Proxy may be made per request
	}
	return &httputil.ReverseProxy{
		Transport:     tr,
		FlushInterval: -1,
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.Out.URL.Scheme, pr.Out.URL.Host = "http", "roost"
			p := strings.TrimPrefix(pr.In.URL.Path, from)
			pr.Out.URL.Path, pr.Out.URL.RawPath = to+p, ""
			pr.Out.Host = pr.In.Host
		},
	}
}

// Forwarder is what `roost ui` serves on a loopback port: the dashboard
// of a control socket, for the browser that opened the URL with the
// token. Any local user can connect to a loopback port, so every request
// must start its path with /TOKEN/ (the forwarder strips it and relays the
// rest, "/TOKEN/ui/state" → "/ui/state"); anything else gets 403, and so
// does a Host other than the listener's own (a DNS rebinding). The token
// never goes in a cookie: cookies are not port-scoped, so the browser would
// hand it to a page another local user serves on another loopback port.
// The dashboard's URLs are relative, so it works under the prefix.
type Forwarder struct {
	token string
	hosts []string // accepted Host headers
	next  http.Handler
}

// NewForwarder returns a forwarder to next for a listener on port, with
// a fresh random token.
func NewForwarder(next http.Handler, port string) *Forwarder {
	b := make([]byte, 24)
	rand.Read(b)
	return &Forwarder{token: hex.EncodeToString(b), next: next,
		hosts: []string{"127.0.0.1:" + port, "localhost:" + port}}
}

// Token is the token the URL carries as its first path segment.
func (f *Forwarder) Token() string { return f.token }

// URL is the address to open: http://127.0.0.1:PORT/TOKEN/ui/.
func (f *Forwarder) URL() string {
	return "http://" + f.hosts[0] + "/" + f.token + Prefix
}

// referrerPolicy is on every answer, the forwarder's and the dashboard's:
// the URL (with its token) goes in no Referer to another origin, another
// loopback port included. Not no-referrer: the browser would then send
// "Origin: null" and no Referer with the page's plain form posts, which
// the dashboard's same-origin check rightly refuses.
const referrerPolicy = "same-origin"

func (f *Forwarder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Referrer-Policy", referrerPolicy)
	hostOK := false
	for _, h := range f.hosts {
		hostOK = hostOK || strings.EqualFold(r.Host, h)
	}
	if !hostOK {
		http.Error(w, "forbidden: unexpected Host "+r.Host, http.StatusForbidden)
		return
	}
	seg, rest, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	if !f.valid(seg) {
		http.Error(w, "forbidden: open the URL `roost ui` printed (its path starts with the token)", http.StatusForbidden)
		return
	}
	switch rest {
	case "", "ui": // "/TOKEN", "/TOKEN/", "/TOKEN/ui": the page is at /TOKEN/ui/
		http.Redirect(w, r, "/"+f.token+Prefix, http.StatusSeeOther)
		return
	}
	r2 := r.Clone(r.Context())
	r2.URL.Path, r2.URL.RawPath = "/"+rest, ""
	r2.RequestURI = r2.URL.RequestURI()
	r2.Header.Del("Cookie") // nothing of ours is in it; nothing of the browser's for the dashboard either
	f.next.ServeHTTP(&policyWriter{ResponseWriter: w}, r2)
}

func (f *Forwarder) valid(tok string) bool {
	return subtle.ConstantTimeCompare([]byte(tok), []byte(f.token)) == 1
}

// policyWriter keeps the forwarder's Referrer-Policy over whatever the
// relayed answer says (the proxy adds its headers to ours).
type policyWriter struct {
	http.ResponseWriter
	wrote bool
}

func (w *policyWriter) WriteHeader(code int) {
	if !w.wrote && code >= 200 {
		w.wrote = true
		w.Header().Set("Referrer-Policy", referrerPolicy)
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *policyWriter) Write(b []byte) (int, error) {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController flush the event streams.
func (w *policyWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
