package main

import (
	"github.com/urfave/cli/v2"

	"roost/supervisor/api"
)

const reloadHelp = "reload \t\tRestart the remote supervisord."

func init() {
	ctlCommand(&cli.Command{
		Name:      "reload",
		Usage:     "stop every process, re-read the configuration and start again",
		ArgsUsage: " ",
		Description: helpText(reloadHelp) + "\n\nExample:\n  roost reload\n\n" +
			"Everything restarts. To restart only what changed, use `roost update`;\n" +
			"to run a new roost binary without restarting any program, `roost upgrade`.",
		Action: noArgsAction("reload", reloadHelp, reloadVerb),
	})
}

// reloadVerb is the reload verb, once connected.
func reloadVerb(x *ctl) {
	err := x.client.Reload(x.ctx)
	switch api.CodeOf(err) {
	case api.Success:
		x.println("Restarted supervisord")
	case api.ShutdownState:
		x.println("ERROR: already shutting down")
		x.status = exitGeneric
	default:
		x.fail(err)
	}
}
