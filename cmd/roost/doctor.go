package main

import (
	"os"
	"os/user"
	"strconv"

	"github.com/urfave/cli/v2"

	"roost/config"
	"roost/doctor"
)

// `roost doctor [--json]`: as root, the master, every user it runs and
// nginx; as a user, their own supervisor, project, file, ports and routes.
// Exit 1 when a check fails. The checks live in doctor/.

func init() {
	commands = append(commands, &cli.Command{
		Name:  "doctor",
		Usage: "check the installation (as root) or your project (as a user), with a fix for each problem",
		Description: "As root: roost.toml, the master, each user's supervisor and socket, their routes,\n" +
			"nginx -t and whether nginx includes the master's file, DNS for each host.\n" +
			"As a user: your supervisor and its socket, your project directory and\n" +
			"supervisord.conf (validated with your PORT), your ports, the master's verdict\n" +
			"on each route, DNS for each host. Exits 1 when a check fails.",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "json", Usage: "print the report as JSON"},
			&cli.StringFlag{Name: "config", Aliases: []string{"c"}, Usage: "the master's roost.toml `FILE` (default $ROOST_MASTER_CONFIG, else " + config.DefaultMasterFile + ")"},
		},
		Action: doctorCommand,
	})
}

func doctorCommand(c *cli.Context) error {
	o := doctor.Options{MasterConfig: c.String("config")}
	if o.MasterConfig == "" {
		o.MasterConfig = os.Getenv("ROOST_MASTER_CONFIG")
	}
	var r *doctor.Report
	if uid := os.Geteuid(); uid == 0 {
		r = doctor.Root(c.Context, o)
	} else {
		name, home := strconv.Itoa(uid), os.Getenv("HOME")
		if u, err := user.LookupId(name); err == nil {
			name, home = u.Username, u.HomeDir
		}
		r = doctor.User(c.Context, o, name, home)
	}
	var err error
	if c.Bool("json") {
		err = r.WriteJSON(c.App.Writer)
	} else {
		err = r.WriteText(c.App.Writer)
	}
	if err != nil {
		return cli.Exit("roost doctor: "+err.Error(), 1)
	}
	if r.Failed() {
		return cli.Exit("", 1)
	}
	return nil
}
