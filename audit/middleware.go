package audit

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os/user"
	"strconv"
	"strings"
	"sync"

	"roost/supervisor/api"
)

// HeaderFrontEnd is the request header root's own clients (the master
// relaying an admin action to a user's supervisor) set to FrontAdmin. It is
// believed only on the unix socket from a uid 0 peer.
const HeaderFrontEnd = "X-Roost-Frontend"

// Options configure Middleware.
type Options struct {
	// Admin says the server is the master's admin socket: every audited
	// request is FrontAdmin, described by its path below AdminPrefix.
	Admin bool
	// AdminPrefix is the admin API's path prefix ("/admin/v1").
	AdminPrefix string
	// OnError hears a line that could not be written; nil ignores it.
	OnError func(error)
}

// maxCapture bounds what the middleware keeps of an audited answer to
// find its outcome (an error message, an XML-RPC fault, failed results).
const maxCapture = 64 << 10

// maxRPCBody bounds the XML-RPC request the middleware reads to name the
// method (supervisord's own limit is far smaller).
const maxRPCBody = 4 << 20

// Middleware returns the wrapper (api.ServerOptions.Wrap) that records in
// l every state-changing request the server answers: one line after the
// answer, with the caller from the connection (SO_PEERCRED uid, or the
// basic-auth name on TCP), the front end from the path, the request, and
// its outcome. GET and HEAD requests pass straight through.
func Middleware(l *Log, opts Options) func(http.Handler) http.Handler {
	names := newNames()
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodGet || r.Method == http.MethodHead || l == nil {
				next.ServeHTTP(w, r)
				return
			}
			a := classify(r, opts)
			if a.front == "" {
				next.ServeHTTP(w, r)
				return
			}
			e := caller(r, names)
			if a.front != FrontAdmin && e.UID != nil && *e.UID == 0 && e.Remote == "" &&
				r.Header.Get(HeaderFrontEnd) == FrontAdmin {
				a.front = FrontAdmin
			}
			e.Front, e.Request = a.front, a.request
			if e.Request == "" {
				e.Request = r.Method + " " + r.URL.Path
			}
			ctx, named := api.WithRequestName(r.Context())
			r = r.WithContext(ctx)
			rec := &recorder{ResponseWriter: w}
			rec.finish = func() {
				if *named != "" { // the handler said what the path does not
					e.Request = *named
				}
				e.Status = rec.statusCode()
				e.Outcome = outcome(a.xmlrpc, e.Status, rec.buf.Bytes())
				if err := l.Record(e); err != nil && opts.OnError != nil {
					opts.OnError(err)
				}
			}
			next.ServeHTTP(rec, r)
			rec.done()
		})
	}
}

// caller returns the entry of r's caller.
func caller(r *http.Request, names *names) Entry {
	var e Entry
	p, _ := api.PeerFrom(r.Context())
	if p.Remote != "" {
		e.Remote = p.Remote
		e.User, _, _ = r.BasicAuth()
		return e
	}
	uid := p.UID
	e.UID, e.PID, e.User = &uid, p.PID, names.of(uid)
	return e
}

// action is what classify found out about a request.
type action struct {
	front, request string
	xmlrpc         bool // the answer is an XML-RPC methodResponse
}

// classify names the front end and the request; an empty front means the
// request is not audited (read-only, or internal bookkeeping). It reads
// the path segment by segment, unescaped, as the ServeMux matches it (so
// "/%52PC2" is /RPC2 here too).
func classify(r *http.Request, opts Options) action {
	seg := segments(r.URL.EscapedPath())
	if opts.Admin {
		rest, ok := cutSegments(seg, segments(opts.AdminPrefix)...)
		if !ok {
			return action{}
		}
		return action{front: FrontAdmin, request: describeAdmin(rest, r)}
	}
	if len(seg) == 1 && seg[0] == "RPC2" {
		req, ok := rpcRequest(r)
		if !ok {
			return action{}
		}
		return action{front: FrontXMLRPC, request: req, xmlrpc: true}
	}
	if rest, ok := cutSegments(seg, "ui"); ok {
		return action{front: FrontDashboard, request: describe(rest, r)}
	}
	if rest, ok := cutSegments(seg, "api", "v1"); ok {
		switch strings.Join(rest, "/") {
		case "reread", // reports, changes nothing
			"proxy/status", // the master's verdict on the routes: bookkeeping
			"audit":        // a note: Mount's handler records it itself
			return action{}
		}
		return action{front: FrontCtl, request: describe(rest, r)}
	}
	return action{}
}

// segments splits an escaped path into its unescaped segments (a name
// with an escaped "/" stays one segment).
func segments(escaped string) []string {
	seg := strings.Split(strings.Trim(escaped, "/"), "/")
	for i, s := range seg {
		if u, err := url.PathUnescape(s); err == nil {
			seg[i] = u
		}
	}
	return seg
}

// cutSegments returns seg without prefix, if it starts with it.
func cutSegments(seg []string, prefix ...string) ([]string, bool) {
	if len(seg) < len(prefix) {
		return nil, false
	}
	for i, p := range prefix {
		if seg[i] != p {
			return nil, false
		}
	}
	return seg[len(prefix):], true
}

// describe names a request of the JSON API (or the dashboard, whose paths
// follow it) by its path segments below the prefix: "restart web",
// "signal HUP web", "restart --rolling web", "update", "cron run backup".
func describe(seg []string, r *http.Request) string {
	q := r.URL.Query()
	rest := strings.Join(seg, "/")
	switch {
	case len(seg) == 3 && (seg[0] == "processes" || seg[0] == "groups"):
		name, act := seg[1], seg[2]
		if seg[0] == "groups" {
			name += ":*"
		}
		switch {
		case act == "signal":
			return "signal " + q.Get("signal") + " " + name
		case act == "restart" && q.Get("rolling") == "true":
			return "restart --rolling " + name
		}
		return act + " " + name
	case len(seg) == 3 && seg[0] == "cron" && seg[2] == "run":
		return "cron run " + seg[1]
	case rest == "update" && len(q["group"]) > 0:
		return "update " + strings.Join(q["group"], " ")
	case rest == "mainlog/clear":
		return "clear mainlog"
	case rest == "events":
		return "send event"
	case rest == "reexec":
		return "upgrade"
	}
	return strings.Join(seg, " ")
}

// describeAdmin names an admin request: "restart user roost-alice",
// "upgrade user roost-alice", "reexec", "tls renew example.test".
func describeAdmin(seg []string, r *http.Request) string {
	if len(seg) == 3 && seg[0] == "users" {
		return seg[2] + " user " + seg[1]
	}
	if len(seg) > 3 && seg[0] == "users" && seg[2] == "ui" { // root's view of a user's dashboard
		return "dashboard " + strings.Join(seg[3:], " ") + " user " + seg[1]
	}
	s := strings.Join(seg, " ")
	for _, k := range []string{"host", "user", "users"} {
		if v := r.URL.Query().Get(k); v != "" {
			s += " " + v
		}
	}
	return s
}

// outcome reads an answer: "ok", or what went wrong.
func outcome(xmlrpc bool, status int, body []byte) string {
	if status >= 400 {
		var eb api.ErrorBody
		if json.Unmarshal(body, &eb) == nil && eb.Error.Message != "" {
			return eb.Error.Message
		}
		var other struct{ Error string } // the admin socket's {"error": "..."}
		if json.Unmarshal(body, &other) == nil && other.Error != "" {
			return other.Error
		}
		if line, _, _ := bytes.Cut(bytes.TrimSpace(body), []byte("\n")); len(line) > 0 {
			return fmt.Sprintf("HTTP %d: %s", status, line)
		}
		return fmt.Sprintf("HTTP %d", status)
	}
	if xmlrpc {
		return rpcOutcome(body)
	}
	var users struct { // the admin socket's answer about users
		Users []struct{ User, Error string }
	}
	if bytes.HasPrefix(body, []byte(`{"users":`)) && json.Unmarshal(body, &users) == nil {
		return resultsOutcome(len(users.Users), func(i int) (string, bool, string) {
			u := users.Users[i]
			return u.User, u.Error == "", u.Error
		})
	}
	var res api.Results
	if bytes.HasPrefix(body, []byte(`{"results":`)) && json.Unmarshal(body, &res) == nil {
		return resultsOutcome(len(res.Results), func(i int) (string, bool, string) {
			r := res.Results[i]
			return r.Name, r.Status == api.Success, r.Description
		})
	}
	return OK
}

// resultsOutcome is "ok" when every result succeeded, else the failures.
func resultsOutcome(n int, at func(int) (name string, ok bool, desc string)) string {
	var bad []string
	for i := range n {
		if name, ok, desc := at(i); !ok {
			bad = append(bad, name+": "+desc)
		}
	}
	if len(bad) == 0 {
		return OK
	}
	return strings.Join(bad, "; ")
}

// recorder keeps an answer's status and its first maxCapture bytes. Its
// line is written when the handler returns, or at the answer's first flush
// if that comes first: a re-exec answers, flushes, and never returns.
type recorder struct {
	http.ResponseWriter
	status   int
	buf      bytes.Buffer
	finish   func()
	finished bool
}

// done writes the line, once.
func (r *recorder) done() {
	if !r.finished {
		r.finished = true
		r.finish()
	}
}

func (r *recorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(p []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	if room := maxCapture - r.buf.Len(); room > 0 {
		r.buf.Write(p[:min(len(p), room)])
	}
	return r.ResponseWriter.Write(p)
}

// Flush passes a flush through, then writes the line.
func (r *recorder) Flush() {
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
	r.done()
}

// Unwrap lets http.ResponseController reach the connection's writer.
func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

func (r *recorder) statusCode() int {
	if r.status == 0 {
		return http.StatusOK
	}
	return r.status
}

// names resolves uids to user names, once each (a server sees its owner
// and root, a handful of uids).
type names struct {
	mu sync.Mutex
	m  map[int]string
}

func newNames() *names { return &names{m: map[int]string{0: "root"}} }

// of returns uid's name, or its number when it has none.
func (n *names) of(uid int) string {
	n.mu.Lock()
	defer n.mu.Unlock()
	if s, ok := n.m[uid]; ok {
		return s
	}
	s := strconv.Itoa(uid)
	if u, err := user.LookupId(s); err == nil {
		s = u.Username
	}
	if len(n.m) < 64 {
		n.m[uid] = s
	}
	return s
}

// readAllMax reads at most max bytes of r; ok is false when there was more.
func readAllMax(r io.Reader, max int64) ([]byte, bool, error) {
	b, err := io.ReadAll(io.LimitReader(r, max+1))
	return b, int64(len(b)) <= max, err
}
