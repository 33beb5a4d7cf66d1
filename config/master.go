package config

import (
	"bytes"
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/BurntSushi/toml"
)

// DefaultMasterFile is where `roost master` reads its configuration.
const DefaultMasterFile = "/etc/roost/roost.toml"

// The master's defaults, in one place.
const (
	DefaultRunDir   = "/run/roost"
	DefaultStateDir = "/var/lib/roost"
	DefaultProject  = "current"
	DefaultMinUID   = 1000
	DefaultLogDir   = "log"
	// DefaultConfigDir holds a user's roost files (roost env's variables,
	// the services file); DefaultServicesDir their services' data.
	DefaultConfigDir    = ".config/roost"
	DefaultServicesDir  = "services"
	DefaultPath         = "/usr/local/bin:/usr/bin:/bin"
	DefaultLang         = "C.UTF-8"
	DefaultPortRange    = "20000-29999"
	DefaultPortsPerUser = 10
	DefaultStopWaitSecs = 60
)

// The [proxy] defaults: Debian's nginx layout.
const (
	DefaultProxyListen    = "80"
	DefaultProxyOutput    = "/etc/nginx/conf.d/roost.conf"
	DefaultCommandTimeout = 30 * time.Second
	// DefaultReloadInterval is [proxy] reload_interval: nginx reloads at
	// most once in this time, whoever's changes it carries.
	DefaultReloadInterval = 3 * time.Second
)

// DefaultTestCommand and DefaultReloadCommand are [proxy] test_command and
// reload_command when roost.toml does not set them.
var (
	DefaultTestCommand   = []string{"nginx", "-t"}
	DefaultReloadCommand = []string{"nginx", "-s", "reload"}
)

// maxMasterFile bounds roost.toml's size.
const maxMasterFile = 1 << 20

// maxRunDir bounds run_dir so that {run_dir}/users/{name}/roost.sock, with a
// name of MaxUserName bytes, fits a unix socket path (107 bytes).
const maxRunDir = 107 - len("/users/") - MaxUserName - len("/roost.sock")

// MaxUserName is the longest user or group name roost accepts (useradd's
// limit).
const MaxUserName = 32

// Master is the root master's configuration, roost.toml. Every field is
// validated by LoadMaster; paths are absolute and clean.
type Master struct {
	File     string `json:"file"`
	RunDir   string `json:"run_dir"`   // {run_dir}/master.sock, {run_dir}/users/{user}/roost.sock
	StateDir string `json:"state_dir"` // persistent state: the port blocks

	Users MasterUsers `json:"users"`
	// User holds the [user.NAME] overrides, by user name.
	User  map[string]UserOverride `json:"user,omitempty"`
	Ports PortRange               `json:"ports"`
	Proxy MasterProxy             `json:"proxy"`
	TLS   MasterTLS               `json:"tls"`
	// Limits are the [limits] defaults for every user (see LimitsFor).
	Limits Limits `json:"limits"`
	// Deploy is [deploy]: git push to a repository in the home.
	Deploy MasterDeploy `json:"deploy"`
	// Metrics is [metrics]: the master's Prometheus endpoint.
	Metrics MasterMetrics `json:"metrics"`

	// Pos is where each key was set, by dotted key ("users.min_uid"), for
	// errors found after loading (e.g. a group that does not exist).
	Pos map[string]Pos `json:"-"`
}

// MasterUsers is the [users] table: who gets a supervisor, and how it runs.
type MasterUsers struct {
	Names   []string `json:"names"`   // these users…
	Groups  []string `json:"groups"`  // …and the members of these groups
	Project string   `json:"project"` // the project directory, relative to the home
	LogDir  string   `json:"log_dir"` // the supervisor's log directory, relative to the home
	// ConfigDir (roost env's variables, the services file) and ServicesDir
	// (the services' data), relative to the home: the supervisor gets them
	// as ROOST_CONFIG_DIR and ROOST_SERVICES_DIR.
	ConfigDir   string `json:"config_dir"`
	ServicesDir string `json:"services_dir"`
	MinUID      int    `json:"min_uid"` // lower uids are refused; uid 0 always is
	// Path and Lang are PATH and LANG in the user supervisor's environment.
	Path string `json:"path"`
	Lang string `json:"lang"`
	// StopWait is how long a user supervisor has, after SIGTERM, to stop
	// its programs and exit before the master kills what is left. It
	// should exceed the largest stopwaitsecs of the users' programs.
	StopWait time.Duration `json:"stopwaitsecs"`
}

// UserOverride is one [user.NAME] table.
type UserOverride struct {
	Project string `json:"project,omitempty" toml:"project"` // "" keeps [users] project
	LogDir  string `json:"log_dir,omitempty" toml:"log_dir"` // "" keeps [users] log_dir
	// "" keeps [users] config_dir and services_dir.
	ConfigDir   string `json:"config_dir,omitempty" toml:"config_dir"`
	ServicesDir string `json:"services_dir,omitempty" toml:"services_dir"`
	// Hosts are extra host names or "*." wildcards the admin grants this
	// user, beyond [proxy] hosts; a granted name is reserved for the user.
	Hosts []string `json:"hosts,omitempty" toml:"hosts"`
	// TLS = false opts the user's hosts out of [tls] certificates.
	TLS *bool `json:"tls,omitempty" toml:"tls"`
	// Limits is [user.NAME.limits]: each key set replaces [limits]'.
	Limits *Limits `json:"limits,omitempty" toml:"-"`
}

// PortRange is the [ports] table: each user gets a stable block of PerUser
// ports inside First..Last.
type PortRange struct {
	First   int `json:"first"`
	Last    int `json:"last"`
	PerUser int `json:"per_user"`
}

// Blocks returns how many whole blocks the range holds.
func (p PortRange) Blocks() int {
	if p.PerUser <= 0 || p.Last < p.First {
		return 0
	}
	return (p.Last - p.First + 1) / p.PerUser
}

// MasterProxy is the [proxy] table: HTTP routing of the users' [proxy:NAME]
// sections through one nginx. The master validates Listen, Hosts, the
// grants and the limits with config/nginx when it loads the file.
type MasterProxy struct {
	Enabled bool `json:"enabled"`
	// Listen holds nginx listen addresses ("80", "127.0.0.1:8080",
	// "[::]:80"); every user's server block listens on all of them.
	Listen []string `json:"listen"`
	// Output is the file the master writes: an absolute path nginx's main
	// configuration includes in its http block (conf.d/*.conf).
	Output string `json:"output"`
	// TestCommand checks nginx's whole configuration once Output holds the
	// candidate ("nginx -t"); ReloadCommand makes nginx load it. They run
	// as root with a clean environment, within CommandTimeout.
	TestCommand    []string      `json:"test_command"`
	ReloadCommand  []string      `json:"reload_command"`
	CommandTimeout time.Duration `json:"command_timeout"`
	// ReloadInterval is the least time between two installs (each one
	// nginx -t and one reload): changes made meanwhile are coalesced and
	// the latest wins, so a user rewriting their file in a loop cannot
	// make nginx reload (and keep old workers) faster than this.
	ReloadInterval time.Duration `json:"reload_interval"`
	// Hosts are the host patterns any user may claim: "{user}" stands for
	// the user's name, a leading "*." for one or more labels.
	Hosts []string `json:"hosts"`
	// MaxBodySize caps a route's max_body_size, in bytes; 0: no cap.
	MaxBodySize int64 `json:"max_body_size,omitempty"`
	// ServerNamesHashBucketSize and ServerNamesHashMaxSize are written
	// as nginx's directives of the same names when positive.
	ServerNamesHashBucketSize int `json:"server_names_hash_bucket_size,omitempty"`
	ServerNamesHashMaxSize    int `json:"server_names_hash_max_size,omitempty"`
	// DefaultServer adds a default server answering 421 to any Host no
	// route claims (default true); turn it off only when the main
	// configuration has its own default_server on the same addresses.
	DefaultServer bool `json:"default_server"`
}

// Project returns the project directory of user name, relative to its home.
func (m *Master) Project(name string) string {
	if o, ok := m.User[name]; ok && o.Project != "" {
		return o.Project
	}
	return m.Users.Project
}

// LogDir returns the log directory of user name, relative to its home.
func (m *Master) LogDir(name string) string {
	if o, ok := m.User[name]; ok && o.LogDir != "" {
		return o.LogDir
	}
	return m.Users.LogDir
}

// ConfigDir returns the directory of user name's roost files (ROOST_CONFIG_DIR),
// relative to its home.
func (m *Master) ConfigDir(name string) string {
	if o, ok := m.User[name]; ok && o.ConfigDir != "" {
		return o.ConfigDir
	}
	return m.Users.ConfigDir
}

// ServicesDir returns the directory of user name's services
// (ROOST_SERVICES_DIR), relative to its home.
func (m *Master) ServicesDir(name string) string {
	if o, ok := m.User[name]; ok && o.ServicesDir != "" {
		return o.ServicesDir
	}
	return m.Users.ServicesDir
}

// PosOf returns where key (dotted, e.g. "users.groups") was set, or the
// file alone when it was not.
func (m *Master) PosOf(key string) Pos {
	if p, ok := m.Pos[key]; ok {
		return p
	}
	return Pos{File: m.File}
}

// masterFile is roost.toml as TOML decodes it, before validation.
type masterFile struct {
	RunDir   *string `toml:"run_dir"`
	StateDir *string `toml:"state_dir"`
	Users    struct {
		Names        []string `toml:"names"`
		Groups       []string `toml:"groups"`
		Project      *string  `toml:"project"`
		LogDir       *string  `toml:"log_dir"`
		ConfigDir    *string  `toml:"config_dir"`
		ServicesDir  *string  `toml:"services_dir"`
		MinUID       *int     `toml:"min_uid"`
		Path         *string  `toml:"path"`
		Lang         *string  `toml:"lang"`
		StopWaitSecs *int     `toml:"stopwaitsecs"`
	} `toml:"users"`
	User  map[string]UserOverride `toml:"user"`
	Ports struct {
		Range   *string `toml:"range"`
		PerUser *int    `toml:"per_user"`
	} `toml:"ports"`
	Proxy struct {
		Enabled                   bool      `toml:"enabled"`
		Listen                    any       `toml:"listen"`
		Output                    *string   `toml:"output"`
		TestCommand               *[]string `toml:"test_command"`
		ReloadCommand             *[]string `toml:"reload_command"`
		CommandTimeout            *int      `toml:"command_timeout"`
		ReloadInterval            *int      `toml:"reload_interval"`
		Hosts                     []string  `toml:"hosts"`
		MaxBodySize               any       `toml:"max_body_size"`
		ServerNamesHashBucketSize int       `toml:"server_names_hash_bucket_size"`
		ServerNamesHashMaxSize    int       `toml:"server_names_hash_max_size"`
		DefaultServer             *bool     `toml:"default_server"`
	} `toml:"proxy"`
	TLS     rawTLS     `toml:"tls"`
	Deploy  deployFile `toml:"deploy"`
	Metrics struct {
		Listen *string `toml:"listen"`
	} `toml:"metrics"`
}

// masterKeys are the keys roost.toml may hold, for "did you mean".
var masterKeys = map[string][]string{
	"":        {"run_dir", "state_dir", "users", "user", "ports", "proxy", "tls", "limits", "deploy", "metrics"},
	"metrics": {"listen"},
	"users":   {"names", "groups", "project", "log_dir", "config_dir", "services_dir", "min_uid", "path", "lang", "stopwaitsecs"},
	"user.":   {"project", "log_dir", "config_dir", "services_dir", "hosts", "tls", "limits"},
	"tls":     {"acme", "email", "listen", "directory", "ca_roots", "redirect_http", "skip_hosts"},
	"ports":   {"range", "per_user"},
	"proxy": {"enabled", "listen", "output", "test_command", "reload_command", "command_timeout", "reload_interval", "hosts",
		"max_body_size", "server_names_hash_bucket_size", "server_names_hash_max_size", "default_server"},
}

// LoadMaster reads and validates roost.toml. On any error it returns a
// *Error listing every problem with its file:line (and no Master); unknown
// keys are errors.
func LoadMaster(path string) (*Master, error) {
	data, err := readRegularFile(path, maxMasterFile)
	if err != nil {
		return nil, &Error{Diagnostics: []Diagnostic{{Pos: Pos{File: path}, Message: "cannot read: " + err.Error()}}}
	}
	return ParseMaster(path, data)
}

// ParseMaster validates the roost.toml content data read from file.
func ParseMaster(file string, data []byte) (*Master, error) {
	var raw masterFile
	var d diagList
	md, err := toml.NewDecoder(bytes.NewReader(data)).Decode(&raw)
	lines := tomlKeyLines(data)
	pos := func(key string) Pos { return Pos{File: file, Line: lines[key]} }
	if err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			section, key := splitKey(pe.LastKey)
			d.errorf(Pos{File: file, Line: pe.Position.Line}, section, key, "%s", oneLine(pe.Message))
		} else if m := decodeErrRE().FindStringSubmatch(err.Error()); m != nil {
			// A type mismatch: "toml: line 2 (last key "ports.per_user"): …".
			line, _ := strconv.Atoi(m[1])
			section, key := splitKey(m[2])
			d.errorf(Pos{File: file, Line: line}, section, key, "%s", oneLine(m[3]))
		} else {
			d.errorf(Pos{File: file}, "", "", "%s", oneLine(strings.TrimPrefix(err.Error(), "toml: ")))
		}
		return nil, &Error{Diagnostics: d.errs}
	}
	for _, k := range md.Undecoded() {
		if isLimitsKey(k) {
			continue // masterLimits decodes them
		}
		ks := k.String()
		section, key := splitKey(ks)
		cands := masterKeys[section]
		if len(k) == 3 && k[0] == "user" {
			section, key = "user."+k[1], k[2]
			cands = masterKeys["user."]
		}
		d.errorf(pos(ks), section, key, "unknown key%s", didYouMean(key, cands))
	}

	m := &Master{
		File:     file,
		RunDir:   DefaultRunDir,
		StateDir: DefaultStateDir,
		Users: MasterUsers{
			Names:       raw.Users.Names,
			Groups:      raw.Users.Groups,
			Project:     DefaultProject,
			LogDir:      DefaultLogDir,
			ConfigDir:   DefaultConfigDir,
			ServicesDir: DefaultServicesDir,
			MinUID:      DefaultMinUID,
			Path:        DefaultPath,
			Lang:        DefaultLang,
			StopWait:    DefaultStopWaitSecs * time.Second,
		},
		User:  map[string]UserOverride{},
		Ports: PortRange{PerUser: DefaultPortsPerUser},
		Proxy: MasterProxy{
			Enabled:        raw.Proxy.Enabled,
			Listen:         []string{DefaultProxyListen},
			Output:         DefaultProxyOutput,
			TestCommand:    slices.Clone(DefaultTestCommand),
			ReloadCommand:  slices.Clone(DefaultReloadCommand),
			CommandTimeout: DefaultCommandTimeout,
			ReloadInterval: DefaultReloadInterval,
			Hosts:          raw.Proxy.Hosts,
			DefaultServer:  true,

			ServerNamesHashBucketSize: raw.Proxy.ServerNamesHashBucketSize,
			ServerNamesHashMaxSize:    raw.Proxy.ServerNamesHashMaxSize,
		},
		Pos: map[string]Pos{},
	}
	for k, line := range lines {
		m.Pos[k] = Pos{File: file, Line: line}
	}

	if raw.RunDir != nil {
		m.RunDir = *raw.RunDir
	}
	if p, err := rootPath(m.RunDir); err != nil {
		d.errorf(pos("run_dir"), "", "run_dir", "%v", err)
	} else if len(p) > maxRunDir {
		d.errorf(pos("run_dir"), "", "run_dir", "%q is %d bytes; at most %d fit a user's socket path "+
			"({run_dir}/users/{user}/roost.sock must stay under 108 bytes): choose a shorter directory", p, len(p), maxRunDir)
	} else {
		m.RunDir = p
	}
	if raw.StateDir != nil {
		m.StateDir = *raw.StateDir
	}
	if p, err := rootPath(m.StateDir); err != nil {
		d.errorf(pos("state_dir"), "", "state_dir", "%v", err)
	} else {
		m.StateDir = p
	}

	seen := map[string]bool{}
	for _, n := range m.Users.Names {
		if err := ValidateUserName(n); err != nil {
			d.errorf(pos("users.names"), "users", "names", "%v", err)
		} else if seen[n] {
			d.errorf(pos("users.names"), "users", "names", "%q is listed twice", n)
		}
		seen[n] = true
	}
	seen = map[string]bool{}
	for _, g := range m.Users.Groups {
		if err := ValidateUserName(g); err != nil {
			d.errorf(pos("users.groups"), "users", "groups", "%v", err)
		} else if seen[g] {
			d.errorf(pos("users.groups"), "users", "groups", "%q is listed twice", g)
		}
		seen[g] = true
	}
	if raw.Users.Project != nil {
		m.Users.Project = *raw.Users.Project
	}
	if p, err := homeRelative(m.Users.Project); err != nil {
		d.errorf(pos("users.project"), "users", "project", "%v", err)
	} else {
		m.Users.Project = p
	}
	for _, f := range []struct {
		key string
		raw *string
		val *string
	}{
		{"log_dir", raw.Users.LogDir, &m.Users.LogDir},
		{"config_dir", raw.Users.ConfigDir, &m.Users.ConfigDir},
		{"services_dir", raw.Users.ServicesDir, &m.Users.ServicesDir},
	} {
		if f.raw != nil {
			*f.val = *f.raw
		}
		if p, err := homeRelative(*f.val); err != nil {
			d.errorf(pos("users."+f.key), "users", f.key, "%v", err)
		} else {
			*f.val = p
		}
	}
	if raw.Users.MinUID != nil {
		m.Users.MinUID = *raw.Users.MinUID
		if m.Users.MinUID < 1 {
			d.errorf(pos("users.min_uid"), "users", "min_uid",
				"%d is not allowed: root (uid 0) never gets a supervisor; use 1000 (the usual first human uid) or more",
				m.Users.MinUID)
		}
	}
	if raw.Users.Path != nil {
		m.Users.Path = *raw.Users.Path
	}
	if err := validatePathList(m.Users.Path); err != nil {
		d.errorf(pos("users.path"), "users", "path", "%v", err)
	}
	if raw.Users.Lang != nil {
		m.Users.Lang = *raw.Users.Lang
	}
	if !langRE().MatchString(m.Users.Lang) {
		d.errorf(pos("users.lang"), "users", "lang", "%q is not a locale name such as \"C.UTF-8\" or \"en_US.UTF-8\"", m.Users.Lang)
	}
	if raw.Users.StopWaitSecs != nil {
		s := *raw.Users.StopWaitSecs
		if s < 1 || s > 3600 {
			d.errorf(pos("users.stopwaitsecs"), "users", "stopwaitsecs", "%d is out of range: give seconds from 1 to 3600", s)
		} else {
			m.Users.StopWait = time.Duration(s) * time.Second
		}
	}

	names := make([]string, 0, len(raw.User))
	for n := range raw.User {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		o := raw.User[n]
		section := "user." + n
		key := toml.Key{"user", n}.String()
		if err := ValidateUserName(n); err != nil {
			d.errorf(pos(key), section, "", "%v", err)
			continue
		}
		if o.Project != "" {
			p, err := homeRelative(o.Project)
			if err != nil {
				d.errorf(pos(key+".project"), section, "project", "%v", err)
			}
			o.Project = p
		}
		for _, f := range []struct {
			key string
			val *string
		}{{"log_dir", &o.LogDir}, {"config_dir", &o.ConfigDir}, {"services_dir", &o.ServicesDir}} {
			if *f.val != "" {
				p, err := homeRelative(*f.val)
				if err != nil {
					d.errorf(pos(key+"."+f.key), section, f.key, "%v", err)
				}
				*f.val = p
			}
		}
		m.User[n] = o
	}

	masterLimits(data, m, &d, pos)
	masterProxy(&raw, m, &d, pos)
	masterTLS(&raw.TLS, m, &d, pos)
	masterDeploy(&raw.Deploy, m, &d, pos)
	if raw.Metrics.Listen != nil {
		if err := ValidateMetricsListen(*raw.Metrics.Listen); err != nil {
			d.errorf(pos("metrics.listen"), "metrics", "listen", "%v", err)
		} else {
			m.Metrics.Listen = *raw.Metrics.Listen
		}
	}

	rng := DefaultPortRange
	if raw.Ports.Range != nil {
		rng = *raw.Ports.Range
	}
	if first, last, err := parsePortRange(rng); err != nil {
		d.errorf(pos("ports.range"), "ports", "range", "%v", err)
	} else {
		m.Ports.First, m.Ports.Last = first, last
	}
	if raw.Ports.PerUser != nil {
		m.Ports.PerUser = *raw.Ports.PerUser
	}
	if m.Ports.PerUser < 1 || m.Ports.PerUser > 1000 {
		d.errorf(pos("ports.per_user"), "ports", "per_user", "%d is out of range: give 1 to 1000 ports per user", m.Ports.PerUser)
	} else if m.Ports.First > 0 && m.Ports.Blocks() == 0 {
		d.errorf(pos("ports.per_user"), "ports", "per_user", "%d ports per user do not fit the range %d-%d (%d ports)",
			m.Ports.PerUser, m.Ports.First, m.Ports.Last, m.Ports.Last-m.Ports.First+1)
	}

	if len(d.errs) > 0 {
		sortDiagnostics(d.errs, []string{file})
		return nil, &Error{Diagnostics: d.errs}
	}
	return m, nil
}

// oneLine keeps a message from the TOML decoder on one line: it may quote
// the input, newlines and control characters included.
func oneLine(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '\n':
			b.WriteString(`\n`)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\x%02x`, r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// decodeErrRE matches the errors toml's decoder returns for a value of the
// wrong type. This file's regexps are compiled on first use: every roost
// command would pay for them at start, and only the master uses them.
var decodeErrRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^toml: line (\d+) \(last key "([^"]*)"\): (.*)$`) })

// splitKey splits a dotted TOML key into its table and last key.
func splitKey(k string) (section, key string) {
	if i := strings.LastIndexByte(k, '.'); i >= 0 {
		return k[:i], k[i+1:]
	}
	return "", k
}

// userNameRE is what roost accepts as a user or group name: the portable
// POSIX set useradd accepts, which keeps names safe in paths and logs.
var userNameRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[a-z_][a-z0-9_.-]*\$?$`) })

// ValidateUserName checks a user or group name before it reaches a path, a
// lookup or a log: lower-case letters, digits, '_', '.', '-' (not first),
// at most MaxUserName bytes.
func ValidateUserName(n string) error {
	switch {
	case n == "":
		return errors.New("empty user or group name")
	case len(n) > MaxUserName:
		return fmt.Errorf("%.40q is longer than %d bytes, which no unix user or group name is", n, MaxUserName)
	case !userNameRE().MatchString(n):
		return fmt.Errorf("%q is not a valid user or group name: use lower-case letters, digits, '_', '.' and '-', "+
			"starting with a letter or '_'", n)
	}
	return nil
}

// langRE matches locale names: "C", "C.UTF-8", "en_US.UTF-8", "de_DE@euro".
var langRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_.@-]{0,63}$`) })

// rootPath checks a directory the master owns: absolute, clean, nothing
// odd in it.
func rootPath(p string) (string, error) {
	if !filepath.IsAbs(p) {
		return "", fmt.Errorf("%q is not an absolute path", p)
	}
	if strings.ContainsAny(p, "\x00\n\r") {
		return "", fmt.Errorf("%q contains a control character", p)
	}
	c := filepath.Clean(p)
	if c == "/" {
		return "", errors.New(`"/" cannot be roost's directory: give a directory of its own`)
	}
	return c, nil
}

// homeRelative checks a path inside the users' homes: relative, without
// "..", clean. "." is the home itself.
func homeRelative(p string) (string, error) {
	if p == "" {
		return "", errors.New("empty path: give a directory relative to the home, e.g. \"current\"")
	}
	if filepath.IsAbs(p) || strings.HasPrefix(p, "~") {
		return "", fmt.Errorf("%q must be relative to the user's home, e.g. \"current\" for ~/current", p)
	}
	if strings.ContainsAny(p, "\x00\n\r") {
		return "", fmt.Errorf("%q contains a control character", p)
	}
	c := filepath.Clean(p)
	if c == ".." || strings.HasPrefix(c, "../") {
		return "", fmt.Errorf("%q leaves the user's home", p)
	}
	return c, nil
}

// validatePathList checks a PATH value: absolute directories, ':'-separated.
func validatePathList(s string) error {
	if s == "" {
		return errors.New("empty PATH: give directories such as \"/usr/local/bin:/usr/bin:/bin\"")
	}
	for _, dir := range strings.Split(s, ":") {
		if !filepath.IsAbs(dir) || strings.ContainsAny(dir, "\x00\n\r") {
			return fmt.Errorf("%q: every entry must be an absolute directory (a relative one would run "+
				"whatever the current directory holds)", dir)
		}
	}
	return nil
}

// parsePortRange reads "FIRST-LAST".
func parsePortRange(s string) (int, int, error) {
	a, b, ok := strings.Cut(strings.TrimSpace(s), "-")
	first, err1 := strconv.Atoi(strings.TrimSpace(a))
	last, err2 := strconv.Atoi(strings.TrimSpace(b))
	if !ok || err1 != nil || err2 != nil {
		return 0, 0, fmt.Errorf("%q is not a port range: write FIRST-LAST, e.g. \"20000-29999\"", s)
	}
	if first < 1024 || last > 65535 || first > last {
		return 0, 0, fmt.Errorf("%q: ports must satisfy 1024 <= FIRST <= LAST <= 65535 (ports below 1024 need root)", s)
	}
	return first, last, nil
}

// tomlKeyLines maps every dotted key of a TOML document (tables and keys)
// to the line that sets it. It is a line scanner, not a parser: it is only
// used for the line numbers of errors in a document TOML already accepted.
func tomlKeyLines(data []byte) map[string]int {
	out := map[string]int{}
	table := ""
	inString := "" // the delimiter of an open multi-line string
	depth := 0     // open brackets of a multi-line array or inline table
	for i, line := range strings.Split(string(data), "\n") {
		n := i + 1
		s := strings.TrimSpace(line)
		if inString != "" {
			if strings.Count(s, inString)%2 == 1 {
				inString = ""
			}
			continue
		}
		if depth > 0 {
			depth += bracketDepth(s)
			continue
		}
		if s == "" || s[0] == '#' {
			continue
		}
		if s[0] == '[' {
			h := strings.Trim(strings.SplitN(s, "#", 2)[0], " \t")
			h = strings.TrimSpace(strings.Trim(h, "[]"))
			table = normalizeKey(h)
			if _, ok := out[table]; !ok {
				out[table] = n
			}
			continue
		}
		k, rest, ok := strings.Cut(s, "=")
		if !ok {
			continue
		}
		key := normalizeKey(k)
		if table != "" {
			key = table + "." + key
		}
		if _, ok := out[key]; !ok {
			out[key] = n
		}
		// Dotted keys also define their parent tables here.
		for j := strings.LastIndexByte(key, '.'); j > 0; j = strings.LastIndexByte(key[:j], '.') {
			if _, ok := out[key[:j]]; !ok {
				out[key[:j]] = n
			}
		}
		v := strings.TrimSpace(rest)
		for _, delim := range []string{`"""`, `'''`} {
			if strings.HasPrefix(v, delim) && strings.Count(v, delim)%2 == 1 {
				inString = delim
			}
		}
		if inString == "" {
			depth = bracketDepth(v)
		}
	}
	return out
}

// normalizeKey turns `a . "b c"` into `a."b c"`, as toml.Key.String spells it.
func normalizeKey(k string) string {
	parts := strings.Split(k, ".")
	for i, p := range parts {
		p = strings.TrimSpace(p)
		if len(p) >= 2 && (p[0] == '"' || p[0] == '\'') && p[len(p)-1] == p[0] {
			p = p[1 : len(p)-1]
		}
		parts[i] = toml.Key{p}.String()
	}
	return strings.Join(parts, ".")
}

// bracketDepth counts the brackets a line opens minus those it closes,
// outside strings and comments.
func bracketDepth(s string) int {
	depth := 0
	var quote byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0:
			if c == '\\' && quote == '"' {
				i++
			} else if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'':
			quote = c
		case c == '#':
			return depth
		case c == '[' || c == '{':
			depth++
		case c == ']' || c == '}':
			depth--
		}
	}
	return depth
}

// LoadEmpty returns the configuration a file at path holding only an empty
// [supervisord] section would give, with every default as Load computes it
// (for opts). A supervisor the master starts before the user has written a
// supervisord.conf runs this one, with no programs, until the file appears.
func LoadEmpty(path string, opts LoadOptions) (*Config, error) {
	l, err := newLoader(opts, nil)
	if err != nil {
		return nil, err
	}
	l.sys = emptyFile{system: l.sys, path: l.abs(path)}
	return l.load(path)
}

// emptyFile is a system where one path reads as an empty [supervisord].
type emptyFile struct {
	system
	path string
}

func (e emptyFile) readConfig(p string) ([]byte, error) {
	if p == e.path {
		return []byte("[supervisord]\n"), nil
	}
	return e.system.readConfig(p)
}

// masterProxy reads the [proxy] table. What config/nginx validates (listen
// addresses, host patterns, grants, limits) the master checks with it.
func masterProxy(raw *masterFile, m *Master, d *diagList, pos func(string) Pos) {
	px := &m.Proxy
	rp := &raw.Proxy
	if l, ok := listenList(rp.Listen, "proxy", "80", d, pos); ok {
		px.Listen = l
	}
	if rp.Output != nil {
		px.Output = *rp.Output
	}
	if p, err := rootPath(px.Output); err != nil {
		d.errorf(pos("proxy.output"), "proxy", "output", "%v", err)
	} else if strings.HasSuffix(px.Output, "/") {
		d.errorf(pos("proxy.output"), "proxy", "output", "%q is a directory: name the file, e.g. %q", px.Output, DefaultProxyOutput)
	} else {
		px.Output = p
	}
	for _, c := range []struct {
		key string
		val *[]string
		dst *[]string
	}{{"test_command", rp.TestCommand, &px.TestCommand}, {"reload_command", rp.ReloadCommand, &px.ReloadCommand}} {
		if c.val == nil {
			continue
		}
		*c.dst = *c.val
		if err := checkCommand(*c.val); err != nil {
			d.errorf(pos("proxy."+c.key), "proxy", c.key, "%v", err)
		}
	}
	for _, c := range []struct {
		key string
		val *int
		dst *time.Duration
	}{{"command_timeout", rp.CommandTimeout, &px.CommandTimeout}, {"reload_interval", rp.ReloadInterval, &px.ReloadInterval}} {
		switch {
		case c.val == nil:
		case *c.val < 1 || *c.val > 600:
			d.errorf(pos("proxy."+c.key), "proxy", c.key, "%d is out of range: give seconds from 1 to 600", *c.val)
		default:
			*c.dst = time.Duration(*c.val) * time.Second
		}
	}
	switch v := rp.MaxBodySize.(type) {
	case nil:
	case int64:
		px.MaxBodySize = v
	case string:
		n, msg := parseByteSize(v)
		if msg != "" {
			d.errorf(pos("proxy.max_body_size"), "proxy", "max_body_size", "%s", msg)
		}
		px.MaxBodySize = n
	default:
		d.errorf(pos("proxy.max_body_size"), "proxy", "max_body_size", "want bytes, as a number or a string such as \"10MB\"")
	}
	if rp.DefaultServer != nil {
		px.DefaultServer = *rp.DefaultServer
	}
}

// listenList reads a listen key of section: a string or a list of
// strings (example is a port for the error message); ok is false when
// the key is absent or not of that type.
func listenList(v any, section, example string, d *diagList, pos func(string) Pos) ([]string, bool) {
	key := section + ".listen"
	switch v := v.(type) {
	case nil:
		return nil, false
	case string:
		return []string{v}, true
	case []any:
		var out []string
		for _, e := range v {
			s, ok := e.(string)
			if !ok {
				d.errorf(pos(key), section, "listen", "%v is not a string: write listen = \"%s\" or [\"%s\", \"[::]:%s\"]", e, example, example, example)
				continue
			}
			out = append(out, s)
		}
		return out, true
	default:
		d.errorf(pos(key), section, "listen", "want a string or a list of strings, e.g. listen = \"%s\"", example)
		return nil, false
	}
}

// checkCommand checks a command roost.toml gives as a list of words.
func checkCommand(argv []string) error {
	if len(argv) == 0 || argv[0] == "" {
		return errors.New("empty command: give the program and its arguments as a list, e.g. [\"nginx\", \"-t\"]")
	}
	for _, a := range argv {
		if strings.ContainsAny(a, "\x00\n\r") {
			return fmt.Errorf("%q contains a control character", a)
		}
	}
	if strings.Contains(argv[0], "/") && !filepath.IsAbs(argv[0]) {
		return fmt.Errorf("%q: give the program as a name found in PATH or as an absolute path", argv[0])
	}
	return nil
}

// Grants returns every [user.NAME] hosts list, by user name.
func (m *Master) Grants() map[string][]string {
	out := map[string][]string{}
	for n, o := range m.User {
		if len(o.Hosts) > 0 {
			out[n] = o.Hosts
		}
	}
	return out
}
