// Package export renders a roost project (its supervisord.conf with the
// services file, the cron file, the user's `roost env` variables) for the
// engines people move to: Kubernetes manifests and systemd units. Like
// config/nginx it is pure: the parsed configuration in, bytes and
// warnings out, the same bytes for the same input. Whatever has no
// equivalent in the target engine is a warning naming its file:line, never
// silently dropped; what cannot be exported at all (a name two sources
// sanitise to, a command the engine cannot run) is an error naming both.
package export

import (
	"fmt"
	"path/filepath"
	"sort"
	"strings"

	"roost/config"
	"roost/cronjobs"
)

// Input is what an exporter reads.
type Input struct {
	// Config is the loaded configuration (config.Load with the services
	// file as LoadOptions.Extra, as `roost check` loads it).
	Config *config.Config
	// Cron is the parsed cron file; nil or without jobs when there is none.
	Cron *cronjobs.File
	// UserEnv are the user's `roost env` variables, in the file's order.
	UserEnv []config.EnvVar
	// EnvFile is the path of the user's `roost env` file (systemd's
	// EnvironmentFile=); "" when there is none.
	EnvFile string
	// Services are the programs `roost service` added, by program name.
	Services map[string]Service
	// Project names the export: labels, the target, unit name prefixes.
	// "" means the project directory's name (its parent's for a deploy's
	// "current").
	Project string
}

// Service is a program `roost service add` made.
type Service struct {
	Kind string // postgres, mariadb, redis
	Var  string // the variable holding its URL (DATABASE_URL, REDIS_URL, …)
}

// File is one output file.
type File struct {
	Name   string // a base name: "deployment-web.yaml", "hello-web.service"
	Data   []byte
	Secret bool // holds the user's variables: write it 0600
}

// Warning is something exported approximately or not at all.
type Warning = config.Diagnostic

// Stream joins files for one output stream (`-o -`), each preceded by a
// "# file: NAME" line, separated by sep.
func Stream(files []File, sep string) []byte {
	var b strings.Builder
	for i, f := range files {
		if i > 0 {
			b.WriteString(sep)
		}
		b.WriteString("# file: " + f.Name + "\n")
		b.Write(f.Data)
	}
	return []byte(b.String())
}

// projectName is in.Project, else the project directory's name (for
// ~/current, the deploy layout's link, the home's name).
func (in *Input) projectName() string {
	if in.Project != "" {
		return in.Project
	}
	dir := in.Config.Here
	if filepath.Base(dir) == "current" {
		dir = filepath.Dir(dir)
	}
	return filepath.Base(dir)
}

// source names where something came from, for messages.
type source struct {
	what string     // "[program:web]", "cron job nightly"
	pos  config.Pos // its file:line
}

func (s source) String() string { return s.what + " (" + s.pos.String() + ")" }

// names keeps the names given in one name space and reports collisions:
// two sources that sanitise to the same name.
type names struct {
	space string // "Deployment", "unit"
	seen  map[string]source
	errs  *[]config.Diagnostic
}

func newNames(space string, errs *[]config.Diagnostic) *names {
	return &names{space: space, seen: map[string]source{}, errs: errs}
}

// claim records name for src; false (and an error naming both) when
// another source has it.
func (n *names) claim(name string, src source) bool {
	if prev, ok := n.seen[name]; ok {
		*n.errs = append(*n.errs, config.Diagnostic{Pos: src.pos, Message: fmt.Sprintf(
			"%s and %s both become the %s name %q; rename one of them", prev, src, n.space, name)})
		return false
	}
	n.seen[name] = src
	return true
}

// diags collects an export's warnings and errors.
type diags struct {
	warns []Warning
	errs  []config.Diagnostic
}

// warn adds a warning once (a numprocs program's processes share them).
func (d *diags) warn(pos config.Pos, section, format string, a ...any) {
	w := Warning{Pos: pos, Section: section, Message: fmt.Sprintf(format, a...)}
	for _, o := range d.warns {
		if o == w {
			return
		}
	}
	d.warns = append(d.warns, w)
}

func (d *diags) errorf(pos config.Pos, section, format string, a ...any) {
	d.errs = append(d.errs, config.Diagnostic{Pos: pos, Section: section, Message: fmt.Sprintf(format, a...)})
}

// result returns the warnings and, when there were errors, a *config.Error
// listing them.
func (d *diags) result() ([]Warning, error) {
	if len(d.errs) > 0 {
		return d.warns, &config.Error{Diagnostics: d.errs}
	}
	return d.warns, nil
}

// programs are the config's [program:x] programs in group order, each
// with its processes (numprocs of them) and its group.
type program struct {
	name  string
	group *config.Group
	procs []*config.Process
}

func (in *Input) programs(d *diags) []program {
	var out []program
	idx := map[string]int{}
	for _, g := range in.Config.Groups {
		switch g.Kind {
		case config.KindEventListener:
			d.warn(g.Pos, "eventlistener:"+g.Name, "event listener pools are not exported: they read roost's event stream, which neither engine has")
			continue
		case config.KindFCGIProgram:
			d.warn(g.Pos, "fcgi-program:"+g.Name, "FastCGI programs are not exported (roost does not run them either)")
			continue
		}
		for _, p := range g.Processes {
			key := g.Name + "\x00" + p.Program
			i, ok := idx[key]
			if !ok {
				i = len(out)
				idx[key] = i
				out = append(out, program{name: p.Program, group: g})
			}
			out[i].procs = append(out[i].procs, p)
		}
	}
	return out
}

// proxyFor returns the [proxy:x] sections routing to program.
func (in *Input) proxiesFor(prog string) []*config.Proxy {
	var out []*config.Proxy
	for _, px := range in.Config.Proxies {
		if px.Program == prog {
			out = append(out, px)
		}
	}
	return out
}

// jobs are the cron file's jobs (none without a file).
func (in *Input) jobs() []cronjobs.Job {
	if in.Cron == nil {
		return nil
	}
	return in.Cron.Jobs
}

// cronPos is a cron job's file:line.
func (in *Input) cronPos(j cronjobs.Job) config.Pos {
	return config.Pos{File: in.Cron.Name, Line: j.Line}
}

// envMap returns env as a map with sorted keys.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// programEnv is the process's environment= (with [supervisord]
// environment=) minus PORT, which each engine sets on its own terms.
func programEnv(p *config.Process) map[string]string {
	m := map[string]string{}
	for _, e := range p.Environment {
		if e.Name == config.EnvPort {
			continue
		}
		m[e.Name] = e.Value
	}
	return m
}

// logWarnings reports log files an engine does not write.
func logWarnings(d *diags, p *config.Process, where string) {
	sec := "program:" + p.Program
	if p.Stdout.File != "" && !p.Stdout.Auto {
		d.warn(p.Pos, sec, "stdout_logfile %s is not written: output goes to %s", p.Stdout.File, where)
	}
	if p.Stderr.File != "" && !p.Stderr.Auto && !p.RedirectStderr {
		d.warn(p.Pos, sec, "stderr_logfile %s is not written: output goes to %s", p.Stderr.File, where)
	}
}

// secondsCeil is d in whole seconds, rounded up.
func secondsCeil(d interface{ Seconds() float64 }) int64 {
	s := d.Seconds()
	n := int64(s)
	if float64(n) < s {
		n++
	}
	return n
}

// workDir is where a process runs: directory=, else the project's
// directory (where `roost run` is started, and where cron jobs run).
func (in *Input) workDir(p *config.Process) string {
	if p.Directory != "" {
		return p.Directory
	}
	return in.Config.Here
}
