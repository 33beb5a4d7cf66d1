package deploy

import (
	"os"
	"path/filepath"
)

// LocalEnv is what a project's own installs add to the environment of its
// programs, its build steps and roost exec: cpanm's local/ (`cpanm
// --installdeps -L local .`) as PERL5LIB=DIR/local/lib/perl5 and
// DIR/local/bin first on PATH, when DIR/local/lib/perl5 exists. getenv
// gives the values they extend; nil when dir has no local/.
//
// dir is the project as the programs see it: for a managed supervisor
// ~/current, the symlink, so a program started after a switch finds the
// new release's modules with the same variables.
func LocalEnv(dir string, getenv func(string) string) []string {
	lib := filepath.Join(dir, "local", "lib", "perl5")
	if fi, err := os.Stat(lib); err != nil || !fi.IsDir() {
		return nil
	}
	return []string{
		"PERL5LIB=" + prepend(lib, getenv("PERL5LIB")),
		"PATH=" + prepend(filepath.Join(dir, "local", "bin"), getenv("PATH")),
	}
}

// prepend puts dir first in a colon-separated list.
func prepend(dir, list string) string {
	if list == "" {
		return dir
	}
	return dir + string(filepath.ListSeparator) + list
}
