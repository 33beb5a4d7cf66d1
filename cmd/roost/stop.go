package main

import (
	"github.com/urfave/cli/v2"

	"roost/supervisor/api"
)

const stopHelp = "stop <name>\t\tStop a process\n" +
	"stop <gname>:*\t\tStop all processes in a group\n" +
	"stop <name> <name>\tStop multiple processes or groups\n" +
	"stop all\t\tStop all processes"

func init() {
	ctlCommand(&cli.Command{
		Name:      "stop",
		Usage:     "stop processes",
		ArgsUsage: "NAME|GROUP:*|all ...",
		Description: helpText(stopHelp) + "\n\nExamples:\n  roost stop web\n  roost stop all\n\n" +
			"Each process gets its stopsignal, then SIGKILL after stopwaitsecs.\n" +
			"Exit status: 0 (also for a process already stopped), 1 for an unknown name.",
		Action: namesAction(1, "Error: stop requires a process name", stopHelp, exitGeneric, (*ctl).stop),
	})
}

// stop is supervisorctl's do_stop for names.
func (x *ctl) stop(args []string) {
	x.apply(args, op{
		call:     func(name string) ([]api.Result, error) { return x.client.Stop(x.ctx, name, true) },
		result:   func(r api.Result) string { return signalResult(r, "stopped") },
		ignored:  api.NotRunning,
		badGroup: exitGeneric,
	})
}

// signalResult is supervisorctl's _signalresult (and, with "stopped",
// its _stopresult).
func signalResult(r api.Result, success string) string {
	name := api.MakeNamespec(r.Group, r.Name)
	switch r.Status {
	case api.Success:
		return name + ": " + success
	case api.BadName:
		return name + ": ERROR (no such process)"
	case api.BadSignal:
		return name + ": ERROR (bad signal name)"
	case api.NotRunning:
		return name + ": ERROR (not running)"
	case api.Failed:
		return r.Description
	}
	return name + ": ERROR (" + r.Description + ")"
}
