package config

import (
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"
)

// The [deploy] defaults.
const (
	DefaultDeployBranch  = "main"
	DefaultDeployRepo    = "repo.git"
	DefaultKeepReleases  = 5
	DefaultDeployTimeout = 10 * time.Minute
)

// MasterDeploy is roost.toml's [deploy] table: `git push` to a bare
// repository in each user's home builds a release and switches the
// project to it (package deploy; it all runs as the user).
type MasterDeploy struct {
	Enabled bool `json:"enabled"`
	// Branch is the branch whose pushes deploy; other branches are stored.
	Branch string `json:"branch"`
	// Repo is the bare repository, relative to the home.
	Repo string `json:"repo"`
	// KeepReleases is how many releases stay on disk (current and
	// previous always do).
	KeepReleases int `json:"keep_releases"`
	// Timeout bounds one build (unpack, installers, postinstall, check).
	Timeout time.Duration `json:"timeout"`
}

// deployFile is [deploy] as TOML decodes it.
type deployFile struct {
	Enabled      bool    `toml:"enabled"`
	Branch       *string `toml:"branch"`
	Repo         *string `toml:"repo"`
	KeepReleases *int    `toml:"keep_releases"`
	Timeout      *string `toml:"timeout"`
}

func init() { masterKeys["deploy"] = []string{"enabled", "branch", "repo", "keep_releases", "timeout"} }

// branchRE is the branch names [deploy] branch accepts: git's rules,
// narrowed to what is safe in a hook's argument and a log line.
var branchRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9._/-]{0,99}$`) })

// ValidateBranch checks a branch name before it reaches git or a ref.
func ValidateBranch(b string) error {
	if !branchRE().MatchString(b) || strings.Contains(b, "..") || strings.Contains(b, "//") ||
		strings.HasSuffix(b, "/") || strings.HasSuffix(b, ".lock") || strings.HasSuffix(b, ".") {
		return fmt.Errorf("%q is not a branch name roost accepts: use letters, digits, '_', '.', '-' and '/', e.g. \"main\"", b)
	}
	return nil
}

// masterDeploy validates [deploy] into m.Deploy.
func masterDeploy(raw *deployFile, m *Master, d *diagList, pos func(string) Pos) {
	dp := MasterDeploy{Enabled: raw.Enabled, Branch: DefaultDeployBranch, Repo: DefaultDeployRepo,
		KeepReleases: DefaultKeepReleases, Timeout: DefaultDeployTimeout}
	if raw.Branch != nil {
		dp.Branch = *raw.Branch
	}
	if err := ValidateBranch(dp.Branch); err != nil {
		d.errorf(pos("deploy.branch"), "deploy", "branch", "%v", err)
	}
	if raw.Repo != nil {
		dp.Repo = *raw.Repo
	}
	if p, err := homeRelative(dp.Repo); err != nil {
		d.errorf(pos("deploy.repo"), "deploy", "repo", "%v", err)
	} else if p == "." {
		d.errorf(pos("deploy.repo"), "deploy", "repo", "the home itself cannot be the repository: give a directory such as %q", DefaultDeployRepo)
	} else {
		dp.Repo = p
	}
	if raw.KeepReleases != nil {
		dp.KeepReleases = *raw.KeepReleases
		if dp.KeepReleases < 2 || dp.KeepReleases > 100 {
			d.errorf(pos("deploy.keep_releases"), "deploy", "keep_releases",
				"%d is out of range: give 2 to 100 (current and previous are always kept)", dp.KeepReleases)
		}
	}
	if raw.Timeout != nil {
		t, err := time.ParseDuration(*raw.Timeout)
		switch {
		case err != nil:
			d.errorf(pos("deploy.timeout"), "deploy", "timeout", "%q is not a duration: write e.g. \"10m\" or \"90s\"", *raw.Timeout)
		case t < time.Second || t > 24*time.Hour:
			d.errorf(pos("deploy.timeout"), "deploy", "timeout", "%q is out of range: give 1s to 24h", *raw.Timeout)
		default:
			dp.Timeout = t
		}
	}
	m.Deploy = dp
}

// Releases returns the directory of user name's releases, relative to the
// home: "releases" beside the project directory.
func (m *Master) Releases(name string) string {
	return filepath.Join(filepath.Dir(m.Project(name)), "releases")
}
