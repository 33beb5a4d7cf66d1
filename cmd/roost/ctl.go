package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"syscall"

	"github.com/urfave/cli/v2"

	"roost/supervisor/api"
)

// The plumbing every ctl verb shares: global flags, finding and dialling
// the socket, supervisorctl's output and exit-status conventions.

// socketHelp is how the ctl verbs find the socket; `roost --help` and the
// verbs' help show it.
const socketHelp = `The ctl verbs find the control socket in this order:
  1. -s/--socket PATH (or unix:///PATH)
  2. $ROOST_SOCKET
  3. the configuration's [supervisorctl] serverurl=unix://PATH, else its
     [unix_http_server] file=; the configuration is -c FILE, else the first
     of ./supervisord.conf, ./etc/supervisord.conf, /etc/supervisord.conf,
     /etc/supervisor/supervisord.conf, used only when you own it
  4. the per-user default: /run/roost/users/$USER/roost.sock when the roost
     master made that directory, else $XDG_RUNTIME_DIR/roost/roost.sock,
     else /tmp/roost-$UID/roost.sock
Root reaches any user's supervisor with --user NAME instead: the socket the
roost master made for NAME ({run_dir}/users/NAME/roost.sock, run_dir from
$ROOST_MASTER_CONFIG or /etc/roost/roost.toml), or -s PATH with --user, which
NAME must be serving. Every ctl refuses a socket served or made by anyone but
itself, root or the --user target, or in a directory someone else owns; as
root without --user, that is only root's own supervisors.
Output lines and exit statuses are supervisorctl's.`

// The LSB exit statuses supervisorctl uses.
const (
	exitGeneric       = 1
	exitInvalidArgs   = 2
	exitStatusDead    = 3 // status: a process is not running
	exitPrivileges    = 4 // refused connection; status: unknown name or no server
	exitNotRunning    = 7
	exitStatusUnknown = 4
)

// flagsFor returns the global ctl flags, fresh each time: the app has them
// (`roost -s X status`) and so does every ctl verb (`roost status -s X`).
func globalFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "configuration", Aliases: []string{"c"}, Usage: "configuration `FILE` (found like supervisorctl finds it when not given)"},
		&cli.StringFlag{Name: "socket", Aliases: []string{"s", "serverurl"}, Usage: "control socket `PATH` (or unix:///PATH)"},
		&cli.StringFlag{Name: "username", Aliases: []string{"u"}, Usage: "basic-auth `USER` for a server with [unix_http_server] username="},
		&cli.StringFlag{Name: "password", Aliases: []string{"p"}, Usage: "basic-auth `PASSWORD`"},
		&cli.StringFlag{Name: "user", Usage: "root only: the supervisor the roost master runs for user `NAME`"},
	}
}

// ctlCommand registers a ctl verb with the global flags added, and
// supervisorctl's exit status (2) for a usage error.
func ctlCommand(cmd *cli.Command) {
	cmd.Flags = append(cmd.Flags, globalFlags()...)
	if cmd.OnUsageError == nil {
		cmd.OnUsageError = func(c *cli.Context, err error, _ bool) error {
			return cli.Exit("roost "+cmd.Name+": "+err.Error(), exitInvalidArgs)
		}
	}
	commands = append(commands, cmd)
}

// flagString returns a global flag's value from wherever it was given:
// after the verb or before it.
func flagString(c *cli.Context, name string) string {
	for _, x := range c.Lineage() {
		if x.IsSet(name) {
			return x.String(name)
		}
	}
	return ""
}

// server is where the ctl verbs send their requests, and how.
type server struct {
	path               string
	username, password string
	uids               []int // the uids the server may run as; nil: ours or root's
}

// url is the socket as supervisorctl names it in its messages.
func (s server) url() string { return "unix://" + s.path }

// socketArg reads a -s value: a path, or supervisorctl's unix:///path URL.
func socketArg(v string) (string, error) {
	if p, ok := strings.CutPrefix(v, "unix://"); ok {
		return p, nil
	}
	if strings.Contains(v, "://") {
		return "", fmt.Errorf("%s: roost listens only on unix sockets; give a path or unix:///path", v)
	}
	return v, nil
}

// findServer applies the socket discovery order (socketHelp).
func findServer(c *cli.Context) (server, error) {
	var srv server
	var err error
	if name := flagString(c, "user"); name != "" {
		// With -s too: NAME's supervisor at PATH (one NAME runs by hand).
		if srv, err = userServer(name); err == nil && flagString(c, "socket") != "" {
			srv.path, err = socketArg(flagString(c, "socket"))
		}
		return srv, err
	}
	if v := flagString(c, "socket"); v != "" {
		if srv.path, err = socketArg(v); err != nil {
			return srv, err
		}
	} else if v := os.Getenv("ROOST_SOCKET"); v != "" {
		if srv.path, err = socketArg(v); err != nil {
			return srv, fmt.Errorf("$ROOST_SOCKET: %w", err)
		}
	}
	cfgPath, explicit := flagString(c, "configuration"), true
	if cfgPath == "" && srv.path == "" {
		cfgPath, explicit = implicitConfig(), false
	}
	if cfgPath != "" {
		cc, err := readControl(cfgPath)
		switch {
		case err != nil && (explicit || srv.path == ""):
			return srv, err
		case err == nil:
			if srv.path == "" {
				srv.path = cc.socket
			}
			srv.username, srv.password = cc.username, cc.password
		}
	}
	if srv.path == "" {
		srv.path = api.DefaultSocket()
	}
	if v := flagString(c, "username"); v != "" {
		srv.username = v
	}
	if v := flagString(c, "password"); v != "" {
		srv.password = v
	}
	return srv, nil
}

// ctl is one ctl verb's connection, output and exit status.
type ctl struct {
	srv    server
	client *api.Client
	out    io.Writer
	errOut io.Writer // notes beside supervisorctl's output: hints, warnings
	ctx    context.Context
	status int
}

// connect finds the server and checks that it answers (supervisorctl's
// upcheck). On failure it prints supervisorctl's message and returns the
// exit error; deadCode is the status for "no such file" (7, or 4 for status).
func connect(c *cli.Context, deadCode int) (*ctl, error) {
	x, err := dialServer(c)
	if x == nil {
		return nil, err
	}
	// The upcheck is the config-state request itself: one round trip
	// answers both "is it up" and "does what runs match the file".
	var st api.ConfigState
	if err == nil {
		st, err = x.client.ConfigState(x.ctx)
		if api.CodeOf(err) == api.UnknownMethod { // an older roost: up, no state
			err = nil
		}
	}
	if err != nil {
		code := x.failure(err)
		if code == exitNotRunning {
			code = deadCode
		}
		return nil, cli.Exit("", code)
	}
	verb := ""
	if c.Command != nil {
		verb = c.Command.Name
	}
	x.warnConfigState(st, verb)
	return x, nil
}

// dialServer finds the server and dials it. It returns a nil ctl with an
// exit error when the socket cannot be found, and the ctl with the dial
// error when it cannot be reached.
func dialServer(c *cli.Context) (*ctl, error) {
	x := &ctl{out: c.App.Writer, errOut: c.App.ErrWriter, ctx: c.Context}
	if x.ctx == nil {
		x.ctx = context.Background()
	}
	srv, err := findServer(c)
	if err != nil {
		return nil, cli.Exit("roost: "+err.Error(), exitInvalidArgs)
	}
	x.srv = srv
	var opts []api.ClientOption
	if srv.username != "" {
		opts = append(opts, api.WithBasicAuth(srv.username, srv.password))
	}
	opts = append(opts, api.WithServerUIDs(trustedUIDs(srv)...))
	x.client, err = api.Dial(srv.path, opts...)
	return x, err
}

// trustedUIDs are the uids srv's server may run as, and own its socket and
// its directory as: the --user target and root; else ours and root's. Root
// without --user talks only to root's own supervisors: a socket a user
// made (/tmp/roost-0/roost.sock before root's first run, or one named in
// the project root is standing in) could feed it anything and swallow its
// `stop all`.
func trustedUIDs(srv server) []int {
	if srv.uids != nil {
		return srv.uids
	}
	if euid := os.Geteuid(); euid != 0 {
		return []int{euid, 0}
	}
	return []int{0}
}

// failure prints what supervisorctl prints for an error it did not expect
// (a connection problem, a refused login, a fault) and returns the exit status.
func (x *ctl) failure(err error) int {
	u := x.srv.url()
	switch {
	case errors.Is(err, syscall.ENOENT):
		x.println(u + " no such file")
		fmt.Fprintln(x.errOut, socketHint(x.srv.path))
		return exitNotRunning
	case errors.Is(err, syscall.ECONNREFUSED):
		x.println(u + " refused connection")
		return exitPrivileges
	case errors.Is(err, syscall.EACCES), errors.Is(err, api.ErrForbidden):
		x.println(u + " permission denied (a roost supervisor serves only its owner and root)")
		return exitPrivileges
	case errors.Is(err, api.ErrUntrustedServer):
		msg := u + " is served by another user: refusing to talk to it (" + err.Error() + ")"
		if os.Geteuid() == 0 && x.srv.uids == nil {
			msg += "; as root, reach a user's supervisor with --user NAME"
		}
		x.println(msg)
		return exitPrivileges
	case errors.Is(err, api.ErrUnauthorized):
		x.println("Server requires authentication")
		return exitGeneric
	case errors.Is(err, api.ErrNotRoost):
		x.println(u + ": " + err.Error())
		return exitGeneric
	}
	x.println("error: " + err.Error())
	return exitGeneric
}

// fail records an unexpected error (printing it) as the exit status.
func (x *ctl) fail(err error) {
	x.status = x.failure(err)
}

func (x *ctl) println(s string) { fmt.Fprintln(x.out, s) }

// done ends a verb with the exit status it set.
func (x *ctl) done() error {
	if x.status != 0 {
		return cli.Exit("", x.status)
	}
	return nil
}

// setFromCode is supervisorctl's set_exitstatus_from_xmlrpc_fault.
func (x *ctl) setFromCode(code, ignored api.Code) {
	switch code {
	case ignored, api.Success:
	case api.SpawnError, api.AbnormalTermination, api.NotRunning:
		x.status = exitNotRunning
	default:
		x.status = exitGeneric
	}
}

// faultResult turns a single-process fault into the Result supervisorctl
// builds from it, named as the user named the process.
func faultResult(name string, err error) (api.Result, bool) {
	var e *api.Error
	if !errors.As(err, &e) {
		return api.Result{}, false
	}
	g, p, _ := api.SplitNamespec(name)
	return api.Result{Name: p, Group: g, Status: e.Code, Description: e.Error()}, true
}

// usageError prints a usage error and the verb's help lines, as supervisorctl does.
func usageError(c *cli.Context, msg, help string, code int) error {
	fmt.Fprintln(c.App.Writer, msg)
	fmt.Fprintln(c.App.Writer, help)
	return cli.Exit("", code)
}

// namesAction is the action of a verb over names (supervisorctl's do_add,
// do_start, do_signal...): it connects, requires at least min names (else
// prints missing and the verb's help lines, and exits with noNames), runs
// do and exits with the status do set.
func namesAction(min int, missing, help string, noNames int, do func(x *ctl, args []string)) cli.ActionFunc {
	return func(c *cli.Context) error {
		x, err := connect(c, exitNotRunning)
		if err != nil {
			return err
		}
		args := names(c)
		if len(args) < min {
			return usageError(c, missing, help, noNames)
		}
		do(x, args)
		return x.done()
	}
}

// noArgsAction is the action of a verb that takes no arguments (avail,
// reload, reread, version): it refuses any, as supervisorctl does, before
// connecting; then it runs do and exits with the status do set.
func noArgsAction(verb, help string, do func(x *ctl)) cli.ActionFunc {
	return func(c *cli.Context) error {
		if c.Args().Present() {
			return usageError(c, "Error: "+verb+" accepts no arguments", help, exitGeneric)
		}
		x, err := connect(c, exitNotRunning)
		if err != nil {
			return err
		}
		do(x)
		return x.done()
	}
}

// groupReply is what a group verb (add, remove) prints for one outcome:
// line, with {name} replaced by the group's name, and whether the outcome
// fails the command.
type groupReply struct {
	line  string
	fails bool
}

// eachGroup calls call for each group name and prints the reply for its
// outcome; an outcome without a reply is an unexpected error.
func (x *ctl) eachGroup(groups []string, call func(name string) error, replies map[api.Code]groupReply) {
	for _, name := range groups {
		err := call(name)
		r, ok := replies[api.CodeOf(err)]
		if !ok {
			x.fail(err)
			continue
		}
		x.println(strings.ReplaceAll(r.line, "{name}", name))
		if r.fails {
			x.status = exitGeneric
		}
	}
}

// names splits a verb's arguments the way supervisorctl does (arg.split()).
func names(c *cli.Context) []string {
	var out []string
	for _, a := range c.Args().Slice() {
		out = append(out, strings.Fields(a)...)
	}
	return out
}

// op is one process operation as supervisorctl's do_start, do_stop,
// do_signal and do_clear drive it.
type op struct {
	call     func(name string) ([]api.Result, error) // name: "all", "g:*" or a process
	result   func(api.Result) string                 // a result line
	ignored  api.Code                                // a fault that does not change the exit status
	badGroup int                                     // the exit status for an unknown group
}

// apply runs o on args: once with "all" when args hold it, else per name,
// printing a line per process and setting the exit status like supervisorctl.
func (x *ctl) apply(args []string, o op) {
	if slices.Contains(args, "all") {
		args = []string{"all"}
	}
	for _, name := range args {
		group, process, isGroup := api.SplitNamespec(name)
		res, err := o.call(name)
		if err != nil {
			r, isFault := faultResult(name, err)
			switch {
			case !isFault || name == "all":
				x.fail(err)
			case isGroup && r.Status == api.BadName:
				x.println(group + ": ERROR (no such group)")
				x.status = o.badGroup
			case isGroup:
				x.fail(err)
			default:
				x.println(o.result(r))
				x.setFromCode(r.Status, o.ignored)
			}
			continue
		}
		if !isGroup && name != "all" {
			// The server reports a single process's success with its own
			// names; supervisorctl prints the names it was given.
			res = []api.Result{{Name: process, Group: group, Status: api.Success}}
		}
		for _, r := range res {
			x.println(o.result(r))
			x.setFromCode(r.Status, o.ignored)
		}
	}
}

// helpText expands tabs the way a terminal shows them (every 8 columns), so
// supervisorctl's tab-aligned help lines stay aligned inside --help.
func helpText(s string) string {
	var b strings.Builder
	col := 0
	for _, r := range s {
		switch r {
		case '\t':
			n := 8 - col%8
			b.WriteString(strings.Repeat(" ", n))
			col += n
		case '\n':
			b.WriteRune(r)
			col = 0
		default:
			b.WriteRune(r)
			col++
		}
	}
	return b.String()
}
