package deploy

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
)

// A Procfile (`web: python3 -m http.server $PORT`), the format Heroku,
// Dokku, piku, foreman and goreman share, stands in for supervisord.conf
// when a release has none: each line becomes a program run by /bin/sh in
// the project, `web` gets a [proxy:web] with the user's default host, and
// `release:` runs after the build, as postinstall does.

// procLine is one Procfile entry.
type procLine struct {
	line          int
	name, command string
}

var procNameRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$`) })

// parseProcfile reads a Procfile: NAME: COMMAND lines, '#' comments.
// Errors name Procfile:LINE.
func parseProcfile(data []byte) ([]procLine, error) {
	var out []procLine
	seen := map[string]int{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		s := strings.TrimSpace(sc.Text())
		if s == "" || strings.HasPrefix(s, "#") {
			continue
		}
		name, cmd, ok := strings.Cut(s, ":")
		name, cmd = strings.TrimSpace(name), strings.TrimSpace(cmd)
		switch {
		case !ok || cmd == "":
			return nil, fmt.Errorf("Procfile:%d: want NAME: COMMAND, e.g. web: python3 -m http.server $PORT", n)
		case !procNameRE().MatchString(name):
			return nil, fmt.Errorf("Procfile:%d: %q is not a process name: use letters, digits, '_' and '-'", n, name)
		case seen[name] != 0:
			return nil, fmt.Errorf("Procfile:%d: %s is already defined at line %d", n, name, seen[name])
		case strings.ContainsAny(cmd, "\x00\r"):
			return nil, fmt.Errorf("Procfile:%d: the command holds a control character", n)
		}
		seen[name] = n
		out = append(out, procLine{line: n, name: name, command: cmd})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("Procfile: no NAME: COMMAND line")
	}
	return out, sc.Err()
}

// procfileConf is the supervisord.conf a Procfile becomes, for a project
// at project (relative to the home), web routed to host ("" : no route).
func procfileConf(lines []procLine, project, host string) []byte {
	var b strings.Builder
	b.WriteString("; written by roost deploy from the Procfile (a supervisord.conf in the project replaces it)\n")
	for _, l := range lines {
		if l.name == "release" {
			continue
		}
		// supervisord splits command with shlex and expands %(x)s: the
		// line goes to sh -c in double quotes, '%' doubled.
		q := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "%", "%%").Replace("exec " + l.command)
		fmt.Fprintf(&b, "\n[program:%s]\n; Procfile line %d: %s\ncommand=/bin/sh -c \"%s\"\ndirectory=%%(ENV_HOME)s/%s\n"+
			"autorestart=true\nredirect_stderr=true\nstopasgroup=true\nkillasgroup=true\n",
			l.name, l.line, strings.ReplaceAll(l.command, "%", "%%"), q, project)
		if l.name == "web" && host != "" {
			fmt.Fprintf(&b, "\n[proxy:web]\nhosts = %s\n", host)
		}
	}
	return []byte(b.String())
}

// ProcfileConf is the supervisord.conf roost deploy writes from a
// Procfile's bytes, for a project at project (relative to the home), web
// routed to host ("": no route). Errors name Procfile:LINE.
func ProcfileConf(data []byte, project, host string) ([]byte, error) {
	lines, err := parseProcfile(data)
	if err != nil {
		return nil, err
	}
	return procfileConf(lines, project, host), nil
}

// procfileSteps are the steps of a release with a Procfile and no
// supervisord.conf: write the file (printing it: the mapping), and the
// release: command, if any.
func procfileSteps(dir, project, host string) []Step {
	data, err := os.ReadFile(filepath.Join(dir, "Procfile"))
	lines, perr := parseProcfile(data)
	if err == nil {
		err = perr
	}
	gen := Step{Name: "Procfile", Why: "a Procfile and no supervisord.conf", Dir: dir,
		guard: func(_ context.Context, out io.Writer) error {
			if err != nil {
				return err
			}
			conf := procfileConf(lines, project, host)
			if err := os.WriteFile(filepath.Join(dir, "supervisord.conf"), conf, 0o644); err != nil {
				return err
			}
			fmt.Fprintf(out, "%s", conf)
			if host == "" {
				fmt.Fprintln(out, "(no [proxy:web]: this host routes no name to you by default; add a supervisord.conf with one)")
			}
			return nil
		}}
	steps := []Step{gen}
	for _, l := range lines {
		if l.name == "release" {
			steps = append(steps, Step{Name: "release", Why: fmt.Sprintf("Procfile line %d", l.line),
				Argv: []string{"/bin/sh", "-c", l.command}, Dir: dir})
		}
	}
	return steps
}
