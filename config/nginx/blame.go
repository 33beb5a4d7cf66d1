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

// ServedRoute is one route a rendered configuration holds, with the
// servers of its upstream block as written ("127.0.0.1:20000",
// "unix:/run/roost/users/alice/web.sock").
type ServedRoute struct {
	User      string   `json:"user"`
	Section   string   `json:"section"`
	Upstreams []string `json:"upstreams"`
}

// Served lists the routes a rendered configuration holds, in its order,
// read from the same markers as Blame: what Render accepted, so a caller
// can tell a user which of their routes nginx serves, and where to.
func Served(conf []byte) []ServedRoute {
	var out []ServedRoute
	inUpstream := false
	for len(conf) > 0 {
		var l []byte
		l, conf, _ = bytes.Cut(conf, []byte("\n"))
		line := string(l)
		if rest, found := strings.CutPrefix(line, markerPrefix); found {
			if u, s, found := strings.Cut(rest, " section="); found {
				out = append(out, ServedRoute{User: u, Section: s})
			}
			continue
		}
		switch {
		case len(out) == 0:
		case strings.HasPrefix(line, "upstream "):
			inUpstream = true
		case inUpstream && line == "}":
			inUpstream = false
		case inUpstream:
			f := strings.Fields(strings.TrimSuffix(strings.TrimSpace(line), ";"))
			if len(f) >= 2 && f[0] == "server" {
				r := &out[len(out)-1]
				r.Upstreams = append(r.Upstreams, strings.Trim(f[1], `"`))
			}
		}
	}
	return out
}
