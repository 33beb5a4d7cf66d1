// Package audit is the audit log: one JSON line for every state-changing
// request a supervisor (or the master) is asked to carry out, whoever asked
// and through whichever front end. A user's supervisor writes its user's
// audit.log in its log directory (~/log/audit.log under the master); the
// master writes its own, root's, for what root does through the admin
// socket.
//
// Recording is cheap on purpose: a read-only request (GET, HEAD) costs a
// method comparison; an audited one costs one json.Marshal and one
// write(2) of one line to a file opened with O_APPEND, which the kernel
// keeps whole and in order between writers. There is no buffer, no
// goroutine and no fsync.
package audit

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
	"unicode/utf8"
)

// FileName is the audit log's name in a supervisor's log directory.
const FileName = "audit.log"

// The front ends a request can come through.
const (
	FrontCtl       = "ctl"       // roost's JSON API (/api/v1/) on the unix socket
	FrontXMLRPC    = "xmlrpc"    // supervisord's XML-RPC (/RPC2): supervisorctl
	FrontDashboard = "dashboard" // the web dashboard's POSTs under /ui/
	FrontAdmin     = "admin"     // root through the master's admin socket
	FrontEnv       = "env"       // roost env set/unset
	FrontService   = "service"   // roost service add/remove
	FrontDeploy    = "deploy"    // roost deploy, rollback, a git push
)

// Entry is one audit line.
type Entry struct {
	Time time.Time `json:"time"`
	// UID is the caller's uid as the kernel reported it (SO_PEERCRED);
	// nil on TCP, where only the basic-auth name is known.
	UID *int `json:"uid,omitempty"`
	// User is the name of UID, or the basic-auth username on TCP.
	User string `json:"user"`
	// PID is the caller's pid (SO_PEERCRED), when known.
	PID int `json:"pid,omitempty"`
	// Remote is the client's address on TCP ([inet_http_server]).
	Remote string `json:"remote,omitempty"`
	// Front is the front end: ctl, xmlrpc, dashboard, admin, env, service, deploy.
	Front string `json:"front"`
	// Request is what was asked, e.g. "restart web", "signal HUP web".
	Request string `json:"request"`
	// Outcome is "ok" or what went wrong (an error text, an XML-RPC fault).
	Outcome string `json:"outcome"`
	// Status is the HTTP status of the answer, when there was one.
	Status int `json:"status,omitempty"`
}

// OK is the outcome of a request that succeeded.
const OK = "ok"

// maxField bounds each free-text field of a line (a request names, an
// error text), so one line stays one small write.
const maxField = 512

// Log is an open audit log. Its methods are safe for concurrent use. A nil
// *Log records nothing.
type Log struct {
	f *os.File
}

// Open opens (creating it 0600) the audit log at path for appending. Its
// directory must exist. A symbolic link, or anything but a regular file of
// the caller's own, is refused: a supervisor never writes through a link.
func Open(path string) (*Log, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE|oNoFollow, 0o600)
	if err != nil {
		return nil, fmt.Errorf("audit log: %w", err)
	}
	if err := checkOwn(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("audit log %s: %w", path, err)
	}
	return &Log{f: f}, nil
}

// OpenDir opens FileName in dir.
func OpenDir(dir string) (*Log, error) { return Open(filepath.Join(dir, FileName)) }

// Path returns the file's name, or "" for a nil Log.
func (l *Log) Path() string {
	if l == nil {
		return ""
	}
	return l.f.Name()
}

// Close closes the file.
func (l *Log) Close() error {
	if l == nil {
		return nil
	}
	return l.f.Close()
}

// Record writes e as one line, in one write. A zero Time is now.
func (l *Log) Record(e Entry) error {
	if l == nil {
		return nil
	}
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	e.Time = e.Time.UTC().Round(time.Millisecond)
	e.User = clean(e.User)
	e.Request = clean(e.Request)
	e.Outcome = clean(e.Outcome)
	line, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	line = append(line, '\n')
	if _, err := l.f.Write(line); err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	return nil
}

// clean keeps a field one bounded line of valid UTF-8 without control
// characters (JSON would escape them; a reader's terminal should not see
// them either way).
func clean(s string) string {
	if len(s) > maxField {
		cut := maxField
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	if !strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f || r == utf8.RuneError }) {
		return s
	}
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r == utf8.RuneError {
			return ' '
		}
		return r
	}, strings.ToValidUTF8(s, "?"))
}

// errNotOwn is returned for an audit log that is not a regular file of ours.
var errNotOwn = errors.New("not a regular file owned by this user with one link: refusing to write into it")
