package config

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// This file turns [group:x], [program:x], [eventlistener:x] and
// [fcgi-program:x] into groups of processes, in the order and with the
// expansions of supervisord's process_groups_from_parser and
// _processes_from_section.

// eventTypes are supervisord's event type names (supervisor/events.py).
var eventTypes = []string{
	"EVENT", "PROCESS_COMMUNICATION", "PROCESS_COMMUNICATION_STDERR", "PROCESS_COMMUNICATION_STDOUT",
	"PROCESS_GROUP", "PROCESS_GROUP_ADDED", "PROCESS_GROUP_REMOVED", "PROCESS_LOG", "PROCESS_LOG_STDERR",
	"PROCESS_LOG_STDOUT", "PROCESS_STATE", "PROCESS_STATE_BACKOFF", "PROCESS_STATE_EXITED",
	"PROCESS_STATE_FATAL", "PROCESS_STATE_RUNNING", "PROCESS_STATE_STARTING", "PROCESS_STATE_STOPPED",
	"PROCESS_STATE_STOPPING", "PROCESS_STATE_UNKNOWN", "REMOTE_COMMUNICATION", "SUPERVISOR_STATE_CHANGE",
	"SUPERVISOR_STATE_CHANGE_RUNNING", "SUPERVISOR_STATE_CHANGE_STOPPING", "TICK", "TICK_3600", "TICK_5", "TICK_60",
}

const defaultResultHandler = "supervisor.dispatchers:default_handler"

// listOfStrings is datatypes.list_of_strings: comma-separated, each stripped.
func listOfStrings(s string) []string {
	if s == "" {
		return nil
	}
	parts := strings.Split(s, ",")
	for i := range parts {
		parts[i] = pyStrip(parts[i])
	}
	return parts
}

// sectionName validates the name part of "[kind:name]".
func (l *loader) sectionName(sec string) (string, bool) {
	_, arg, _ := strings.Cut(sec, ":")
	name, msg := checkName(arg)
	if msg != "" {
		l.d.errorf(l.p.sections[sec].pos, sec, "", "%s", msg)
		return "", false
	}
	return name, true
}

func (l *loader) groups() {
	var groups []*Group
	exclude := map[string]bool{}
	here := func() expansions { return expansions{"here": strValue(l.here)} }

	for _, sec := range l.p.order {
		if sectionKind(sec) != secGroup {
			continue
		}
		name, ok := l.sectionName(sec)
		r := l.reader(sec, here())
		text, ppos, _, _ := r.str("programs")
		programs := listOfStrings(text)
		priority := r.integer("priority", math.MinInt32, math.MaxInt32)
		if !ok {
			continue
		}
		g := &Group{Name: name, Priority: int(priority), Kind: KindProgram, Explicit: true, Pos: r.header()}
		if len(programs) == 0 {
			l.d.warnf(ppos, sec, "programs", "the group lists no programs; write programs = a,b")
		}
		for _, prog := range programs {
			ps, fs := "program:"+prog, "fcgi-program:"+prog
			hasP, hasF := l.p.has(ps), l.p.has(fs)
			switch {
			case !hasP && !hasF:
				r.errorf(ppos, "programs", "names unknown program or fcgi-program %q%s", prog, didYouMean(prog, l.programNames()))
				continue
			case hasP && hasF:
				r.errorf(ppos, "programs", "name %q is ambiguous: it exists as [%s] and [%s]", prog, ps, fs)
				continue
			}
			target := ps
			if hasF {
				target = fs
				l.d.warnf(l.p.sections[fs].pos, fs, "", "parsed but not implemented: roost does not run FastCGI programs yet; its processes will not start")
			}
			exclude[target] = true
			g.Programs = append(g.Programs, strings.SplitN(target, ":", 2)[1])
			g.Processes = append(g.Processes, l.processes(target, name)...)
		}
		sortProcesses(g.Processes)
		groups = append(groups, g)
	}

	for _, sec := range l.p.order {
		if sectionKind(sec) != secProgram || exclude[sec] {
			continue
		}
		name, ok := l.sectionName(sec)
		if !ok {
			continue
		}
		r := l.reader(sec, here())
		priority := r.integer("priority", math.MinInt32, math.MaxInt32)
		g := &Group{Name: name, Priority: int(priority), Kind: KindProgram, Programs: []string{name}, Pos: r.header()}
		g.Processes = l.processes(sec, name)
		groups = append(groups, g)
	}

	for _, sec := range l.p.order {
		if sectionKind(sec) != secEventListener {
			continue
		}
		name, ok := l.sectionName(sec)
		if !ok {
			continue
		}
		r := l.reader(sec, here())
		r.defaults = map[string]string{"priority": "-1"}
		g := &Group{Name: name, Kind: KindEventListener, Programs: []string{name}, Pos: r.header()}
		g.Priority = int(r.integer("priority", math.MinInt32, math.MaxInt32))
		ev := &EventListener{}
		_, bpos, _, _ := r.raw("buffer_size")
		ev.BufferSize = int(r.integer("buffer_size", math.MinInt32, math.MaxInt32))
		if ev.BufferSize < 1 && r.errs == 0 {
			r.errorf(bpos, "buffer_size", "invalid buffer_size %d; it must be 1 or more", ev.BufferSize)
		}
		var hpos Pos
		ev.ResultHandler, hpos, _, _ = r.str("result_handler")
		if ev.ResultHandler == "" {
			ev.ResultHandler = DefaultResultHandler
		} else if ev.ResultHandler != DefaultResultHandler {
			l.d.warnf(hpos, sec, "result_handler", "roost cannot import the Python function %s; it uses %s (RESULT OK acknowledges, anything else rejects the event)", ev.ResultHandler, DefaultResultHandler)
		}
		events, epos, _, _ := r.str("events")
		seen := map[string]bool{}
		for _, e := range listOfStrings(events) {
			e = strings.ToUpper(e)
			if seen[e] {
				continue
			}
			seen[e] = true
			if !slices.Contains(eventTypes, e) {
				r.errorf(epos, "events", "unknown event type %s%s", e, didYouMean(e, eventTypes))
				continue
			}
			ev.Events = append(ev.Events, e)
		}
		sort.Strings(ev.Events)
		if len(seen) == 0 {
			r.errorf(epos, "events", "required: write events = PROCESS_STATE (a comma-separated list of event types)")
		}
		if rpos := r.posOf("redirect_stderr"); r.boolean("redirect_stderr") {
			r.errorf(rpos, "redirect_stderr", "redirect_stderr=true is not allowed in an event listener: it would interfere with the event listener protocol")
		}
		g.Listener = ev
		g.Processes = l.processes(sec, name)
		for _, p := range g.Processes {
			p.Listener = true
		}
		groups = append(groups, g)
	}

	for _, sec := range l.p.order {
		if sectionKind(sec) != secFCGIProgram || exclude[sec] {
			continue
		}
		name, ok := l.sectionName(sec)
		if !ok {
			continue
		}
		r := l.reader(sec, here())
		g := &Group{Name: name, Kind: KindFCGIProgram, Programs: []string{name}, Pos: r.header()}
		g.Priority = int(r.integer("priority", math.MinInt32, math.MaxInt32))
		g.FCGI = l.fcgiSocket(r, name)
		g.Processes = l.processes(sec, name)
		l.d.warnf(g.Pos, sec, "", "parsed but not implemented: roost does not run FastCGI programs yet; its processes will not start")
		groups = append(groups, g)
	}

	// supervisord keys groups by name, and processes by name within a
	// group; two with one name would silently replace each other there.
	byName := map[string]*Group{}
	for _, g := range groups {
		names := map[string]*Process{}
		for _, p := range g.Processes {
			if prev, ok := names[p.Name]; ok {
				l.d.errorf(g.Pos, sectionOf(g), "", "two processes are named %q in group %s (from [program:%s] and [program:%s]); give them distinct process_name values", p.Name, g.Name, prev.Program, p.Program)
				continue
			}
			names[p.Name] = p
		}
		if prev, ok := byName[g.Name]; ok {
			l.d.errorf(g.Pos, sectionOf(g), "", "group name %q is already used by [%s] at %s; rename one of them", g.Name, sectionOf(prev), prev.Pos)
			continue
		}
		byName[g.Name] = g
	}
	sort.SliceStable(groups, func(i, j int) bool {
		if groups[i].Priority != groups[j].Priority {
			return groups[i].Priority < groups[j].Priority
		}
		return groups[i].Name < groups[j].Name
	})
	l.cfg.Groups = groups
}

// sectionOf names the section a group came from.
func sectionOf(g *Group) string {
	switch {
	case g.Explicit:
		return "group:" + g.Name
	case g.Kind == KindEventListener:
		return "eventlistener:" + g.Name
	case g.Kind == KindFCGIProgram:
		return "fcgi-program:" + g.Name
	}
	return "program:" + g.Name
}

// programNames lists the names of the [program:x] sections.
func (l *loader) programNames() []string {
	var out []string
	for _, sec := range l.p.order {
		if sectionKind(sec) == secProgram {
			out = append(out, strings.SplitN(sec, ":", 2)[1])
		}
	}
	return out
}

// posOf returns where key is written, or the section header.
func (r *reader) posOf(key string) Pos {
	_, pos, _, _ := r.raw(key)
	return pos
}

// fcgiSocket reads the socket options of [fcgi-program:x].
func (l *loader) fcgiSocket(r *reader, name string) *FCGISocket {
	fc := &FCGISocket{Mode: -1}
	if u, _, set, _ := r.str("user"); set {
		if _, err := l.sys.lookupUser(u); err != nil {
			r.errorf(r.posOf("user"), "user", "no such user %q on this system", u)
		}
	}
	if b, pos, set, ok := r.str("socket_backlog"); set && ok {
		n, ok := pyInt(b)
		if !ok || n < 1 || n > 65535 {
			r.errorf(pos, "socket_backlog", "invalid socket_backlog value %q; it must be between 1 and 65535", b)
		}
		fc.Backlog = int(n)
	}
	owner, opos, ownerSet, _ := r.str("socket_owner")
	if ownerSet {
		if msg := l.checkUserGroup(owner); msg != "" {
			r.errorf(opos, "socket_owner", "invalid socket_owner value %q: %s", owner, msg)
		}
		fc.Owner = owner
	}
	mode := r.octal("socket_mode")
	saved := r.names
	r.names = expansions{"here": strValue(l.here), "program_name": strValue(name)}
	sock, spos, set, ok := r.str("socket")
	r.names = saved
	if !ok {
		return fc
	}
	if !set || sock == "" {
		r.errorf(spos, "socket", "required: write socket = unix:///path/to.sock or tcp://127.0.0.1:9000")
		return fc
	}
	if path, ok := strings.CutPrefix(sock, "unix://"); ok {
		if !strings.HasPrefix(path, "/") {
			r.errorf(spos, "socket", "unix socket path %s is not an absolute path", path)
			return fc
		}
		fc.URL = "unix://" + l.abs(path)
		if mode < 0 {
			mode = 0o700
		}
		fc.Mode = mode
		return fc
	}
	if ownerSet || mode >= 0 {
		r.errorf(spos, "socket", "socket_owner and socket_mode can only be used with a unix domain socket")
	}
	rest, ok := strings.CutPrefix(sock, "tcp://")
	host, port, hasPort := strings.Cut(rest, ":")
	n, numOK := pyInt(port)
	if !ok || !hasPort || host == "" || strings.ContainsAny(host, ": \t") || !numOK || strings.Trim(port, "0123456789") != "" || n < 1 || n > 65535 {
		r.errorf(spos, "socket", "bad socket format %q; use unix:///absolute/path.sock or tcp://host:port", sock)
		return fc
	}
	fc.URL = fmt.Sprintf("tcp://%s:%d", strings.ToLower(host), n)
	return fc
}

// processes expands one program section into its processes, like
// _processes_from_section. Options read before the numprocs loop see
// here, program_name, group_name and host_node_name; inside the loop the
// names grow process_num, numprocs and, as in supervisord (whose loop
// aliases one dict), the ENV_* of the program's own environment=, which
// stay visible to later options and later iterations.
func (l *loader) processes(sec, group string) []*Process {
	program, ok := l.sectionName(sec)
	if !ok {
		return nil
	}
	common := expansions{
		"here":           strValue(l.here),
		"program_name":   strValue(program),
		"host_node_name": strValue(l.host),
		"group_name":     strValue(group),
	}
	r := l.reader(sec, common)
	header := r.header()
	tmpl := Process{Group: group, Program: program, Pos: header}
	tmpl.Priority = int(r.integer("priority", math.MinInt32, math.MaxInt32))
	tmpl.Autostart = r.boolean("autostart")
	if s, pos, _, ok := r.str("autorestart"); ok {
		a, msg := parseAutorestart(s)
		if msg != "" {
			r.errorf(pos, "autorestart", "%s", msg)
		}
		tmpl.Autorestart = a
	}
	tmpl.StartSecs = time.Duration(r.integer("startsecs", 0, math.MaxInt32)) * time.Second
	tmpl.StartRetries = int(r.integer("startretries", 0, math.MaxInt32))
	if s, pos, _, ok := r.str("stopsignal"); ok {
		sig, err := ParseSignal(s)
		if err != nil {
			r.errorf(pos, "stopsignal", "%v", err)
		}
		tmpl.StopSignal = sig
	}
	tmpl.StopWaitSecs = time.Duration(r.integer("stopwaitsecs", 0, math.MaxInt32)) * time.Second
	tmpl.StopAsGroup = r.boolean("stopasgroup")
	r.defaults = map[string]string{"killasgroup": fmt.Sprint(tmpl.StopAsGroup)}
	tmpl.KillAsGroup = r.boolean("killasgroup")
	if s, pos, _, ok := r.str("exitcodes"); ok {
		codes, msg := parseExitCodes(s)
		if msg != "" {
			r.errorf(pos, "exitcodes", "%s", msg)
		}
		tmpl.ExitCodes = codes
	}
	tmpl.RedirectStderr = r.boolean("redirect_stderr")
	_, npos, _, _ := r.raw("numprocs")
	numprocs := r.integer("numprocs", 0, MaxNumprocs)
	start := r.integer("numprocs_start", 0, math.MaxInt32)
	envText, envPos, _, _ := r.raw("environment")
	tmpl.Stdout.CaptureMaxBytes = r.byteSize("stdout_capture_maxbytes")
	tmpl.Stdout.EventsEnabled = r.boolean("stdout_events_enabled")
	tmpl.Stderr.CaptureMaxBytes = r.byteSize("stderr_capture_maxbytes")
	tmpl.Stderr.EventsEnabled = r.boolean("stderr_events_enabled")
	if s, _, set, ok := r.str("serverurl"); set && ok && strings.ToUpper(pyStrip(s)) != "AUTO" {
		tmpl.ServerURL = s
	}
	tmpl.User = r.user("user")
	tmpl.Umask = r.octal("umask")
	tmpl.Limits = r.programLimits()
	nameTmpl, namePos, _, _ := r.raw("process_name")
	if _, msg := checkName(nameTmpl); msg != "" {
		r.errorf(namePos, "process_name", "%s", msg)
	}
	if numprocs > 1 && !strings.Contains(nameTmpl, "%(process_num)") {
		r.errorf(namePos, "process_name", "%%(process_num) must be present within process_name when numprocs > 1, e.g. process_name=%%(program_name)s_%%(process_num)02d")
	}
	l.programExtensions(r, &tmpl)
	if tmpl.StopAsGroup && !tmpl.KillAsGroup {
		r.errorf(r.posOf("killasgroup"), "killasgroup", "cannot set stopasgroup=true and killasgroup=false")
	}
	if numprocs == 0 && r.errs == 0 {
		l.d.warnf(npos, sec, "numprocs", "numprocs=0: the program has no processes")
	}
	if r.errs > 0 {
		// Still read the options of one process, to report their errors too.
		start, numprocs = 0, 1
	}

	var procs []*Process
	// expand makes process num, with port as its PORT when proxied; nil
	// on an error (recorded).
	expand := func(num int64, port int, proxied bool) *Process {
		before := r.errs
		common["process_num"] = intValue(num)
		common["numprocs"] = intValue(numprocs)
		common.update(l.environ)
		if proxied {
			common["ENV_"+EnvPort] = strValue(strconv.Itoa(port))
		}
		p := tmpl
		p.ProcessNum, p.Numprocs = int(num), int(numprocs)
		p.ExitCodes = slices.Clone(tmpl.ExitCodes)

		expanded, ferr := l.format(envText, common)
		if ferr != nil {
			r.errorf(envPos, "environment", "%s", ferr.msg)
			return nil
		}
		env, err := parseEnvironment(expanded)
		if err != nil {
			r.errorf(envPos, "environment", "%v", err)
			return nil
		}
		if !l.checkEnv(r, envPos, env) {
			return nil
		}
		for _, kv := range env {
			common["ENV_"+kv.Name] = strValue(kv.Value)
		}
		if proxied {
			// roost assigns a proxied program's PORT (ports.go).
			if v, set := env.Lookup(EnvPort); set && v != strconv.Itoa(port) && num == start {
				l.d.warnf(envPos, sec, "environment", "PORT=%s is replaced by %d: roost assigns the PORT of a program behind a [proxy:*] section (see `roost proxy`)", v, port)
			}
			common["ENV_"+EnvPort] = strValue(strconv.Itoa(port))
			env = append(env, EnvVar{Name: EnvPort, Value: strconv.Itoa(port)})
		}
		// [supervisord] environment= overlaid with the program's, in the
		// order of Python's dict.copy() then update().
		var merged envBuilder
		for _, kv := range l.cfg.Supervisord.Environment {
			merged.set(kv.Name, kv.Value)
		}
		for _, kv := range env {
			merged.set(kv.Name, kv.Value)
		}
		p.Environment = merged.env
		for _, kv := range merged.env {
			l.budget -= len(kv.Name) + len(kv.Value)
		}
		if l.budget < 0 {
			r.errorf(envPos, "environment", "the configuration expands to more than %d bytes", maxTotalExpanded)
			return nil
		}

		if dir, _, set, ok := r.str("directory"); set && ok {
			p.Directory = l.abs(dir)
		}
		p.Stdout = l.logConfig(r, "stdout", tmpl.Stdout)
		p.Stderr = l.logConfig(r, "stderr", tmpl.Stderr)
		if p.RedirectStderr {
			if p.Stderr.File != "" && !p.Stderr.Auto {
				l.d.warnf(r.posOf("stderr_logfile"), sec, "stderr_logfile", "redirect_stderr=true but stderr_logfile is set to a file; the file is ignored")
			}
			p.Stderr.File, p.Stderr.Auto = "", false
		}
		cmd, cpos, set, ok := r.str("command")
		if ok && !set {
			r.errorf(header, "command", "required: the program has no command; add command = /path/to/program args")
		}
		if ok && set {
			p.Command = cmd
			argv, err := SplitCommand(cmd)
			switch {
			case err != nil:
				hint := ""
				if v := l.p.get(sec, "command"); v != nil && v.comment {
					hint = " (an inline comment was cut from this line: ';' or '#' after whitespace starts a comment even inside quotes)"
				}
				r.errorf(cpos, "command", "cannot split %q like a shell command line: %v%s", cmd, err, hint)
			case len(argv) == 0:
				r.errorf(cpos, "command", "command is empty")
			}
			p.Argv = argv
		}
		p.Health = l.healthCheck(r)
		name, ferr := l.format(nameTmpl, common)
		if ferr != nil {
			r.errorf(namePos, "process_name", "%s", ferr.msg)
		} else if n, msg := checkName(name); msg != "" {
			r.errorf(namePos, "process_name", "process name after expansion: %s", msg)
		} else {
			p.Name = n
		}
		if r.errs > before {
			return nil
		}
		return &p
	}
	for num := start; num < start+numprocs; num++ {
		port, proxied := l.programPort(program, num, start)
		p := expand(num, port, proxied)
		if p == nil {
			break
		}
		if spare := l.portSlices[program].spare; proxied && numprocs == 1 && spare > 0 {
			// The same process on the spare port, for a blue-green
			// restart; its warnings are the process's own.
			w, budget := len(l.d.warns), l.budget
			if p.Spare = expand(num, spare, true); p.Spare != nil {
				p.Spare.Spare = p // each is the other's: a restart alternates
			}
			l.d.warns, l.budget = l.d.warns[:w], budget
		}
		procs = append(procs, p)
	}
	if r.errs > 0 {
		return nil
	}
	sortProcesses(procs)
	return procs
}

// sortProcesses orders processes like supervisord: by priority, then name.
func sortProcesses(ps []*Process) {
	sort.SliceStable(ps, func(i, j int) bool {
		if ps[i].Priority != ps[j].Priority {
			return ps[i].Priority < ps[j].Priority
		}
		return ps[i].Name < ps[j].Name
	})
}

// logConfig reads one stream's log options inside the numprocs loop. The
// file name is expanded twice, as supervisord does (once by the parser,
// once more explicitly), so a literal '%' is written %%%% there.
func (l *loader) logConfig(r *reader, stream string, lc LogConfig) LogConfig {
	key := stream + "_logfile"
	kind := logAuto
	val, pos, set, ok := r.str(key)
	if set && ok {
		v, ferr := l.format(val, r.names)
		if ferr != nil {
			r.errorf(pos, key, "%s (supervisord expands log file names twice: write %%%%%%%% for a literal %%)", ferr.msg)
		} else {
			kind = logfileName(v)
			if kind == logPath {
				lc.File = l.dirPath(r, pos, key, v)
			}
		}
	}
	lc.Backups = int(r.integer(stream+"_logfile_backups", 0, math.MaxInt32))
	lc.MaxBytes = r.byteSize(stream + "_logfile_maxbytes")
	lc.Syslog = r.boolean(stream + "_syslog")
	switch kind {
	case logSyslog:
		l.d.warnf(pos, r.sec, key, "%s=syslog is deprecated; use %s_syslog=true instead", key, stream)
		lc.Syslog = true
	case logAuto:
		lc.Auto = true
		if lc.MaxBytes == 0 {
			l.d.warnf(r.posOf(stream+"_logfile_maxbytes"), r.sec, stream+"_logfile_maxbytes", "AUTO logging without rollover: set %s_logfile_maxbytes > 0 to avoid filling up the file system", stream)
		}
	}
	return lc
}
