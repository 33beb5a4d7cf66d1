package deploy

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"

	"roost/config"
)

// The user's configuration variables (`roost env set KEY=VALUE`), as
// Heroku's and piku's config:set: one file the user owns, mode 0600, given
// to every program (by the user's supervisor, at each load of the
// configuration) and to the build. Values never appear in logs.

// EnvVar is one variable.
type EnvVar struct{ Key, Value string }

// ConfigDirVar is the variable naming the directory of the user's roost
// files: the master sets it in each user supervisor's environment from
// roost.toml config_dir (default ~/.config/roost).
const ConfigDirVar = config.EnvConfigDir

// ConfigDir is the directory of the user's roost files (this file, the
// services file) as lookup (os.Getenv, or a supervisor's environment) has
// it: $ROOST_CONFIG_DIR, else $XDG_CONFIG_HOME/roost, else ~/.config/roost.
func ConfigDir(home string, lookup func(string) string) string {
	if x := lookup(ConfigDirVar); filepath.IsAbs(x) {
		return filepath.Clean(x)
	}
	if x := lookup("XDG_CONFIG_HOME"); filepath.IsAbs(x) {
		return filepath.Join(x, "roost")
	}
	return filepath.Join(home, ".config", "roost")
}

// EnvFile is the file: env in ConfigDir.
func EnvFile(home string) string { return filepath.Join(ConfigDir(home, os.Getenv), "env") }

var envKeyRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,127}$`) })

// ValidateEnvKey checks a key: [A-Za-z_][A-Za-z0-9_]*, and not one the
// master or the supervisor sets (PORT, ROOST_*, SUPERVISOR_*, HOME, USER,
// LOGNAME).
func ValidateEnvKey(k string) error {
	if !envKeyRE().MatchString(k) {
		return fmt.Errorf("%.40q is not a variable name: use [A-Za-z_][A-Za-z0-9_]*", k)
	}
	if k == "PORT" || k == "HOME" || k == "USER" || k == "LOGNAME" || strings.HasPrefix(k, "ROOST_") || strings.HasPrefix(k, "SUPERVISOR_") {
		return fmt.Errorf("%s is set by roost (the master or your supervisor): choose another name", k)
	}
	return nil
}

// ReadEnv reads the file; a missing file is no variables.
func ReadEnv(path string) ([]EnvVar, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []EnvVar
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, q, ok := strings.Cut(line, "=")
		v, err := strconv.Unquote(q)
		if !ok || err != nil || ValidateEnvKey(k) != nil {
			return nil, fmt.Errorf("%s:%d: not KEY=\"VALUE\" (roost env set writes this file; fix or remove the line)", path, n)
		}
		out = append(out, EnvVar{k, v})
	}
	return out, sc.Err()
}

// WriteEnv replaces the file with vars (sorted by key), mode 0600.
func WriteEnv(path string, vars []EnvVar) error {
	slices.SortFunc(vars, func(a, b EnvVar) int { return strings.Compare(a.Key, b.Key) })
	var b strings.Builder
	b.WriteString("# roost env set/unset writes this file; every program and build gets these variables\n")
	for _, v := range vars {
		fmt.Fprintf(&b, "%s=%s\n", v.Key, strconv.Quote(v.Value))
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(b.String()), 0o600); err != nil {
		return err
	}
	if err := os.Chmod(tmp, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// SetEnv sets (value != nil) or unsets keys in vars and returns the result.
func SetEnv(vars []EnvVar, key string, value *string) []EnvVar {
	out := slices.DeleteFunc(slices.Clone(vars), func(v EnvVar) bool { return v.Key == key })
	if value != nil {
		out = append(out, EnvVar{key, *value})
	}
	return out
}
