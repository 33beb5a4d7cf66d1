package deploy

import (
	"os"
	"path/filepath"
	"strings"
	"time"

	"roost/config"
)

// Layout is where one user's deploy lives (absolute paths) and its
// settings from roost.toml [deploy].
type Layout struct {
	Home     string
	Repo     string // the bare repository
	Current  string // the project: a symlink to a release
	Releases string // RELEASES/<id>/ and RELEASES/.roost/
	LogDir   string // build logs go to LogDir/deploy/<id>.log
	Branch   string
	Keep     int
	Timeout  time.Duration
	// Socket is the user's supervisor's control socket ("" or missing:
	// nothing to restart).
	Socket string
	// Roost is the roost executable the check step runs.
	Roost string
	// DefaultHost is the name a Procfile's web is routed to: the first
	// of roost.toml's [proxy] hosts without a wildcard, for this user
	// ("" when there is none, or no proxy).
	DefaultHost string
}

// LayoutFor is user name's layout under roost.toml m, with home the
// user's home directory.
func LayoutFor(m *config.Master, name, home string) Layout {
	exe, err := os.Executable()
	if err != nil {
		exe = "roost"
	}
	host := ""
	if m.Proxy.Enabled {
		for _, h := range m.Proxy.Hosts {
			if !strings.Contains(h, "*") {
				host = strings.ReplaceAll(h, "{user}", name)
				break
			}
		}
	}
	return Layout{
		DefaultHost: host,
		Home:        home,
		Repo:        filepath.Join(home, m.Deploy.Repo),
		Current:     filepath.Join(home, m.Project(name)),
		Releases:    filepath.Join(home, m.Releases(name)),
		LogDir:      filepath.Join(home, m.LogDir(name)),
		Branch:      m.Deploy.Branch,
		Keep:        m.Deploy.KeepReleases,
		Timeout:     m.Deploy.Timeout,
		Socket:      filepath.Join(m.RunDir, "users", name, "roost.sock"),
		Roost:       exe,
	}
}

// metaDir holds the releases' records and the deploy lock.
func (l Layout) metaDir() string { return filepath.Join(l.Releases, ".roost") }
