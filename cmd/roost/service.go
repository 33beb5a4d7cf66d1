package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"roost/config"
	"roost/deploy"
	"roost/service"
	"roost/supervisor/api"
)

// `roost service add TYPE NAME`, list, info, remove, dump, restore: the
// user's own databases (package service), run by their supervisor.

func init() {
	commands = append(commands, &cli.Command{
		Name:      "service",
		Usage:     "your own postgres, mariadb (mysql) or redis, run by your supervisor",
		ArgsUsage: "COMMAND [ARGS]",
		Description: "A service is a server of the host's packages, run as you by your supervisor (a program\n" +
			"in roost status), on a unix socket only you can enter and a loopback port of your block,\n" +
			"with a generated password. Its data is in ~/services/NAME (roost.toml services_dir).\n\n" +
			"Examples:\n  roost service add postgres db     # your programs, restarted, get DATABASE_URL\n  roost service info db             # the URL (database app), data dir, size, state\n" +
			"  roost service dump db db.dump\n  roost service restore db db.dump\n  roost service remove db --yes     # keeps a final dump unless --purge",
		Action: func(c *cli.Context) error {
			if c.NArg() == 0 {
				return cli.ShowSubcommandHelp(c)
			}
			return cli.Exit(fmt.Sprintf("roost service: unknown command %.20q: use add, list, info, remove, dump or restore (roost service --help)", c.Args().First()), exitInvalidArgs)
		},
		Subcommands: []*cli.Command{
			{Name: "add", Usage: "create a service: its data in ~/services/NAME, its URL in your variables", ArgsUsage: "TYPE NAME",
				Description: "TYPE is postgres, mariadb (or mysql) or redis; NAME a lower-case letter, then letters,\n" +
					"digits, - or _ (at most 32), not the name of one of your programs. The first SQL database\n" +
					"sets DATABASE_URL, the first redis REDIS_URL, any other NAME_URL (roost env list shows them);\n" +
					"your programs are restarted one at a time to get it. Without a running supervisor the\n" +
					"service starts with it (roost run).",
				Flags: serviceFlags(), Action: serviceAdd},
			{Name: "list", Usage: "your services, their types, states and variables", ArgsUsage: " ", Flags: serviceFlags(), Action: serviceList},
			{Name: "info", Usage: "a service's URL, data directory, size and state", ArgsUsage: "NAME",
				Flags: append(serviceFlags(), &cli.BoolFlag{Name: "json", Usage: "print JSON"}), Action: serviceInfo},
			{Name: "remove", Usage: "stop a service and delete its data (a final dump is kept unless --purge)", ArgsUsage: "NAME",
				Flags: append(serviceFlags(), &cli.BoolFlag{Name: "yes", Usage: "do not ask"},
					&cli.BoolFlag{Name: "purge", Usage: "keep no final dump"}), Action: serviceRemove},
			{Name: "dump", Usage: "dump a running service to FILE (default: NAME-TIME.dump beside the services' data)", ArgsUsage: "NAME [FILE]",
				Flags: serviceFlags(), Action: serviceDump},
			{Name: "restore", Usage: "load FILE, a dump of roost service dump, into a running service (redis is stopped for it)",
				ArgsUsage: "NAME FILE", Flags: serviceFlags(), Action: serviceRestore},
		},
	})
}

// serviceFlags are the ctl flags but --user: services are run as their
// user, never by root on a user's behalf.
func serviceFlags() []cli.Flag {
	return slices.DeleteFunc(globalFlags(), func(f cli.Flag) bool { return slices.Contains(f.Names(), "user") })
}

// withServices is opts reading, after the configuration, the user's
// services (service.WithServices) when the user has a home.
func withServices(opts config.LoadOptions) config.LoadOptions {
	home, err := os.UserHomeDir()
	if err != nil || !filepath.IsAbs(home) {
		return opts
	}
	return service.WithServices(home, opts)
}

// serviceSession is the home of the user running the command and their
// supervisor (nil when none answers), with the variables the master gave
// it; the supervisor's ROOST_CONFIG_DIR and ROOST_SERVICES_DIR are
// adopted (adoptMasterDirs). Root is refused (services run as their user,
// and postgres refuses root anyway). The caller closes x.
func serviceSession(c *cli.Context, verb string) (string, *ctl, api.ConfigState, error) {
	if os.Geteuid() == 0 {
		return "", nil, api.ConfigState{}, cli.Exit("roost service "+verb+": run it as the user whose service it is, not as root", exitPrivileges)
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", nil, api.ConfigState{}, cli.Exit("roost service "+verb+": "+err.Error(), 1)
	}
	x, st := quietSupervisor(c)
	return home, x, st, nil
}

// quietSupervisor is the user's supervisor and its configuration state
// (with the variables the master gave it), or nil when none answers.
// Where the master put the user's roost files and services
// (ROOST_CONFIG_DIR, ROOST_SERVICES_DIR) is adopted, so this command reads
// and writes what the supervisor reads.
func quietSupervisor(c *cli.Context) (*ctl, api.ConfigState) {
	x, err := dialServer(c)
	if x == nil || err != nil {
		return nil, api.ConfigState{}
	}
	st, err := x.client.ConfigState(x.ctx)
	if err != nil {
		x.client.Close()
		return nil, api.ConfigState{}
	}
	adoptMasterDirs(st.Env)
	dirsAsked = true
	return x, st
}

// dirsAsked is set once a supervisor answered quietSupervisor (its
// directories are adopted): the command need not ask again.
var dirsAsked bool

// adoptMasterDirs sets this process's ROOST_CONFIG_DIR and
// ROOST_SERVICES_DIR to the supervisor's (deploy.ConfigDir and
// service.Root read them): a user's shell does not have what the master
// gave their supervisor. Never for root: the directories are the user's,
// who could point them (a symlink) anywhere root would then write.
func adoptMasterDirs(env map[string]string) {
	if os.Geteuid() == 0 {
		return
	}
	for _, k := range []string{config.EnvConfigDir, config.EnvServicesDir} {
		if v := env[k]; filepath.IsAbs(v) {
			os.Setenv(k, v)
		}
	}
}

// servicePort picks the service's loopback port: from the user's block
// (the upper half, free, not another service's), else any free port.
func servicePort(env map[string]string, taken map[int]bool) (int, string, error) {
	base, e1 := strconv.Atoi(env[config.EnvPortBase])
	count, e2 := strconv.Atoi(env[config.EnvPortCount])
	if e1 == nil && e2 == nil && count > 0 {
		for i := count / 2; i < count; i++ {
			p := base + i
			if !taken[p] && portFree(p) {
				return p, fmt.Sprintf("port %d, from your block %d-%d", p, base, base+count-1), nil
			}
		}
		return 0, "", fmt.Errorf("no free port in the upper half of your block %d-%d: ask your administrator for a larger block", base, base+count-1)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, "", err
	}
	p := l.Addr().(*net.TCPAddr).Port
	l.Close()
	return p, fmt.Sprintf("port %d: no roost master gave your supervisor a port block, so a free loopback port was picked", p), nil
}

// configPorts are the ports the configuration file gives its proxied
// programs under the master's variables (env): each program's slice and
// the spare port its blue-green restarts alternate to (config.Process.Spare),
// loaded as `roost check` loads it. None when it does not load.
func configPorts(file string, env map[string]string) map[int]bool {
	var master []string
	for k, v := range env {
		master = append(master, k+"="+v)
	}
	cfg, err := config.Load(file, withServices(config.LoadOptions{Env: checkEnv(master)}))
	ports := map[int]bool{}
	if err != nil {
		return ports
	}
	for _, px := range cfg.Proxies {
		for _, p := range px.Ports {
			ports[p] = true
		}
	}
	for _, p := range cfg.Processes() {
		if p.Spare == nil {
			continue
		}
		if v, ok := p.Spare.Environment.Lookup(config.EnvPort); ok {
			if n, err := strconv.Atoi(v); err == nil {
				ports[n] = true
			}
		}
	}
	return ports
}

func portFree(p int) bool {
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
	if err != nil {
		return false
	}
	l.Close()
	return true
}

// urlVar is the variable a new service of kind sets: its kind's
// (DATABASE_URL, REDIS_URL) unless another service holds it, else NAME_URL.
func urlVar(k *service.Kind, name string, others []*service.Service) string {
	for _, o := range others {
		if o.Var == k.URLVar {
			return strings.ToUpper(strings.ReplaceAll(name, "-", "_")) + "_URL"
		}
	}
	return k.URLVar
}

func serviceAdd(c *cli.Context) error {
	if c.NArg() != 2 {
		return cli.Exit("roost service add: give TYPE NAME (TYPE one of "+strings.Join(service.KindNames(), ", ")+")", exitInvalidArgs)
	}
	kindName, name := c.Args().Get(0), c.Args().Get(1)
	k := service.KindOf(kindName)
	if k == nil {
		return cli.Exit(fmt.Sprintf("roost service add: unknown type %.20q: use %s", kindName, strings.Join(service.KindNames(), ", ")), exitInvalidArgs)
	}
	if err := service.ValidateName(name); err != nil {
		return cli.Exit("roost service add: "+err.Error(), exitInvalidArgs)
	}
	home, x, st, err := serviceSession(c, "add")
	if err != nil {
		return err
	}
	if x != nil {
		defer x.client.Close()
	}
	others, err := service.List(home)
	if err != nil {
		return cli.Exit("roost service add: "+err.Error(), 1)
	}
	if x != nil {
		procs, err := x.client.Processes(x.ctx)
		if err != nil {
			return cli.Exit("roost service add: "+err.Error(), 1)
		}
		for _, p := range procs {
			if p.Group == name {
				return cli.Exit(fmt.Sprintf("roost service add: your supervisor already runs a program %q: choose another name", name), exitInvalidArgs)
			}
		}
	}
	taken := map[int]bool{}
	for _, o := range others {
		taken[o.Port] = true
	}
	if x != nil {
		// The ports the user's [proxy:*] programs may listen on, even when
		// they are not running now: their slices and blue-green spares as
		// the configuration gives them, and where they run now.
		if st.File != "" {
			for p := range configPorts(st.File, st.Env) {
				taken[p] = true
			}
		}
		if px, err := x.client.Proxy(x.ctx); err == nil {
			for _, r := range px.Routes {
				for _, a := range r.Upstreams {
					if _, p, err := net.SplitHostPort(a); err == nil {
						n, _ := strconv.Atoi(p)
						taken[n] = true
					}
				}
			}
		}
	}
	port, portNote, err := servicePort(st.Env, taken)
	if err != nil {
		return cli.Exit("roost service add: "+err.Error(), 1)
	}
	v := urlVar(k, name, others)
	if err := deploy.ValidateEnvKey(v); err != nil {
		return cli.Exit("roost service add: "+err.Error(), exitInvalidArgs)
	}
	t0 := time.Now()
	s, err := service.Add(home, kindName, name, port, v)
	if err != nil {
		return cli.Exit("roost service add: "+err.Error(), 1)
	}
	out := c.App.Writer
	fmt.Fprintf(out, "%s %s: data in %s (initialised in %.1fs), %s\n", k.Name, name, s.Dir, time.Since(t0).Seconds(), portNote)
	u := s.URL()
	if x == nil {
		if err := writeEnv(c, []envChange{{key: v, value: &u}}); err != nil {
			return err
		}
		fmt.Fprintf(out, "no supervisor of yours answers: %s starts with it (roost run)\n", name)
	} else {
		if err := changeEnv(c, []envChange{{key: v, value: &u}}, serviceGroups(home)); err != nil {
			return err
		}
		if st := waitRunning(x, name, 60*time.Second); st != "RUNNING" {
			return cli.Exit(fmt.Sprintf("roost service add: %s is %s: roost tail %s says why", name, st, name), 1)
		}
		if err := s.Ready(60 * time.Second); err != nil {
			return cli.Exit(fmt.Sprintf("roost service add: %s does not answer: %v", name, err), 1)
		}
	}
	fmt.Fprintf(out, "%s=%s (roost service info %s prints it)\n", v, maskURL(u), name)
	return nil
}

// serviceGroups says whether a group is one of the user's services.
func serviceGroups(home string) func(string) bool {
	return func(g string) bool {
		_, err := service.Load(home, g)
		return err == nil
	}
}

// waitRunning waits, bounded, for the service's program to be RUNNING.
func waitRunning(x *ctl, name string, limit time.Duration) string {
	deadline := time.Now().Add(limit)
	for {
		st := serviceState(x, name)
		if st == "RUNNING" || st == "FATAL" || time.Now().After(deadline) {
			return st
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// serviceState is the state of the service's program ("" with no supervisor).
func serviceState(x *ctl, name string) string {
	if x == nil {
		return ""
	}
	p, err := x.client.Process(x.ctx, name+":"+name)
	if err != nil {
		return "not in your supervisor"
	}
	return p.StateName
}

// maskURL hides a URL's password.
func maskURL(u string) string {
	at := strings.LastIndex(u, "@")
	colon := strings.LastIndex(u[:max(at, 0)], ":")
	if at < 0 || colon < 0 || colon < strings.Index(u, "://")+3 {
		return u
	}
	return u[:colon+1] + "********" + u[at:]
}

func serviceList(c *cli.Context) error {
	home, x, _, err := serviceSession(c, "list")
	if err != nil {
		return err
	}
	if x != nil {
		defer x.client.Close()
	}
	list, err := service.List(home)
	if err != nil {
		return cli.Exit("roost service list: "+err.Error(), 1)
	}
	for _, s := range list {
		st := serviceState(x, s.Name)
		if st == "" {
			st = "-" // no supervisor answers
		}
		fmt.Fprintf(c.App.Writer, "%-16s %-9s %-12s %s\n", s.Name, s.Kind, st, s.Var)
	}
	return nil
}

// serviceArgs are the verb's arguments, with its bool flags also taken
// after them (`roost service info db --json`), which urfave/cli stops
// parsing at the first argument.
func serviceArgs(c *cli.Context) []string {
	var args []string
	for _, a := range c.Args().Slice() {
		if name, ok := strings.CutPrefix(a, "--"); ok {
			if f := c.Command.VisibleFlags(); slices.ContainsFunc(f, func(f cli.Flag) bool {
				_, isBool := f.(*cli.BoolFlag)
				return isBool && slices.Contains(f.Names(), name)
			}) {
				c.Set(name, "true")
				continue
			}
		}
		args = append(args, a)
	}
	return args
}

// serviceCall is one verb on one service: the user's home, their
// supervisor (nil when none answers; Close closes it), the service, the
// arguments.
type serviceCall struct {
	home string
	x    *ctl
	s    *service.Service
	args []string
}

// Close closes the connection to the supervisor, if any.
func (sc *serviceCall) Close() {
	if sc.x != nil {
		sc.x.client.Close()
	}
}

// state is the state of the service's program ("" with no supervisor).
func (sc *serviceCall) state() string { return serviceState(sc.x, sc.s.Name) }

// serviceArg loads the service the first argument names.
func serviceArg(c *cli.Context, verb string, nargs ...int) (*serviceCall, error) {
	args := serviceArgs(c)
	if !slices.Contains(nargs, len(args)) {
		return nil, cli.Exit(fmt.Sprintf("roost service %s: give %s", verb, c.Command.ArgsUsage), exitInvalidArgs)
	}
	home, x, _, err := serviceSession(c, verb)
	if err != nil {
		return nil, err
	}
	sc := &serviceCall{home: home, x: x, args: args}
	sc.s, err = service.Load(home, args[0])
	if err != nil {
		sc.Close()
		code := 1
		if errors.Is(err, service.ErrNoSuchService) || service.ValidateName(args[0]) != nil {
			code = exitInvalidArgs
		}
		return nil, cli.Exit(fmt.Sprintf("roost service %s: %v", verb, err), code)
	}
	return sc, nil
}

// serviceInfoJSON is `roost service info --json`.
type serviceInfoJSON struct {
	Name    string `json:"name"`
	Kind    string `json:"kind"`
	URL     string `json:"url"`
	Var     string `json:"var"`
	Port    int    `json:"port"`
	DataDir string `json:"data_dir"`
	Socket  string `json:"socket_dir"`
	Size    int64  `json:"size"`
	State   string `json:"state"`
}

func serviceInfo(c *cli.Context) error {
	sc, err := serviceArg(c, "info", 1)
	if err != nil {
		return err
	}
	defer sc.Close()
	s := sc.s
	info := serviceInfoJSON{Name: s.Name, Kind: s.Kind, URL: s.URL(), Var: s.Var, Port: s.Port, DataDir: s.DataDir(),
		Socket: s.SocketDir(), Size: s.Size(), State: sc.state()}
	if info.State == "" {
		info.State = "no supervisor answers"
	}
	if c.Bool("json") {
		enc := json.NewEncoder(c.App.Writer)
		enc.SetIndent("", "  ")
		return enc.Encode(info)
	}
	fmt.Fprintf(c.App.Writer, "name      %s\ntype      %s\nurl       %s\nvariable  %s\ndata dir  %s\nsocket    %s\nsize      %d bytes\nstate     %s\n",
		info.Name, info.Kind, info.URL, info.Var, info.DataDir, info.Socket, info.Size, info.State)
	return nil
}

// defaultDump is ~/services/NAME-TIME.dump.
func defaultDump(home string, s *service.Service) string {
	return filepath.Join(service.Root(home), s.Name+"-"+time.Now().UTC().Format("20060102T150405Z")+".dump")
}

// needRunning checks the service's program is RUNNING.
func (sc *serviceCall) needRunning(verb string) error {
	st := sc.state()
	if st == "" {
		st = "no supervisor of yours answers"
	}
	if st != "RUNNING" {
		return cli.Exit(fmt.Sprintf("roost service %s: %s is not running (%s): roost start %s", verb, sc.s.Name, st, sc.s.Name), exitNotRunning)
	}
	return nil
}

func serviceDump(c *cli.Context) error {
	sc, err := serviceArg(c, "dump", 1, 2)
	if err != nil {
		return err
	}
	defer sc.Close()
	if err := sc.needRunning("dump"); err != nil {
		return err
	}
	s := sc.s
	file := defaultDump(sc.home, s)
	if len(sc.args) == 2 {
		file = sc.args[1]
	}
	if err := s.Dump(file); err != nil {
		return cli.Exit("roost service dump: "+err.Error(), 1)
	}
	fmt.Fprintf(c.App.Writer, "dumped %s to %s\n", s.Name, file)
	return nil
}

func serviceRestore(c *cli.Context) error {
	sc, err := serviceArg(c, "restore", 2)
	if err != nil {
		return err
	}
	defer sc.Close()
	s, x, file := sc.s, sc.x, sc.args[1]
	if fi, err := os.Stat(file); err != nil || !fi.Mode().IsRegular() {
		return cli.Exit(fmt.Sprintf("roost service restore: %s: not a dump file", file), exitInvalidArgs)
	}
	if err := sc.needRunning("restore"); err != nil {
		return err
	}
	if s.NeedsStopForRestore() {
		if err := ctlResults(x.client.Stop(x.ctx, s.Name, true)); err != nil {
			return cli.Exit("roost service restore: stop: "+err.Error(), 1)
		}
		rerr := s.Restore(file)
		if err := ctlResults(x.client.Start(x.ctx, s.Name, true)); err != nil {
			return cli.Exit("roost service restore: start: "+errors.Join(rerr, err).Error(), 1)
		}
		err = errors.Join(rerr, s.Ready(60*time.Second))
	} else {
		err = s.Restore(file)
	}
	if err != nil {
		return cli.Exit("roost service restore: "+err.Error(), 1)
	}
	fmt.Fprintf(c.App.Writer, "restored %s from %s\n", s.Name, file)
	return nil
}

// ctlResults turns a start/stop reply into an error.
func ctlResults(res []api.Result, err error) error {
	if err != nil {
		return err
	}
	for _, r := range res {
		if r.Status != api.Success {
			return fmt.Errorf("%s: %s", r.Name, r.Description)
		}
	}
	return nil
}

func serviceRemove(c *cli.Context) error {
	sc, err := serviceArg(c, "remove", 1)
	if err != nil {
		return err
	}
	defer sc.Close()
	home, s, x := sc.home, sc.s, sc.x
	out := c.App.Writer
	if !c.Bool("yes") {
		fmt.Fprintf(out, "remove the service %s and its data in %s? [y/N] ", s.Name, s.Dir)
		line, _ := bufio.NewReader(os.Stdin).ReadString('\n')
		if a := strings.ToLower(strings.TrimSpace(line)); a != "y" && a != "yes" {
			return cli.Exit("roost service remove: not removed", exitGeneric)
		}
	}
	if !c.Bool("purge") {
		if sc.state() != "RUNNING" {
			return cli.Exit(fmt.Sprintf("roost service remove: %s is not running, so no final dump can be taken: roost start %s, or --purge to keep none", s.Name, s.Name), exitNotRunning)
		}
		file := defaultDump(home, s)
		if err := s.Dump(file); err != nil {
			return cli.Exit("roost service remove: the final dump failed, nothing removed: "+err.Error(), 1)
		}
		fmt.Fprintf(out, "final dump of %s in %s\n", s.Name, file)
	}
	if x != nil {
		// Stop it before its program section goes, so its clean
		// shutdown runs while its data is still there.
		ctx, cancel := context.WithTimeout(x.ctx, 2*time.Minute)
		_ = ctlResults(x.client.Stop(ctx, s.Name, true))
		cancel()
	}
	if err := s.Delete(home); err != nil {
		return cli.Exit("roost service remove: "+err.Error(), 1)
	}
	fmt.Fprintf(out, "removed %s\n", s.Name)
	if x == nil {
		return writeEnv(c, []envChange{{key: s.Var}})
	}
	return changeEnv(c, []envChange{{key: s.Var}}, serviceGroups(home))
}
