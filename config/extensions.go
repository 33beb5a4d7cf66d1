package config

import (
	"fmt"
	"math"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// This file reads roost's keys of [program:x], which supervisord ignores
// (the file stays portable): healthcheck= and its knobs, depends_on=,
// notify= and watchdog_sec=. Their meaning is in the README ("Health
// checks, start order and sd_notify").

// depDecl is one program's depends_on=, kept until every program is known.
type depDecl struct {
	names []string
	pos   Pos
	sec   string
}

// healthKnobs are the options that mean nothing without healthcheck=.
var healthKnobs = []string{"healthcheck_interval", "healthcheck_timeout", "healthcheck_retries"}

// programExtensions reads depends_on, notify and watchdog_sec into tmpl
// (before the numprocs loop: they are the same for every process).
func (l *loader) programExtensions(r *reader, tmpl *Process) {
	if r.kind != secProgram {
		return
	}
	if text, pos, set, ok := r.str("depends_on"); set && ok {
		var names []string
		for _, n := range listOfStrings(text) {
			switch {
			case n == "":
				r.errorf(pos, "depends_on", "an empty name in %q; write depends_on = db,cache (names of [program:x] sections)", text)
				return
			case !slices.Contains(names, n):
				names = append(names, n)
			}
		}
		tmpl.DependsOn = names
		if name, ok := strings.CutPrefix(r.sec, "program:"); ok && len(names) > 0 {
			if l.deps == nil {
				l.deps = map[string]depDecl{}
			}
			l.deps[name] = depDecl{names: names, pos: pos, sec: r.sec}
		}
	}
	tmpl.Notify = r.boolean("notify")
	wpos := r.posOf("watchdog_sec")
	tmpl.WatchdogSec = time.Duration(r.integer("watchdog_sec", 0, math.MaxInt32)) * time.Second
	if tmpl.WatchdogSec > 0 && !tmpl.Notify {
		r.errorf(wpos, "watchdog_sec", "watchdog_sec needs notify = true: only a program given a NOTIFY_SOCKET can send WATCHDOG=1")
	}
}

// healthCheck reads healthcheck= and its knobs (inside the numprocs loop,
// so %(ENV_PORT)s is each process's own port); nil without one.
func (l *loader) healthCheck(r *reader) *HealthCheck {
	if r.kind != secProgram {
		return nil
	}
	text, pos, set, ok := r.str("healthcheck")
	if !ok {
		return nil
	}
	text = pyStrip(text)
	if !set || text == "" {
		for _, k := range healthKnobs {
			if v := l.p.get(r.sec, k); v != nil && !v.fromDefault {
				l.d.warnf(v.pos, r.sec, k, "has no effect without healthcheck=; write healthcheck = tcp:PORT, http://HOST:PORT/PATH or exec:COMMAND")
				break
			}
		}
		return nil
	}
	hc := &HealthCheck{
		Interval: time.Duration(r.integer("healthcheck_interval", 1, math.MaxInt32)) * time.Second,
		Timeout:  time.Duration(r.integer("healthcheck_timeout", 1, math.MaxInt32)) * time.Second,
		Retries:  int(r.integer("healthcheck_retries", 1, math.MaxInt32)),
	}
	if msg := parseHealthTarget(text, hc); msg != "" {
		r.errorf(pos, "healthcheck", "%s", msg)
		return nil
	}
	return hc
}

// parseHealthTarget fills hc's kind and target from healthcheck='s value;
// it returns what is wrong, or "".
func parseHealthTarget(text string, hc *HealthCheck) string {
	const usage = "write http://127.0.0.1:%%(ENV_PORT)s/health, tcp:PORT, tcp:HOST:PORT or exec:COMMAND"
	if strings.ContainsFunc(text, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return "control characters are not allowed in a health check"
	}
	lower := strings.ToLower(text)
	switch {
	case strings.HasPrefix(lower, "http://") || strings.HasPrefix(lower, "https://"):
		u, err := url.Parse(text)
		if err != nil || u.Host == "" || u.Hostname() == "" || u.User != nil || strings.ContainsAny(text, " \t") {
			return fmt.Sprintf("%q is not a URL the check can GET; %s", text, fmt.Sprintf(usage))
		}
		if p := u.Port(); p != "" {
			if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
				return fmt.Sprintf("port %q of %q is not between 1 and 65535", p, text)
			}
		}
		hc.Kind, hc.Target = HealthHTTP, u.String()
	case strings.HasPrefix(lower, "tcp:"):
		rest := text[4:]
		host, port := "127.0.0.1", rest
		if strings.Contains(rest, ":") {
			h, p, err := net.SplitHostPort(rest)
			if err != nil || h == "" {
				return fmt.Sprintf("%q: %s", text, fmt.Sprintf(usage))
			}
			host, port = h, p
		}
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 {
			return fmt.Sprintf("port %q of %q is not between 1 and 65535 (does %%(ENV_PORT)s expand? PORT is set under the master or in the environment)", port, text)
		}
		if strings.ContainsAny(host, " \t/") {
			return fmt.Sprintf("host %q of %q is not a host name or address", host, text)
		}
		hc.Kind, hc.Target = HealthTCP, net.JoinHostPort(host, strconv.Itoa(n))
	case strings.HasPrefix(lower, "exec:"):
		cmd := pyStrip(text[5:])
		argv, err := SplitCommand(cmd)
		if err != nil {
			return fmt.Sprintf("cannot split %q like a shell command line: %v", cmd, err)
		}
		if len(argv) == 0 {
			return "exec: needs a command, e.g. exec:/usr/bin/pg_isready -q"
		}
		hc.Kind, hc.Target, hc.Argv = HealthExec, cmd, argv
	default:
		return fmt.Sprintf("unknown health check %q; %s", text, fmt.Sprintf(usage))
	}
	return ""
}

// checkDependencies refuses a depends_on= that names no [program:x] or
// closes a cycle, at the line of the depends_on that does.
func (l *loader) checkDependencies() {
	if len(l.deps) == 0 {
		return
	}
	programs := l.programNames()
	var names []string
	for n, d := range l.deps {
		names = append(names, n)
		for _, dep := range d.names {
			if !slices.Contains(programs, dep) {
				l.d.errorf(d.pos, d.sec, "depends_on", "no [program:%s] in the configuration%s; depends_on names [program:x] sections", dep, didYouMean(dep, programs))
			}
		}
	}
	slices.Sort(names)
	const (
		unseen = iota
		onPath
		done
	)
	state := map[string]int{}
	var path []string
	var visit func(n string) bool
	visit = func(n string) bool {
		switch state[n] {
		case onPath:
			i := slices.Index(path, n)
			cycle := append(append([]string(nil), path[i:]...), n)
			d := l.deps[path[len(path)-1]]
			l.d.errorf(d.pos, d.sec, "depends_on", "a cycle: %s; a program cannot wait for itself, remove one of these depends_on", strings.Join(cycle, " -> "))
			return false
		case done:
			return true
		}
		state[n] = onPath
		path = append(path, n)
		for _, dep := range l.deps[n].names {
			if !visit(dep) {
				return false
			}
		}
		path = path[:len(path)-1]
		state[n] = done
		return true
	}
	for _, n := range names {
		if state[n] == unseen && !visit(n) {
			return // one cycle reported is enough to fix
		}
	}
}
