package dashboard

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
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
// token. Any local user can connect to a loopback port, so without the
// token (in ?token= once, then in an HttpOnly SameSite=Strict cookie)
// every request gets 403; a Host other than the listener's own (a DNS
// rebinding) does too.
type Forwarder struct {
	token  string
	cookie string
	hosts  []string // accepted Host headers
	next   http.Handler
}

// NewForwarder returns a forwarder to next for a listener on port, with
// a fresh random token.
func NewForwarder(next http.Handler, port string) *Forwarder {
	b := make([]byte, 24)
	rand.Read(b)
	return &Forwarder{token: hex.EncodeToString(b), cookie: "roost_ui_" + port, next: next,
		hosts: []string{"127.0.0.1:" + port, "localhost:" + port}}
}

// Token is the token the URL carries.
func (f *Forwarder) Token() string { return f.token }

// URL is the address to open: http://127.0.0.1:PORT/ui/?token=….
func (f *Forwarder) URL() string {
	return "http://" + f.hosts[0] + Prefix + "?token=" + f.token
}

func (f *Forwarder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hostOK := false
	for _, h := range f.hosts {
		hostOK = hostOK || strings.EqualFold(r.Host, h)
	}
	if !hostOK {
		http.Error(w, "forbidden: unexpected Host "+r.Host, http.StatusForbidden)
		return
	}
	if tok := r.URL.Query().Get("token"); tok != "" {
		if !f.valid(tok) {
			http.Error(w, "forbidden: wrong token", http.StatusForbidden)
			return
		}
		http.SetCookie(w, &http.Cookie{Name: f.cookie, Value: f.token, Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode})
		q := r.URL.Query()
		q.Del("token")
		u := url.URL{Path: r.URL.Path, RawQuery: q.Encode()}
		http.Redirect(w, r, u.String(), http.StatusSeeOther)
		return
	}
	c, err := r.Cookie(f.cookie)
	if err != nil || !f.valid(c.Value) {
		http.Error(w, "forbidden: open the URL `roost ui` printed (it carries the token)", http.StatusForbidden)
		return
	}
	r.Header.Del("Cookie") // the token stays here
	f.next.ServeHTTP(w, r)
}

func (f *Forwarder) valid(tok string) bool {
	return subtle.ConstantTimeCompare([]byte(tok), []byte(f.token)) == 1
}
