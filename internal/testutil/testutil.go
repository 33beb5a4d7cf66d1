// Package testutil holds what roost's tests share: the prerequisites they
// need (root, throwaway users, binaries such as nginx and supervisorctl) and
// the rule that under CI=true a missing prerequisite fails the test instead of
// skipping it. scripts/test installs and creates everything listed here.
// It also holds the helpers several packages' tests need: a buffer safe for
// concurrent use, a bounded wait for a condition, the roost binary.
package testutil

import (
	"os"
	"os/exec"
	"os/user"
	"strconv"
	"testing"
)

// The throwaway users and group scripts/test creates. UserA is a member of
// SharedGroup (a supplementary group); UserB is not.
const (
	UserA       = "roost-alice"
	UserB       = "roost-bob"
	SharedGroup = "roost-shared"
)

// CI reports whether the tests run under CI (CI=true), where every
// prerequisite must be present.
func CI() bool { return os.Getenv("CI") == "true" }

// Require skips the test when ok is false, or fails it under CI. what says
// what is missing and how to get it.
func Require(t testing.TB, ok bool, what string) {
	t.Helper()
	if ok {
		return
	}
	if CI() {
		t.Fatalf("missing prerequisite under CI=true: %s (scripts/test sets it up)", what)
	}
	t.Skipf("skipped: %s (run scripts/test as root to set it up)", what)
}

// RequireRoot requires the test to run as root.
func RequireRoot(t testing.TB) {
	t.Helper()
	Require(t, os.Geteuid() == 0, "this test needs root")
}

// RequireBinary returns the path of a program on PATH (or at an absolute
// path), requiring it to exist.
func RequireBinary(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	Require(t, err == nil, name+" is not installed")
	return p
}

// Account is a resolved unix user.
type Account struct {
	Name   string
	UID    int
	GID    int
	Home   string
	Groups []int // supplementary and primary group ids, as the system lists them
}

// RequireUser returns a throwaway user created by scripts/test, requiring it
// (and root, since tests that need another user need root to act as it).
func RequireUser(t testing.TB, name string) Account {
	t.Helper()
	RequireRoot(t)
	u, err := user.Lookup(name)
	Require(t, err == nil, "user "+name+" does not exist")
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	a := Account{Name: u.Username, UID: uid, GID: gid, Home: u.HomeDir}
	ids, err := u.GroupIds()
	if err != nil {
		t.Fatalf("groups of %s: %v", name, err)
	}
	for _, s := range ids {
		g, _ := strconv.Atoi(s)
		a.Groups = append(a.Groups, g)
	}
	return a
}
