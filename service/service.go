// Package service gives a user their own database or cache, run as the user
// under their own supervisor: `roost service add postgres db`.
//
// A service NAME of kind TYPE lives in ~/services/NAME/ (0700; Root: the
// master may name another directory in ROOST_SERVICES_DIR): data/ the
// server's data directory, run/ (0700) its unix socket, service.json (0600)
// what roost knows of it (kind, port, password), and the server's own
// configuration where it has one. Its program section is written, with every
// other service's, to the services file (ConfFile, ~/.config/roost/
// services.conf, beside roost env's variables: deploy.ConfigDir), which
// the user's supervisor reads after the user's own configuration
// (LoadConfig): the user's supervisord.conf is never edited. Everything here runs as the user.
package service

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"roost/config"
	"roost/deploy"
)

// Priority is the priority= of every service program: below supervisord's
// default 999, so services start before the user's programs and stop after
// them.
const Priority = 100

// Service is one service, as service.json records it.
type Service struct {
	Name     string `json:"name"`
	Kind     string `json:"kind"`
	Port     int    `json:"port"`
	Password string `json:"password"`
	// Var is the variable `add` set to the URL (DATABASE_URL, REDIS_URL,
	// NAME_URL).
	Var string `json:"var"`
	// Dir is ~/services/NAME (not stored: found from the home).
	Dir string `json:"-"`
}

var nameRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[a-z][a-z0-9_-]{0,31}$`) })

var safePathRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^/[A-Za-z0-9/._-]*$`) })

// ValidateName checks a service name: it becomes a program name, a
// directory under ~/services and part of a variable name, so it is
// [a-z][a-z0-9_-]*, at most 32 characters.
func ValidateName(n string) error {
	if !nameRE().MatchString(n) {
		return fmt.Errorf("%.40q is not a service name: use a lower-case letter, then letters, digits, - or _ (at most 32)", n)
	}
	return nil
}

// DirVar is the variable naming the directory of the user's services:
// the master sets it in each user supervisor's environment from
// roost.toml services_dir (default ~/services).
const DirVar = config.EnvServicesDir

// Root is the directory of the user's services: $ROOST_SERVICES_DIR, else
// ~/services.
func Root(home string) string {
	if d := os.Getenv(DirVar); filepath.IsAbs(d) {
		return filepath.Clean(d)
	}
	return filepath.Join(home, "services")
}

// ConfFile is the services file the user's supervisor includes:
// services.conf beside the user's variables (deploy.ConfigDir).
func ConfFile(home string) string { return confFile(home, os.Getenv) }

func confFile(home string, lookup func(string) string) string {
	return filepath.Join(deploy.ConfigDir(home, lookup), "services.conf")
}

// WithServices returns the options that load a user's configuration as
// their supervisor runs it: opts, then the services file (opts.Extra),
// found from opts.Env when it is set (the supervisor's environment, as
// `roost check` and `roost doctor` have it; the first value of a key wins,
// as in the loader), else from this process's. roost run, roost check and
// roost doctor all load through here.
func WithServices(home string, opts config.LoadOptions) config.LoadOptions {
	lookup := os.Getenv
	if opts.Env != nil {
		lookup = func(k string) string {
			for _, kv := range opts.Env {
				if v, ok := strings.CutPrefix(kv, k+"="); ok {
					return v
				}
			}
			return ""
		}
	}
	opts.Extra = append(slices.Clip(opts.Extra), confFile(home, lookup))
	return opts
}

// ErrNoSuchService is returned for a name with no service.
var ErrNoSuchService = errors.New("no such service")

// Load reads the service NAME of the user whose home is home.
func Load(home, name string) (*Service, error) {
	if err := ValidateName(name); err != nil {
		return nil, err
	}
	dir := filepath.Join(Root(home), name)
	data, err := os.ReadFile(filepath.Join(dir, "service.json"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s: %w (roost service list shows yours)", name, ErrNoSuchService)
	}
	if err != nil {
		return nil, err
	}
	var s Service
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, "service.json"), err)
	}
	if s.Name != name || kinds[s.Kind] == nil {
		return nil, fmt.Errorf("%s: not a service roost wrote", filepath.Join(dir, "service.json"))
	}
	s.Dir = dir
	return &s, nil
}

// List reads every service of the user, by name.
func List(home string) ([]*Service, error) {
	ents, err := os.ReadDir(Root(home))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []*Service
	for _, e := range ents {
		if !e.IsDir() || ValidateName(e.Name()) != nil {
			continue
		}
		if _, err := os.Stat(filepath.Join(Root(home), e.Name(), "service.json")); err != nil {
			continue
		}
		s, err := Load(home, e.Name())
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func (s *Service) kind() *Kind { return kinds[s.Kind] }

// DataDir is the server's data directory.
func (s *Service) DataDir() string { return filepath.Join(s.Dir, "data") }

// SocketDir is the 0700 directory of the server's unix socket.
func (s *Service) SocketDir() string { return filepath.Join(s.Dir, "run") }

// URL is the TCP URL, with the password, the programs get.
func (s *Service) URL() string { return s.kind().url(s) }

func (s *Service) save() error {
	data, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	return writeFile(filepath.Join(s.Dir, "service.json"), append(data, '\n'), 0o600)
}

// writeFile writes a file by rename, so a reader sees the old or the new.
func writeFile(path string, data []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// password is 32 random hex digits: nothing any URL, shell or
// configuration syntax needs to quote.
func password() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}

// Add creates the service: checks the server is installed, makes
// ~/services/NAME, initialises the data directory with a new password,
// and rewrites the services file. port is the loopback port it listens
// on; urlVar the variable the caller sets to its URL.
func Add(home, kindName, name string, port int, urlVar string) (*Service, error) {
	k := kinds[kindName]
	if k == nil {
		return nil, fmt.Errorf("unknown service type %.20q: use %s", kindName, strings.Join(KindNames(), ", "))
	}
	if err := ValidateName(name); err != nil {
		return nil, err
	}
	if err := k.installed(); err != nil {
		return nil, err
	}
	if !safePathRE().MatchString(Root(home)) {
		return nil, fmt.Errorf("%.80q: roost writes service paths into server configurations; use a directory of letters, digits, / . _ - only (%s, or roost.toml services_dir)", Root(home), DirVar)
	}
	if err := os.MkdirAll(Root(home), 0o700); err != nil {
		return nil, err
	}
	dir := filepath.Join(Root(home), name)
	if err := os.Mkdir(dir, 0o700); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return nil, fmt.Errorf("%s exists: the service %s is there already (roost service info %s), or remove the directory", dir, name, name)
		}
		return nil, err
	}
	pw, err := password()
	if err != nil {
		return nil, err
	}
	s := &Service{Name: name, Kind: k.Name, Port: port, Password: pw, Var: urlVar, Dir: dir}
	err = func() error {
		if err := os.Mkdir(s.SocketDir(), 0o700); err != nil {
			return err
		}
		if err := k.init(s); err != nil {
			return fmt.Errorf("initialise %s: %w", s.DataDir(), err)
		}
		if err := s.save(); err != nil {
			return err
		}
		return WriteConf(home)
	}()
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return s, nil
}

// Delete removes the service's directory and rewrites the services file.
func (s *Service) Delete(home string) error {
	if err := os.RemoveAll(s.Dir); err != nil {
		return err
	}
	return WriteConf(home)
}

// WriteConf writes the services file from the services in ~/services.
func WriteConf(home string) error {
	list, err := List(home)
	if err != nil {
		return err
	}
	var b strings.Builder
	b.WriteString("; written by roost service: your services (roost service list). Do not edit:\n; roost rewrites this file at each roost service add and remove.\n")
	for _, s := range list {
		k := s.kind()
		fmt.Fprintf(&b, "\n[program:%s]\ncommand=%s\ndirectory=%s\npriority=%d\nautostart=true\nautorestart=true\nstartsecs=1\nstopsignal=%s\nstopwaitsecs=60\nredirect_stderr=true\n",
			s.Name, confQuote(k.command(s)), confValue(s.Dir), Priority, k.StopSignal)
	}
	file := ConfFile(home)
	if err := os.MkdirAll(filepath.Dir(file), 0o700); err != nil {
		return err
	}
	return writeFile(file, []byte(b.String()), 0o600)
}

// confValue doubles % for supervisord's expansions.
func confValue(s string) string { return strings.ReplaceAll(s, "%", "%%") }

// confQuote joins argv for command=: shlex-quoted words, % doubled.
func confQuote(argv []string) string {
	var w []string
	for _, a := range argv {
		if a != "" && strings.Trim(a, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./=:,@") == "" {
			w = append(w, confValue(a))
			continue
		}
		w = append(w, "'"+confValue(strings.ReplaceAll(a, "'", `'"'"'`))+"'")
	}
	return strings.Join(w, " ")
}

// Size is the bytes the service's directory holds.
func (s *Service) Size() int64 {
	var n int64
	filepath.WalkDir(s.Dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}

// NeedsStopForRestore says whether Restore needs the server stopped (the
// caller stops it before and starts it after).
func (s *Service) NeedsStopForRestore() bool { return s.kind().restoreStopped }

// Dump writes a dump of the running server to file.
func (s *Service) Dump(file string) error { return s.kind().dump(s, file) }

// Restore loads file, a dump Dump wrote, into the server.
func (s *Service) Restore(file string) error { return s.kind().restore(s, file) }

// Client is the command line of the server's own client, connected
// through the unix socket, with the password in its environment (never
// in argv, which every user may read): for `roost service` tests and
// users alike.
func (s *Service) Client() (argv, env []string) { return s.kind().client(s) }

// Ready waits, at most limit, until the server answers its own client
// through the socket (a program RUNNING may still be starting up).
func (s *Service) Ready(limit time.Duration) error {
	argv, env := s.Client()
	argv = append(argv, s.kind().ping...)
	deadline := time.Now().Add(limit)
	for {
		err := run(argv, env, nil, nil)
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(200 * time.Millisecond)
	}
}
