package main

import (
	"github.com/urfave/cli/v2"

	"roost/supervisor/api"
)

const clearHelp = "clear <name>\t\tClear a process' log files.\n" +
	"clear <name> <name>\tClear multiple process' log files\n" +
	"clear all\t\tClear all process' log files"

func init() {
	ctlCommand(&cli.Command{
		Name:        "clear",
		Usage:       "truncate processes' log files (backups stay, as in supervisord)",
		ArgsUsage:   "NAME|GROUP:*|all ...",
		Description: helpText(clearHelp) + "\n\nExamples:\n  roost clear web\n  roost clear all",
		Action: namesAction(1, "Error: clear requires a process name", clearHelp, exitGeneric, func(x *ctl, args []string) {
			x.apply(args, op{
				call:     func(name string) ([]api.Result, error) { return x.client.Clear(x.ctx, name) },
				result:   clearResult,
				badGroup: exitGeneric,
			})
		}),
	})
}

// clearResult is supervisorctl's _clearresult.
func clearResult(r api.Result) string {
	name := api.MakeNamespec(r.Group, r.Name)
	switch r.Status {
	case api.Success:
		return name + ": cleared"
	case api.BadName:
		return name + ": ERROR (no such process)"
	case api.Failed:
		return name + ": ERROR (failed)"
	}
	return name + ": ERROR (" + r.Description + ")"
}
