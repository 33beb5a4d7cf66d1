package master

import (
	"crypto/sha256"
	"encoding/json"
	"path/filepath"
	"strings"
	"time"

	"roost/internal/procfs"
)

// Port squat protection, second line (the first is the bind filter,
// cgroups_linux.go): the owner of every routed upstream is checked at every
// render (input), and again every verifyEvery while any user declares a
// route, because a program that stops, crashes or goes FATAL says nothing
// more and another user's program could take its port meanwhile. (A timer,
// armed only while a route exists: an idle master wakes for nothing.) When an
// upstream's verdict changed (a foreign listener appeared or left, a unix
// socket was swapped), the router renders again at once: the upstream is
// left out (a route without upstreams is left out as a whole), the admin
// sees it in `roost admin users` and the master's log, and the user in
// `roost proxy`. Reading /proc/net/tcp{,6} and opening the sockets is the
// whole cost of a tick.

// verifyEvery is how often the owners of routed upstreams are checked
// between renders.
const verifyEvery = time.Second

// verifyKey fingerprints the input's notes: the owner and socket verdicts
// of every upstream.
func verifyKey(notes map[string]map[string][]string) [32]byte {
	b, _ := json.Marshal(notes) // maps marshal in key order
	return sha256.Sum256(b)
}

// hasRoutes reports whether any user declares a route.
func (r *router) hasRoutes() bool {
	for _, ur := range r.infos {
		if ur.info != nil && len(ur.info.Routes) > 0 {
			return true
		}
	}
	return false
}

// verifyTimer arms the next owner check while any route exists, and
// disarms it when none does: an idle router wakes for nothing.
func (r *router) verifyTimer() <-chan time.Time {
	switch {
	case r.hasRoutes() && r.vtimer == nil:
		r.vtimer = time.NewTimer(verifyEvery)
	case !r.hasRoutes() && r.vtimer != nil:
		r.vtimer.Stop()
		r.vtimer = nil
	}
	if r.vtimer == nil {
		return nil
	}
	return r.vtimer.C
}

// verify re-checks every upstream's owner and renders again when a verdict
// changed since the last render.
func (r *router) verify() {
	cfg := r.m.Config()
	if !cfg.Proxy.Enabled || r.timer != nil || !r.hasRoutes() {
		return // a render is pending anyway, or nothing is routed
	}
	_, notes, _ := r.input(cfg)
	if verifyKey(notes) == r.verified {
		return
	}
	r.log.Warn("an upstream's owner or socket changed since the last render: rendering again")
	r.timer = time.NewTimer(0)
}

// runSubdir is {run_dir}/DIR/USER: a user's socket directory (sockets) or
// root's links to those sockets for nginx (nginx).
func (r *router) runSubdir(dir, name string) string {
	return filepath.Join(filepath.Dir(r.m.usersDir), dir, name)
}

// routeUpstream checks one upstream of user (uid) against the listening
// sockets (TCP) or the file system (unix, which it links for nginx:
// upstream_linux.go). It returns the address nginx is to use, or why the
// upstream may not be routed.
func (r *router) routeUpstream(ls []procfs.Listener, lerr error, up, name string, uid int) (string, string) {
	if p, ok := strings.CutPrefix(up, "unix:"); ok {
		link, err := linkUnixUpstream(p, r.runSubdir(socketsDirName, name), r.runSubdir(nginxDirName, name), uid)
		if err != nil {
			return "", "upstream " + sanitize(up, 120) + " is not routed: " + sanitize(err.Error(), 300)
		}
		return "unix:" + link, ""
	}
	if lerr != nil {
		return "", "upstream " + sanitize(up, 64) + " is not routed: the listening sockets cannot be read"
	}
	if holder, ok := portHolder(ls, up, uid); !ok {
		return "", "upstream " + sanitize(up, 64) + " is not routed: the socket listening on it belongs to " + holder + ", not to " + name
	}
	return up, ""
}
