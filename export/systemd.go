package export

import (
	"fmt"
	"strconv"
	"strings"
	"syscall"
	"time"

	"roost/config"
	"roost/cronjobs"
)

// SystemdOptions are `roost export systemd`'s flags.
type SystemdOptions struct {
	// User makes user units (systemctl --user): no User=, the target
	// wanted by default.target.
	User bool
	// RunAs is User= of system units: the user roost runs the programs as
	// (a program's user= wins). Ignored with User.
	RunAs string
	// LookPath finds a command named without a '/' as the supervisor
	// would (its PATH): systemd searches only its own fixed path. nil
	// leaves such names as written.
	LookPath func(name string) (string, error)
}

// UnitName escapes s for a unit name the way systemd-escape escapes a
// string: '/' becomes '-', every byte that is not an ASCII letter, digit,
// ':', '_' or '.' (and a leading '.') becomes \xHH. '-' is kept, as unit
// names allow it, so "my-app" stays readable; the name is checked for
// collisions instead.
func UnitName(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '/':
			b.WriteByte('-')
		case c == '.' && i == 0:
			fmt.Fprintf(&b, `\x%02x`, c)
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == ':', c == '_', c == '.', c == '-':
			b.WriteByte(c)
		default:
			fmt.Fprintf(&b, `\x%02x`, c)
		}
	}
	return b.String()
}

// maxUnitName is systemd's limit on a unit name, suffix included.
const maxUnitName = 255

// unitWriter builds one unit file: sections in the order written.
type unitWriter struct {
	b   strings.Builder
	bad string // the first key whose value had a line break or control character
}

func (u *unitWriter) comment(s string) { u.b.WriteString("# " + strings.Map(printable, s) + "\n") }

func (u *unitWriter) section(name string) {
	if u.b.Len() > 0 {
		u.b.WriteString("\n")
	}
	u.b.WriteString("[" + name + "]\n")
}

// set writes key=value. A value with a line break would start a new
// setting (a path or name can hold one), so it is refused (see add).
func (u *unitWriter) set(key, value string) {
	if strings.IndexFunc(value, func(r rune) bool { return r < 0x20 || r == 0x7f }) >= 0 && u.bad == "" {
		u.bad = key
	}
	u.b.WriteString(key + "=" + value + "\n")
}

// specifiers doubles '%', which systemd expands in most settings.
func specifiers(s string) string { return strings.ReplaceAll(s, "%", "%%") }

// quoteArg quotes one word of ExecStart=: plain when it is made of safe
// characters, else a double-quoted C string; '%' is doubled and '$'
// written "$$" (systemd expands both); a lone ";" is escaped (systemd reads
// it as a command separator).
func quoteArg(s string) string {
	safe := s != ""
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("/._-+=:,@", c) >= 0) {
			safe = false
			break
		}
	}
	if safe {
		return s
	}
	if s == ";" {
		return `\;`
	}
	return cString(strings.ReplaceAll(specifiers(s), "$", "$$"))
}

// cString is s in double quotes with C escapes, as systemd unquotes it.
func cString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c == '\n':
			b.WriteString(`\n`)
		case c == '\t':
			b.WriteString(`\t`)
		case c < 0x20 || c == 0x7f:
			fmt.Fprintf(&b, `\x%02x`, c)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// execLine is an ExecStart= value from argv.
func execLine(argv []string) (string, error) {
	if len(argv) == 0 {
		return "", fmt.Errorf("empty command")
	}
	if strings.ContainsAny(argv[0][:1], "-@+!:|") {
		return "", fmt.Errorf("the command %q starts with %q, which systemd reads as a prefix; use its path", argv[0], argv[0][:1])
	}
	words := make([]string, len(argv))
	for i, a := range argv {
		words[i] = quoteArg(a)
	}
	return strings.Join(words, " "), nil
}

// envAssignment is one Environment= value.
func envAssignment(name, value string) string {
	return cString(specifiers(name + "=" + value))
}

// sysd is one systemd export in progress.
type sysd struct {
	in      *Input
	opt     SystemdOptions
	d       diags
	project string
	target  string
	units   *names
	files   []File
	wants   []string // the units the target starts
}

// Systemd renders the project as systemd units: a .service per process, a
// .timer and a .service per cron job (@reboot: a .service the target
// starts), and PROJECT.target, which wants them all.
func Systemd(in Input, opt SystemdOptions) ([]File, []Warning, error) {
	s := &sysd{in: &in, opt: opt}
	s.units = newNames("unit", &s.d.errs)
	s.project = UnitName(in.projectName())
	s.target = s.project + ".target"
	for _, e := range in.UserEnv {
		if strings.IndexFunc(e.Value, func(r rune) bool { return r < 0x20 || r == 0x7f }) >= 0 {
			s.d.warn(config.Pos{File: in.EnvFile}, "", "%s holds a control character: roost env writes it as a Go escape (\\n, \\t …), which EnvironmentFile= reads as written; set it with Environment= instead", e.Name)
		}
	}
	for _, p := range in.programs(&s.d) {
		s.program(p)
	}
	for _, px := range in.Config.Proxies {
		s.proxy(px)
	}
	for _, j := range in.jobs() {
		s.cronJob(j)
	}
	s.writeTarget()
	w, err := s.d.result()
	if err != nil {
		return nil, w, err
	}
	return s.files, w, nil
}

func (s *sysd) add(name string, u *unitWriter, src source) {
	if u.bad != "" {
		s.d.errorf(src.pos, "", "%s: its %s= value holds a line break or a control character, which a unit file cannot: rename or move it", src.what, u.bad)
		return
	}
	s.files = append(s.files, File{Name: name, Data: []byte(u.b.String())})
}

// claim checks and records a unit name.
func (s *sysd) claim(name string, src source) bool {
	if len(name) > maxUnitName {
		s.d.errorf(src.pos, "", "%s: the unit name %s is longer than systemd's %d characters", src.what, name, maxUnitName)
		return false
	}
	return s.units.claim(name, src)
}

// common writes what programs and cron jobs share: the user, the
// directory, the environment.
func (s *sysd) common(u *unitWriter, user, dir string, env [][2]string) {
	if !s.opt.User {
		if user == "" {
			user = s.opt.RunAs
		}
		if user != "" {
			u.set("User", specifiers(user))
		}
	}
	if dir != "" {
		u.set("WorkingDirectory", specifiers(dir))
	}
	if s.in.EnvFile != "" {
		// The user's roost env file, read at each start ("-": it may not
		// exist).
		u.set("EnvironmentFile", "-"+specifiers(s.in.EnvFile))
	}
	for _, e := range env {
		u.set("Environment", envAssignment(e[0], e[1]))
	}
}

func (s *sysd) program(p program) {
	for _, proc := range p.procs {
		s.process(p, proc)
	}
}

// process renders one process as a .service.
func (s *sysd) process(p program, proc *config.Process) {
	sec := "program:" + proc.Program
	name := processUnit(s.project, proc)
	src := source{"[program:" + proc.Program + "] process " + proc.Name, proc.Pos}
	if !s.claim(name, src) {
		return
	}
	exec, err := execLine(s.resolve(proc.Argv, proc.Pos, sec))
	if err != nil {
		s.d.errorf(proc.Pos, sec, "command: %v", err)
		return
	}
	if proc.User != "" && s.opt.User {
		s.d.warn(proc.Pos, sec, "user=%s is not exported: a user unit runs as the user who starts it", proc.User)
	}
	if proc.Health != nil {
		s.d.warn(proc.Pos, sec, "healthcheck= is not exported: systemd has no health checks (WatchdogSec= with notify=true is the nearest)")
	}
	u := &unitWriter{}
	u.comment(fmt.Sprintf("roost export: [program:%s] (%s), process %s. Edit the source and export again.", proc.Program, proc.Pos, proc.Name))
	u.section("Unit")
	u.set("Description", specifiers(fmt.Sprintf("%s: %s", s.project, proc.Namespec())))
	u.set("PartOf", s.target)
	var deps []string
	for _, dep := range proc.DependsOn {
		for _, q := range s.in.Config.ProcessesOf(dep) {
			deps = append(deps, processUnit(s.project, q))
		}
	}
	if len(deps) > 0 {
		u.set("Wants", strings.Join(deps, " "))
		u.set("After", strings.Join(deps, " "))
	}
	// supervisord gives up (FATAL) after startretries failed starts,
	// waiting 1, 2, 3 … seconds between them: systemd gives up after as
	// many starts within the time that takes.
	retries := int64(proc.StartRetries)
	u.set("StartLimitIntervalSec", strconv.FormatInt(retries*(retries+1)/2+(retries+1)*max(1, secondsCeil(proc.StartSecs)), 10))
	u.set("StartLimitBurst", strconv.FormatInt(retries+1, 10))

	u.section("Service")
	if proc.Notify {
		u.set("Type", "notify")
		u.set("NotifyAccess", "all")
		if proc.WatchdogSec > 0 {
			u.set("WatchdogSec", strconv.FormatInt(secondsCeil(proc.WatchdogSec), 10))
		}
	} else {
		u.set("Type", "exec")
	}
	u.set("ExecStart", exec)
	env := [][2]string{}
	if port, ok := proc.Environment.Lookup(config.EnvPort); ok {
		env = append(env, [2]string{config.EnvPort, port})
	}
	pe := programEnv(proc)
	for _, k := range sortedKeys(pe) {
		env = append(env, [2]string{k, pe[k]})
	}
	s.common(u, proc.User, s.in.workDir(proc), env)
	if proc.Umask >= 0 {
		u.set("UMask", fmt.Sprintf("%04o", proc.Umask))
	}
	switch proc.Autorestart {
	case config.AutorestartTrue:
		u.set("Restart", "always")
	case config.AutorestartFalse:
		u.set("Restart", "no")
	default:
		u.set("Restart", "on-failure")
	}
	codes := make([]string, len(proc.ExitCodes))
	for i, c := range proc.ExitCodes {
		codes[i] = strconv.Itoa(c)
	}
	if len(codes) > 0 {
		u.set("SuccessExitStatus", strings.Join(codes, " "))
	}
	u.set("RestartSec", "1")
	u.set("KillSignal", signalName(proc.StopSignal))
	if proc.StopAsGroup {
		u.set("KillMode", "control-group")
	} else {
		// supervisord signals the program alone; systemd still kills what
		// is left of its cgroup at the timeout.
		u.set("KillMode", "mixed")
	}
	u.set("TimeoutStopSec", strconv.FormatInt(secondsCeil(proc.StopWaitSecs), 10))
	s.output(u, proc)
	s.limits(u, proc.Limits)
	s.add(name, u, src)
	if proc.Autostart {
		s.wants = append(s.wants, name)
	} else {
		s.d.warn(proc.Pos, sec, "autostart=false: %s is not wanted by %s; systemctl start %s starts it", name, s.target, name)
	}
}

// output maps the log files: a file is appended to, NONE is discarded,
// AUTO and syslog go to the journal.
func (s *sysd) output(u *unitWriter, p *config.Process) {
	stream := func(key string, l config.LogConfig) {
		switch {
		case l.Auto || l.Syslog:
		case l.File != "":
			u.set(key, "append:"+specifiers(l.File))
		default:
			u.set(key, "null")
		}
	}
	stream("StandardOutput", p.Stdout)
	if !p.RedirectStderr {
		stream("StandardError", p.Stderr)
	}
	if p.Stdout.MaxBytes > 0 && p.Stdout.File != "" && !p.Stdout.Auto {
		s.d.warn(p.Pos, "program:"+p.Program, "stdout_logfile_maxbytes=%d is not exported: roost rotated the file, systemd appends without rotating (use logrotate with copytruncate)", p.Stdout.MaxBytes)
	}
}

// limits maps roost's per-program limits to the cgroup settings systemd
// sets under the same names.
func (s *sysd) limits(u *unitWriter, l config.Limits) {
	if l.MemoryMax > 0 {
		u.set("MemoryMax", strconv.FormatInt(l.MemoryMax, 10))
	}
	if l.MemoryHigh > 0 {
		u.set("MemoryHigh", strconv.FormatInt(l.MemoryHigh, 10))
	}
	if l.PidsMax > 0 {
		u.set("TasksMax", strconv.FormatInt(l.PidsMax, 10))
	}
	if l.CPUMax > 0 {
		u.set("CPUQuota", strconv.Itoa(l.CPUMax)+"%")
	}
	if l.CPUWeight > 0 {
		u.set("CPUWeight", strconv.Itoa(l.CPUWeight))
	}
	if l.IOWeight > 0 {
		u.set("IOWeight", strconv.Itoa(l.IOWeight))
	}
}

// resolve makes argv[0] a path where LookPath finds it; a warning when
// it does not (systemd then searches its own path).
func (s *sysd) resolve(argv []string, pos config.Pos, sec string) []string {
	if len(argv) == 0 || strings.Contains(argv[0], "/") || s.opt.LookPath == nil {
		return argv
	}
	p, err := s.opt.LookPath(argv[0])
	if err != nil {
		s.d.warn(pos, sec, "%s is not on your PATH; systemd looks for it in its own (/usr/local/bin:/usr/bin:/bin …)", argv[0])
		return argv
	}
	return append([]string{p}, argv[1:]...)
}

// processUnit is a process's unit: PROJECT-NAME.service, or
// PROJECT-GROUP-NAME.service in a group of another name (systemd-analyze
// refuses the ':' of supervisorctl's GROUP:NAME in a unit file's name).
func processUnit(project string, p *config.Process) string {
	n := p.Name
	if p.Group != p.Name {
		n = p.Group + "-" + p.Name
	}
	return project + "-" + UnitName(n) + ".service"
}

// signalName is KillSignal='s spelling.
func signalName(sig syscall.Signal) string {
	n := config.SignalName(sig)
	if _, err := strconv.Atoi(n); err == nil {
		return n
	}
	return "SIG" + n
}

// proxy: systemd routes nothing; say where the program listens.
func (s *sysd) proxy(px *config.Proxy) {
	where := "its PORT"
	if len(px.Ports) > 0 {
		ps := make([]string, len(px.Ports))
		for i, p := range px.Ports {
			ps[i] = "127.0.0.1:" + strconv.Itoa(p)
		}
		where = strings.Join(ps, " ")
	}
	s.d.warn(px.Pos, "proxy:"+px.Name, "hosts %s are not routed: systemd has no HTTP routing; point your own nginx at %s", strings.Join(px.Hosts, " "), where)
}

// cronJob renders a .service and a .timer (or, for @reboot, a .service
// the target starts).
func (s *sysd) cronJob(j cronjobs.Job) {
	pos := s.in.cronPos(j)
	base := s.project + "-cron-" + UnitName(j.Name)
	src := source{"cron job " + j.Name, pos}
	var timer []string
	if !j.Reboot {
		var ok bool
		if timer, ok = s.timerLines(j, pos); !ok {
			return
		}
	}
	if !s.claim(base+".service", src) || (!j.Reboot && !s.claim(base+".timer", src)) {
		return
	}
	u := &unitWriter{}
	u.comment(fmt.Sprintf("roost export: cron job %s (%s): %s", j.Name, pos, j.Spec))
	u.section("Unit")
	u.set("Description", specifiers(fmt.Sprintf("%s: cron job %s", s.project, j.Name)))
	u.set("PartOf", s.target)
	u.section("Service")
	u.set("Type", "oneshot")
	exec, err := execLine(s.resolve([]string{j.Shell(), "-c", j.Command}, pos, ""))
	if err != nil {
		s.d.errorf(pos, "", "cron job %s: %v", j.Name, err)
		return
	}
	u.set("ExecStart", exec)
	env := [][2]string{{"ROOST_CRON_JOB", j.Name}}
	for _, e := range j.Env {
		n, v, _ := strings.Cut(e, "=")
		if n == "CRON_TZ" || n == "MAILTO" {
			continue
		}
		env = append(env, [2]string{n, v})
	}
	s.common(u, "", s.in.Config.Here, env)
	if j.Stdin != "" {
		u.set("StandardInput", "data")
		for _, l := range strings.Split(strings.TrimSuffix(j.Stdin, "\n"), "\n") {
			u.set("StandardInputText", specifiers(l))
		}
	}
	// roost's stop of a cron job: TERM to its group, KILL 10 s later.
	u.set("KillMode", "control-group")
	u.set("TimeoutStopSec", "10")
	s.add(base+".service", u, src)
	if j.Reboot {
		s.wants = append(s.wants, base+".service")
		return
	}
	t := &unitWriter{}
	t.comment(fmt.Sprintf("roost export: cron job %s (%s): %s", j.Name, pos, j.Spec))
	t.section("Unit")
	t.set("Description", specifiers(fmt.Sprintf("%s: cron job %s (%s)", s.project, j.Name, j.Spec)))
	t.set("PartOf", s.target)
	t.section("Timer")
	for _, l := range timer {
		t.b.WriteString(l + "\n")
	}
	// cron runs on the minute; systemd's default accuracy is a minute.
	t.set("AccuracySec", "1s")
	s.add(base+".timer", t, src)
	s.wants = append(s.wants, base+".timer")
}

// timerLines are the [Timer] settings of a job's schedule. A running job's
// service is not started again by its timer, which is roost's skip.
func (s *sysd) timerLines(j cronjobs.Job, pos config.Pos) ([]string, bool) {
	if dur, ok := strings.CutPrefix(j.Spec, "@every "); ok {
		d, err := time.ParseDuration(dur)
		if err != nil {
			s.d.errorf(pos, "", "cron job %s: %v", j.Name, err)
			return nil, false
		}
		n := strconv.FormatInt(secondsCeil(d), 10)
		return []string{"OnActiveSec=" + n, "OnUnitActiveSec=" + n}, true
	}
	f, ok := j.Fields()
	if !ok {
		s.d.warn(pos, "", "cron job %s: the schedule %s has no OnCalendar= form: not exported", j.Name, j.Spec)
		return nil, false
	}
	var out []string
	for _, ev := range OnCalendar(f, j.Location) {
		out = append(out, "OnCalendar="+ev)
	}
	return out, true
}

// writeTarget writes PROJECT.target, which starts every autostart process
// and every timer.
func (s *sysd) writeTarget() {
	src := source{"the project", config.Pos{File: s.in.Config.File}}
	if !s.claim(s.target, src) {
		return
	}
	u := &unitWriter{}
	u.comment("roost export: every program and cron job of " + s.in.Config.File)
	u.section("Unit")
	u.set("Description", specifiers(s.project+": the programs and cron jobs roost ran"))
	if len(s.wants) > 0 {
		u.set("Wants", strings.Join(s.wants, " "))
	}
	u.section("Install")
	if s.opt.User {
		u.set("WantedBy", "default.target")
	} else {
		u.set("WantedBy", "multi-user.target")
	}
	s.add(s.target, u, src)
}
