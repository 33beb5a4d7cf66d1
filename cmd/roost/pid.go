package main

import (
	"slices"
	"strconv"

	"github.com/urfave/cli/v2"

	"roost/supervisor/api"
)

const pidHelp = "pid\t\t\tGet the PID of supervisord.\n" +
	"pid <name>\t\tGet the PID of a single child process by name.\n" +
	"pid all\t\t\tGet the PID of every child process, one per line."

func init() {
	ctlCommand(&cli.Command{
		Name:        "pid",
		Usage:       "print the supervisor's pid, or processes' pids",
		ArgsUsage:   "[NAME ...|all]",
		Description: helpText(pidHelp) + "\n\nExamples:\n  roost pid\n  kill -USR1 $(roost pid web)\n\nExit status: 7 when a named process is not running (pid 0).",
		Action:      pidAction,
	})
}

func pidAction(c *cli.Context) error {
	x, err := connect(c, exitNotRunning)
	if err != nil {
		return err
	}
	args := names(c)
	switch {
	case len(args) == 0:
		si, err := x.client.Supervisor(x.ctx)
		if err != nil {
			x.fail(err)
			break
		}
		x.println(strconv.Itoa(si.PID))
	case slices.Contains(args, "all"):
		infos, err := x.client.Processes(x.ctx)
		if err != nil {
			x.fail(err)
			break
		}
		for _, in := range infos {
			x.println(strconv.Itoa(in.PID))
		}
	default:
		for _, name := range args {
			in, err := x.client.Process(x.ctx, name)
			if api.CodeOf(err) == api.BadName {
				x.println("No such process " + name)
				x.status = exitGeneric
				continue
			}
			if err != nil {
				x.fail(err)
				continue
			}
			x.println(strconv.Itoa(in.PID))
			if in.PID == 0 {
				x.status = exitNotRunning
			}
		}
	}
	return x.done()
}
