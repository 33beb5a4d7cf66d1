package nginx

import (
	"fmt"
	"sort"
	"strings"
)

// strength is the strength of a right to a name; lower is stronger, and
// noRight means the policy does not allow the name at all.
type strength int

const (
	noRight strength = iota
	granted
	own
	shared
)

func (s strength) String() string {
	switch s {
	case granted:
		return "granted"
	case own:
		return "own"
	case shared:
		return "shared"
	}
	return "none"
}

// stronger reports whether s is a stronger right than than.
func (s strength) stronger(than strength) bool { return s != noRight && (than == noRight || s < than) }

// pattern is one resolved name pattern: an exact host or, when wild, every
// name with at least one label before "."+base.
type pattern struct {
	base   string // the host, or the part after "*."
	wild   bool
	right  strength
	source string // what the admin wrote, for messages
}

func newPattern(host string, right strength, source string) pattern {
	if b, ok := strings.CutPrefix(host, "*."); ok {
		return pattern{base: b, wild: true, right: right, source: source}
	}
	return pattern{base: host, right: right, source: source}
}

func (p pattern) String() string {
	if p.wild {
		return "*." + p.base
	}
	return p.base
}

// under reports whether name is base itself or a name below it.
func under(name, base string) bool { return name == base || strings.HasSuffix(name, "."+base) }

// below reports whether name is strictly below base.
func below(name, base string) bool { return strings.HasSuffix(name, "."+base) }

// covers reports whether every name claim c matches is matched by p.
func (p pattern) covers(c pattern) bool {
	switch {
	case !p.wild:
		return !c.wild && c.base == p.base
	case !c.wild:
		return below(c.base, p.base)
	default:
		return under(c.base, p.base)
	}
}

// overlaps reports whether some name is matched by both p and c.
func (p pattern) overlaps(c pattern) bool {
	switch {
	case !p.wild && !c.wild:
		return p.base == c.base
	case !p.wild:
		return below(p.base, c.base)
	case !c.wild:
		return below(c.base, p.base)
	default:
		return under(c.base, p.base) || under(p.base, c.base)
	}
}

// policy is a validated Policy, ready to resolve each user's namespace.
type policy struct {
	listen     []string
	templates  []string // patterns with {user}
	shared     []pattern
	grants     map[string][]pattern // by user name
	bucket     int
	maxHash    int
	maxBody    int64
	defaultSrv bool
}

const userVar = "{user}"

// compilePolicy validates the admin's policy.
// CheckPolicy returns the error Render would return for the policy p, so
// that the master can refuse a roost.toml whose [proxy] table is invalid
// when it loads the file rather than at the first render.
func CheckPolicy(p Policy) error {
	_, err := compilePolicy(p)
	return err
}

func compilePolicy(p Policy) (*policy, error) {
	c := &policy{
		grants:     map[string][]pattern{},
		bucket:     p.ServerNamesHashBucketSize,
		maxHash:    p.ServerNamesHashMaxSize,
		maxBody:    p.MaxBodySize,
		defaultSrv: !p.NoDefaultServer,
	}
	if len(p.Listen) == 0 {
		return nil, fmt.Errorf("policy: listen is empty: give at least one address, e.g. \"80\"")
	}
	seen := map[string]bool{}
	for _, l := range p.Listen {
		s, err := checkListen(l)
		if err != nil {
			return nil, fmt.Errorf("policy: %w", err)
		}
		if seen[s] {
			return nil, fmt.Errorf("policy: listen %q is given twice", l)
		}
		seen[s] = true
		c.listen = append(c.listen, s)
	}
	if p.ServerNamesHashBucketSize < 0 || p.ServerNamesHashBucketSize > 4096 {
		return nil, fmt.Errorf("policy: server_names_hash_bucket_size %d: want 0 (nginx's default) to 4096", p.ServerNamesHashBucketSize)
	}
	if p.ServerNamesHashMaxSize < 0 || p.ServerNamesHashMaxSize > 1<<20 {
		return nil, fmt.Errorf("policy: server_names_hash_max_size %d: want 0 (nginx's default) to %d", p.ServerNamesHashMaxSize, 1<<20)
	}
	if p.MaxBodySize < 0 {
		return nil, fmt.Errorf("policy: max_body_size %d is negative: want 0 (no cap) or a byte count", p.MaxBodySize)
	}
	for i, h := range p.Hosts {
		if strings.Count(h, userVar) == 0 {
			s, err := checkHost(h, true)
			if err != nil {
				return nil, fmt.Errorf("policy: hosts[%d] %q: %w", i, h, err)
			}
			c.shared = append(c.shared, newPattern(s, shared, h))
			continue
		}
		// Validate the template with a stand-in label for {user}.
		if _, err := checkHost(strings.ReplaceAll(h, userVar, "u"), true); err != nil {
			return nil, fmt.Errorf("policy: hosts[%d] %q: %w", i, h, err)
		}
		lower, _ := asciiLower(h)
		c.templates = append(c.templates, lower)
	}
	users := make([]string, 0, len(p.Grants))
	for u := range p.Grants {
		users = append(users, u)
	}
	sort.Strings(users)
	owner := map[string]string{}
	for _, u := range users {
		if err := checkUserName(u); err != nil {
			return nil, fmt.Errorf("policy: grants: %w", err)
		}
		for i, h := range p.Grants[u] {
			if strings.Contains(h, userVar) {
				return nil, fmt.Errorf("policy: grants for %s: hosts[%d] %q: a grant names its hosts directly, without {user}", u, i, h)
			}
			s, err := checkHost(h, true)
			if err != nil {
				return nil, fmt.Errorf("policy: grants for %s: hosts[%d] %q: %w", u, i, h, err)
			}
			if o, ok := owner[s]; ok && o != u {
				return nil, fmt.Errorf("policy: %q is granted to both %s and %s: grant it to one", s, o, u)
			}
			owner[s] = u
			c.grants[u] = append(c.grants[u], newPattern(s, granted, h))
		}
	}
	return c, nil
}

// namespace returns the patterns that allow names to user: grants, then
// {user} patterns (only when the name is a DNS label), then shared ones.
func (c *policy) namespace(user string) []pattern {
	ns := append([]pattern(nil), c.grants[user]...)
	if isLabel(user) {
		for _, t := range c.templates {
			h := strings.ReplaceAll(t, userVar, user)
			if s, err := checkHost(h, true); err == nil {
				ns = append(ns, newPattern(s, own, t))
			}
		}
	}
	return append(ns, c.shared...)
}

// right returns user's strongest right to claim c, with the pattern giving it.
func right(ns []pattern, c pattern) (strength, pattern) {
	best, bp := noRight, pattern{}
	for _, p := range ns {
		if p.covers(c) && p.right.stronger(best) {
			best, bp = p.right, p
		}
	}
	return best, bp
}

// describe lists a namespace for "outside policy" messages.
func describe(ns []pattern) string {
	if len(ns) == 0 {
		return "none"
	}
	s := make([]string, len(ns))
	for i, p := range ns {
		s[i] = p.String()
	}
	return strings.Join(s, ", ")
}

// reason explains where user's right p comes from, for messages.
func (p pattern) reason(user string) string {
	switch p.right {
	case granted:
		return fmt.Sprintf("granted to %s in roost.toml [user.%s] hosts", user, user)
	case own:
		return fmt.Sprintf("%s's own name under the policy pattern %s", user, p.source)
	}
	return "a shared policy pattern"
}
