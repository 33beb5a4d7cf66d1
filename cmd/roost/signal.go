package main

import (
	"github.com/urfave/cli/v2"

	"roost/supervisor/api"
)

const signalHelp = "signal <signal name> <name>\t\tSignal a process\n" +
	"signal <signal name> <gname>:*\t\tSignal all processes in a group\n" +
	"signal <signal name> <name> <name>\tSignal multiple processes or groups\n" +
	"signal <signal name> all\t\tSignal all processes"

func init() {
	ctlCommand(&cli.Command{
		Name:      "signal",
		Usage:     "send a signal to processes",
		ArgsUsage: "SIGNAL NAME|GROUP:*|all ...",
		Description: helpText(signalHelp) + "\n\nExamples:\n  roost signal HUP web\n  roost signal USR2 all\n\n" +
			"SIGNAL is a name with or without SIG (HUP, SIGUSR1) or a number.",
		Action: namesAction(2, "Error: signal requires a signal name and a process name", signalHelp, exitGeneric,
			func(x *ctl, args []string) {
				sig := args[0]
				x.apply(args[1:], op{
					call:     func(name string) ([]api.Result, error) { return x.client.Signal(x.ctx, name, sig) },
					result:   func(r api.Result) string { return signalResult(r, "signalled") },
					badGroup: exitGeneric,
				})
			}),
	})
}
