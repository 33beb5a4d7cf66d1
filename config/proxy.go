package config

import (
	"fmt"
	"path/filepath"
	"strings"
)

// This file reads roost's [proxy:NAME] extension. Everything in it ends up
// in nginx's configuration, so every value is checked against a strict
// grammar here: host names are RFC 1123 names (or "*." wildcards), paths use
// a small safe alphabet, and static directories stay inside the project.

// Limits of a host name (RFC 1035 / 1123).
const (
	maxHostLen  = 253
	maxLabelLen = 63
)

// CheckHost validates one [proxy:x] host and returns it lower-cased: an RFC
// 1123 host name of letters, digits and '-' labels, optionally starting with
// "*." for a wildcard. Anything else (a trailing dot, an empty label, a
// label over 63 characters, a name over 253, quotes, spaces, ';', '{', '$',
// non-ASCII) is an error naming the problem.
func CheckHost(h string) (string, error) {
	if h == "" {
		return "", fmt.Errorf("empty host name")
	}
	lh := strings.ToLower(h)
	if len(lh) > maxHostLen {
		return "", fmt.Errorf("host %q is longer than %d characters", h, maxHostLen)
	}
	name := lh
	if strings.HasPrefix(lh, "*.") {
		name = lh[2:]
	}
	if name == "" {
		return "", fmt.Errorf("host %q: a wildcard needs a domain after \"*.\"", h)
	}
	if strings.HasSuffix(name, ".") {
		return "", fmt.Errorf("host %q ends with a dot; write it without the trailing dot", h)
	}
	for _, label := range strings.Split(name, ".") {
		switch {
		case label == "":
			return "", fmt.Errorf("host %q has an empty label", h)
		case len(label) > maxLabelLen:
			return "", fmt.Errorf("host %q has a label longer than %d characters", h, maxLabelLen)
		case label[0] == '-' || label[len(label)-1] == '-':
			return "", fmt.Errorf("host %q: a label may not start or end with '-'", h)
		}
		for _, r := range label {
			switch {
			case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-':
			case r == '*':
				return "", fmt.Errorf("host %q: '*' is only allowed as a leading \"*.\"", h)
			case r > 0x7f:
				return "", fmt.Errorf("host %q is not ASCII; write internationalized names in their xn-- (punycode) form", h)
			default:
				return "", fmt.Errorf("host %q contains %q; host names are letters, digits, '-' and '.'", h, r)
			}
		}
	}
	return lh, nil
}

// safeURLPath reports whether p is an absolute URL path of safe characters
// (letters, digits, and . _ ~ / -) without "." or ".." segments or "//".
func safeURLPath(p string) string {
	if !strings.HasPrefix(p, "/") {
		return fmt.Sprintf("%q must start with '/'", p)
	}
	for _, r := range p {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("._~/-", r)) {
			return fmt.Sprintf("%q contains %q; URL paths here may only use letters, digits and . _ ~ / -", p, r)
		}
	}
	if strings.Contains(p, "//") {
		return fmt.Sprintf("%q contains an empty segment (//)", p)
	}
	for _, seg := range strings.Split(p, "/") {
		if seg == "." || seg == ".." {
			return fmt.Sprintf("%q contains a %q segment", p, seg)
		}
	}
	return ""
}

// unsafePathChars are characters refused in a static directory: they
// would need escaping in nginx (or expand there, like '$').
const unsafePathChars = "\"'`$;{}\\"

func (l *loader) proxies() {
	hostOwner := map[string]string{}
	portErrShown := map[string]bool{}
	for _, sec := range l.p.order {
		if sectionKind(sec) != secProxy {
			continue
		}
		name, ok := l.sectionName(sec)
		if !ok {
			continue
		}
		names := expansions{"here": strValue(l.here), "host_node_name": strValue(l.host)}
		r := l.reader(sec, names)
		px := &Proxy{Name: name, Program: name, Pos: r.header()}
		for _, c := range name {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.') {
				r.errorf(px.Pos, "", "proxy name %q may only use letters, digits, '_', '-' and '.'", name)
				break
			}
		}
		if prog, pos, set, ok := r.str("program"); set && ok {
			px.Program = pyStrip(prog)
			if !l.p.has("program:" + px.Program) {
				r.errorf(pos, "program", "no [program:%s] in this configuration%s", px.Program, didYouMean(px.Program, l.programNames()))
			}
		} else if !set && !l.p.has("program:"+name) {
			r.errorf(px.Pos, "program", "no [program:%s] in this configuration; name the program with program = NAME", name)
		}
		if ps, ok := l.portSlices[px.Program]; ok {
			switch {
			case ps.err != "" && !portErrShown[px.Program]:
				portErrShown[px.Program] = true
				r.errorf(px.Pos, "", "%s", ps.err)
			case ps.err == "":
				for i := 0; i < ps.n; i++ {
					px.Ports = append(px.Ports, ps.start+i)
				}
			}
		}

		hosts, hpos, set, ok := r.str("hosts")
		if ok && !set {
			r.errorf(px.Pos, "hosts", "a proxy needs hosts = name.example.com[, other.example.com]")
		}
		seen := map[string]bool{}
		for _, h := range strings.FieldsFunc(hosts, func(c rune) bool { return c == ',' || pyIsSpace(c) }) {
			host, err := CheckHost(h)
			if err != nil {
				r.errorf(hpos, "hosts", "%v", err)
				continue
			}
			if seen[host] {
				l.d.warnf(hpos, sec, "hosts", "host %s is listed twice", host)
				continue
			}
			seen[host] = true
			if prev, ok := hostOwner[host]; ok {
				r.errorf(hpos, "hosts", "host %s is already routed by [%s]", host, prev)
				continue
			}
			hostOwner[host] = sec
			px.Hosts = append(px.Hosts, host)
		}
		if set && ok && len(px.Hosts) == 0 && r.errs == 0 {
			r.errorf(hpos, "hosts", "no host names given")
		}

		if v := l.p.get(sec, "static"); v != nil {
			prefixes := map[string]bool{}
			for _, a := range v.all() {
				for _, line := range a.lines {
					pos := Pos{File: a.pos.File, Line: line.line}
					route, msg := l.staticRoute(line.text, names)
					if msg != "" {
						r.errorf(pos, "static", "%s", msg)
						continue
					}
					if prefixes[route.Prefix] {
						r.errorf(pos, "static", "prefix %s is given twice", route.Prefix)
						continue
					}
					prefixes[route.Prefix] = true
					route.Pos = pos
					px.Static = append(px.Static, route)
				}
			}
		}
		px.Websocket = r.boolean("websocket")
		px.MaxBodySize = r.byteSize("max_body_size")
		if hp, pos, set, ok := r.str("health_path"); set && ok {
			if msg := safeURLPath(hp); msg != "" {
				r.errorf(pos, "health_path", "%s", msg)
			}
			px.HealthPath = hp
		}
		if sock, pos, set, ok := r.str("socket"); set && ok {
			px.Socket = l.proxySocket(r, pos, px.Program, sock)
		}
		l.cfg.Proxies = append(l.cfg.Proxies, px)
	}
}

// staticRoute parses "PREFIX = DIR".
func (l *loader) staticRoute(text string, names expansions) (StaticRoute, string) {
	s, ferr := l.format(text, l.environ, names)
	if ferr != nil {
		return StaticRoute{}, ferr.msg
	}
	prefix, dir, ok := strings.Cut(s, "=")
	prefix, dir = pyStrip(prefix), pyStrip(dir)
	if !ok || prefix == "" || dir == "" {
		return StaticRoute{}, fmt.Sprintf("%q is not PREFIX = DIR, e.g. /static/ = static/", s)
	}
	if msg := safeURLPath(prefix); msg != "" {
		return StaticRoute{}, "prefix " + msg
	}
	if !strings.HasSuffix(prefix, "/") {
		prefix += "/"
	}
	if prefix == "/" {
		return StaticRoute{}, "prefix / would hide the program; serve static files under a sub-path such as /static/"
	}
	for _, r := range dir {
		if r < 0x20 || r == 0x7f || pyIsSpace(r) || strings.ContainsRune(unsafePathChars, r) {
			return StaticRoute{}, fmt.Sprintf("directory %q contains %q; use a path without spaces, quotes, '$', ';', braces or backslashes", dir, r)
		}
	}
	var abs string
	if filepath.IsAbs(dir) {
		abs = filepath.Clean(dir)
	} else {
		abs = filepath.Join(l.here, dir)
	}
	if rel, err := filepath.Rel(l.here, abs); err != nil || rel == ".." || strings.HasPrefix(rel, "../") {
		return StaticRoute{}, fmt.Sprintf("directory %q is outside the project %s; static directories must stay inside it", dir, l.here)
	}
	return StaticRoute{Prefix: prefix, Dir: abs}, ""
}

// maxSocketName bounds socket = FILE: the socket directory's path and the
// name must fit sun_path (108 bytes).
const maxSocketName = 40

// proxySocket checks [proxy:x] socket = FILE and returns its path in the
// master's socket directory ("" without one: a hand-run supervisor only
// checks it).
func (l *loader) proxySocket(r *reader, pos Pos, program, name string) string {
	name = pyStrip(name)
	bad := name == "" || name == "." || name == ".." || len(name) > maxSocketName
	for _, c := range name {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.') {
			bad = true
		}
	}
	if bad {
		r.errorf(pos, "socket", "socket %q must be a file name of letters, digits, '_', '-' and '.' (at most %d), e.g. socket = web.sock; "+
			"the socket is created in $%s, the directory roost makes for you", name, maxSocketName, EnvSocketDir)
		return ""
	}
	if n := l.rawNumprocs(program); n > 1 {
		r.errorf(pos, "socket", "[program:%s] has numprocs = %d, and a socket serves one process: remove socket = to use ports", program, n)
		return ""
	}
	dir := l.env[EnvSocketDir]
	if dir == "" || !filepath.IsAbs(dir) || filepath.Clean(dir) != dir {
		return ""
	}
	return filepath.Join(dir, name)
}
