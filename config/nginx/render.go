package nginx

import (
	"bytes"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// The status the default server answers: 421 Misdirected Request says "this
// server does not serve that name", which is the truth, where a 404 would
// look like a missing page of some application.
const unknownHostStatus = 421

// route is a Route while it is being validated.
type route struct {
	user     *User
	src      *Route
	claims   []*claim
	statics  []staticLoc
	health   string
	ups      []upstreamAddr
	maxBody  int64
	upstream string // the upstream block's name, once accepted
}

type staticLoc struct{ prefix, dir string }

// claim is one host a route claims, with its owner's right to it.
type claim struct {
	pat     pattern
	right   strength
	r       *route
	dropped bool
}

type renderer struct {
	pol      *policy
	tls      *tlsConf
	ns       map[string][]pattern // every user's namespace, by name
	nsUsers  []string             // sorted keys of ns
	routes   []*route             // sorted by user, then section
	idx      ownerIndex
	warnings []Warning
}

func (rd *renderer) warn(r *route, format string, args ...any) {
	rd.warnings = append(rd.warnings, Warning{
		User: r.user.Name, Section: r.src.Section, Pos: r.src.Pos,
		Message: fmt.Sprintf(format, args...),
	})
}

// Render validates every user's routes against the policy and renders the
// nginx configuration. Rejected parts are left out and reported as warnings;
// the error is for an invalid policy or user list.
func Render(in Input) ([]byte, []Warning, error) {
	rd, accepted, err := prepare(in)
	if err != nil {
		return nil, nil, err
	}
	out, err := rd.write(accepted)
	if err != nil {
		return nil, nil, err
	}
	sort.SliceStable(rd.warnings, func(i, j int) bool {
		a, b := rd.warnings[i], rd.warnings[j]
		if a.User != b.User {
			return a.User < b.User
		}
		return a.Section < b.Section
	})
	return out, rd.warnings, nil
}

// prepare validates the policy and every route and decides who owns what.
func prepare(in Input) (*renderer, []*route, error) {
	pol, err := compilePolicy(in.Policy)
	if err != nil {
		return nil, nil, err
	}
	tc, err := compileTLS(in.TLS)
	if err != nil {
		return nil, nil, err
	}
	rd := &renderer{pol: pol, tls: tc, ns: map[string][]pattern{}}

	users := make([]*User, len(in.Users))
	for i := range in.Users {
		users[i] = &in.Users[i]
	}
	sort.SliceStable(users, func(i, j int) bool { return users[i].Name < users[j].Name })
	for i, u := range users {
		if i > 0 && users[i-1].Name == u.Name {
			return nil, nil, fmt.Errorf("users: %q is listed twice", u.Name)
		}
	}
	for _, u := range users {
		if err := checkUserName(u.Name); err != nil {
			rd.warnings = append(rd.warnings, Warning{User: u.Name, Message: err.Error() + "; the user's routes are left out"})
			continue
		}
		rd.ns[u.Name] = pol.namespace(u.Name)
		rd.addUser(u)
	}
	// Granted names are reserved even for users the master did not list.
	for name := range pol.grants {
		if _, ok := rd.ns[name]; !ok {
			rd.ns[name] = pol.namespace(name)
		}
	}
	for name := range rd.ns {
		rd.nsUsers = append(rd.nsUsers, name)
	}
	sort.Strings(rd.nsUsers)
	rd.buildIndex()

	rd.resolveOwnership()
	return rd, rd.accept(), nil
}

// addUser validates u's routes, one by one.
func (rd *renderer) addUser(u *User) {
	srcs := make([]*Route, len(u.Routes))
	for i := range u.Routes {
		srcs[i] = &u.Routes[i]
	}
	sort.SliceStable(srcs, func(i, j int) bool { return srcs[i].Section < srcs[j].Section })
	projectErr := checkAbsDir(u.ProjectDir, "project directory")
	seen := map[string]bool{}
	for _, src := range srcs {
		r := &route{user: u, src: src}
		if err := checkSection(src.Section); err != nil {
			rd.warnings = append(rd.warnings, Warning{User: u.Name, Pos: src.Pos, Message: err.Error() + "; the route is left out"})
			continue
		}
		if seen[src.Section] {
			rd.warn(r, "the section appears twice; only the first is used")
			continue
		}
		seen[src.Section] = true
		rd.checkUpstreams(r)
		if len(r.ups) == 0 {
			rd.warn(r, "no upstream for program %q: it needs a PORT from the user's block or a socket; the route is left out", src.Program)
			continue
		}
		rd.checkHosts(r)
		rd.checkStatics(r, projectErr)
		if src.HealthPath != "" {
			if err := checkURLPath(src.HealthPath, "health path"); err != nil {
				rd.warn(r, "%v; the health location is left out", err)
			} else if rd.tls.dir != "" && strings.HasPrefix(src.HealthPath, ChallengePrefix) {
				rd.warn(r, "health path %s is under the ACME challenge's %s, which the master serves; the health location is left out",
					src.HealthPath, ChallengePrefix)
			} else {
				r.health = src.HealthPath
			}
		}
		switch m := src.MaxBodySize; {
		case m < 0:
			rd.warn(r, "max body size %d is negative; nginx's default applies", m)
		case rd.pol.maxBody > 0 && m > rd.pol.maxBody:
			rd.warn(r, "max body size %d is above the admin's limit %d; the limit applies", m, rd.pol.maxBody)
			r.maxBody = rd.pol.maxBody
		default:
			r.maxBody = m
		}
		rd.routes = append(rd.routes, r)
	}
}

func (rd *renderer) checkUpstreams(r *route) {
	u := r.user
	var runErr error
	if u.RunDir != "" {
		runErr = checkAbsDir(u.RunDir, "run directory")
	}
	seen := map[string]bool{}
	for _, s := range r.src.Upstreams {
		if runErr != nil && strings.HasPrefix(s, "unix:") {
			rd.warn(r, "upstream %q: %v", s, runErr)
			continue
		}
		a, err := checkUpstream(u, s)
		if err != nil {
			rd.warn(r, "%v", err)
			continue
		}
		if seen[a.text] {
			rd.warn(r, "upstream %q is listed twice", s)
			continue
		}
		seen[a.text] = true
		r.ups = append(r.ups, a)
	}
}

func (rd *renderer) checkHosts(r *route) {
	ns := rd.ns[r.user.Name]
	seen := map[string]bool{}
	for _, h := range r.src.Hosts {
		s, err := checkHost(h, true)
		if err == nil {
			err = checkHashFit(s, rd.pol.bucket)
		}
		if err != nil {
			rd.warn(r, "host %q: %v; the host is left out", h, err)
			continue
		}
		if seen[s] {
			continue
		}
		seen[s] = true
		p := newPattern(s, noRight, h)
		right, _ := right(ns, p)
		if right == noRight {
			rd.warn(r, "host %q is not among the hosts the admin allows %s (%s); the host is left out (the admin can grant it in roost.toml [user.%s] hosts)",
				s, r.user.Name, describe(ns), r.user.Name)
			continue
		}
		r.claims = append(r.claims, &claim{pat: p, right: right, r: r})
	}
	sort.Slice(r.claims, func(i, j int) bool { return r.claims[i].pat.String() < r.claims[j].pat.String() })
}

func (rd *renderer) checkStatics(r *route, projectErr error) {
	if len(r.src.Static) == 0 {
		return
	}
	if projectErr != nil {
		rd.warn(r, "%v; static files are not served", projectErr)
		return
	}
	seen := map[string]bool{}
	for _, st := range r.src.Static {
		prefix, err := checkPrefix(st.Prefix)
		if err != nil {
			rd.warn(r, "static: %v; the static location is left out", err)
			continue
		}
		dir, err := checkStaticDir(r.user.ProjectDir, st.Dir)
		if err != nil {
			rd.warn(r, "static %s: %v; the static location is left out", prefix, err)
			continue
		}
		if seen[prefix] {
			rd.warn(r, "static: URL prefix %s is given twice; only the first is used", prefix)
			continue
		}
		if rd.tls.dir != "" && strings.HasPrefix(prefix, ChallengePrefix) {
			rd.warn(r, "static: URL prefix %s is the ACME challenge's, which the master serves; the static location is left out", prefix)
			continue
		}
		seen[prefix] = true
		r.statics = append(r.statics, staticLoc{prefix: prefix, dir: dir})
	}
	sort.Slice(r.statics, func(i, j int) bool { return r.statics[i].prefix < r.statics[j].prefix })
}

// resolveOwnership applies the rules in owner.go: first stronger rights of
// other users, then contested names.
func (rd *renderer) resolveOwnership() {
	var all []*claim
	for _, r := range rd.routes {
		for _, c := range r.claims {
			if other, p, ok := rd.strongerOwner(r.user.Name, c); ok {
				c.dropped = true
				if p.String() == c.pat.String() {
					rd.warn(r, "host %q belongs to %s (%s); the host is left out", c.pat, other, p.reason(other))
				} else {
					rd.warn(r, "host %q overlaps %q, which belongs to %s (%s); the host is left out", c.pat, p, other, p.reason(other))
				}
				continue
			}
			all = append(all, c)
		}
	}
	byName := map[string][]*claim{}
	for _, c := range all {
		byName[c.pat.String()] = append(byName[c.pat.String()], c)
	}
	for _, c := range all {
		group := byName[c.pat.String()]
		if len(group) < 2 {
			continue
		}
		var others []string
		for _, o := range group {
			if o == c {
				continue
			}
			if o.r.user == c.r.user {
				others = append(others, fmt.Sprintf("[%s] of the same user", o.r.src.Section))
			} else {
				others = append(others, fmt.Sprintf("user %s [%s]", o.r.user.Name, o.r.src.Section))
			}
		}
		c.dropped = true
		rd.warn(c.r, "host %q is also claimed by %s with an equal right; a contested host goes to no one until the admin grants it in roost.toml [user.NAME] hosts",
			c.pat, strings.Join(others, ", "))
	}
}

// owned is one user's right in the ownership index.
type owned struct {
	user string
	p    pattern
}

// ownerIndex finds the rights that may overlap a claim without scanning
// every user: overlapping names are always in a suffix relation.
type ownerIndex struct {
	at    map[string][]owned // by the pattern's base name
	below map[string][]owned // by every proper label suffix of the base
}

// buildIndex indexes granted and own rights. Shared rights are left out:
// they are the weakest, so they never block a claim.
func (rd *renderer) buildIndex() {
	rd.idx = ownerIndex{at: map[string][]owned{}, below: map[string][]owned{}}
	for _, u := range rd.nsUsers {
		for _, p := range rd.ns[u] {
			if p.right == shared {
				continue
			}
			o := owned{user: u, p: p}
			rd.idx.at[p.base] = append(rd.idx.at[p.base], o)
			for s := p.base; ; {
				i := strings.IndexByte(s, '.')
				if i < 0 {
					break
				}
				s = s[i+1:]
				rd.idx.below[s] = append(rd.idx.below[s], o)
			}
		}
	}
}

// strongerOwner finds another user with a stronger right to a name c matches.
func (rd *renderer) strongerOwner(user string, c *claim) (string, pattern, bool) {
	find := func(list []owned) (owned, bool) {
		for _, o := range list {
			if o.user != user && o.p.right.stronger(c.right) && o.p.overlaps(c.pat) {
				return o, true
			}
		}
		return owned{}, false
	}
	// Rights on the claim's base name or on a name above it.
	for s := c.pat.base; ; {
		if o, ok := find(rd.idx.at[s]); ok {
			return o.user, o.p, true
		}
		i := strings.IndexByte(s, '.')
		if i < 0 {
			break
		}
		s = s[i+1:]
	}
	// Rights below a wildcard claim.
	if c.pat.wild {
		if o, ok := find(rd.idx.below[c.pat.base]); ok {
			return o.user, o.p, true
		}
	}
	return "", pattern{}, false
}

// accept keeps the routes that still have a host and names their upstreams.
func (rd *renderer) accept() []*route {
	var out []*route
	used := map[string]bool{}
	for _, r := range rd.routes {
		n := 0
		for _, c := range r.claims {
			if !c.dropped {
				n++
			}
		}
		if n == 0 {
			if len(r.src.Hosts) == 0 {
				rd.warn(r, "no hosts: add hosts = NAME, … to the section; the route is left out")
			} else {
				rd.warn(r, "no host is left; the route is left out")
			}
			continue
		}
		name := upstreamName(r.user.Name, r.src.Section)
		for i := 2; used[name]; i++ {
			name = upstreamName(r.user.Name, r.src.Section) + "_" + strconv.Itoa(i)
		}
		used[name] = true
		r.upstream = name
		out = append(out, r)
	}
	return out
}

// upstreamName names a route's upstream block: roost_USER_NAME with every
// character but letters, digits and "_" turned into "_".
func upstreamName(user, section string) string {
	name := strings.TrimPrefix(section, "proxy:")
	b := []byte("roost_" + user + "_" + name)
	for i, c := range b {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_') {
			b[i] = '_'
		}
	}
	return string(b)
}

// markerPrefix starts the comment that precedes each route's blocks; Blame
// reads it back.
const markerPrefix = "# roost: user="

func (rd *renderer) write(routes []*route) ([]byte, error) {
	w := &writer{}
	w.comment("Generated by roost from each user's [proxy:NAME] sections. Do not edit:")
	w.comment("the roost master rewrites this file. Every value below was validated and")
	w.comment("quoted by roost/config/nginx: users cannot add directives.")
	if rd.pol.bucket > 0 {
		w.line("server_names_hash_bucket_size", strconv.Itoa(rd.pol.bucket))
	}
	if rd.pol.maxHash > 0 {
		w.line("server_names_hash_max_size", strconv.Itoa(rd.pol.maxHash))
	}
	for _, r := range routes {
		if r.src.Websocket {
			w.blank()
			w.open("map", "$http_upgrade", "$roost_connection_upgrade")
			w.line("default", "upgrade")
			w.line(`""`, "close")
			w.close()
			break
		}
	}
	if rd.pol.defaultSrv {
		w.blank()
		w.comment("Hosts no route claims.")
		w.open("server")
		for _, l := range rd.pol.listen {
			w.line("listen", l, "default_server")
		}
		w.line("return", strconv.Itoa(unknownHostStatus))
		w.close()
	}
	rd.writeTLSDefault(w)
	for _, r := range routes {
		rd.writeRoute(w, r)
	}
	if w.err != nil {
		return nil, w.err
	}
	return w.b.Bytes(), nil
}

func (rd *renderer) writeRoute(w *writer, r *route) {
	w.blank()
	w.comment(fmt.Sprintf("roost: user=%s section=%s", r.user.Name, r.src.Section))
	w.open("upstream", r.upstream)
	for _, a := range r.ups {
		// max_fails=0: never mark a process down. A refused connect on
		// loopback costs nothing and proxy_next_upstream moves on at once;
		// marking it down for fail_timeout would leave no live server
		// during a rolling restart, where each process is down in turn.
		if a.quoted {
			w.line("server", w.quote(a.text), "max_fails=0")
		} else {
			w.line("server", w.bare(a.text), "max_fails=0")
		}
	}
	w.close()

	plain, secure := rd.splitTLS(r)
	if !rd.tls.redirect {
		plain = append(plain, secure...)
		sort.Strings(plain)
	}
	if len(plain) > 0 {
		w.open("server")
		for _, l := range rd.pol.listen {
			w.line("listen", l)
		}
		rd.writeNames(w, plain)
		rd.writeChallenge(w)
		rd.writeBody(w, r)
		w.close()
	}
	if rd.tls.redirect && len(secure) > 0 {
		w.open("server")
		for _, l := range rd.pol.listen {
			w.line("listen", l)
		}
		rd.writeNames(w, secure)
		rd.writeChallenge(w)
		w.open("location", "/")
		w.line("return", "301", "https://$host$request_uri")
		w.close()
		w.close()
	}
	for _, h := range secure {
		ct := rd.tls.certs[h]
		w.open("server")
		for _, l := range rd.tls.listen {
			// "listen … http2" works from nginx 1.9.5 on; 1.25.1 and later
			// accept it with a deprecation notice.
			w.line("listen", l, "ssl", "http2")
		}
		rd.writeNames(w, []string{h})
		if ct.Serial != "" {
			w.comment("certificate serial " + ct.Serial)
		}
		w.line("ssl_certificate", w.quote(ct.Chain))
		w.line("ssl_certificate_key", w.quote(ct.Key))
		rd.writeBody(w, r)
		w.close()
	}
}

// writeNames writes server_name with every name quoted.
func (rd *renderer) writeNames(w *writer, hosts []string) {
	names := []string{"server_name"}
	for _, h := range hosts {
		names = append(names, w.quote(h))
	}
	w.line(names...)
}

// writeBody writes what a route's server block holds inside: proxying,
// the health location and the static locations.
func (rd *renderer) writeBody(w *writer, r *route) {
	if r.maxBody > 0 {
		w.line("client_max_body_size", formatSize(r.maxBody))
	}
	w.line("proxy_http_version", "1.1")
	w.line("proxy_set_header", "Host", "$host")
	w.line("proxy_set_header", "X-Real-IP", "$remote_addr")
	w.line("proxy_set_header", "X-Forwarded-For", "$proxy_add_x_forwarded_for")
	w.line("proxy_set_header", "X-Forwarded-Proto", "$scheme")
	w.line("proxy_set_header", "X-Forwarded-Host", "$host")
	if r.src.Websocket {
		w.line("proxy_set_header", "Upgrade", "$http_upgrade")
		w.line("proxy_set_header", "Connection", "$roost_connection_upgrade")
	}
	w.line("proxy_next_upstream", "error", "timeout", "http_502", "http_503")
	w.line("proxy_next_upstream_tries", strconv.Itoa(len(r.ups)))
	pass := "http://" + r.upstream
	w.open("location", "/")
	w.line("proxy_pass", pass)
	w.close()
	if r.health != "" {
		w.open("location", "=", w.quote(r.health))
		w.line("access_log", "off")
		w.line("proxy_pass", pass)
		w.close()
	}
	for _, s := range r.statics {
		w.open("location", "^~", w.quote(s.prefix))
		w.line("alias", w.quote(s.dir+"/"))
		w.line("disable_symlinks", "if_not_owner")
		w.close()
	}
}

// writer builds nginx configuration text with four-space indentation.
type writer struct {
	b     bytes.Buffer
	depth int
	err   error // the first value refused by quote or bare
}

func (w *writer) indent() {
	for i := 0; i < w.depth; i++ {
		w.b.WriteString("    ")
	}
}

// line writes one simple directive.
func (w *writer) line(words ...string) {
	w.indent()
	w.b.WriteString(strings.Join(words, " "))
	w.b.WriteString(";\n")
}

// open starts a block directive.
func (w *writer) open(words ...string) {
	w.indent()
	w.b.WriteString(strings.Join(words, " "))
	w.b.WriteString(" {\n")
	w.depth++
}

func (w *writer) close() {
	w.depth--
	w.indent()
	w.b.WriteString("}\n")
}

func (w *writer) blank() { w.b.WriteByte('\n') }

// comment writes a comment line; callers pass constants or validated values.
// Only a line break could escape a comment, and printable ASCII has none.
func (w *writer) comment(s string) {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			w.refuse(s)
			return
		}
	}
	w.indent()
	w.b.WriteString("# " + s + "\n")
}

// quote returns s in double quotes. It refuses (and records an error for)
// anything but printable ASCII without quotes, backslashes, "$", ";", braces,
// "#" or spaces: every caller passes an already validated value, so a refusal
// is a bug in a validator, and the render fails rather than write it.
func (w *writer) quote(s string) string { return `"` + w.checked(s) + `"` }

// bare returns s for use as an unquoted word, with the same refusal as quote.
func (w *writer) bare(s string) string { return w.checked(s) }

func (w *writer) checked(s string) string {
	if s == "" {
		w.refuse(s)
		return "invalid"
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c > 0x7e || strings.IndexByte("\"'\\$;{}#", c) >= 0 {
			w.refuse(s)
			return "invalid"
		}
	}
	return s
}

func (w *writer) refuse(s string) {
	if w.err == nil {
		w.err = fmt.Errorf("internal error: refusing to write %q into the nginx configuration", s)
	}
}
