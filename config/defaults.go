package config

import (
	"slices"
	"sort"
	"strings"
	"sync"
)

// This file is the one place that lists every option roost knows, per
// section kind, with supervisord 4.2.5's default for it (as the raw string
// supervisord passes to its parser, so defaults go through the same
// conversion as written values).

// opt is one known option. def is the default text; required options and
// options without a default have none.
type opt struct {
	name   string
	def    string
	hasDef bool
}

func d(name, def string) opt { return opt{name: name, def: def, hasDef: true} }
func n(name string) opt      { return opt{name: name} }

// programOptions are the options of [program:x], in the order supervisord
// reads them (options.py _processes_from_section). killasgroup defaults to
// stopasgroup's value; stdout_logfile/stderr_logfile to AUTO.
var programOptions = []opt{
	d("priority", "999"), d("autostart", "true"), d("autorestart", "unexpected"),
	d("startsecs", "1"), d("startretries", "3"), d("stopsignal", "TERM"),
	d("stopwaitsecs", "10"), d("stopasgroup", "false"), n("killasgroup"),
	d("exitcodes", "0"), d("redirect_stderr", "false"), d("numprocs", "1"),
	d("numprocs_start", "0"), d("environment", ""),
	d("stdout_capture_maxbytes", "0"), d("stdout_events_enabled", "false"),
	d("stderr_capture_maxbytes", "0"), d("stderr_events_enabled", "false"),
	n("serverurl"), n("user"), n("umask"), d("process_name", "%(program_name)s"),
	n("directory"),
	n("stdout_logfile"), d("stdout_logfile_backups", "10"), d("stdout_logfile_maxbytes", "50MB"), d("stdout_syslog", "false"),
	n("stderr_logfile"), d("stderr_logfile_backups", "10"), d("stderr_logfile_maxbytes", "50MB"), d("stderr_syslog", "false"),
	n("command"),
	// roost's extensions (limits.go), which supervisord ignores.
	n("memory_max"), n("pids_max"), n("cpu_max"),
}

// programExtensionOptions are roost's keys of [program:x] (extensions.go),
// which supervisord ignores: health checks, depends_on, sd_notify. Only
// [program:x] has them.
var programExtensionOptions = []opt{
	n("healthcheck"), d("healthcheck_interval", "10"), d("healthcheck_timeout", "5"), d("healthcheck_retries", "3"),
	n("depends_on"), d("notify", "false"), d("watchdog_sec", "0"),
}

// eventListenerOptions are the options [eventlistener:x] adds; its priority
// defaults to -1 so listeners start first.
var eventListenerOptions = []opt{d("buffer_size", "10"), d("result_handler", DefaultResultHandler), n("events")}

// DefaultResultHandler is supervisord's default result_handler, the only
// one roost has: RESULT OK acknowledges an event, anything else rejects it.
const DefaultResultHandler = "supervisor.dispatchers:default_handler"

// fcgiOptions are the options [fcgi-program:x] adds.
var fcgiOptions = []opt{n("socket"), n("socket_backlog"), n("socket_owner"), n("socket_mode")}

// supervisordOptions are the options of [supervisord]; childlogdir defaults
// to the temporary directory ($TMPDIR, else /tmp).
var supervisordOptions = []opt{
	d("minfds", "1024"), d("minprocs", "200"), n("directory"), n("user"), d("umask", "022"),
	d("logfile", "supervisord.log"), d("logfile_maxbytes", "50MB"), d("logfile_backups", "10"),
	d("loglevel", "info"), d("pidfile", "supervisord.pid"), d("identifier", "supervisor"),
	d("nodaemon", "false"), d("silent", "false"), n("childlogdir"), d("nocleanup", "false"),
	d("strip_ansi", "false"), d("environment", ""),
}

var unixHTTPServerOptions = []opt{n("file"), d("chmod", "0700"), n("chown"), n("username"), n("password")}
var inetHTTPServerOptions = []opt{n("port"), n("username"), n("password")}
var supervisorctlOptions = []opt{d("serverurl", "http://localhost:9001"), n("username"), n("password"), d("prompt", "supervisor"), n("history_file")}
var groupOptions = []opt{n("programs"), d("priority", "999")}
var includeOptions = []opt{n("files")}

// proxyOptions are roost's [proxy:NAME] options; program defaults to NAME.
var proxyOptions = []opt{n("program"), n("hosts"), n("static"), d("websocket", "false"), d("max_body_size", "0"), n("health_path"), n("socket")}

// Section kinds.
const (
	secSupervisord    = "supervisord"
	secUnixHTTPServer = "unix_http_server"
	secInetHTTPServer = "inet_http_server"
	secSupervisorctl  = "supervisorctl"
	secInclude        = "include"
	secProgram        = "program"
	secGroup          = "group"
	secEventListener  = "eventlistener"
	secFCGIProgram    = "fcgi-program"
	secRPCInterface   = "rpcinterface"
	secCtlPlugin      = "ctlplugin"
	secProxy          = "proxy"
)

// namedKinds are the section kinds written "[kind:name]".
var namedKinds = []string{secProgram, secGroup, secEventListener, secFCGIProgram, secRPCInterface, secCtlPlugin, secProxy}

// plainKinds are the section kinds written "[kind]".
var plainKinds = []string{secSupervisord, secUnixHTTPServer, secInetHTTPServer, secSupervisorctl, secInclude}

// sectionKind returns the kind of a section name ("program" for
// "program:web"), or "" for a section roost does not know.
func sectionKind(section string) string {
	for _, k := range plainKinds {
		if section == k {
			return k
		}
	}
	for _, k := range namedKinds {
		if strings.HasPrefix(section, k+":") {
			return k
		}
	}
	return ""
}

// optionsOf returns the known options of a section kind; nil for kinds
// whose keys are free-form ([rpcinterface:x], [ctlplugin:x]).
func optionsOf(kind string) []opt {
	if k := optionIndex()[kind]; k != nil {
		return k.list
	}
	return nil
}

// kindOptions are one section kind's options, by name and sorted by name.
type kindOptions struct {
	list   []opt // in optionsOf's order; shared: never modified
	byName map[string]opt
	names  []string // sorted; shared: never modified
}

// optionIndex is every section kind's options, built on first use (a
// config of 1000 programs looks an option up some 60,000 times: each
// lookup is a map read, not a scan of a slice copied for it).
var optionIndex = sync.OnceValue(func() map[string]*kindOptions {
	lists := map[string][]opt{
		secProgram:        slices.Concat(programOptions, programExtensionOptions),
		secEventListener:  slices.Concat(programOptions, eventListenerOptions),
		secFCGIProgram:    slices.Concat(programOptions, fcgiOptions),
		secSupervisord:    supervisordOptions,
		secUnixHTTPServer: unixHTTPServerOptions,
		secInetHTTPServer: inetHTTPServerOptions,
		secSupervisorctl:  supervisorctlOptions,
		secGroup:          groupOptions,
		secInclude:        includeOptions,
		secProxy:          proxyOptions,
	}
	idx := make(map[string]*kindOptions, len(lists))
	for kind, list := range lists {
		k := &kindOptions{list: list, byName: make(map[string]opt, len(list))}
		for _, o := range list {
			k.byName[o.name] = o
			k.names = append(k.names, o.name)
		}
		sort.Strings(k.names)
		idx[kind] = k
	}
	return idx
})

// lookupOpt returns the option spec of key in a section kind.
func lookupOpt(kind, key string) (opt, bool) {
	if k := optionIndex()[kind]; k != nil {
		o, ok := k.byName[key]
		return o, ok
	}
	return opt{}, false
}

// knownKey reports whether key is one of the section's listed options
// (free-form and unknown sections have none).
func knownKey(section, key string) bool {
	_, ok := lookupOpt(sectionKind(section), key)
	return ok
}

// optionNames lists the option names of a kind, sorted. The slice is
// shared: callers must not modify it.
func optionNames(kind string) []string {
	if k := optionIndex()[kind]; k != nil {
		return k.names
	}
	return nil
}

// allOptionNames lists every option of every kind (for [DEFAULT]).
func allOptionNames() []string {
	seen := map[string]bool{}
	var out []string
	for _, k := range append(append([]string(nil), plainKinds...), namedKinds...) {
		for _, o := range optionsOf(k) {
			if !seen[o.name] {
				seen[o.name] = true
				out = append(out, o.name)
			}
		}
	}
	sort.Strings(out)
	return out
}
