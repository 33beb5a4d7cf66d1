package main

import (
	"github.com/urfave/cli/v2"
)

const restartHelp = "restart <name>\t\tRestart a process\n" +
	"restart <gname>:*\tRestart all processes in a group\n" +
	"restart <name> <name>\tRestart multiple processes or groups\n" +
	"restart all\t\tRestart all processes\n" +
	"Note: restart does not reread config files. For that, see reread and update."

func init() {
	ctlCommand(&cli.Command{
		Name:      "restart",
		Usage:     "stop, then start processes",
		ArgsUsage: "NAME|GROUP:*|all ...",
		Description: helpText(restartHelp) + "\n\nExamples:\n  roost restart web\n  roost restart all\n\n" +
			"Exit status: as stop, then as start (7 when a process fails to start).",
		Action: restartAction,
	})
}

// restartAction is supervisorctl's do_restart: stop, then start, each
// printing its own lines.
func restartAction(c *cli.Context) error {
	x, err := connect(c, exitNotRunning)
	if err != nil {
		return err
	}
	args := names(c)
	if len(args) == 0 {
		return usageError(c, "Error: restart requires a process name", restartHelp, exitGeneric)
	}
	x.stop(args)
	x.start(args)
	return x.done()
}
