package nginx

import (
	"bytes"
	"strings"
)

// Blame tells which user's route a line of a rendered configuration belongs
// to, so that when `nginx -t` reports "in roost.conf:LINE" the master can name
// the user and section, render again without that user's routes and keep
// everyone else online. Lines before the first route (the header, the map and
// the default server) belong to no user: ok is false.
func Blame(conf []byte, line int) (user, section string, ok bool) {
	n := 0
	for len(conf) > 0 && n < line {
		n++
		var l []byte
		l, conf, _ = bytes.Cut(conf, []byte("\n"))
		rest, found := strings.CutPrefix(string(l), markerPrefix)
		if !found {
			continue
		}
		u, s, found := strings.Cut(rest, " section=")
		if found {
			user, section, ok = u, s, true
		}
	}
	if n < line {
		return "", "", false
	}
	return user, section, ok
}
