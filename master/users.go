package master

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"roost/config"
)

// Account is a unix user as the master resolves it from the user database:
// everything the drop to that user needs.
type Account struct {
	Name   string `json:"name"`
	UID    int    `json:"uid"`
	GID    int    `json:"gid"`    // primary group
	Groups []int  `json:"groups"` // every group: the primary one and the supplementary ones, sorted
	Home   string `json:"home"`
	Shell  string `json:"shell"`
}

// UserDB reads /etc/passwd and /etc/group. The master parses them itself
// (as os/user does without cgo) because it needs what os/user does not
// give: login shells and group member lists. Users only NSS knows (LDAP,
// sssd) are not found.
type UserDB struct {
	Passwd string // default /etc/passwd
	Group  string // default /etc/group
}

// passwdEntry is one line of /etc/passwd.
type passwdEntry struct {
	name        string
	uid, gid    int
	home, shell string
}

// groupEntry is one line of /etc/group.
type groupEntry struct {
	name    string
	gid     int
	members []string
}

// maxDBFile bounds what the master reads of /etc/passwd or /etc/group.
const maxDBFile = 64 << 20

// snapshot is one consistent read of both files.
type snapshot struct {
	users  []passwdEntry
	groups []groupEntry
}

func (db UserDB) read() (*snapshot, error) {
	pw, gr := db.Passwd, db.Group
	if pw == "" {
		pw = "/etc/passwd"
	}
	if gr == "" {
		gr = "/etc/group"
	}
	s := &snapshot{}
	err := eachLine(pw, func(f []string) {
		if len(f) < 7 {
			return
		}
		uid, err1 := strconv.Atoi(f[2])
		gid, err2 := strconv.Atoi(f[3])
		if err1 != nil || err2 != nil || uid < 0 || gid < 0 {
			return
		}
		s.users = append(s.users, passwdEntry{name: f[0], uid: uid, gid: gid, home: f[5], shell: f[6]})
	})
	if err != nil {
		return nil, err
	}
	err = eachLine(gr, func(f []string) {
		if len(f) < 4 {
			return
		}
		gid, err := strconv.Atoi(f[2])
		if err != nil || gid < 0 {
			return
		}
		var members []string
		for _, m := range strings.Split(f[3], ",") {
			if m = strings.TrimSpace(m); m != "" {
				members = append(members, m)
			}
		}
		s.groups = append(s.groups, groupEntry{name: f[0], gid: gid, members: members})
	})
	if err != nil {
		return nil, err
	}
	return s, nil
}

// eachLine calls fn with the ':'-separated fields of every line of a
// passwd-format file, skipping comments and NIS "+"/"-" lines.
func eachLine(path string, fn func([]string)) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("user database: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(io.LimitReader(f, maxDBFile))
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for sc.Scan() {
		line := sc.Bytes()
		if len(line) == 0 || line[0] == '#' || line[0] == '+' || line[0] == '-' {
			continue
		}
		fn(strings.Split(string(bytes.TrimRight(line, "\r")), ":"))
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("user database %s: %w", path, err)
	}
	return nil
}

func (s *snapshot) user(name string) (passwdEntry, bool) {
	for _, u := range s.users {
		if u.name == name {
			return u, true
		}
	}
	return passwdEntry{}, false
}

func (s *snapshot) group(name string) (groupEntry, bool) {
	for _, g := range s.groups {
		if g.name == name {
			return g, true
		}
	}
	return groupEntry{}, false
}

// account resolves name with its groups: the primary group and every
// group that lists it as a member.
func (s *snapshot) account(name string) (Account, error) {
	u, ok := s.user(name)
	if !ok {
		return Account{}, fmt.Errorf("no user %q in the user database", name)
	}
	a := Account{Name: u.name, UID: u.uid, GID: u.gid, Home: u.home, Shell: u.shell, Groups: []int{u.gid}}
	for _, g := range s.groups {
		if slices.Contains(g.members, name) && !slices.Contains(a.Groups, g.gid) {
			a.Groups = append(a.Groups, g.gid)
		}
	}
	slices.Sort(a.Groups)
	return a, nil
}

// members returns the users of a group: those listed in it and those
// whose primary group it is, sorted.
func (s *snapshot) members(name string) ([]string, error) {
	g, ok := s.group(name)
	if !ok {
		return nil, fmt.Errorf("no group %q in the group database", name)
	}
	out := slices.Clone(g.members)
	for _, u := range s.users {
		if u.gid == g.gid {
			out = append(out, u.name)
		}
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// Lookup resolves one user with its groups.
func (db UserDB) Lookup(name string) (Account, error) {
	s, err := db.read()
	if err != nil {
		return Account{}, err
	}
	return s.account(name)
}

// Candidate is one user the configuration names, resolved or refused.
type Candidate struct {
	Name    string
	Account Account
	// Refused says why this user gets no supervisor; nil when it gets one.
	Refused error
}

// errRefused marks a refusal of a user (as opposed to a broken database).
var errRefused = errors.New("refused")

// Resolve lists the users cfg names (users.names, then the members of
// users.groups, each once, in that order) and resolves each, refusing root,
// uids below min_uid, members of group 0, names roost does not accept and
// accounts whose home is not an absolute path. A group that does not exist
// is reported in the returned warnings; it is not fatal (a group may be
// created later).
func (db UserDB) Resolve(cfg *config.Master) ([]Candidate, []string, error) {
	s, err := db.read()
	if err != nil {
		return nil, nil, err
	}
	var names, warnings []string
	seen := map[string]bool{}
	add := func(n string) {
		if !seen[n] {
			seen[n] = true
			names = append(names, n)
		}
	}
	for _, n := range cfg.Users.Names {
		add(n)
	}
	for _, g := range cfg.Users.Groups {
		ms, err := s.members(g)
		if err != nil {
			warnings = append(warnings, fmt.Sprintf("%s: [users] groups: %v", cfg.PosOf("users.groups"), err))
			continue
		}
		for _, n := range ms {
			add(n)
		}
	}
	out := make([]Candidate, 0, len(names))
	byUID := map[int]string{}
	for _, n := range names {
		c := Candidate{Name: n}
		c.Account, c.Refused = s.resolveOne(n, cfg.Users.MinUID)
		if c.Refused == nil {
			// Two names for one uid would be two supervisors whose leftover
			// sweeps kill each other's programs.
			if other, dup := byUID[c.Account.UID]; dup {
				c.Refused = fmt.Errorf("%w: %s has uid %d, which already has a supervisor as %s", errRefused, n, c.Account.UID, other)
			} else {
				byUID[c.Account.UID] = n
			}
		}
		out = append(out, c)
	}
	return out, warnings, nil
}

func (s *snapshot) resolveOne(name string, minUID int) (Account, error) {
	if err := config.ValidateUserName(name); err != nil {
		return Account{}, fmt.Errorf("%w: %v", errRefused, err)
	}
	a, err := s.account(name)
	if err != nil {
		return Account{}, fmt.Errorf("%w: %v", errRefused, err)
	}
	switch {
	case a.UID == 0:
		return a, fmt.Errorf("%w: %s has uid 0: root never gets a supervisor", errRefused, name)
	case a.UID < minUID:
		return a, fmt.Errorf("%w: %s has uid %d, below min_uid %d (system users are refused)", errRefused, name, a.UID, minUID)
	case slices.Contains(a.Groups, 0):
		return a, fmt.Errorf("%w: %s is in group 0 (root): its supervisor would hold root's group", errRefused, name)
	case !filepath.IsAbs(a.Home) || filepath.Clean(a.Home) != a.Home || strings.ContainsAny(a.Home, "\x00\n"):
		return a, fmt.Errorf("%w: %s has home %q, which is not a clean absolute path", errRefused, name, a.Home)
	case a.Home == "/":
		return a, fmt.Errorf("%w: %s has / as its home", errRefused, name)
	}
	if !filepath.IsAbs(a.Shell) || strings.ContainsAny(a.Shell, "\x00\n") {
		a.Shell = "/bin/sh"
	}
	return a, nil
}
