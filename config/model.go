// Package config reads a supervisord.conf the way supervisord 4.2.5 reads it
// and turns it into a typed, validated model. It also holds the other
// configuration roost reads: the master's roost.toml.
//
// Parsing happens once; every later consumer works on the typed fields here.
// Every error and warning carries the file and line it came from.
//
// Paths in the model are absolute. supervisord keeps a relative
// stdout_logfile, directory= or childlogdir relative and opens it against its
// working directory; roost (which, like supervisord -n, never changes
// directory) resolves such paths once, at load time, against
// LoadOptions.Dir, so the model names the same files supervisord would open.
// The golden tests store supervisord's results resolved the same way.
package config

import (
	"fmt"
	"syscall"
	"time"
)

// Pos is a place in a configuration file.
type Pos struct {
	File string `json:"file"`
	Line int    `json:"line"`
}

// String renders the position as "file:line", or "file" when the line is unknown.
func (p Pos) String() string {
	if p.Line <= 0 {
		return p.File
	}
	return fmt.Sprintf("%s:%d", p.File, p.Line)
}

// Diagnostic is one error or warning about a configuration, e.g.
// `supervisord.conf:12: [program:api] startsecs: "1o" is not an integer`.
type Diagnostic struct {
	Pos     Pos    `json:"pos"`
	Section string `json:"section,omitempty"` // "program:api", without brackets
	Key     string `json:"key,omitempty"`     // the option name, lower-cased
	Message string `json:"message"`           // what is wrong and what would be valid
}

// String renders the diagnostic the way roost prints it.
func (d Diagnostic) String() string {
	s := d.Pos.String() + ": "
	if d.Section != "" {
		s += "[" + d.Section + "] "
	}
	if d.Key != "" {
		s += d.Key + ": "
	}
	return s + d.Message
}

// Warning is a diagnostic that does not stop the configuration from being used.
type Warning = Diagnostic

// Autorestart is supervisord's autorestart option.
type Autorestart int

// The autorestart values, as supervisord spells them.
const (
	AutorestartUnexpected Autorestart = iota // restart when the exit code is not in exitcodes (default)
	AutorestartFalse                         // never restart
	AutorestartTrue                          // always restart
)

// String returns the config spelling: "unexpected", "false" or "true".
func (a Autorestart) String() string {
	switch a {
	case AutorestartFalse:
		return "false"
	case AutorestartTrue:
		return "true"
	default:
		return "unexpected"
	}
}

// Config is one parsed supervisord.conf with its includes.
type Config struct {
	File  string   `json:"file"`  // absolute path of the main file
	Here  string   `json:"here"`  // its directory: %(here)s of the main file
	Files []string `json:"files"` // every file read, main first, then includes in read order

	Supervisord    Supervisord     `json:"supervisord"`
	UnixHTTPServer *UnixHTTPServer `json:"unix_http_server,omitempty"`
	InetHTTPServer *InetHTTPServer `json:"inet_http_server,omitempty"`
	Supervisorctl  *Supervisorctl  `json:"supervisorctl,omitempty"`
	RPCInterfaces  []string        `json:"rpcinterfaces,omitempty"` // names of [rpcinterface:x] sections

	// Groups in supervisord's order: by priority, then name.
	Groups []*Group `json:"groups"`

	// Proxies are roost's [proxy:NAME] sections, in file order.
	Proxies []*Proxy `json:"proxies,omitempty"`

	// Warnings found while parsing: unknown keys, unimplemented sections, ...
	Warnings []Warning `json:"warnings,omitempty"`
}

// Supervisord is the [supervisord] section.
type Supervisord struct {
	// Logfile is the main log: an absolute path, "syslog", or "" when
	// logging is off (NONE; roost's reading, supervisord would write a file
	// named NONE).
	Logfile         string      `json:"logfile"`
	LogfileMaxBytes int64       `json:"logfile_maxbytes"`
	LogfileBackups  int         `json:"logfile_backups"`
	LogLevel        string      `json:"loglevel"` // critical, error, warn, info, debug, trace, blather
	Pidfile         string      `json:"pidfile"`
	Umask           int         `json:"umask"` // octal in the file, e.g. 022
	Nodaemon        bool        `json:"nodaemon"`
	Silent          bool        `json:"silent"`
	Minfds          int         `json:"minfds"`
	Minprocs        int         `json:"minprocs"`
	Nocleanup       bool        `json:"nocleanup"`
	Childlogdir     string      `json:"childlogdir"`
	User            string      `json:"user,omitempty"`
	Directory       string      `json:"directory,omitempty"`
	StripANSI       bool        `json:"strip_ansi"`
	Environment     Environment `json:"environment,omitempty"`
	Identifier      string      `json:"identifier"`
	Pos             Pos         `json:"pos"`

	// ChildlogdirSet says Childlogdir was chosen (written in the file, or
	// set by `roost run --managed`) rather than left at the temp directory
	// default. roost puts cron.log there when it was.
	ChildlogdirSet bool `json:"childlogdir_set,omitempty"`
}

// UnixHTTPServer is the [unix_http_server] section.
type UnixHTTPServer struct {
	File     string `json:"file"`
	Chmod    int    `json:"chmod"`           // default 0700
	Chown    string `json:"chown,omitempty"` // "user[:group]" as written
	Username string `json:"username,omitempty"`
	Password string `json:"password,omitempty"` // plain or "{SHA}" + hex
	Pos      Pos    `json:"pos"`
}

// InetHTTPServer is the [inet_http_server] section: the supervisor serves
// its control plane on this TCP address too, only with basic auth (a
// section without username and password is an error).
type InetHTTPServer struct {
	Port     string `json:"port"`
	Username string `json:"username,omitempty"`
	Password string `json:"password,omitempty"`
	Pos      Pos    `json:"pos"`
}

// Supervisorctl is the [supervisorctl] section.
type Supervisorctl struct {
	ServerURL   string `json:"serverurl,omitempty"`
	Username    string `json:"username,omitempty"`
	Password    string `json:"password,omitempty"`
	Prompt      string `json:"prompt,omitempty"`
	HistoryFile string `json:"history_file,omitempty"`
	Pos         Pos    `json:"pos"`
}

// GroupKind says which kind of section a group came from.
type GroupKind string

// The group kinds.
const (
	KindProgram       GroupKind = "program"       // [program:x] or [group:x]
	KindEventListener GroupKind = "eventlistener" // [eventlistener:x]: a pool of event listeners
	KindFCGIProgram   GroupKind = "fcgi-program"  // [fcgi-program:x]: parsed, warned, not run
)

// Group is a supervisord process group: either a homogeneous group made from
// one [program:x] (named x), or a [group:x] listing programs.
//
// Diff compares every field of Group, Process, LogConfig, Proxy and their
// parts, except those tagged `diff:"-"`, whose comment says why a change of
// them alone restarts nothing (TestDiffSeesEveryField keeps this true: a
// new field must be compared, or tagged with a reason).
type Group struct {
	Name     string    `json:"name"`
	Priority int       `json:"priority"`
	Kind     GroupKind `json:"kind"`
	// Explicit is true for a [group:x] section. Not compared: a [group:x]
	// named like its one program runs the same processes under the same
	// names as the program's own group.
	Explicit bool `json:"explicit" diff:"-"`
	// Programs are the program names, in the group's order. Not compared:
	// the processes (each with its Program) say what runs.
	Programs  []string   `json:"programs" diff:"-"`
	Processes []*Process `json:"processes"`
	Pos       Pos        `json:"pos" diff:"-"` // the section header: where, not what

	// Listener is set for an [eventlistener:x] pool.
	Listener *EventListener `json:"listener,omitempty"`
	// FCGI is set for an [fcgi-program:x] group.
	FCGI *FCGISocket `json:"fcgi,omitempty"`
}

// EventListener holds what [eventlistener:x] adds to a group (package
// eventlistener speaks the protocol).
type EventListener struct {
	BufferSize    int      `json:"buffer_size"`
	Events        []string `json:"events"`         // event type names, upper case, sorted
	ResultHandler string   `json:"result_handler"` // "module:function", as written
}

// FCGISocket is the socket of an [fcgi-program:x]. roost parses and
// validates it but does not run FastCGI programs yet.
type FCGISocket struct {
	URL     string `json:"url"`               // "unix:///abs/path.sock" or "tcp://host:port"
	Backlog int    `json:"backlog,omitempty"` // 0: the default (SOMAXCONN)
	Owner   string `json:"owner,omitempty"`   // "user[:group]" as written
	Mode    int    `json:"mode"`              // unix sockets: default 0700; -1 for tcp
}

// LogConfig describes one output stream of a process.
type LogConfig struct {
	// File is the log path, absolute. "" means NONE (output is discarded)
	// unless Auto is set.
	File string `json:"file,omitempty"`
	// Auto is set for AUTO: the runtime picks a file in childlogdir.
	// Diff compares it like any value: a switch between AUTO and a file
	// changes the process (supervisord 4.2.5 misses file -> AUTO).
	Auto            bool  `json:"auto"`
	MaxBytes        int64 `json:"maxbytes"` // 0: never rotate
	Backups         int   `json:"backups"`  // 0: truncate in place at MaxBytes
	CaptureMaxBytes int64 `json:"capture_maxbytes"`
	EventsEnabled   bool  `json:"events_enabled"`
	Syslog          bool  `json:"syslog"`
}

// Process is one process to run: a [program:x] expanded by numprocs.
type Process struct {
	Name    string `json:"name"`    // process_name after expansion, e.g. "web_01"
	Group   string `json:"group"`   // group name
	Program string `json:"program"` // program name (x in [program:x])
	// Listener is set for a process of an [eventlistener:x] pool: its
	// stdin and stdout speak the event listener protocol. Not compared:
	// it follows the group's Kind, which is.
	Listener   bool `json:"listener,omitempty" diff:"-"`
	ProcessNum int  `json:"process_num"`
	// Numprocs is not compared: a process's siblings coming or going
	// (numprocs 2 -> 3) does not restart it; the group changes, by the
	// process added or removed.
	Numprocs int `json:"numprocs" diff:"-"`

	Command string   `json:"command"` // after expansion, as supervisord stores it
	Argv    []string `json:"argv"`    // Command split like Python's shlex.split

	Directory      string         `json:"directory,omitempty"`
	Umask          int            `json:"umask"`    // -1 when unset (inherit)
	Priority       int            `json:"priority"` // compared, but alone it reorders without a restart (needsRestart in supervisor/reload.go)
	Autostart      bool           `json:"autostart"`
	Autorestart    Autorestart    `json:"autorestart"`
	StartSecs      time.Duration  `json:"startsecs"`
	StartRetries   int            `json:"startretries"`
	StopSignal     syscall.Signal `json:"stopsignal"`
	StopWaitSecs   time.Duration  `json:"stopwaitsecs"`
	StopAsGroup    bool           `json:"stopasgroup"`
	KillAsGroup    bool           `json:"killasgroup"`
	ExitCodes      []int          `json:"exitcodes"`
	User           string         `json:"user,omitempty"`
	RedirectStderr bool           `json:"redirect_stderr"`
	Stdout         LogConfig      `json:"stdout"`
	Stderr         LogConfig      `json:"stderr"` // File "" and Auto false when redirect_stderr
	// Environment is [supervisord] environment overlaid with the program's environment=.
	Environment Environment `json:"environment,omitempty"`
	ServerURL   string      `json:"serverurl,omitempty"` // "" for AUTO
	// Limits are roost's extensions memory_max, pids_max and cpu_max
	// (supervisord ignores them): the process's own cgroup's, within the
	// user's.
	Limits Limits `json:"limits,omitzero"`

	Pos Pos `json:"pos" diff:"-"` // the [program:x] header: where, not what

	// ---- roost extensions: health checks, start order, sd_notify ----
	// Keys of [program:x] that supervisord ignores (extensions.go; README
	// "Health checks, start order and sd_notify").

	// Health is healthcheck= with its healthcheck_* knobs; nil without one.
	Health *HealthCheck `json:"healthcheck,omitempty"`
	// DependsOn names the programs ([program:x] names) that must be
	// RUNNING, and healthy when they have a check, before this one starts,
	// and that stop after it. Compared, but alone it changes without a
	// restart (needsRestart in supervisor/reload.go).
	DependsOn []string `json:"depends_on,omitempty"`
	// Notify gives the program a NOTIFY_SOCKET: READY=1 makes it RUNNING,
	// instead of startsecs.
	Notify bool `json:"notify"`
	// WatchdogSec (notify only) restarts a RUNNING program that sends no
	// WATCHDOG=1 for this long; 0: no watchdog.
	WatchdogSec time.Duration `json:"watchdog_sec"`

	// Spare is this process expanded with the spare port of its program
	// as PORT (ports.go), and the spare's Spare is this process: a
	// proxied numprocs=1 program under the master, whose port block has
	// room, restarts blue-green from one to the other. nil otherwise.
	Spare *Process `json:"-" diff:"-"`
}

// HealthKind is how a health check asks a program whether it is well.
type HealthKind string

// The health check kinds, as healthcheck= spells their prefix.
const (
	HealthHTTP HealthKind = "http" // http://HOST:PORT/PATH answers 2xx or 3xx
	HealthTCP  HealthKind = "tcp"  // tcp:HOST:PORT accepts a connection
	HealthExec HealthKind = "exec" // exec:COMMAND exits 0
)

// HealthCheck is a program's healthcheck= (a roost extension).
type HealthCheck struct {
	Kind HealthKind `json:"kind"`
	// Target is the URL (http), HOST:PORT (tcp) or the command as written
	// (exec), after expansion.
	Target string `json:"target"`
	// Argv is an exec check's command split like command= (run without a
	// shell); nil for the other kinds.
	Argv     []string      `json:"argv,omitempty"`
	Interval time.Duration `json:"interval"` // between the end of a check and the next
	Timeout  time.Duration `json:"timeout"`  // one check's bound; an exec check's group is killed then
	Retries  int           `json:"retries"`  // failures in a row that make the program UNHEALTHY
}

// Namespec is the name supervisorctl shows: "group:name", or "name" when the
// group is the homogeneous group of the same name.
func (p *Process) Namespec() string {
	if p.Group == p.Name {
		return p.Name
	}
	return p.Group + ":" + p.Name
}

// EnvVar is one environment variable.
type EnvVar struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// Environment is an ordered set of variables; later entries win.
type Environment []EnvVar

// Lookup returns the last value set for name.
func (e Environment) Lookup(name string) (string, bool) {
	for i := len(e) - 1; i >= 0; i-- {
		if e[i].Name == name {
			return e[i].Value, true
		}
	}
	return "", false
}

// Strings renders the environment as NAME=value strings for exec, each name once.
func (e Environment) Strings() []string {
	seen := make(map[string]int, len(e))
	out := make([]string, 0, len(e))
	for _, v := range e {
		if i, ok := seen[v.Name]; ok {
			out[i] = v.Name + "=" + v.Value
			continue
		}
		seen[v.Name] = len(out)
		out = append(out, v.Name+"="+v.Value)
	}
	return out
}

// Proxy is roost's [proxy:NAME] extension: HTTP routing for one program.
// supervisord ignores the section, so the file stays portable.
type Proxy struct {
	Name    string        `json:"name"`
	Program string        `json:"program"` // default: Name
	Hosts   []string      `json:"hosts"`   // RFC 1123 names or "*." wildcards, lower-cased
	Static  []StaticRoute `json:"static,omitempty"`
	// Knobs users may set; never raw nginx directives.
	Websocket   bool   `json:"websocket"`
	MaxBodySize int64  `json:"max_body_size,omitempty"` // bytes, 0 = nginx default
	HealthPath  string `json:"health_path,omitempty"`   // e.g. "/healthz"
	// Ports are the program's ports, one per process in process_num
	// order, when the supervisor has a port block (see PORT in
	// config/ports.go); nil without one.
	Ports []int `json:"ports,omitempty"`
	// Socket is the unix socket the program listens on instead (socket =
	// FILE): FILE in $ROOST_SOCKET_DIR, the directory the master made for
	// the user; "" without it or without a master (then only checked).
	Socket string `json:"socket,omitempty"`
	Pos    Pos    `json:"pos" diff:"-"` // where, not what
}

// StaticRoute maps a URL prefix to a directory inside the project.
type StaticRoute struct {
	Prefix string `json:"prefix"` // starts and ends with "/"
	Dir    string `json:"dir"`    // absolute, cleaned, inside the project directory
	Pos    Pos    `json:"pos" diff:"-"`
}

// Processes returns every process of every group, in group order.
func (c *Config) Processes() []*Process {
	var out []*Process
	for _, g := range c.Groups {
		out = append(out, g.Processes...)
	}
	return out
}

// ProcessesOf returns the processes made from the [program:name] section,
// whatever group they are in.
func (c *Config) ProcessesOf(program string) []*Process {
	var out []*Process
	for _, g := range c.Groups {
		if g.Kind != KindProgram {
			continue
		}
		for _, p := range g.Processes {
			if p.Program == program {
				out = append(out, p)
			}
		}
	}
	return out
}

// Group returns the group with that name, or nil.
func (c *Config) Group(name string) *Group {
	for _, g := range c.Groups {
		if g.Name == name {
			return g
		}
	}
	return nil
}
