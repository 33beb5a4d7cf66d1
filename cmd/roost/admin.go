package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"roost/config"
	"roost/master"
	"roost/supervisor/api"
)

// `roost admin users [--json]` and `roost admin restart USER`: root only,
// through the master's admin socket {run_dir}/master.sock. run_dir comes
// from roost.toml: -c FILE, else $ROOST_MASTER_CONFIG, else
// /etc/roost/roost.toml; /run/roost when that file does not exist.
// `roost --user NAME VERB` (any ctl verb) is root's way to one user's
// supervisor; see userServer.

// adminTimeout bounds one admin request.
const adminTimeout = 15 * time.Second

func init() {
	configFlag := &cli.StringFlag{Name: "config", Aliases: []string{"c"},
		Usage: "the master's roost.toml `FILE` (default $ROOST_MASTER_CONFIG, else " + config.DefaultMasterFile + ")"}
	commands = append(commands, &cli.Command{
		Name:  "admin",
		Usage: "root only: the users' supervisors, through the master",
		Description: "roost admin talks to the master's socket, {run_dir}/master.sock, which only root\n" +
			"may use. run_dir is read from roost.toml (-c, $ROOST_MASTER_CONFIG, " + config.DefaultMasterFile + ").\n" +
			"To run a ctl verb against one user's supervisor, use `roost --user NAME VERB`.",
		Flags: []cli.Flag{configFlag},
		Subcommands: []*cli.Command{
			{
				Name:      "users",
				Usage:     "every user's supervisor: uid, pid, state, restarts, programs running/total, port block, last error",
				ArgsUsage: " ",
				Flags:     []cli.Flag{&cli.BoolFlag{Name: "json", Usage: "print the JSON array"}},
				Action:    adminUsers,
			},
			{
				Name:      "restart",
				Usage:     "restart USER's supervisor now (its programs restart with it), forgetting its backoff",
				ArgsUsage: "USER",
				Action:    adminRestart,
			},
			{
				Name:      "nginx",
				Usage:     "print the nginx configuration the master installed (--check: what it would render now)",
				ArgsUsage: " ",
				Description: "Prints the file the master last installed at roost.toml [proxy] output. Every part\n" +
					"of a user's route that was left out is listed on stderr with the reason, as is\n" +
					"the last failure (nginx -t refused a user's route, the reload failed...).\n" +
					"With --check, the master renders the users' routes as they are now, without\n" +
					"installing anything. Exit status 1 when the last installation failed.",
				Flags: []cli.Flag{
					&cli.BoolFlag{Name: "check", Usage: "render now, install nothing"},
					&cli.BoolFlag{Name: "json", Usage: "print the JSON answer"},
				},
				Action: adminNginx,
			},
			adminTLSCommand(),
			{
				Name:      "reexec",
				Usage:     "re-execute the master's binary in place (same pid): users' supervisors and programs keep running",
				ArgsUsage: " ",
				Description: "The master execs the roost binary now on disk (an upgrade) with the same pid, hands\n" +
					"its users' supervisors over to the new image, and re-reads roost.toml: only a user\n" +
					"whose settings changed gets a new supervisor; no other program restarts. The verb\n" +
					"waits until the new image answers (exit 0) and prints how long the master was away.\n" +
					"`systemctl reload roost` runs it. SIGHUP still only re-reads roost.toml.",
				Action: adminReexec,
			},
			adminUpgradeCommand(),
		},
		OnUsageError: func(_ *cli.Context, err error, _ bool) error {
			return cli.Exit("roost admin: "+err.Error(), 2)
		},
	})
}

// masterRunDir returns the master's run_dir for the admin verbs: from
// their -c FILE, else as runDirOf finds it.
func masterRunDir(c *cli.Context) (string, error) {
	for _, x := range c.Lineage() {
		if x.IsSet("config") {
			return runDirOf(x.String("config"))
		}
	}
	return runDirOf(os.Getenv("ROOST_MASTER_CONFIG"))
}

// runDirOf reads run_dir from roost.toml: file, else
// /etc/roost/roost.toml, which may be missing (run_dir is then the
// default, /run/roost). A file named explicitly must load.
func runDirOf(file string) (string, error) {
	if file == "" {
		file = config.DefaultMasterFile
		if _, err := os.Stat(file); os.IsNotExist(err) {
			return config.DefaultRunDir, nil
		}
	}
	cfg, err := config.LoadMaster(file)
	if err != nil {
		// A broken file on disk must not lock root out of a running
		// master, which keeps the configuration it last loaded.
		dir, ok := brokenMasterRunDir(file)
		if !ok {
			return "", fmt.Errorf("the master's configuration: %w", err)
		}
		fmt.Fprintf(os.Stderr, "roost: warning: %s is broken, so a running master keeps its previous configuration "+
			"(roost master --check -c %s shows why); using run_dir %s\n", file, file, dir)
		return dir, nil
	}
	return cfg.RunDir, nil
}

// dialMaster connects to the admin socket, with root's checks first, and
// gives a context for the verb's requests, bounded by adminTimeout; done
// ends both.
func dialMaster(c *cli.Context, verb string) (cl *master.AdminClient, ctx context.Context, done func(), err error) {
	if os.Geteuid() != 0 {
		return nil, nil, nil, cli.Exit("roost admin "+verb+": root only (the master's socket serves root alone); try sudo", 4)
	}
	runDir, err := masterRunDir(c)
	if err != nil {
		return nil, nil, nil, cli.Exit("roost admin "+verb+": "+err.Error(), 2)
	}
	cl, err = master.DialAdmin(filepath.Join(runDir, master.AdminSocketName))
	if err != nil {
		return nil, nil, nil, cli.Exit("roost admin "+verb+": "+err.Error()+" (is `roost master` running?)", 7)
	}
	ctx, cancel := context.WithTimeout(context.Background(), adminTimeout)
	return cl, ctx, func() { cancel(); cl.Close() }, nil
}

func adminUsers(c *cli.Context) error {
	if c.NArg() > 0 {
		return cli.Exit(fmt.Sprintf("roost admin users: unexpected argument %q", c.Args().First()), 2)
	}
	cl, ctx, done, err := dialMaster(c, "users")
	if err != nil {
		return err
	}
	defer done()
	users, err := cl.Users(ctx)
	if err != nil {
		return cli.Exit("roost admin users: "+err.Error(), 1)
	}
	if c.Bool("json") {
		enc := json.NewEncoder(c.App.Writer)
		enc.SetIndent("", "  ")
		if users == nil {
			users = []master.UserStatus{}
		}
		return enc.Encode(users)
	}
	writeUsers(c.App.Writer, users, time.Now())
	return nil
}

// writeUsers prints the users table. Every string in it was sanitized by
// the master; the columns are fixed.
func writeUsers(w io.Writer, users []master.UserStatus, now time.Time) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "USER\tUID\tSTATE\tPID\tSINCE\tRESTARTS\tPROGRAMS\tPORTS\tROUTES\tMEM\tPEAK\tCPU\tPIDS\tOOM\tLAST ERROR")
	var problems []string
	for _, u := range users {
		pid, progs, ports, routes := "-", "-", "-", "-"
		if u.PID > 0 {
			pid = strconv.Itoa(u.PID)
		}
		if u.Routes >= 0 {
			routes = fmt.Sprintf("%d/%d", u.RoutesServed, u.Routes)
		}
		for _, p := range u.ProxyProblems {
			problems = append(problems, u.Name+": "+p)
		}
		switch {
		case u.ProgramsTotal >= 0:
			progs = fmt.Sprintf("%d/%d", u.ProgramsRunning, u.ProgramsTotal)
		case u.ProgramsError != "":
			progs = "?"
		}
		if u.PortCount > 0 {
			ports = fmt.Sprintf("%d-%d", u.PortBase, u.PortBase+u.PortCount-1)
		}
		since := "-"
		if u.Since > 0 {
			since = now.Sub(time.Unix(u.Since, 0)).Round(time.Second).String()
		}
		state, lastErr := userStateColumns(u)
		uid := "-"
		if u.UID >= 0 {
			uid = strconv.Itoa(u.UID)
		}
		mem, peak, cpu, pids, ooms := "-", "-", "-", "-", "-"
		if g := u.Usage; g != nil {
			mem = fmt.Sprintf("%.1fM", float64(g.MemoryCurrent)/(1<<20))
			if g.MemoryPeak > 0 {
				peak = fmt.Sprintf("%.1fM", float64(g.MemoryPeak)/(1<<20))
			}
			cpu = fmt.Sprintf("%.1fs", g.CPUSeconds)
			pids, ooms = strconv.FormatInt(g.Pids, 10), strconv.FormatInt(g.OOMKills, 10)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n",
			u.Name, uid, state, pid, since, u.Restarts, progs, ports, routes, mem, peak, cpu, pids, ooms, strings.ReplaceAll(lastErr, "\t", " "))
	}
	tw.Flush()
	if len(problems) > 0 {
		fmt.Fprintln(w, "\nroutes left out (ROUTES is served/declared):")
		for _, p := range problems {
			fmt.Fprintln(w, "  "+p)
		}
	}
}

// userStateColumns returns the STATE and LAST ERROR of a user: a running
// supervisor whose file on disk runs nothing is CONFIG-ERROR, and a file
// not applied is the last error until it is fixed.
func userStateColumns(u master.UserStatus) (state, lastErr string) {
	state, lastErr = u.State.String(), u.LastError
	if u.State == master.UserRunning && u.Config == api.ConfigError {
		state = api.ConfigError
	}
	if u.ConfigError != "" {
		lastErr = u.ConfigError
	}
	return state, lastErr
}

func adminNginx(c *cli.Context) error {
	if c.NArg() > 0 {
		return cli.Exit(fmt.Sprintf("roost admin nginx: unexpected argument %q", c.Args().First()), 2)
	}
	cl, ctx, done, err := dialMaster(c, "nginx")
	if err != nil {
		return err
	}
	defer done()
	enc := json.NewEncoder(c.App.Writer)
	enc.SetIndent("", "  ")
	if c.Bool("check") {
		ch, err := cl.NginxCheck(ctx)
		if err != nil {
			return cli.Exit("roost admin nginx: "+err.Error(), 1)
		}
		if c.Bool("json") {
			return enc.Encode(ch)
		}
		fmt.Fprint(c.App.Writer, ch.Config)
		for _, w := range ch.Warnings {
			fmt.Fprintln(c.App.ErrWriter, "left out: "+w)
		}
		if ch.Error != "" {
			return cli.Exit("roost admin nginx: "+ch.Error, 1)
		}
		return nil
	}
	st, err := cl.Nginx(ctx)
	if err != nil {
		return cli.Exit("roost admin nginx: "+err.Error(), 1)
	}
	if c.Bool("json") {
		return enc.Encode(st)
	}
	if !st.Enabled {
		fmt.Fprintln(c.App.ErrWriter, "roost admin nginx: [proxy] enabled = false in roost.toml: the master does not write "+st.Output)
	}
	fmt.Fprint(c.App.Writer, st.Config)
	for _, w := range st.Warnings {
		fmt.Fprintln(c.App.ErrWriter, "left out: "+w)
	}
	if st.Error != "" {
		return cli.Exit("roost admin nginx: last installation failed: "+st.Error, 1)
	}
	if st.Pending != "" {
		fmt.Fprintln(c.App.ErrWriter, "pending: "+st.Pending)
	}
	return nil
}

func adminRestart(c *cli.Context) error {
	if c.NArg() != 1 {
		return cli.Exit("roost admin restart: give exactly one USER", 2)
	}
	name := c.Args().First()
	if err := config.ValidateUserName(name); err != nil {
		return cli.Exit("roost admin restart: "+err.Error(), 2)
	}
	cl, ctx, done, err := dialMaster(c, "restart")
	if err != nil {
		return err
	}
	defer done()
	if err := cl.Restart(ctx, name); err != nil {
		return cli.Exit("roost admin restart: "+err.Error(), 1)
	}
	fmt.Fprintf(c.App.Writer, "%s: restarting\n", name)
	return nil
}

// userServer is `roost --user NAME`: the socket the master made for NAME's
// supervisor, {run_dir}/users/NAME/roost.sock, which must be served by
// NAME's uid (SO_PEERCRED). Root only: anyone else reaches only their own
// supervisor, without --user. run_dir is read as the admin verbs read it
// ($ROOST_MASTER_CONFIG, else /etc/roost/roost.toml).
func userServer(name string) (server, error) {
	if err := config.ValidateUserName(name); err != nil {
		return server{}, fmt.Errorf("--user: %w", err)
	}
	if os.Geteuid() != 0 {
		return server{}, fmt.Errorf("--user %s: root only; as %s, run the verb without --user", name, name)
	}
	a, err := master.UserDB{}.Lookup(name)
	if err != nil {
		return server{}, fmt.Errorf("--user: %w", err)
	}
	runDir, err := runDirOf(os.Getenv("ROOST_MASTER_CONFIG"))
	if err != nil {
		return server{}, fmt.Errorf("--user %s: %w", name, err)
	}
	return server{path: filepath.Join(runDir, "users", name, master.SocketName), uids: []int{a.UID}}, nil
}

// reexecTimeout bounds the wait for the new master image.
const reexecTimeout = 60 * time.Second

func adminReexec(c *cli.Context) error {
	if c.NArg() > 0 {
		return cli.Exit("roost admin reexec: takes no arguments", 2)
	}
	cl, _, done, err := dialMaster(c, "reexec")
	if err != nil {
		return err
	}
	defer done()
	ctx, cancel := context.WithTimeout(context.Background(), reexecTimeout)
	defer cancel()
	im, away, err := cl.ReexecMaster(ctx)
	if err != nil {
		return cli.Exit("roost admin reexec: "+err.Error(), 1)
	}
	fmt.Fprintf(c.App.Writer, "master re-executed in place (pid %d), away %d ms: %d user supervisors adopted, %d of them restarted (settings changed)%s\n",
		im.PID, away.Milliseconds(), len(im.Adopted), len(im.Replaced), listSuffix(im.Replaced))
	return nil
}

// listSuffix is ": a, b" for a non-empty list.
func listSuffix(names []string) string {
	if len(names) == 0 {
		return ""
	}
	return ": " + strings.Join(names, ", ")
}
