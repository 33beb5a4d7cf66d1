package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
)

// Control is what a control client (roost's ctl verbs, like supervisorctl)
// takes from a configuration: where the server listens and how to log in.
type Control struct {
	// File is the absolute path of the configuration.
	File string
	// UnixHTTPServer is the [unix_http_server] section, or nil.
	UnixHTTPServer *UnixHTTPServer
	// Supervisorctl is the [supervisorctl] section, or nil.
	Supervisorctl *Supervisorctl
}

// LoadControl reads only what a control client needs from the configuration
// at path: the [unix_http_server] and [supervisorctl] sections, expanded
// and checked exactly as Load expands and checks them (%(here)s, %(ENV_X)s
// with [supervisord] environment= for file=, ~ and relative paths), from the
// main file and its includes. The other sections are read as INI text and
// nothing more: no program is expanded and a mistake in one is not an
// error here, so a client still finds its server while the configuration
// is being fixed (Load reports those). The errors it does return are a
// *Error with file:line diagnostics: the file cannot be read or parsed as
// a whole, or one of the two sections (or what they use) is wrong.
func LoadControl(path string, opts LoadOptions) (*Control, error) {
	l, err := newLoader(opts, nil)
	if err != nil {
		return nil, err
	}
	return l.loadControl(path)
}

func (l *loader) loadControl(path string) (*Control, error) {
	l.lenient = true
	l.p.keep = func(section string) bool {
		switch section {
		case secUnixHTTPServer, secSupervisorctl, secSupervisord, secInclude:
			return true
		}
		return false
	}
	l.main = l.abs(path)
	l.here = filepath.Dir(l.main)
	l.cfg = &Config{File: l.main, Here: l.here}
	// The errors reported: those about a file as a whole (or a header too
	// broken to name its section, which may be one of these), [DEFAULT]'s,
	// [include]'s, the two sections', and [supervisord]'s once its
	// environment= is read.
	report := map[string]bool{"": true, "DEFAULT": true, secInclude: true, secUnixHTTPServer: true, secSupervisorctl: true}
	failed := func() bool {
		kept := l.d.errs[:0]
		for _, d := range l.d.errs {
			if report[d.Section] {
				kept = append(kept, d)
			}
		}
		l.d.errs = kept
		return len(kept) > 0
	}
	shown := l.show(l.main)
	data, err := l.sys.readConfig(l.main)
	if err != nil {
		msg := "cannot read the configuration: " + unwrapPathError(err).Error()
		if errors.Is(err, os.ErrNotExist) {
			msg = "no such file; pass the configuration with -c FILE"
		}
		l.d.errorf(Pos{File: shown}, "", "", "%s", msg)
		return nil, l.fail()
	}
	l.addFile(l.main, shown)
	l.p.parse(shown, data, &l.d)
	if !failed() && l.p.has(secInclude) && l.expandHere(l.here) {
		l.includes()
	}
	// file= may use a variable of [supervisord] environment=, which is read
	// (and checked) only then.
	if v := l.p.get(secUnixHTTPServer, "file"); !failed() && v != nil && l.p.has(secSupervisord) && strings.Contains(v.text, "ENV_") {
		report[secSupervisord] = true
		l.supervisordEnvironment(l.reader(secSupervisord, expansions{"here": strValue(l.here)}))
	}
	if !failed() {
		l.unixServer()
		l.supervisorctl()
	}
	if failed() {
		return nil, l.fail()
	}
	return &Control{File: l.main, UnixHTTPServer: l.cfg.UnixHTTPServer, Supervisorctl: l.cfg.Supervisorctl}, nil
}
