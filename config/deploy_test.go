package config

import (
	"strings"
	"testing"
	"time"
)

func TestParseMasterDeploy(t *testing.T) {
	m, err := ParseMaster("roost.toml", nil)
	if err != nil {
		t.Fatal(err)
	}
	want := MasterDeploy{Branch: "main", Repo: "repo.git", KeepReleases: 5, Timeout: 10 * time.Minute}
	if m.Deploy != want {
		t.Errorf("defaults: %+v, want %+v", m.Deploy, want)
	}
	if got := m.Releases("alice"); got != "releases" {
		t.Errorf("releases of project current: %q", got)
	}
	m, err = ParseMaster("roost.toml", []byte("[users]\nproject = \"apps/site/current\"\n[deploy]\nenabled = true\nbranch = \"prod/v2\"\n"+
		"repo = \"git/site.git\"\nkeep_releases = 3\ntimeout = \"90s\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	want = MasterDeploy{Enabled: true, Branch: "prod/v2", Repo: "git/site.git", KeepReleases: 3, Timeout: 90 * time.Second}
	if m.Deploy != want {
		t.Errorf("set: %+v, want %+v", m.Deploy, want)
	}
	if got := m.Releases("alice"); got != "apps/site/releases" {
		t.Errorf("releases beside apps/site/current: %q", got)
	}
}

func TestParseMasterDeployErrors(t *testing.T) {
	for _, tt := range []struct{ src, want string }{
		{"[deploy]\nenabeld = true\n", `roost.toml:2: [deploy] enabeld: unknown key (did you mean enabled?)`},
		{"[deploy]\nbranch = \"-x\"\n", `roost.toml:2: [deploy] branch: "-x" is not a branch name`},
		{"[deploy]\nbranch = \"a..b\"\n", `roost.toml:2: [deploy] branch: "a..b" is not a branch name`},
		{"[deploy]\nbranch = \"a;rm -rf /\"\n", `[deploy] branch: "a;rm -rf /" is not a branch name`},
		{"[deploy]\nrepo = \"/srv/git\"\n", `roost.toml:2: [deploy] repo: "/srv/git" must be relative to the user's home`},
		{"[deploy]\nrepo = \"../bob/repo.git\"\n", `roost.toml:2: [deploy] repo: "../bob/repo.git" leaves the user's home`},
		{"[deploy]\nrepo = \".\"\n", `[deploy] repo: the home itself cannot be the repository`},
		{"[deploy]\n\nkeep_releases = 1\n", `roost.toml:3: [deploy] keep_releases: 1 is out of range`},
		{"[deploy]\ntimeout = \"10 minutes\"\n", `roost.toml:2: [deploy] timeout: "10 minutes" is not a duration`},
		{"[deploy]\ntimeout = \"0s\"\n", `roost.toml:2: [deploy] timeout: "0s" is out of range`},
		{"[deploy]\ntimeout = 600\n", `roost.toml:2: [deploy] timeout: incompatible types`},
	} {
		_, err := ParseMaster("roost.toml", []byte(tt.src))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: got %v, want %q", tt.src, err, tt.want)
		}
	}
}
