package master

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"roost/config"
)

func writeDB(t *testing.T, passwd, group string) UserDB {
	t.Helper()
	dir := t.TempDir()
	db := UserDB{Passwd: filepath.Join(dir, "passwd"), Group: filepath.Join(dir, "group")}
	if err := os.WriteFile(db.Passwd, []byte(passwd), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(db.Group, []byte(group), 0o644); err != nil {
		t.Fatal(err)
	}
	return db
}

const testPasswd = `root:x:0:0:root:/root:/bin/bash
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
# a comment
alice:x:1001:1002::/home/alice:/bin/bash
bob:x:1002:1003::/home/bob:/usr/bin/zsh
carol:x:1003:100::/home/carol:
dave:x:1004:1004::relative/home:/bin/sh
eve:x:1005:1005::/home/eve:/bin/sh
alias:x:1001:1002::/home/alice:/bin/sh
wheel:x:1006:1006::/home/wheel:/bin/sh
Upper:x:1007:1007::/home/upper:/bin/sh
+nis
`

const testGroup = `root:x:0:wheel
users:x:100:
alice:x:1002:
bob:x:1003:
shared:x:1001:alice,eve
team:x:2000:bob, carol ,alice
eve:x:1005:
`

func testMaster(t *testing.T, toml string) *config.Master {
	t.Helper()
	m, err := config.ParseMaster("roost.toml", []byte(toml))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestResolve(t *testing.T) {
	db := writeDB(t, testPasswd, testGroup)
	cfg := testMaster(t, `
[users]
names = ["bob", "alice", "root", "daemon", "nobody-here", "dave", "alias", "wheel"]
groups = ["team", "users", "ghosts"]
`)
	cands, warnings, err := db.Resolve(cfg)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	var order []string
	for _, c := range cands {
		order = append(order, c.Name)
		if c.Refused != nil {
			if !errors.Is(c.Refused, errRefused) {
				t.Errorf("%s: refusal %v does not wrap errRefused", c.Name, c.Refused)
			}
			got[c.Name] = c.Refused.Error()
		} else {
			got[c.Name] = "ok"
		}
	}
	// names first, in their order, then group members sorted, each once.
	wantOrder := []string{"bob", "alice", "root", "daemon", "nobody-here", "dave", "alias", "wheel", "carol"}
	if d := cmp.Diff(wantOrder, order); d != "" {
		t.Errorf("order (-want +got):\n%s", d)
	}
	wantSub := map[string]string{
		"bob":         "ok",
		"alice":       "ok",
		"root":        "uid 0",
		"daemon":      "below min_uid 1000",
		"nobody-here": "no user",
		"dave":        "not a clean absolute path",
		"alias":       "already has a supervisor as alice",
		"wheel":       "group 0",
		"carol":       "ok",
	}
	for n, sub := range wantSub {
		if !strings.Contains(got[n], sub) {
			t.Errorf("%s: got %q, want it to contain %q", n, got[n], sub)
		}
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0], `no group "ghosts"`) || !strings.Contains(warnings[0], "roost.toml:4") {
		t.Errorf("warnings = %q, want one about group ghosts at roost.toml:4", warnings)
	}
	for _, c := range cands {
		switch c.Name {
		case "alice":
			want := Account{Name: "alice", UID: 1001, GID: 1002, Groups: []int{1001, 1002, 2000}, Home: "/home/alice", Shell: "/bin/bash"}
			if d := cmp.Diff(want, c.Account); d != "" {
				t.Errorf("alice (-want +got):\n%s", d)
			}
		case "carol":
			// An empty shell falls back to /bin/sh; the primary group counts.
			want := Account{Name: "carol", UID: 1003, GID: 100, Groups: []int{100, 2000}, Home: "/home/carol", Shell: "/bin/sh"}
			if d := cmp.Diff(want, c.Account); d != "" {
				t.Errorf("carol (-want +got):\n%s", d)
			}
		}
	}
}

func TestResolvePrimaryGroupMembers(t *testing.T) {
	db := writeDB(t, testPasswd, testGroup)
	// users (gid 100) lists nobody, but carol's primary group is users.
	cands, _, err := db.Resolve(testMaster(t, "[users]\ngroups = [\"users\"]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(cands) != 1 || cands[0].Name != "carol" || cands[0].Refused != nil {
		t.Fatalf("got %+v, want carol", cands)
	}
}

func TestResolveMinUID(t *testing.T) {
	db := writeDB(t, testPasswd, testGroup)
	cands, _, err := db.Resolve(testMaster(t, "[users]\nnames = [\"alice\", \"eve\"]\nmin_uid = 1005\n"))
	if err != nil {
		t.Fatal(err)
	}
	if cands[0].Refused == nil || !strings.Contains(cands[0].Refused.Error(), "uid 1001, below min_uid 1005") {
		t.Errorf("alice: %v", cands[0].Refused)
	}
	if cands[1].Refused != nil {
		t.Errorf("eve: %v", cands[1].Refused)
	}
}

func TestResolveMissingDatabase(t *testing.T) {
	db := UserDB{Passwd: filepath.Join(t.TempDir(), "none"), Group: "/etc/group"}
	if _, _, err := db.Resolve(testMaster(t, "")); err == nil {
		t.Fatal("no error for a missing passwd file")
	}
}
