package config

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// SearchPaths returns where Find looks for a configuration, in order:
// supervisorctl's and supervisord's default search list without the two
// entries relative to the executable (meaningless for roost).
func SearchPaths(cwd string) []string {
	return []string{
		filepath.Join(cwd, "supervisord.conf"),
		filepath.Join(cwd, "etc", "supervisord.conf"),
		"/etc/supervisord.conf",
		"/etc/supervisor/supervisord.conf",
	}
}

// Find returns the first configuration that exists in SearchPaths(cwd),
// the way supervisord and supervisorctl find theirs without -c. When none
// exists, the error lists every path it tried.
func Find(cwd string) (string, error) {
	return find(SearchPaths(cwd))
}

func find(paths []string) (string, error) {
	for _, p := range paths {
		// os.path.exists: follows symlinks, so a dangling one does not count.
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("no configuration file found; searched %s; use -c FILE", strings.Join(paths, ", "))
}
