package config

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
)

// LoadOptions are the inputs of Load besides the file.
type LoadOptions struct {
	// Env is the environment %(ENV_X)s expands from, as "NAME=value"
	// strings. nil means os.Environ().
	Env []string
	// Hostname is %(host_node_name)s. "" means os.Hostname().
	Hostname string
	// Dir is the working directory: a relative config path, and relative
	// log, pid, child log and program directory paths, resolve against it,
	// as supervisord (which runs in the foreground under roost) resolves
	// them against its own working directory. "" means os.Getwd().
	Dir string
	// Files, when not nil, holds the configuration files by absolute path:
	// the main file and its includes are read (and include globs matched)
	// from it, not from the disk. A supervisor restarted while the file on
	// disk is broken runs its last good configuration this way.
	Files map[string][]byte
	// Extra are files read after the main file and its includes, as if
	// [include] named them last; one that does not exist is skipped. A
	// user's supervisor passes the services file roost writes for them
	// (package service), so a service joins the configuration without an
	// edit of the user's file.
	Extra []string
}

// Limits roost puts on a configuration, beyond supervisord's own rules.
const (
	// MaxNumprocs is the largest numprocs roost accepts.
	MaxNumprocs = 1000
	// maxIncludes bounds the number of files one configuration may include.
	maxIncludes = 1000
)

//go:generate /usr/bin/python3 testdata/goldens.py

// Load reads the supervisord configuration at path with its includes,
// expands it the way supervisord 4.2.5 does, and validates it. On any error
// it returns a *Error listing every problem found (and no Config); warnings
// are in Config.Warnings.
//
// Load opens nothing but the configuration and the files its [include]
// names (each must be a regular file; symlinks are followed); it only stats
// the paths supervisord checks (log directories, directory=, childlogdir)
// and looks up the users and groups the file names.
func Load(path string, opts LoadOptions) (*Config, error) {
	l, err := newLoader(opts, nil)
	if err != nil {
		return nil, err
	}
	return l.load(path)
}

// NoSupervisordWarning is the warning for a file without a [supervisord]
// section, which roost runs with supervisord's defaults.
const NoSupervisordWarning = "the file has no [supervisord] section: roost uses supervisord's defaults, " +
	"but the real `supervisord -c` refuses such a file (add an empty [supervisord] line to run it there)"

// loader holds the state of one Load.
type loader struct {
	sys     system
	d       diagList
	p       *iniParser
	dir     string            // working directory
	env     map[string]string // the process environment (first value wins)
	osEnv   expansions        // ENV_* of the process environment alone
	environ expansions        // ENV_*, later extended by [supervisord] environment=
	host    string
	here    string   // directory of the main file
	extra   []string // LoadOptions.Extra
	main    string   // absolute path of the main file
	files   []string // absolute paths read, main first
	shown   []string // the same paths as diagnostics show them
	cfg     *Config
	budget  int // bytes expansions may still produce
	// lenient reads on past the syntax errors of an included file
	// (LoadControl sorts the errors out afterwards).
	lenient bool
	// portSlices are the ports of the programs behind [proxy:*] sections,
	// by program name (planPorts).
	portSlices map[string]portSlice
	// deps are the depends_on= of the [program:x] sections, checked once
	// every program is known (checkDependencies).
	deps map[string]depDecl
}

// maxTotalExpanded bounds what all the expansions of one configuration may
// produce together (numprocs multiplies them).
const maxTotalExpanded = 16 << 20

// format expands s with m (pyFormat), charging the result to the load's budget.
func (l *loader) format(s string, m ...expansions) (string, *formatError) {
	out, err := pyFormat(s, m...)
	if err != nil {
		return "", err
	}
	l.budget -= len(out)
	if l.budget < 0 {
		return "", &formatError{msg: fmt.Sprintf("the configuration expands to more than %d bytes", maxTotalExpanded)}
	}
	return out, nil
}

func newLoader(opts LoadOptions, sys system) (*loader, error) {
	envList := opts.Env
	if envList == nil {
		envList = os.Environ()
	}
	l := &loader{env: map[string]string{}, environ: expansions{}, p: newParser(), budget: maxTotalExpanded}
	for _, kv := range envList {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			continue
		}
		if _, dup := l.env[k]; dup {
			continue
		}
		l.env[k] = v
		l.environ["ENV_"+k] = strValue(v)
	}
	l.osEnv = expansions{}
	l.osEnv.update(l.environ)
	l.host = opts.Hostname
	if l.host == "" {
		h, err := os.Hostname()
		if err != nil {
			return nil, fmt.Errorf("config: hostname for %%(host_node_name)s: %w", err)
		}
		l.host = h
	}
	l.dir = opts.Dir
	l.extra = opts.Extra
	if l.dir == "" {
		wd, err := os.Getwd()
		if err != nil {
			return nil, fmt.Errorf("config: working directory: %w", err)
		}
		l.dir = wd
	}
	l.dir = filepath.Clean(l.dir)
	if sys == nil {
		sys = osSystem{env: l.env}
	}
	if opts.Files != nil {
		sys = savedFiles{system: sys, files: opts.Files}
	}
	l.sys = sys
	l.p.knownKey = knownKey
	return l, nil
}

// abs resolves p against the working directory (os.path.abspath).
func (l *loader) abs(p string) string {
	if filepath.IsAbs(p) {
		return filepath.Clean(p)
	}
	return filepath.Join(l.dir, p)
}

// show returns how diagnostics name a file: relative to the working
// directory when it is inside it, else absolute.
func (l *loader) show(abs string) string {
	if rel, err := filepath.Rel(l.dir, abs); err == nil && rel != ".." && !strings.HasPrefix(rel, "../") {
		return rel
	}
	return abs
}

// expandUser is os.path.expanduser.
func (l *loader) expandUser(p string) string {
	if !strings.HasPrefix(p, "~") {
		return p
	}
	i := strings.IndexByte(p, '/')
	if i < 0 {
		i = len(p)
	}
	home, ok := l.sys.homeDir(p[1:i])
	if !ok {
		return p
	}
	home = strings.TrimRight(home, "/")
	if r := home + p[i:]; r != "" {
		return r
	}
	return "/"
}

func (l *loader) load(path string) (*Config, error) {
	l.main = l.abs(path)
	l.here = filepath.Dir(l.main)
	l.cfg = &Config{File: l.main, Here: l.here}
	shown := l.show(l.main)
	data, err := l.sys.readConfig(l.main)
	if err != nil {
		msg := fmt.Sprintf("cannot read the configuration: %v", unwrapPathError(err))
		if errors.Is(err, os.ErrNotExist) {
			msg = "no such file; pass the configuration with -c FILE"
		}
		l.d.errorf(Pos{File: shown}, "", "", "%s", msg)
		return nil, l.fail()
	}
	l.addFile(l.main, shown)
	if !l.p.parse(shown, data, &l.d) {
		return nil, l.fail()
	}
	if l.p.has(secInclude) {
		if !l.expandHere(l.here) || !l.includes() {
			return nil, l.fail()
		}
	}
	if !l.extras() {
		return nil, l.fail()
	}
	if !l.p.has(secSupervisord) {
		// A dotCloud-style project file holds only [program:x] sections (the
		// system's supervisord included it). roost runs it with the
		// defaults of an empty [supervisord]; only the real supervisord -c
		// refuses it, which is worth a warning, not an error.
		l.d.warnf(Pos{File: shown}, "", "", "%s", NoSupervisordWarning)
	}
	if !l.supervisord() {
		return nil, l.fail()
	}
	l.rpcInterfaces()
	l.planPorts()
	l.groups()
	l.checkDependencies()
	l.servers()
	l.supervisorctl()
	l.proxies()
	l.unknowns()
	if len(l.d.errs) > 0 {
		return nil, l.fail()
	}
	sortDiagnostics(l.d.warns, l.shown)
	l.cfg.Warnings = l.d.warns
	l.cfg.Files = l.files
	return l.cfg, nil
}

func (l *loader) addFile(abs, shown string) {
	for _, f := range l.files {
		if f == abs {
			return
		}
	}
	l.files = append(l.files, abs)
	l.shown = append(l.shown, shown)
}

func (l *loader) fail() *Error {
	sortDiagnostics(l.d.errs, l.shown)
	return &Error{Diagnostics: l.d.errs}
}

func unwrapPathError(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// includes reads the files [include] files= names, like read_config: the
// value is expanded with here, host_node_name and ENV_*, split on
// whitespace, each glob is relative to the main file's directory, matches
// are read in sorted order, and %(here)s in each is its own directory.
func (l *loader) includes() bool {
	v := l.p.get(secInclude, "files")
	sec := l.p.sections[secInclude]
	if v == nil {
		l.d.errorf(sec.pos, secInclude, "", "no files setting; write files = conf.d/*.conf")
		return false
	}
	exp := expansions{"here": strValue(l.here), "host_node_name": strValue(l.host)}
	files, ferr := l.format(v.text, exp, l.environ)
	if ferr != nil {
		l.d.errorf(v.pos, secInclude, "files", "%s", ferr.msg)
		return false
	}
	count := 0
	for _, pattern := range pyFields(files) {
		full := pyJoin(l.here, pattern)
		matches := pyGlob(l.sys, full)
		if len(matches) == 0 {
			l.d.warnf(v.pos, secInclude, "files", "no file matches %q", full)
			continue
		}
		sort.Strings(matches)
		for _, m := range matches {
			count++
			if count > maxIncludes {
				l.d.errorf(v.pos, secInclude, "files", "more than %d included files", maxIncludes)
				return false
			}
			abs := filepath.Clean(l.abs(m))
			shown := l.show(abs)
			data, err := l.sys.readConfig(m)
			if errors.Is(err, errIsDir) {
				l.d.warnf(v.pos, secInclude, "files", "%q is a directory; skipped, as supervisord does", m)
				continue
			}
			if err != nil {
				l.d.errorf(v.pos, secInclude, "files", "cannot read included file %s: %v", shown, unwrapPathError(err))
				return false
			}
			l.addFile(abs, shown)
			before := map[string]bool{}
			for _, name := range l.p.order {
				before[name] = true
			}
			hadInclude := l.p.sections[secInclude]
			nheaders := len(hadInclude.headers)
			if !l.p.parse(shown, data, &l.d) && !l.lenient {
				return false
			}
			if len(hadInclude.headers) > nheaders {
				l.d.warnf(hadInclude.headers[nheaders], secInclude, "", "[include] in an included file is ignored; supervisord does not include recursively")
			}
			if !l.expandHere(filepath.Dir(abs)) {
				return false
			}
		}
	}
	return true
}

// extras reads LoadOptions.Extra like included files; missing ones are
// skipped.
func (l *loader) extras() bool {
	for _, x := range l.extra {
		abs := filepath.Clean(l.abs(x))
		shown := l.show(abs)
		data, err := l.sys.readConfig(abs)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			l.d.errorf(Pos{File: shown}, "", "", "cannot read %s: %v", shown, unwrapPathError(err))
			return false
		}
		l.addFile(abs, shown)
		if !l.p.parse(shown, data, &l.d) && !l.lenient {
			return false
		}
		if !l.expandHere(filepath.Dir(abs)) {
			return false
		}
	}
	return true
}

// expandHere runs the parser's %(here)s pass, reporting when the
// configuration is too large for it.
func (l *loader) expandHere(here string) bool {
	if l.p.expandHere(here) {
		return true
	}
	l.d.errorf(l.p.defaults.pos, "DEFAULT", "", "too many sections times [DEFAULT] values using %%(here)s (roost's limit is %d copies)", maxDefaultCopies)
	return false
}

// section reading ---------------------------------------------------------

// reader reads the options of one section with supervisord's saneget:
// the value (or its default) is %-expanded with the ENV_* names plus the
// section's own names.
type reader struct {
	l        *loader
	sec      string
	kind     string
	names    expansions        // the section's own names (a live map: the program loop extends it)
	defaults map[string]string // overrides of the defaults table
	errs     int               // errors recorded through this reader
}

func (l *loader) reader(sec string, names expansions) *reader {
	kind := sectionKind(sec)
	return &reader{l: l, sec: sec, kind: kind, names: names}
}

func (r *reader) errorf(pos Pos, key, format string, args ...any) {
	r.errs++
	r.l.d.errorf(pos, r.sec, key, format, args...)
}

func (r *reader) header() Pos {
	if s, ok := r.l.p.sections[r.sec]; ok {
		return s.pos
	}
	return Pos{}
}

// raw returns the unexpanded value of key or its default; set is false when
// neither exists.
func (r *reader) raw(key string) (text string, pos Pos, written, set bool) {
	if v := r.l.p.get(r.sec, key); v != nil {
		return v.text, v.pos, true, true
	}
	if def, ok := r.defaults[key]; ok {
		return def, r.header(), false, true
	}
	if o, ok := lookupOpt(r.kind, key); ok && o.hasDef {
		return o.def, r.header(), false, true
	}
	return "", r.header(), false, false
}

// str returns the expanded value of key. ok is false after an error.
func (r *reader) str(key string) (text string, pos Pos, set, ok bool) {
	text, pos, _, set = r.raw(key)
	if !set {
		return "", pos, false, true
	}
	out, err := r.l.format(text, r.l.environ, r.names)
	if err != nil {
		r.errorf(pos, key, "%s", err.msg)
		return "", pos, true, false
	}
	return out, pos, true, true
}

func (r *reader) integer(key string, lo, hi int64) int64 {
	s, pos, set, ok := r.str(key)
	if !set || !ok {
		return lo
	}
	n, ok := pyInt(s)
	if !ok {
		r.errorf(pos, key, "%q is not an integer", s)
		return lo
	}
	if n < lo || n > hi {
		if hi >= math.MaxInt32 {
			r.errorf(pos, key, "%d is out of range: it must be %d or more", n, lo)
		} else {
			r.errorf(pos, key, "%d is out of range: it must be between %d and %d", n, lo, hi)
		}
		return lo
	}
	return n
}

func (r *reader) boolean(key string) bool {
	s, pos, set, ok := r.str(key)
	if !set || !ok {
		return false
	}
	b, msg := parseBool(s)
	if msg != "" {
		r.errorf(pos, key, "%s", msg)
	}
	return b
}

func (r *reader) byteSize(key string) int64 {
	s, pos, set, ok := r.str(key)
	if !set || !ok {
		return 0
	}
	n, msg := parseByteSize(s)
	if msg != "" {
		r.errorf(pos, key, "%s", msg)
	}
	return n
}

// octal returns -1 when the option is unset.
func (r *reader) octal(key string) int {
	s, pos, set, ok := r.str(key)
	if !set || !ok {
		return -1
	}
	n, msg := parseOctal(s)
	if msg != "" {
		r.errorf(pos, key, "%s", msg)
		return -1
	}
	return n
}

// user checks a user name or uid against the system (datatypes.name_to_uid).
func (r *reader) user(key string) string {
	s, pos, set, ok := r.str(key)
	if !set || !ok {
		return ""
	}
	if _, err := r.l.sys.lookupUser(s); err != nil {
		r.errorf(pos, key, "no such user %q on this system", s)
	}
	return s
}

// existingDir is datatypes.existing_directory; the result is absolute.
func (r *reader) existingDir(key string) string {
	s, pos, set, ok := r.str(key)
	if !set || !ok {
		return ""
	}
	p := r.l.abs(r.l.expandUser(s))
	if !r.l.sys.isDir(p) {
		r.errorf(pos, key, "%s is not an existing directory", s)
	}
	return p
}

// dirPath is datatypes.existing_dirpath: the directory part of the path
// must exist. The result is absolute.
func (l *loader) dirPath(r *reader, pos Pos, key, s string) string {
	nv := l.expandUser(s)
	if dir := filepath.Dir(nv); strings.Contains(nv, "/") && !l.sys.isDir(l.abs(dir)) {
		r.errorf(pos, key, "the directory of %s does not exist; create %s or fix the path", s, dir)
	}
	return l.abs(nv)
}

// supervisord reads [supervisord] like read_config and ServerOptions.realize.
// It returns false when later sections cannot be read (the environment,
// which every later expansion uses, is broken).
func (l *loader) supervisord() bool {
	r := l.reader(secSupervisord, expansions{"here": strValue(l.here)})
	s := &l.cfg.Supervisord
	s.Pos = r.header()
	s.Minfds = int(r.integer("minfds", 0, math.MaxInt32))
	s.Minprocs = int(r.integer("minprocs", 0, math.MaxInt32))
	s.Directory = r.existingDir("directory")
	s.User = r.user("user")
	s.Umask = r.octal("umask")
	if v, pos, _, ok := r.str("logfile"); ok {
		switch {
		case v == "syslog":
			s.Logfile = "syslog"
		case logfileName(v) == logNone:
			// roost reads NONE as "no main log" (supervisord would name a file NONE).
			s.Logfile = ""
		default:
			s.Logfile = l.dirPath(r, pos, "logfile", v)
		}
	}
	s.LogfileMaxBytes = r.byteSize("logfile_maxbytes")
	s.LogfileBackups = int(r.integer("logfile_backups", 0, math.MaxInt32))
	if v, pos, _, ok := r.str("loglevel"); ok {
		lvl, msg := parseLogLevel(v)
		if msg != "" {
			r.errorf(pos, "loglevel", "%s", msg)
		}
		s.LogLevel = lvl
	}
	if v, pos, _, ok := r.str("pidfile"); ok {
		s.Pidfile = l.dirPath(r, pos, "pidfile", v)
	}
	s.Identifier, _, _, _ = r.str("identifier")
	s.Nodaemon = r.boolean("nodaemon")
	s.Silent = r.boolean("silent")
	tmp := "/tmp" // tempfile.gettempdir(): $TMPDIR, $TEMP, $TMP, then /tmp
	for _, v := range []string{"TMPDIR", "TEMP", "TMP"} {
		if t := l.env[v]; t != "" && l.sys.isDir(l.abs(t)) {
			tmp = l.abs(t)
			break
		}
	}
	r.defaults = map[string]string{"childlogdir": tmp}
	s.Childlogdir = r.existingDir("childlogdir")
	_, _, s.ChildlogdirSet, _ = r.raw("childlogdir")
	s.Nocleanup = r.boolean("nocleanup")
	s.StripANSI = r.boolean("strip_ansi")
	env, ok := l.supervisordEnvironment(r)
	if !ok {
		return false
	}
	s.Environment = env
	return r.errs == 0
}

// supervisordEnvironment reads [supervisord] environment= with r (a reader
// of that section) and adds its variables to the ENV_* expansions every
// later section sees. It returns false when the value cannot be used.
func (l *loader) supervisordEnvironment(r *reader) (Environment, bool) {
	// environment= is expanded twice, as read_config does: once by the
	// parser, then again with here and host_node_name. A literal '%' must be
	// written %%%% here.
	envText, pos, _, ok := r.str("environment")
	if !ok {
		return nil, false
	}
	exp := expansions{"here": strValue(l.here), "host_node_name": strValue(l.host)}
	envText, ferr := l.format(envText, exp, l.environ)
	if ferr != nil {
		r.errorf(pos, "environment", "%s (supervisord expands [supervisord] environment= twice: write %%%%%%%% for a literal %%)", ferr.msg)
		return nil, false
	}
	env, err := parseEnvironment(envText)
	if err != nil {
		r.errorf(pos, "environment", "%v", err)
		return nil, false
	}
	if !l.checkEnv(r, pos, env) {
		return nil, false
	}
	for _, kv := range env {
		l.environ["ENV_"+kv.Name] = strValue(kv.Value)
	}
	return env, true
}

// checkEnv refuses variable names exec cannot pass.
func (l *loader) checkEnv(r *reader, pos Pos, env Environment) bool {
	for _, kv := range env {
		if kv.Name == "" || strings.ContainsAny(kv.Name, "=\x00") {
			r.errorf(pos, "environment", "%q is not a valid environment variable name", kv.Name)
			return false
		}
	}
	return true
}

// rpcInterfaces reads [rpcinterface:x] sections. roost serves supervisord's
// own interface whatever the section says; another factory is a warning.
func (l *loader) rpcInterfaces() {
	const factoryKey = "supervisor.rpcinterface_factory"
	const mainFactory = "supervisor.rpcinterface:make_main_rpcinterface"
	for _, sec := range l.p.order {
		if sectionKind(sec) != secRPCInterface {
			continue
		}
		name := strings.SplitN(sec, ":", 2)[1]
		r := l.reader(sec, expansions{})
		f, pos, set, ok := r.str(factoryKey)
		if !ok {
			continue
		}
		if !set {
			r.errorf(pos, factoryKey, "required: write %s = %s", factoryKey, mainFactory)
			continue
		}
		for _, k := range l.p.keys(sec) {
			if k != factoryKey {
				r.str(k)
			}
		}
		if f != mainFactory {
			l.d.warnf(pos, sec, factoryKey, "roost serves supervisord's own XML-RPC interface only; %s is ignored", f)
		}
		l.cfg.RPCInterfaces = append(l.cfg.RPCInterfaces, name)
	}
}

// servers reads [inet_http_server] and [unix_http_server]
// (server_configs_from_parser).
func (l *loader) servers() {
	if l.p.has(secInetHTTPServer) {
		r := l.reader(secInetHTTPServer, expansions{})
		in := &InetHTTPServer{Pos: r.header()}
		in.Username, in.Password = l.credentials(r)
		port, pos, set, ok := r.str("port")
		switch {
		case !ok:
		case !set:
			r.errorf(pos, "port", "required: write port = 127.0.0.1:9001")
		default:
			if msg := checkInetAddress(port); msg != "" {
				r.errorf(pos, "port", "%s", msg)
			}
			in.Port = port
		}
		if in.Username == "" || in.Password == "" {
			// supervisord serves TCP without a password (and warns); on TCP
			// there is no peer credential to fall back on, so roost refuses.
			r.errorf(in.Pos, "", "refusing to serve TCP without authentication: set username= and password= (password may be {SHA} followed by the hex SHA-1 of it), or remove the section and use the unix socket")
		}
		l.cfg.InetHTTPServer = in
	}
	l.unixServer()
}

// unixServer reads [unix_http_server], if present.
func (l *loader) unixServer() {
	if l.p.has(secUnixHTTPServer) {
		r := l.reader(secUnixHTTPServer, expansions{})
		u := &UnixHTTPServer{Pos: r.header(), Chmod: 0o700}
		r.names = expansions{"here": strValue(l.here)}
		file, pos, set, ok := r.str("file")
		r.names = expansions{}
		switch {
		case !ok:
		case !set:
			r.errorf(pos, "file", "required: write file = %%(here)s/supervisor.sock")
		default:
			u.File = l.abs(l.expandUser(pyStrip(file)))
		}
		u.Username, u.Password = l.credentials(r)
		if chown, pos, set, ok := r.str("chown"); set && ok {
			if msg := l.checkUserGroup(chown); msg != "" {
				r.errorf(pos, "chown", "invalid sockchown value %q: %s", chown, msg)
			}
			u.Chown = chown
		}
		if m := r.octal("chmod"); m >= 0 {
			u.Chmod = m
		}
		l.cfg.UnixHTTPServer = u
	}
}

// credentials reads username and password, which go together.
func (l *loader) credentials(r *reader) (user, pass string) {
	user, _, uset, _ := r.str("username")
	pass, _, pset, _ := r.str("password")
	if uset != pset {
		r.errorf(r.header(), "", "incomplete authentication: set both username and password, or neither")
	}
	return user, pass
}

// checkUserGroup is datatypes.colon_separated_user_group.
func (l *loader) checkUserGroup(s string) string {
	u, g, hasGroup := strings.Cut(s, ":")
	if _, err := l.sys.lookupUser(u); err != nil {
		return fmt.Sprintf("no such user %q", u)
	}
	if hasGroup {
		if _, err := l.sys.lookupGroup(g); err != nil {
			return fmt.Sprintf("no such group %q", g)
		}
	}
	return ""
}

// checkInetAddress is datatypes.inet_address: "host:port", ":port" or "port".
func checkInetAddress(s string) string {
	port := s
	if i := strings.LastIndexByte(s, ':'); i >= 0 {
		port = s[i+1:]
		if port == "" {
			return fmt.Sprintf("no port number in %q; write host:port", s)
		}
	}
	n, ok := pyInt(port)
	if !ok {
		return fmt.Sprintf("%q is not a valid port number", port)
	}
	if n < 1 || n > 65535 {
		return fmt.Sprintf("port %d is out of range 1..65535", n)
	}
	return ""
}

// supervisorctl reads [supervisorctl] like supervisorctl's ClientOptions
// (which expands with the process environment only).
func (l *loader) supervisorctl() {
	if !l.p.has(secSupervisorctl) {
		return
	}
	saved := l.environ
	l.environ = l.osEnv
	defer func() { l.environ = saved }()
	r := l.reader(secSupervisorctl, expansions{"here": strValue(l.here)})
	c := &Supervisorctl{Pos: r.header()}
	c.ServerURL, _, _, _ = r.str("serverurl")
	if strings.HasPrefix(c.ServerURL, "unix://") {
		c.ServerURL = "unix://" + l.abs(l.expandUser(c.ServerURL[len("unix://"):]))
	}
	if h, _, set, ok := r.str("history_file"); set && ok && h != "" {
		c.HistoryFile = l.abs(l.expandUser(h))
	}
	r.names = expansions{}
	c.Prompt, _, _, _ = r.str("prompt")
	c.Username, _, _, _ = r.str("username")
	c.Password, _, _, _ = r.str("password")
	l.cfg.Supervisorctl = c
}

// unknowns warns about sections and keys supervisord would ignore.
func (l *loader) unknowns() {
	for _, k := range l.p.defaults.order {
		if !slices.Contains(allOptionNames(), k) {
			v := l.p.defaults.keys[k]
			l.d.warnf(v.pos, "DEFAULT", k, "unknown option%s; supervisord ignores it", didYouMean(k, allOptionNames()))
		}
	}
	for _, name := range l.p.order {
		s := l.p.sections[name]
		kind := sectionKind(name)
		if kind == "" {
			l.d.warnf(s.pos, name, "", "unknown section; supervisord ignores it%s", sectionSuggestion(name))
			continue
		}
		if kind == secRPCInterface || kind == secCtlPlugin {
			continue
		}
		names := optionNames(kind)
		for _, k := range s.order {
			v := s.keys[k]
			if _, known := lookupOpt(kind, k); v.fromDefault || known {
				continue
			}
			what := "supervisord ignores it"
			if kind == secProxy {
				what = "roost ignores it"
			}
			l.d.warnf(v.pos, name, k, "unknown option%s; %s", didYouMean(k, names), what)
		}
	}
}

// sectionSuggestion proposes a known section for a misspelt one.
func sectionSuggestion(name string) string {
	kind, arg, named := strings.Cut(name, ":")
	kind = strings.TrimSpace(kind)
	if named {
		if s := didYouMean(strings.ToLower(kind), namedKinds); s != "" {
			k := strings.TrimSuffix(strings.TrimPrefix(s, " (did you mean "), "?)")
			return fmt.Sprintf(" (did you mean [%s:%s]?)", k, strings.TrimSpace(arg))
		}
		return ""
	}
	if strings.EqualFold(kind, "DEFAULT") {
		return " (did you mean [DEFAULT]? the name is case-sensitive)"
	}
	if s := didYouMean(strings.ToLower(kind), plainKinds); s != "" {
		k := strings.TrimSuffix(strings.TrimPrefix(s, " (did you mean "), "?)")
		return fmt.Sprintf(" (did you mean [%s]?)", k)
	}
	return ""
}
