// Package cronjobs reads a project's cron file and schedules its jobs.
//
// The file is a user crontab as vixie cron reads it: five time fields and a
// command, the @-descriptors (@reboot, @yearly … @hourly, @every DURATION),
// NAME=value lines that set the environment of the jobs after them, CRON_TZ=
// or TZ= lines that set their time zone, '#' comments, and '%' in a command
// starting its standard input. A "# name: NAME" comment above a job names it;
// an unnamed job is called "line-N" after its line.
//
// Schedules follow vixie cron, not robfig/cron, where the two differ: a day
// field starting with '*' (even "*/2") counts as unrestricted when OR-ing
// day-of-month with day-of-week; 7 is Sunday; and across daylight saving
// changes a job with a fixed minute and hour runs once per matching wall
// time (at the end of a spring-forward gap if its time was skipped, at the
// first occurrence of a repeated time), while a job with '*' in its minute
// or hour follows real time.
//
// The package never starts a process: the Scheduler calls a RunFunc, which
// the runtime implements with its own spawn and stop recipes.
package cronjobs

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// MaxFileSize is the largest cron file ParseFile reads.
const MaxFileSize = 1 << 20

// MaxNameLen is the longest job name accepted.
const MaxNameLen = 128

// Error is one problem with a cron file. It renders as "FILE:LINE: message",
// where FILE is the name given to Parse. roost passes the path as the user
// gave it, so the default file in the project directory reports as
// "cron:12: …", like "supervisord.conf:12: …" for the main config.
type Error struct {
	File    string `json:"file"`
	Line    int    `json:"line"`
	Message string `json:"message"`
}

// Error renders the problem as "FILE:LINE: message".
func (e Error) Error() string {
	if e.Line <= 0 {
		return e.File + ": " + e.Message
	}
	return e.File + ":" + strconv.Itoa(e.Line) + ": " + e.Message
}

// Errors is every problem Parse found, in line order. Parse returns it as
// its error; get it back with errors.As.
type Errors []Error

// Error renders one problem per line.
func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// File is a parsed cron file.
type File struct {
	Name     string  // the name given to Parse: the path shown in messages
	Jobs     []Job   // in file order
	Warnings []Error // things that work but not as the user may expect
}

// Job is one line of the cron file that runs a command.
type Job struct {
	Name     string         // from a "# name: NAME" comment above the job, else "line-N"
	Line     int            // the job's line in the file
	Spec     string         // the schedule as written: "30 2 * * 1-5", "@daily", "@every 5m", "@reboot"
	Schedule Schedule       // when it runs; never fires for @reboot
	Command  string         // the command for the shell, with vixie cron's '%' rules applied
	Stdin    string         // the text after the first unescaped '%', each further '%' a newline
	Env      []string       // "NAME=value" set by the lines above the job, each name once, first-set order
	Location *time.Location // the schedule's zone: CRON_TZ if set, else TZ, else time.Local
	Reboot   bool           // @reboot: runs once each time the scheduler starts
}

// Shell returns the shell that runs the command: SHELL from the job's
// environment lines, else /bin/sh (vixie cron's rule).
func (j Job) Shell() string {
	for i := len(j.Env) - 1; i >= 0; i-- {
		if v, ok := strings.CutPrefix(j.Env[i], "SHELL="); ok && v != "" {
			return v
		}
	}
	return "/bin/sh"
}

// Same reports whether two jobs would run the same thing at the same times:
// name, schedule, command, stdin, environment and zone are equal. (A reload
// keeps the state of such a job.)
func (j Job) Same(o Job) bool {
	if j.Name != o.Name || j.Spec != o.Spec || j.Command != o.Command || j.Stdin != o.Stdin ||
		j.Location.String() != o.Location.String() || len(j.Env) != len(o.Env) {
		return false
	}
	for i := range j.Env {
		if j.Env[i] != o.Env[i] {
			return false
		}
	}
	return true
}

// ParseFile reads and parses the cron file at path. A missing file is an
// error that matches fs.ErrNotExist: callers treat it as "no jobs".
func ParseFile(path string) (*File, error) {
	data, err := ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(path, data)
}

// ReadFile reads the cron file at path, as ParseFile does: a regular file
// of at most MaxFileSize bytes. A missing file is an error that matches
// fs.ErrNotExist.
func ReadFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read cron file: %w", err)
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("read cron file %s: not a regular file", path)
	}
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("read cron file: %w", err)
	}
	if len(data) > MaxFileSize {
		return nil, fmt.Errorf("read cron file %s: larger than %d bytes", path, MaxFileSize)
	}
	return data, nil
}

// Parse parses a cron file's contents. name is the file's path as messages
// should show it. Every problem is reported, each with its line; the error
// is then an Errors and no File is returned.
func Parse(name string, data []byte) (*File, error) {
	p := &parser{file: &File{Name: name}, names: map[string]int{}, loc: time.Local}
	lines := strings.Split(string(data), "\n")
	if len(lines) > 0 && lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1] // the final newline ends the last line
	}
	for i, line := range lines {
		p.line = i + 1
		p.parseLine(strings.TrimSuffix(line, "\r"))
	}
	p.line = len(lines) + 1
	p.dropPendingName()
	if len(p.errs) > 0 {
		return nil, p.errs
	}
	return p.file, nil
}

type parser struct {
	file  *File
	errs  Errors
	line  int
	names map[string]int // job name -> line

	pendingName     string // from "# name:" waiting for its job
	pendingNameLine int

	env        []string // never mutated in place: jobs share it
	cronTZ, tz string
	loc        *time.Location
}

func (p *parser) errorf(format string, a ...any) {
	p.errs = append(p.errs, Error{File: p.file.Name, Line: p.line, Message: fmt.Sprintf(format, a...)})
}

func (p *parser) warnf(line int, format string, a ...any) {
	p.file.Warnings = append(p.file.Warnings, Error{File: p.file.Name, Line: line, Message: fmt.Sprintf(format, a...)})
}

const blanks = " \t"

func (p *parser) parseLine(line string) {
	if strings.IndexByte(line, 0) >= 0 {
		p.errorf("line contains a NUL byte")
		return
	}
	s := strings.TrimLeft(line, blanks)
	switch {
	case s == "":
		p.dropPendingName() // a blank line ends the block a "# name:" belongs to
	case s[0] == '#':
		p.comment(s)
	default:
		if name, value, ok, err := envLine(s); err != nil {
			p.errorf("%s", err)
		} else if ok {
			p.setEnv(name, value)
		} else {
			p.job(s)
		}
	}
}

// comment handles a comment line; "# name: NAME" names the next job.
func (p *parser) comment(s string) {
	rest := strings.TrimLeft(s[1:], blanks)
	value, ok := strings.CutPrefix(rest, "name:")
	if !ok {
		if len(rest) >= 5 && strings.EqualFold(rest[:5], "name:") {
			p.warnf(p.line, "%q is an ordinary comment: a job name comment is spelled \"# name: NAME\" in lower case", strings.TrimRight(s, blanks))
		}
		return
	}
	value = strings.Trim(value, blanks)
	if err := validName(value); err != nil {
		p.errorf("%s", err)
		return
	}
	p.dropPendingName()
	p.pendingName, p.pendingNameLine = value, p.line
}

// dropPendingName warns about a "# name:" comment that named no job.
func (p *parser) dropPendingName() {
	if p.pendingName != "" {
		p.warnf(p.pendingNameLine, "\"# name: %s\" names no job: put it directly above the job line (comments and NAME=value lines may come between, blank lines may not)", p.pendingName)
		p.pendingName = ""
	}
}

// validName checks a job name with supervisord's rule for process names (no
// whitespace, ':' or '/'), plus no control characters, "." or "..".
func validName(name string) error {
	switch {
	case name == "":
		return errors.New("empty job name after \"# name:\"")
	case len(name) > MaxNameLen:
		return fmt.Errorf("job name %q is longer than %d bytes", name, MaxNameLen)
	case !utf8.ValidString(name):
		return fmt.Errorf("job name %q is not valid UTF-8", name)
	case name == "." || name == "..":
		return fmt.Errorf("job name %q is not allowed", name)
	}
	for _, r := range name {
		if unicode.IsSpace(r) || unicode.IsControl(r) || r == ':' || r == '/' {
			return fmt.Errorf("job name %q contains %q: names cannot contain spaces, control characters, ':' or '/'", name, r)
		}
	}
	return nil
}

// envLine recognises vixie cron's environment lines: NAME = value, with
// optional blanks around '=', the name optionally quoted, and a value in
// matching single or double quotes keeping its blanks. ok is false when s is
// not an environment line (it is then read as a job).
func envLine(s string) (name, value string, ok bool, err error) {
	rest := s
	if q := s[0]; q == '\'' || q == '"' {
		end := strings.IndexByte(s[1:], q)
		if end < 0 {
			return "", "", false, nil
		}
		name, rest = s[1:1+end], s[2+end:]
	} else {
		end := strings.IndexAny(s, " \t=")
		if end < 0 {
			return "", "", false, nil
		}
		name, rest = s[:end], s[end:]
	}
	rest = strings.TrimLeft(rest, blanks)
	if !strings.HasPrefix(rest, "=") {
		return "", "", false, nil
	}
	value = strings.Trim(rest[1:], blanks)
	if !validEnvName(name) {
		if name == "" {
			return "", "", false, errors.New("environment line without a name: write NAME=value")
		}
		return "", "", false, fmt.Errorf("environment variable name %q is not valid: use letters, digits and '_', not starting with a digit", name)
	}
	if value != "" && (value[0] == '\'' || value[0] == '"') {
		q := value[0]
		if len(value) < 2 || value[len(value)-1] != q {
			return "", "", false, fmt.Errorf("the value of %s starts with %c but does not end with it", name, q)
		}
		value = value[1 : len(value)-1]
	}
	return name, value, true, nil
}

func validEnvName(s string) bool {
	if s == "" || (s[0] >= '0' && s[0] <= '9') {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// setEnv applies NAME=value to the lines after it.
func (p *parser) setEnv(name, value string) {
	switch name {
	case "CRON_TZ", "TZ":
		if strings.ContainsAny(value, blanks) {
			p.errorf("%s=%s: a zone name has no spaces; put %s=ZONE on its own line above the jobs it applies to", name, value, name)
			return
		}
		if _, err := loadZone(value); err != nil {
			p.errorf("%s=%s: %s", name, value, err)
			return
		}
		if name == "CRON_TZ" {
			p.cronTZ = value
		} else {
			p.tz = value
		}
		zone := p.cronTZ
		if zone == "" {
			zone = p.tz
		}
		p.loc, _ = loadZone(zone)
	case "MAILTO", "MAILFROM":
		p.warnf(p.line, "%s is ignored: roost sends no mail; job output goes to the job's log", name)
	}
	env := make([]string, 0, len(p.env)+1)
	replaced := false
	for _, kv := range p.env {
		if strings.HasPrefix(kv, name+"=") {
			kv, replaced = name+"="+value, true
		}
		env = append(env, kv)
	}
	if !replaced {
		env = append(env, name+"="+value)
	}
	p.env = slices.Clip(env) // jobs share it: an append by a caller must copy
}

// loadZone loads an IANA zone name; "" is the supervisor's local zone. A
// leading ':' (libc's TZ form) is allowed.
func loadZone(name string) (*time.Location, error) {
	name = strings.TrimPrefix(name, ":")
	switch name {
	case "":
		return time.Local, nil
	case "Local":
		return nil, errors.New("\"Local\" is not a zone name: use an IANA name such as Europe/Berlin, or leave the value empty for the supervisor's zone")
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, fmt.Errorf("unknown time zone %q: use an IANA name such as Europe/Berlin or UTC", name)
	}
	return loc, nil
}

// job parses a job line: "@descriptor command" or five fields and a command.
func (p *parser) job(s string) {
	j := Job{Line: p.line, Env: p.env, Location: p.loc}
	var (
		err     error
		command string
	)
	if s[0] == '@' {
		j.Spec, j.Schedule, j.Reboot, command, err = descriptorJob(s, p.loc)
	} else {
		j.Spec, j.Schedule, command, err = fieldsJob(s, p.loc)
	}
	if err != nil {
		p.errorf("%s", err)
		p.pendingName = ""
		return
	}
	j.Command, j.Stdin = splitPercent(command)
	if strings.TrimSpace(j.Command) == "" {
		p.errorf("missing command before '%%' (a '%%' starts the command's input; write \\%% for a literal %%)")
		p.pendingName = ""
		return
	}
	j.Name = p.pendingName
	if j.Name == "" {
		j.Name = autoName(p.line)
	}
	p.pendingName = ""
	if first, dup := p.names[j.Name]; dup {
		p.errorf("job name %q is already used by the job on line %d", j.Name, first)
		return
	}
	p.names[j.Name] = p.line
	p.file.Jobs = append(p.file.Jobs, j)
}

// autoName is the name of a job without a "# name:" comment.
func autoName(line int) string { return "line-" + strconv.Itoa(line) }

// token splits the first blank-separated word off s.
func token(s string) (tok, rest string) {
	s = strings.TrimLeft(s, blanks)
	if i := strings.IndexAny(s, blanks); i >= 0 {
		return s[:i], strings.TrimLeft(s[i:], blanks)
	}
	return s, ""
}

const fieldsHelp = "5 time fields (minute hour day-of-month month day-of-week) and a command"

func fieldsJob(s string, loc *time.Location) (spec string, sched Schedule, command string, err error) {
	var fields [5]string
	rest := s
	for i := range fields {
		fields[i], rest = token(rest)
		if fields[i] == "" {
			return "", nil, "", fmt.Errorf("expected %s, found %d field(s)", fieldsHelp, i)
		}
	}
	if strings.TrimSpace(rest) == "" {
		return "", nil, "", fmt.Errorf("missing command after the schedule %q (expected %s)", strings.Join(fields[:], " "), fieldsHelp)
	}
	if first, _ := token(rest); looksLikeField(first) {
		return "", nil, "", fmt.Errorf("the command starts with %q, which looks like a sixth time field: cron has five (no seconds field); use @every for intervals under a minute", first)
	}
	cs, err := newCronSchedule(fields, loc)
	if err != nil {
		return "", nil, "", err
	}
	return strings.Join(fields[:], " "), cs, rest, nil
}

// looksLikeField reports whether a word is made of time-field characters
// and starts with a digit or '*': no command is called that, but a
// seconds or year field copied from another cron dialect is.
func looksLikeField(w string) bool {
	if w == "" || (w[0] != '*' && (w[0] < '0' || w[0] > '9')) {
		return false
	}
	return strings.Trim(w, "0123456789*/,-") == ""
}

func descriptorJob(s string, loc *time.Location) (spec string, sched Schedule, reboot bool, command string, err error) {
	word, rest := token(s)
	switch {
	case word == "@reboot":
		spec, sched, reboot = word, never{}, true
	case descriptors[word] != "":
		var fields [5]string
		copy(fields[:], strings.Fields(descriptors[word]))
		if sched, err = newCronSchedule(fields, loc); err != nil {
			return "", nil, false, "", err
		}
		spec = word
	case word == "@every":
		var dur string
		dur, rest = token(rest)
		if sched, err = everySchedule(dur); err != nil {
			return "", nil, false, "", err
		}
		spec = word + " " + dur
	default:
		return "", nil, false, "", fmt.Errorf("unknown schedule %q: use five time fields or one of @reboot @yearly @annually @monthly @weekly @daily @midnight @hourly @every DURATION", word)
	}
	if strings.TrimSpace(rest) == "" {
		return "", nil, false, "", fmt.Errorf("missing command after %s", spec)
	}
	return spec, sched, reboot, rest, nil
}

// everySchedule parses the DURATION of @every: Go syntax ("90s", "1h30m"),
// whole seconds, at least one second.
func everySchedule(dur string) (Schedule, error) {
	if dur == "" {
		return nil, errors.New("@every needs a duration, e.g. @every 5m or @every 1h30m")
	}
	d, err := time.ParseDuration(dur)
	if err != nil {
		return nil, fmt.Errorf("@every %s: not a duration: write e.g. 90s, 5m or 1h30m", dur)
	}
	if d < time.Second || d%time.Second != 0 {
		return nil, fmt.Errorf("@every %s: the interval must be a whole number of seconds, at least 1s", dur)
	}
	sched, err := robfigParse("@every " + dur)
	if err != nil {
		return nil, fmt.Errorf("@every %s: %w", dur, err)
	}
	return sched, nil
}

// splitPercent applies vixie cron's '%' rules: the first unescaped '%' ends
// the command and starts its standard input, in which every further
// unescaped '%' is a newline; "\%" is a literal '%' in both; any other
// backslash is kept as written.
func splitPercent(s string) (command, stdin string) {
	var cmd []byte
	escaped := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case escaped:
			escaped = false
			if c == '%' {
				cmd[len(cmd)-1] = '%' // "\%" -> "%"
				continue
			}
			cmd = append(cmd, c)
		case c == '\\':
			escaped = true
			cmd = append(cmd, c)
		case c == '%':
			return string(cmd), stdinText(s[i+1:])
		default:
			cmd = append(cmd, c)
		}
	}
	return string(cmd), ""
}

// stdinText translates the input part of a command as vixie cron (and
// cronie) does, including its last step: input that does not end with a
// newline gets one, so that `read` sees the last line.
func stdinText(s string) string {
	var out bytes.Buffer
	escaped, needNewline := false, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if escaped {
			if c != '%' {
				out.WriteByte('\\')
			}
		} else if c == '%' {
			c = '\n'
		}
		escaped = c == '\\'
		if !escaped {
			out.WriteByte(c)
			needNewline = c != '\n'
		}
	}
	if escaped {
		// cron writes the dangling backslash without looking at it again.
		out.WriteByte('\\')
	}
	if needNewline {
		out.WriteByte('\n')
	}
	return out.String()
}
