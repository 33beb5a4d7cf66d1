package nginx

import (
	"errors"
	"fmt"
	"net/netip"
	"path"
	"strconv"
	"strings"
)

// Limits on what a user may write. They keep every value short enough for
// nginx and for messages; none of them is a security boundary on its own.
const (
	maxHostLen      = 253  // RFC 1123 (without the trailing dot)
	maxLabelLen     = 63   // RFC 1123
	maxURLPathLen   = 256  // static prefixes and the health path
	maxDirLen       = 1024 // static directories, project and run directories
	maxSocketLen    = 107  // sun_path holds 108 bytes with the NUL
	maxNameLen      = 32   // unix user names (useradd's limit)
	maxSectionLen   = 128
	defaultHashSize = 64 // nginx's server_names_hash_bucket_size: the cache line
)

// asciiLower lower-cases s after refusing anything outside printable ASCII.
// strings.ToLower is not used on purpose: it maps the Kelvin sign U+212A to
// "k", which would let a non-ASCII name pass as an ASCII one.
func asciiLower(s string) (string, error) {
	b := []byte(s)
	for i, c := range b {
		if c < 0x20 || c > 0x7e {
			if c >= 0x80 {
				return "", errors.New("non-ASCII character: write internationalized names in their punycode form (xn--…)")
			}
			return "", fmt.Errorf("control character %q is not allowed", c)
		}
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b), nil
}

// checkHost validates one host name or "*." wildcard (when wildcard is true)
// and returns it lower-cased. The rules are RFC 1123's: labels of letters,
// digits and inner hyphens, 1 to 63 characters, 253 in all; and the last label
// is not all digits, so an IP address is never a host. Errors do not repeat
// the host: callers quote it.
func checkHost(s string, wildcard bool) (string, error) {
	if s == "" {
		return "", errors.New("empty host")
	}
	h, err := asciiLower(s)
	if err != nil {
		return "", err
	}
	name := h
	if strings.HasPrefix(h, "*.") {
		if !wildcard {
			return "", errors.New("a wildcard is not allowed here")
		}
		name = h[2:]
	}
	if strings.HasSuffix(name, ".") && name != "." {
		return "", errors.New("remove the trailing dot")
	}
	if len(h) > maxHostLen {
		return "", fmt.Errorf("%d characters; a host name has at most %d", len(h), maxHostLen)
	}
	labels := strings.Split(name, ".")
	for _, l := range labels {
		if err := checkLabel(l); err != nil {
			if strings.Contains(l, "*") {
				return "", errors.New("a wildcard must be the whole first label, as in *.example.test")
			}
			return "", err
		}
	}
	if allDigits(labels[len(labels)-1]) {
		return "", errors.New("looks like an IP address: claim a host name")
	}
	return h, nil
}

// checkLabel validates one DNS label (RFC 1123), already lower-cased.
func checkLabel(l string) error {
	if l == "" {
		return errors.New("empty label (two dots in a row, or a leading dot)")
	}
	if len(l) > maxLabelLen {
		return fmt.Errorf("label %q is %d characters; a label has at most %d", l, len(l), maxLabelLen)
	}
	for i := 0; i < len(l); i++ {
		c := l[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
			return fmt.Errorf("character %q is not allowed: a host holds letters, digits, hyphens and dots (RFC 1123)", c)
		}
	}
	if l[0] == '-' || l[len(l)-1] == '-' {
		return fmt.Errorf("label %q starts or ends with a hyphen", l)
	}
	return nil
}

// isLabel reports whether s is a lower-case DNS label: the test a user name
// passes before it may replace {user} in a host pattern.
func isLabel(s string) bool { return checkLabel(s) == nil }

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// hashLimit is the longest name (or, in a wildcard, the longest label) that
// fits a server_names_hash bucket of the given size. nginx rounds the size up
// to the cache line and needs two pointers plus the name and two bytes,
// aligned to a pointer, per element (ngx_hash_init). Measured against nginx
// 1.22: 46 at 64, 110 at 128.
func hashLimit(bucket int) int {
	if bucket <= 0 {
		bucket = defaultHashSize
	}
	bucket = (bucket + defaultHashSize - 1) / defaultHashSize * defaultHashSize
	return (bucket-16)/8*8 - 2
}

// checkHashFit reports a host that would make nginx refuse the whole
// configuration ("could not build server_names_hash").
func checkHashFit(host string, bucket int) error {
	limit := hashLimit(bucket)
	size := bucket
	if size <= 0 {
		size = defaultHashSize
	}
	if name, ok := strings.CutPrefix(host, "*."); ok {
		for _, l := range strings.Split(name, ".") {
			if len(l) > limit {
				return fmt.Errorf("a %d-character label; with server_names_hash_bucket_size %d nginx accepts labels of at most %d in a wildcard (the admin can raise [proxy] server_names_hash_bucket_size)", len(l), size, limit)
			}
		}
		return nil
	}
	if len(host) > limit {
		return fmt.Errorf("%d characters; with server_names_hash_bucket_size %d nginx accepts at most %d (the admin can raise [proxy] server_names_hash_bucket_size)", len(host), size, limit)
	}
	return nil
}

// urlChar reports whether c may appear in a static prefix or health path:
// RFC 3986 unreserved characters and "/". Nothing else is needed to name a
// location, and nothing here means anything to nginx's parser.
func urlChar(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~' || c == '/'
}

// checkURLPath validates a URL path made of urlChar characters, starting with
// "/", without empty, "." or ".." segments. what names it in messages.
func checkURLPath(s, what string) error {
	if s == "" {
		return fmt.Errorf("empty %s", what)
	}
	if len(s) > maxURLPathLen {
		return fmt.Errorf("%s %.40q… is %d characters; at most %d", what, s, len(s), maxURLPathLen)
	}
	if s[0] != '/' {
		return fmt.Errorf("%s %q must start with \"/\"", what, s)
	}
	for i := 0; i < len(s); i++ {
		if !urlChar(s[i]) {
			return fmt.Errorf("%s %q: %s is not allowed (use letters, digits, \"-._~\" and \"/\")", what, s, charName(s[i]))
		}
	}
	segs := strings.Split(s[1:], "/")
	for i, seg := range segs {
		if seg == "" && i < len(segs)-1 {
			return fmt.Errorf("%s %q has an empty segment (\"//\")", what, s)
		}
		if seg == "." || seg == ".." {
			return fmt.Errorf("%s %q must not contain %q segments", what, s, seg)
		}
	}
	return nil
}

// checkPrefix validates a static URL prefix and returns it ending in "/": with
// alias, a location without the trailing slash would let "/static../x" reach
// the directory's parent.
func checkPrefix(s string) (string, error) {
	if err := checkURLPath(s, "URL prefix"); err != nil {
		return "", err
	}
	if s == "/" {
		return "", errors.New(`URL prefix "/" would hide the program: the program serves "/", static files need a prefix such as /static/`)
	}
	if !strings.HasSuffix(s, "/") {
		s += "/"
	}
	return s, nil
}

// pathChar reports whether c may appear in a file system path roost writes
// into the nginx configuration. Quotes, backslashes, "$" (nginx variables),
// ";", braces, "#", spaces and control characters are all outside it.
func pathChar(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		strings.IndexByte("-._~+@,=/", c) >= 0
}

// charName names a refused byte for messages.
func charName(c byte) string {
	if c >= 0x80 {
		return "a non-ASCII character"
	}
	return fmt.Sprintf("character %q", c)
}

func checkPathChars(s, what string) error {
	if s == "" {
		return fmt.Errorf("empty %s", what)
	}
	if len(s) > maxDirLen {
		return fmt.Errorf("%s %.40q… is %d characters; at most %d", what, s, len(s), maxDirLen)
	}
	for i := 0; i < len(s); i++ {
		if !pathChar(s[i]) {
			return fmt.Errorf("%s %q: %s is not allowed (use letters, digits and \"-._~+@,=\")", what, s, charName(s[i]))
		}
	}
	return nil
}

// checkAbsDir validates a directory the master supplies (project or run
// directory): absolute, clean, not "/", made of pathChar characters.
func checkAbsDir(s, what string) error {
	if err := checkPathChars(s, what); err != nil {
		return err
	}
	if !path.IsAbs(s) || path.Clean(s) != s || s == "/" {
		return fmt.Errorf("%s %q must be an absolute, clean path below /", what, s)
	}
	return nil
}

// within reports whether p lies strictly inside dir (both clean and absolute).
func within(p, dir string) bool { return strings.HasPrefix(p, dir+"/") }

// checkStaticDir resolves a static directory against the project directory
// and returns the absolute, clean result. It must lie strictly inside the
// project: serving the project itself would publish supervisord.conf and
// everything next to it. ".." is refused even where it would stay inside, so
// what the user wrote is what is served.
func checkStaticDir(project, dir string) (string, error) {
	if err := checkPathChars(dir, "static directory"); err != nil {
		return "", err
	}
	for _, el := range strings.Split(dir, "/") {
		if el == ".." {
			return "", fmt.Errorf("static directory %q must not contain \"..\": name a directory inside the project", dir)
		}
	}
	abs := dir
	if !path.IsAbs(dir) {
		abs = path.Join(project, dir)
	}
	abs = path.Clean(abs)
	if !within(abs, project) {
		return "", fmt.Errorf("static directory %q is not inside the project %q: name a subdirectory such as static/", dir, project)
	}
	return abs, nil
}

// checkListen validates one listen address and returns nginx's spelling.
func checkListen(s string) (string, error) {
	if p, err := strconv.Atoi(s); err == nil && strconv.Itoa(p) == s {
		if p < 1 || p > 65535 {
			return "", fmt.Errorf("listen %q: port out of range 1-65535", s)
		}
		return s, nil
	}
	if port, ok := strings.CutPrefix(s, "*:"); ok {
		if _, err := checkListen(port); err != nil {
			return "", fmt.Errorf("listen %q: invalid port", s)
		}
		return s, nil
	}
	ap, err := netip.ParseAddrPort(s)
	if err != nil || ap.Port() == 0 || ap.Addr().Zone() != "" {
		return "", fmt.Errorf("listen %q: want PORT, *:PORT, IPv4:PORT or [IPv6]:PORT", s)
	}
	return ap.String(), nil
}

// upstreamAddr is one validated upstream server, as written after "server".
type upstreamAddr struct {
	text   string // "127.0.0.1:8000" or "unix:/run/roost/users/alice/web.sock"
	quoted bool   // unix paths are written quoted
}

// checkUpstream validates one upstream address for user u.
func checkUpstream(u *User, s string) (upstreamAddr, error) {
	if p, ok := strings.CutPrefix(s, "unix:"); ok {
		if u.RunDir == "" {
			return upstreamAddr{}, fmt.Errorf("upstream %q: unix sockets need the user's run directory, which is not set", s)
		}
		if err := checkPathChars(p, "socket path"); err != nil {
			return upstreamAddr{}, fmt.Errorf("upstream: %w", err)
		}
		if path.Clean(p) != p || !within(p, u.RunDir) {
			return upstreamAddr{}, fmt.Errorf("upstream %q: the socket must lie inside the run directory %q", s, u.RunDir)
		}
		if len(p) > maxSocketLen {
			return upstreamAddr{}, fmt.Errorf("upstream %q: a socket path has at most %d characters", s, maxSocketLen)
		}
		return upstreamAddr{text: "unix:" + p, quoted: true}, nil
	}
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		return upstreamAddr{}, fmt.Errorf("upstream %q: want 127.0.0.1:PORT or unix:/path", s)
	}
	if !ap.Addr().IsLoopback() || ap.Addr().Zone() != "" || ap.Addr().Is4In6() {
		return upstreamAddr{}, fmt.Errorf("upstream %q: only loopback addresses are proxied to", s)
	}
	port := int(ap.Port())
	if port == 0 {
		return upstreamAddr{}, fmt.Errorf("upstream %q: port 0", s)
	}
	if !u.Ports.IsZero() && !u.Ports.Contains(port) {
		return upstreamAddr{}, fmt.Errorf("upstream %q: port %d is outside the user's port block %d-%d", s, port, u.Ports.First, u.Ports.Last)
	}
	return upstreamAddr{text: ap.String()}, nil
}

// checkUserName validates a unix user name as far as the renderer needs: it
// appears in upstream names and marker comments.
func checkUserName(s string) error {
	if s == "" || len(s) > maxNameLen {
		return fmt.Errorf("user name %.40q must have 1 to %d characters", s, maxNameLen)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		ok := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c == '_' ||
			i > 0 && ('0' <= c && c <= '9' || c == '-' || c == '.')
		if !ok {
			return fmt.Errorf("user name %q: character %q is not supported", s, c)
		}
	}
	return nil
}

// checkSection validates a section name such as "proxy:web".
func checkSection(s string) error {
	if s == "" || len(s) > maxSectionLen {
		return fmt.Errorf("section name must have 1 to %d characters", maxSectionLen)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("_.:-", c) >= 0) {
			return fmt.Errorf("section name %q: character %q is not allowed (use letters, digits and \"_.:-\")", s, c)
		}
	}
	return nil
}

// formatSize writes a byte count the way nginx reads it, with the largest
// exact unit.
func formatSize(n int64) string {
	switch {
	case n%(1<<30) == 0:
		return strconv.FormatInt(n>>30, 10) + "g"
	case n%(1<<20) == 0:
		return strconv.FormatInt(n>>20, 10) + "m"
	case n%(1<<10) == 0:
		return strconv.FormatInt(n>>10, 10) + "k"
	}
	return strconv.FormatInt(n, 10)
}
