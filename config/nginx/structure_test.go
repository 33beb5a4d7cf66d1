package nginx

import (
	"fmt"
	"regexp"
	"strings"
)

// This file is an independent reader of the renderer's output: a small nginx
// tokenizer and a checker that knows exactly which directives, in which
// blocks, with which argument shapes the renderer may write. The checker uses
// its own regular expressions, not the renderer's validators, so a validator
// bug shows up as a structure violation.

type token struct {
	text   string // unquoted
	quoted bool
}

type directive struct {
	name   string
	quoted bool // the name was quoted (map entries)
	args   []token
	block  []*directive // nil for a simple directive
	line   int
}

// parseConf tokenizes and parses nginx configuration text the way nginx's
// ngx_conf_read_token does for what matters here: "#" comments to the end of
// the line, single and double quotes with backslash escapes, ";" "{" "}".
func parseConf(src string) ([]*directive, error) {
	p := &confParser{src: src, line: 1}
	ds, err := p.block(0)
	if err != nil {
		return nil, fmt.Errorf("line %d: %w", p.line, err)
	}
	return ds, nil
}

type confParser struct {
	src  string
	pos  int
	line int
}

// next returns the next token, or a punctuation token (";", "{", "}") with
// punct set, or io-like end with end set.
func (p *confParser) next() (tok token, punct byte, end bool, err error) {
	for p.pos < len(p.src) {
		c := p.src[p.pos]
		switch {
		case c == '\n':
			p.line++
			p.pos++
		case c == ' ' || c == '\t' || c == '\r':
			p.pos++
		case c == '#':
			for p.pos < len(p.src) && p.src[p.pos] != '\n' {
				p.pos++
			}
		case c == ';' || c == '{' || c == '}':
			p.pos++
			return token{}, c, false, nil
		case c == '"' || c == '\'':
			p.pos++
			var b strings.Builder
			for {
				if p.pos >= len(p.src) {
					return token{}, 0, false, fmt.Errorf("unterminated quote")
				}
				d := p.src[p.pos]
				p.pos++
				if d == '\\' && p.pos < len(p.src) {
					b.WriteByte(p.src[p.pos])
					p.pos++
					continue
				}
				if d == c {
					break
				}
				if d == '\n' {
					p.line++
				}
				b.WriteByte(d)
			}
			if p.pos < len(p.src) && !strings.ContainsRune(" \t\r\n;{}", rune(p.src[p.pos])) {
				return token{}, 0, false, fmt.Errorf("unexpected %q after a quoted string", p.src[p.pos])
			}
			return token{text: b.String(), quoted: true}, 0, false, nil
		default:
			start := p.pos
			for p.pos < len(p.src) && !strings.ContainsRune(" \t\r\n;{}\"'", rune(p.src[p.pos])) {
				p.pos++
			}
			return token{text: p.src[start:p.pos]}, 0, false, nil
		}
	}
	return token{}, 0, true, nil
}

func (p *confParser) block(depth int) ([]*directive, error) {
	var out []*directive
	var cur *directive
	for {
		tok, punct, end, err := p.next()
		if err != nil {
			return nil, err
		}
		switch {
		case end:
			if depth > 0 {
				return nil, fmt.Errorf("unexpected end of file: a block is not closed")
			}
			if cur != nil {
				return nil, fmt.Errorf("directive %q is not terminated", cur.name)
			}
			return out, nil
		case punct == ';':
			if cur == nil {
				return nil, fmt.Errorf("unexpected \";\"")
			}
			out = append(out, cur)
			cur = nil
		case punct == '{':
			if cur == nil {
				return nil, fmt.Errorf("unexpected \"{\"")
			}
			b, err := p.block(depth + 1)
			if err != nil {
				return nil, err
			}
			cur.block = b
			if cur.block == nil {
				cur.block = []*directive{}
			}
			out = append(out, cur)
			cur = nil
		case punct == '}':
			if depth == 0 || cur != nil {
				return nil, fmt.Errorf("unexpected \"}\"")
			}
			return out, nil
		default:
			if cur == nil {
				cur = &directive{name: tok.text, quoted: tok.quoted, line: p.line}
				continue
			}
			cur.args = append(cur.args, tok)
		}
	}
}

// The shapes the checker accepts, written independently of validate.go.
var (
	reHostName = regexp.MustCompile(`^(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)
	rePrefix   = regexp.MustCompile(`^/([A-Za-z0-9._~-]+/)+$`)
	reHealth   = regexp.MustCompile(`^/([A-Za-z0-9._~-]+/?)*$`)
	reAlias    = regexp.MustCompile(`^/([A-Za-z0-9._~+@,=-]+/)+$`)
	reUpstream = regexp.MustCompile(`^roost_[A-Za-z0-9_]+$`)
	reTCP      = regexp.MustCompile(`^(127\.\d{1,3}\.\d{1,3}\.\d{1,3}|\[::1\]):\d{1,5}$`)
	reSocket   = regexp.MustCompile(`^unix:/([A-Za-z0-9._~+@,=-]+/)*[A-Za-z0-9._~+@,=-]+$`)
	reListen   = regexp.MustCompile(`^(\d{1,5}|\*:\d{1,5}|[0-9.]+:\d{1,5}|\[[0-9a-f:.]+\]:\d{1,5})$`)
	reSize     = regexp.MustCompile(`^\d+[kmg]?$`)
	reInt      = regexp.MustCompile(`^\d+$`)
)

// checkStructure parses conf and checks that it holds only what the renderer
// may write. projects are the project directories aliases may point into.
// It returns the first violation.
func checkStructure(conf string, projects []string) error {
	ds, err := parseConf(conf)
	if err != nil {
		return fmt.Errorf("output does not parse: %w", err)
	}
	if err := checkNames(ds, false); err != nil {
		return err
	}
	upstreams := map[string]bool{}
	for _, d := range ds {
		if d.name == "upstream" {
			if len(d.args) != 1 || d.args[0].quoted || !reUpstream.MatchString(d.args[0].text) {
				return fmt.Errorf("line %d: bad upstream name %v", d.line, d.args)
			}
			if upstreams[d.args[0].text] {
				return fmt.Errorf("line %d: upstream %s twice", d.line, d.args[0].text)
			}
			upstreams[d.args[0].text] = true
		}
	}
	seenNames := map[string]bool{}
	for _, d := range ds {
		if err := checkTop(d, upstreams, projects, seenNames); err != nil {
			return fmt.Errorf("line %d: %s: %w", d.line, d.name, err)
		}
	}
	return nil
}

// checkNames refuses quoted directive names, which only map entries have.
func checkNames(ds []*directive, inMap bool) error {
	for _, d := range ds {
		if d.quoted && !inMap {
			return fmt.Errorf("line %d: quoted directive name %q", d.line, d.name)
		}
		if err := checkNames(d.block, d.name == "map"); err != nil {
			return err
		}
	}
	return nil
}

func args(d *directive) []string {
	s := make([]string, len(d.args))
	for i, a := range d.args {
		s[i] = a.text
	}
	return s
}

func argsAre(d *directive, want ...string) bool {
	got := args(d)
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		if got[i] != want[i] || d.args[i].quoted {
			return false
		}
	}
	return true
}

func checkTop(d *directive, upstreams map[string]bool, projects []string, seenNames map[string]bool) error {
	switch d.name {
	case "server_names_hash_bucket_size", "server_names_hash_max_size":
		if d.block != nil || len(d.args) != 1 || !reInt.MatchString(d.args[0].text) {
			return fmt.Errorf("bad arguments %v", args(d))
		}
	case "map":
		if !argsAre(d, "$http_upgrade", "$roost_connection_upgrade") || len(d.block) != 2 ||
			d.block[0].name != "default" || d.block[0].quoted || !argsAre(d.block[0], "upgrade") ||
			d.block[1].name != "" || !d.block[1].quoted || !argsAre(d.block[1], "close") {
			return fmt.Errorf("unexpected map")
		}
	case "upstream":
		if len(d.block) == 0 {
			return fmt.Errorf("empty upstream")
		}
		for _, s := range d.block {
			if s.name != "server" || len(s.args) != 2 || s.block != nil || s.args[1].quoted || s.args[1].text != "max_fails=0" {
				return fmt.Errorf("line %d: unexpected %s %v in upstream", s.line, s.name, args(s))
			}
			a := s.args[0]
			if !(reTCP.MatchString(a.text) && !a.quoted) && !(reSocket.MatchString(a.text) && a.quoted) {
				return fmt.Errorf("line %d: bad upstream server %q", s.line, a.text)
			}
		}
	case "server":
		return checkServer(d, upstreams, projects, seenNames)
	default:
		return fmt.Errorf("unexpected directive at the top level")
	}
	return nil
}

func checkServer(d *directive, upstreams map[string]bool, projects []string, seenNames map[string]bool) error {
	if d.block == nil || len(d.args) != 0 {
		return fmt.Errorf("bad server")
	}
	isDefault, isSSL := false, false
	for _, s := range d.block {
		if s.name == "listen" && len(s.args) >= 2 && s.args[len(s.args)-1].text == "default_server" {
			isDefault = true
		}
		if s.name == "listen" && len(s.args) >= 2 && s.args[1].text == "ssl" {
			isSSL = true
		}
	}
	for _, s := range d.block {
		bad := func() error { return fmt.Errorf("line %d: unexpected %s %v", s.line, s.name, args(s)) }
		if s.block != nil && s.name != "location" {
			return bad()
		}
		switch s.name {
		case "listen":
			rest := args(s)[1:]
			if isSSL && len(rest) > 1 && rest[0] == "ssl" && rest[1] == "http2" {
				rest = rest[2:]
			}
			if !reListen.MatchString(s.args[0].text) || s.args[0].quoted ||
				len(rest) > 1 || len(rest) == 1 && (!isDefault || rest[0] != "default_server") {
				return bad()
			}
		case "ssl_reject_handshake":
			if !isDefault || !isSSL || !argsAre(s, "on") {
				return bad()
			}
		case "ssl_certificate", "ssl_certificate_key":
			if isDefault || !isSSL || len(s.args) != 1 || !s.args[0].quoted || !strings.HasPrefix(s.args[0].text, "/") ||
				hasDotSegment(s.args[0].text) {
				return bad()
			}
		case "return":
			if !isDefault || !argsAre(s, "421") {
				return bad()
			}
		case "server_name":
			if isDefault || len(s.args) == 0 {
				return bad()
			}
			for _, a := range s.args {
				if !a.quoted || !reHostName.MatchString(a.text) || len(a.text) > 253 {
					return fmt.Errorf("line %d: bad server_name %q", s.line, a.text)
				}
				key := a.text
				if isSSL {
					key += " ssl" // a name has one plain and one TLS server
				}
				if seenNames[key] {
					return fmt.Errorf("line %d: server_name %q appears twice", s.line, a.text)
				}
				seenNames[key] = true
			}
		case "client_max_body_size":
			if len(s.args) != 1 || !reSize.MatchString(s.args[0].text) {
				return bad()
			}
		case "proxy_http_version":
			if !argsAre(s, "1.1") {
				return bad()
			}
		case "proxy_set_header":
			ok := argsAre(s, "Host", "$host") || argsAre(s, "X-Real-IP", "$remote_addr") ||
				argsAre(s, "X-Forwarded-For", "$proxy_add_x_forwarded_for") ||
				argsAre(s, "X-Forwarded-Proto", "$scheme") || argsAre(s, "X-Forwarded-Host", "$host") ||
				argsAre(s, "Upgrade", "$http_upgrade") || argsAre(s, "Connection", "$roost_connection_upgrade")
			if !ok {
				return bad()
			}
		case "proxy_next_upstream":
			if !argsAre(s, "error", "timeout", "http_502", "http_503") {
				return bad()
			}
		case "proxy_next_upstream_tries":
			if len(s.args) != 1 || !reInt.MatchString(s.args[0].text) {
				return bad()
			}
		case "location":
			if isDefault {
				return bad()
			}
			if err := checkLocation(s, upstreams, projects); err != nil {
				return fmt.Errorf("line %d: location %v: %w", s.line, args(s), err)
			}
		default:
			return bad()
		}
	}
	return nil
}

func checkLocation(s *directive, upstreams map[string]bool, projects []string) error {
	proxyPass := func(d *directive) error {
		if d.name != "proxy_pass" || len(d.args) != 1 || d.args[0].quoted {
			return fmt.Errorf("unexpected %s", d.name)
		}
		u, ok := strings.CutPrefix(d.args[0].text, "http://")
		if !ok || !upstreams[u] {
			return fmt.Errorf("proxy_pass to %q, not a rendered upstream", d.args[0].text)
		}
		return nil
	}
	switch {
	case argsAre(s, "/") && len(s.block) == 1 && s.block[0].name == "return":
		if !argsAre(s.block[0], "301", "https://$host$request_uri") {
			return fmt.Errorf("want return 301 https://$host$request_uri")
		}
		return nil
	case len(s.args) == 2 && s.args[0].text == "^~" && s.args[1].quoted && s.args[1].text == ChallengePrefix:
		if len(s.block) != 3 || s.block[0].name != "alias" || len(s.block[0].args) != 1 || !s.block[0].args[0].quoted ||
			!strings.HasPrefix(s.block[0].args[0].text, "/") || hasDotSegment(s.block[0].args[0].text) ||
			s.block[1].name != "default_type" || !argsAre(s.block[1], "text/plain") ||
			s.block[2].name != "access_log" || !argsAre(s.block[2], "off") {
			return fmt.Errorf("want alias DIR, default_type text/plain and access_log off")
		}
		return nil
	case argsAre(s, "/"):
		if len(s.block) != 1 {
			return fmt.Errorf("want exactly proxy_pass")
		}
		return proxyPass(s.block[0])
	case len(s.args) == 2 && s.args[0].text == "=" && !s.args[0].quoted:
		if !s.args[1].quoted || !reHealth.MatchString(s.args[1].text) || strings.Contains(s.args[1].text, "//") ||
			hasDotSegment(s.args[1].text) {
			return fmt.Errorf("bad exact location %q", s.args[1].text)
		}
		if len(s.block) != 2 || s.block[0].name != "access_log" || !argsAre(s.block[0], "off") {
			return fmt.Errorf("want access_log off and proxy_pass")
		}
		return proxyPass(s.block[1])
	case len(s.args) == 2 && s.args[0].text == "^~" && !s.args[0].quoted:
		prefix := s.args[1]
		if !prefix.quoted || !rePrefix.MatchString(prefix.text) || hasDotSegment(prefix.text) {
			return fmt.Errorf("bad static prefix %q", prefix.text)
		}
		if len(s.block) != 2 || s.block[0].name != "alias" || len(s.block[0].args) != 1 ||
			!argsAre(s.block[1], "if_not_owner") || s.block[1].name != "disable_symlinks" {
			return fmt.Errorf("want alias and disable_symlinks if_not_owner")
		}
		alias := s.block[0].args[0]
		if !alias.quoted || !reAlias.MatchString(alias.text) || hasDotSegment(alias.text) {
			return fmt.Errorf("bad alias %q", alias.text)
		}
		for _, p := range projects {
			if strings.HasPrefix(alias.text, p+"/") && alias.text != p+"/" {
				return nil
			}
		}
		return fmt.Errorf("alias %q is inside no project", alias.text)
	}
	return fmt.Errorf("unexpected location")
}

func hasDotSegment(p string) bool {
	for _, seg := range strings.Split(p, "/") {
		if seg == "." || seg == ".." {
			return true
		}
	}
	return false
}
