package main

import (
	"github.com/urfave/cli/v2"

	"roost/supervisor/api"
)

const startHelp = "start <name>\t\tStart a process\n" +
	"start <gname>:*\t\tStart all processes in a group\n" +
	"start <name> <name>\tStart multiple processes or groups\n" +
	"start all\t\tStart all processes"

func init() {
	ctlCommand(&cli.Command{
		Name:      "start",
		Usage:     "start processes",
		ArgsUsage: "NAME|GROUP:*|all ...",
		Description: helpText(startHelp) + "\n\nExamples:\n  roost start web\n  roost start 'workers:*'\n\n" +
			"It waits until each process is RUNNING (startsecs) or has failed.\n" +
			"Exit status: 0, 1 for an unknown name, 2 for no name, 7 for a spawn error.",
		Action: namesAction(1, "Error: start requires a process name", startHelp, exitInvalidArgs, (*ctl).start),
	})
}

// start is supervisorctl's do_start for names.
func (x *ctl) start(args []string) {
	x.apply(args, op{
		call:     func(name string) ([]api.Result, error) { return x.client.Start(x.ctx, name, true) },
		result:   startResult,
		ignored:  api.AlreadyStarted,
		badGroup: exitInvalidArgs,
	})
}

// startResult is supervisorctl's _startresult.
func startResult(r api.Result) string {
	name := api.MakeNamespec(r.Group, r.Name)
	switch r.Status {
	case api.Success:
		return name + ": started"
	case api.BadName:
		return name + ": ERROR (no such process)"
	case api.NoFile:
		return name + ": ERROR (no such file)"
	case api.NotExecutable:
		return name + ": ERROR (file is not executable)"
	case api.AlreadyStarted:
		return name + ": ERROR (already started)"
	case api.SpawnError:
		return name + ": ERROR (spawn error)"
	case api.AbnormalTermination:
		return name + ": ERROR (abnormal termination)"
	}
	return name + ": ERROR (" + r.Description + ")"
}
