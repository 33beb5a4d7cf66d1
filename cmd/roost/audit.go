package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"roost/audit"
	"roost/config"
	"roost/supervisor/api"
)

// `roost audit`: the user's audit log, and the supervisor's side of it
// (where the file is, the TCP listener of [inet_http_server]).

func init() {
	ctlCommand(&cli.Command{
		Name:      "audit",
		Usage:     "show who changed what: every start, stop, restart, update, deploy, env and service change",
		ArgsUsage: "[-f] [-n LINES] [--json]",
		Description: "Examples:\n  roost audit            # the last 20 requests, as a table\n" +
			"  roost audit -n 100\n  roost audit -f         # and every new one; Ctrl-C to exit\n" +
			"  roost audit --json     # the raw lines, one JSON object each\n\n" +
			"Your supervisor writes audit.log in its log directory (~/log under the\n" +
			"master): one line per state-changing request, whoever made it and through\n" +
			"which front end (ctl: roost's verbs, xmlrpc: supervisorctl, dashboard,\n" +
			"admin: root through the master, env, service, deploy), with its outcome.\n" +
			"USER is the caller's name (uid from the socket's peer credentials), or\n" +
			"the username of [inet_http_server] for a request over TCP. Read-only\n" +
			"requests (status, tail) are not recorded.",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "follow", Aliases: []string{"f"}, Usage: "print new lines as they come, until Ctrl-C"},
			&cli.IntFlag{Name: "lines", Aliases: []string{"n"}, Value: audit.DefaultLines, Usage: "print the last `LINES` lines"},
			&cli.BoolFlag{Name: "json", Usage: "print the raw JSON lines"},
		},
		Action: auditAction,
	})
}

func auditAction(c *cli.Context) error {
	if c.Args().Present() || c.Int("lines") < 0 {
		return usageError(c, "Error: bad arguments", "audit [-f] [-n LINES] [--json]", exitInvalidArgs)
	}
	x, err := connect(c, exitNotRunning)
	if err != nil {
		return err
	}
	q := url.Values{"lines": {strconv.Itoa(c.Int("lines"))}}
	var w io.Writer = x.out
	var tw *auditTable
	if !c.Bool("json") {
		tw = &auditTable{w: x.out}
		w = tw
	}
	failed := func(err error) {
		if api.CodeOf(err) == api.UnknownMethod {
			x.println("Error: this supervisor keeps no audit log: it is an older roost (roost upgrade), or it found no log directory (its main log says why)")
		} else {
			x.println("Error: " + err.Error())
		}
		x.status = exitGeneric
	}
	if c.Bool("follow") {
		return x.followWith(func(ctx context.Context) error {
			return x.client.Follow(ctx, "audit/follow", q, w)
		}, failed)
	}
	var l audit.Lines
	if err := x.client.Call(x.ctx, http.MethodGet, "audit", q, nil, &l); err != nil {
		failed(err)
		return x.done()
	}
	io.WriteString(w, l.Data)
	if tw != nil && tw.rows == 0 {
		fmt.Fprintf(x.errOut, "no requests recorded yet in %s\n", l.Path)
	}
	return x.done()
}

// auditTable prints the JSON lines written to it as a table, a row a line.
type auditTable struct {
	w       io.Writer
	partial []byte
	rows    int
}

func (t *auditTable) Write(p []byte) (int, error) {
	t.partial = append(t.partial, p...)
	for {
		line, rest, ok := bytes.Cut(t.partial, []byte{'\n'})
		if !ok {
			return len(p), nil
		}
		t.partial = rest
		if err := t.row(line); err != nil {
			return len(p), err
		}
	}
}

func (t *auditTable) row(line []byte) error {
	if len(bytes.TrimSpace(line)) == 0 {
		return nil
	}
	if t.rows == 0 {
		if _, err := fmt.Fprintf(t.w, "%-19s  %-14s  %-9s  %-28s  %s\n", "TIME", "USER", "FRONT", "REQUEST", "OUTCOME"); err != nil {
			return err
		}
	}
	t.rows++
	var e audit.Entry
	if err := json.Unmarshal(line, &e); err != nil {
		_, err := fmt.Fprintf(t.w, "(not an audit line: %q)\n", line)
		return err
	}
	who := e.User
	if e.UID != nil && strconv.Itoa(*e.UID) != who {
		who += "(" + strconv.Itoa(*e.UID) + ")"
	} else if e.Remote != "" {
		who += "@tcp"
	}
	_, err := fmt.Fprintf(t.w, "%-19s  %-14s  %-9s  %-28s  %s\n", e.Time.Local().Format(time.DateTime), who, e.Front, e.Request, e.Outcome)
	return err
}

// auditDir is the directory of a supervisor's audit.log: the managed
// supervisor's log directory (~/log), else childlogdir when the file sets
// it, else the main log's directory; "" when there is none (logfile=syslog
// or NONE, no childlogdir).
func auditDir(cfg *config.Config, managedLogDir string) string {
	sv := cfg.Supervisord
	switch {
	case managedLogDir != "":
		return managedLogDir
	case sv.ChildlogdirSet && sv.Childlogdir != "":
		return sv.Childlogdir
	case filepath.IsAbs(sv.Logfile) && !strings.HasPrefix(sv.Logfile, "/dev/"):
		return filepath.Dir(sv.Logfile)
	}
	return ""
}

// openAudit opens the supervisor's audit log; without one (no directory,
// or the file refused) it says so in the main log and records nothing.
func openAudit(cfg *config.Config, managedLogDir string, log *slog.Logger) *audit.Log {
	dir := auditDir(cfg, managedLogDir)
	if dir == "" {
		log.Warn("no audit log: the main log is not a file and childlogdir is not set")
		return nil
	}
	l, err := audit.OpenDir(dir)
	if err != nil {
		log.Warn("no audit log", "err", err)
		return nil
	}
	return l
}

// auditWrap is the audit middleware of a supervisor's servers (nil without
// an audit log).
func auditWrap(l *audit.Log, log *slog.Logger) func(http.Handler) http.Handler {
	if l == nil {
		return nil
	}
	return audit.Middleware(l, audit.Options{OnError: func(err error) { log.Error("audit log not written", "err", err) }})
}

// listenInet opens [inet_http_server]'s TCP listener. A bare port (":9001"
// or "9001") listens on loopback only: supervisord would listen on every
// interface; a host must be written to be reached from elsewhere.
func listenInet(in *config.InetHTTPServer) (net.Listener, error) {
	host, port, err := net.SplitHostPort(in.Port)
	if err != nil { // "9001"
		host, port = "", in.Port
	}
	if host == "" {
		host = "127.0.0.1"
	}
	if host == "*" {
		host = ""
	}
	addr := net.JoinHostPort(host, port)
	ln, err := net.Listen("tcp", addr)
	if err == nil {
		return ln, nil
	}
	n, _ := strconv.Atoi(port)
	switch {
	case errors.Is(err, syscall.EACCES) && n < 1024:
		err = fmt.Errorf("port %d is below 1024, which only root may listen on: use a port from 1024 to 65535", n)
	case errors.Is(err, syscall.EPERM):
		err = fmt.Errorf("%w: the port is in another user's port block; use one of yours (roost ports shows them)", err)
	case errors.Is(err, syscall.EADDRINUSE):
		err = fmt.Errorf("%w: another process listens on %s (ss -ltnp shows which); pick another port", err, addr)
	}
	return nil, fmt.Errorf("%s: [inet_http_server] port=%s: %w", in.Pos, in.Port, err)
}

// inetOutsideBlock warns when a managed supervisor's TCP port is not in
// the user's port block: only the block is kept from other users by the
// kernel, so another user could take a port outside it first, and see the
// password of every client that then connects.
func inetOutsideBlock(ln net.Listener, log *slog.Logger) {
	base, err1 := strconv.Atoi(os.Getenv("ROOST_PORT_BASE"))
	count, err2 := strconv.Atoi(os.Getenv("ROOST_PORT_COUNT"))
	addr, ok := ln.Addr().(*net.TCPAddr)
	if err1 != nil || err2 != nil || !ok || (addr.Port >= base && addr.Port < base+count) {
		return
	}
	log.Warn("[inet_http_server] port is outside your port block: another user could take it while your supervisor is down "+
		"and read the password your clients send; use a port of your block (roost ports)",
		"port", addr.Port, "block", fmt.Sprintf("%d-%d", base, base+count-1))
}

// inetReadable warns when the file holding [inet_http_server]'s password
// can be read by other users (who could then drive the supervisor over TCP).
func inetReadable(in *config.InetHTTPServer, log *slog.Logger) {
	if strings.HasPrefix(in.Password, "{SHA}") {
		return
	}
	if fi, err := os.Stat(in.Pos.File); err == nil && fi.Mode().Perm()&0o044 != 0 {
		log.Warn("[inet_http_server] password is readable by other users: chmod 600 the file, or write password={SHA} and the hex SHA-1 of it",
			"file", in.Pos.File, "mode", fmt.Sprintf("%#o", fi.Mode().Perm()))
	}
}

// auditNote records, in the user's audit log through their supervisor, a
// change made outside the socket (env, service, deploy). Best effort: a
// supervisor that does not answer (or an older one) records nothing.
func auditNote(ctx context.Context, c *api.Client, front, request string, failed error) {
	n := audit.Note{Front: front, Request: request, Outcome: audit.OK}
	if failed != nil {
		n.Outcome = failed.Error()
	}
	if c != nil {
		c.Call(ctx, http.MethodPost, "audit", nil, n, nil)
	}
}
