package nginx

import (
	"fmt"
	"strings"

	"roost/config"
)

// Input is everything Render needs: the admin's policy and every user the
// master manages, with the routes each user's project declares.
type Input struct {
	Policy Policy `json:"policy"`
	// Users lists every managed user, including users without routes: a
	// user's own names ({user} patterns) are reserved for them whether or not
	// they use them yet.
	Users []User `json:"users"`
	// TLS adds HTTPS for the hosts with a certificate.
	TLS TLS `json:"tls,omitzero"`
}

// Policy is what the admin allows (roost.toml [proxy] and [user.NAME] hosts).
// A policy that is not valid makes Render return an error: it is the admin's
// input, and rendering with half of it could hand a host to the wrong user.
type Policy struct {
	// Listen holds nginx listen addresses: "80", "127.0.0.1:8080",
	// "[::]:80" or "*:80". Every server block listens on all of them.
	Listen []string `json:"listen"`
	// Hosts are the patterns any user may claim. "{user}" stands for the
	// user's name, which must then be a DNS label ("alice" matches,
	// "Alice" or "a_b" never do); a leading "*." stands for one or more
	// labels. A user claims a wildcard ("*.alice.example.test") only when a
	// pattern covers every name the wildcard matches.
	Hosts []string `json:"hosts"`
	// Grants are extra hosts or "*." wildcards per user name, given by the
	// admin in [user.NAME] hosts. A host granted to one user is reserved for
	// them, even while they do not claim it. Granting the same name to two
	// users is an error.
	Grants map[string][]string `json:"grants,omitempty"`
	// ServerNamesHashBucketSize is written as server_names_hash_bucket_size
	// when positive. Zero leaves nginx's default (64, the cache line), which
	// the renderer then assumes: nginx refuses the whole configuration when
	// one name does not fit a bucket, so longer names are rejected per route.
	ServerNamesHashBucketSize int `json:"server_names_hash_bucket_size,omitempty"`
	// ServerNamesHashMaxSize is written as server_names_hash_max_size when
	// positive (raise it when nginx -t asks to, with many hosts).
	ServerNamesHashMaxSize int `json:"server_names_hash_max_size,omitempty"`
	// MaxBodySize caps a route's max body size, in bytes; 0 means no cap.
	MaxBodySize int64 `json:"max_body_size,omitempty"`
	// NoDefaultServer leaves out roost's default server (which answers 421 to
	// every Host no route claims). Set it only when the main nginx
	// configuration already has a default_server on the same addresses that
	// routes to no user's application; Debian's sites-enabled/default does.
	NoDefaultServer bool `json:"no_default_server,omitempty"`
}

// User is one managed unix user and their routes.
type User struct {
	// Name is the unix user name, e.g. "alice": letters, digits, "_", "-"
	// and ".", starting with a letter or "_", at most 32 characters. It
	// replaces {user} in host patterns only when it is a DNS label.
	Name string `json:"name"`
	// ProjectDir is the absolute project directory, e.g.
	// "/home/alice/current". Static directories must lie strictly inside it.
	ProjectDir string `json:"project_dir"`
	// RunDir is the user's absolute run directory, e.g.
	// "/run/roost/users/alice". Unix socket upstreams must lie inside it;
	// when empty, unix socket upstreams are refused.
	RunDir string `json:"run_dir,omitempty"`
	// Ports is the user's port block. When set, every TCP upstream must use a
	// port inside it, so a route can never proxy to another user's program.
	Ports PortRange `json:"ports,omitzero"`
	// Routes are the user's [proxy:NAME] sections.
	Routes []Route `json:"routes,omitempty"`
}

// PortRange is an inclusive range of TCP ports. The zero value means unset.
type PortRange struct {
	First int `json:"first"`
	Last  int `json:"last"`
}

// IsZero reports whether the range is unset.
func (r PortRange) IsZero() bool { return r.First == 0 && r.Last == 0 }

// Contains reports whether port lies in the range.
func (r PortRange) Contains(port int) bool { return port >= r.First && port <= r.Last }

// Route is one [proxy:NAME] section of a user's project, with the upstream
// addresses the master computed for its program.
type Route struct {
	// Section names the section for messages and markers, e.g. "proxy:web".
	// It may hold letters, digits and "_.:-".
	Section string `json:"section"`
	// Pos is where the section starts in the user's file (for messages only).
	Pos config.Pos `json:"pos,omitzero"`
	// Program is the program the route serves (for messages only).
	Program string `json:"program,omitempty"`
	// Hosts are host names or "*." wildcards; case does not matter.
	Hosts []string `json:"hosts"`
	// Static maps URL prefixes to directories inside the project.
	Static []Static `json:"static,omitempty"`
	// Websocket forwards the Upgrade and Connection headers.
	Websocket bool `json:"websocket,omitempty"`
	// MaxBodySize is client_max_body_size in bytes; 0 keeps nginx's default.
	MaxBodySize int64 `json:"max_body_size,omitempty"`
	// HealthPath, e.g. "/healthz", gets its own exact location without an
	// access log, so health probes do not flood the user's logs.
	HealthPath string `json:"health_path,omitempty"`
	// Upstreams are the program's addresses: "127.0.0.1:PORT" (loopback
	// only, one per process with numprocs) or "unix:/path.sock" inside the
	// user's RunDir.
	Upstreams []string `json:"upstreams"`
}

// Static maps a URL prefix to a directory.
type Static struct {
	// Prefix is the URL prefix, e.g. "/static/". A missing trailing slash is
	// added: "/static" serves /static/..., never /staticfoo.
	Prefix string `json:"prefix"`
	// Dir is the directory, relative to the project or absolute inside it.
	Dir string `json:"dir"`
}

// Warning says which part of which user's route was left out and why. The
// rest of the configuration is rendered without it.
type Warning struct {
	User    string     `json:"user"`
	Section string     `json:"section,omitempty"` // "" for problems with the user as a whole
	Pos     config.Pos `json:"pos,omitzero"`      // the section's position, when known
	Message string     `json:"message"`
}

// String renders the warning as "user alice: FILE:LINE: [proxy:web] message",
// on one line: values from users are quoted in messages.
func (w Warning) String() string {
	var b strings.Builder
	if checkUserName(w.User) == nil {
		fmt.Fprintf(&b, "user %s: ", w.User)
	} else {
		fmt.Fprintf(&b, "user %q: ", w.User)
	}
	if p := w.Pos.String(); p != "" {
		b.WriteString(p + ": ")
	}
	if w.Section != "" {
		b.WriteString("[" + w.Section + "] ")
	}
	b.WriteString(w.Message)
	return b.String()
}
