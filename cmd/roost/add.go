package main

import (
	"github.com/urfave/cli/v2"

	"roost/supervisor/api"
)

const addHelp = "add <name> [...]\tActivates any updates in config for process/group"

func init() {
	ctlCommand(&cli.Command{
		Name:        "add",
		Usage:       "activate a group of the last reread configuration",
		ArgsUsage:   "GROUP ...",
		Description: helpText(addHelp) + "\n\nExample:\n  roost reread && roost add newapp",
		Action:      addAction,
	})
}

func addAction(c *cli.Context) error {
	x, err := connect(c, exitNotRunning)
	if err != nil {
		return err
	}
	for _, name := range names(c) {
		err := x.client.AddGroup(x.ctx, name)
		switch api.CodeOf(err) {
		case api.Success:
			x.println(name + ": added process group")
		case api.ShutdownState:
			x.println("ERROR: shutting down")
			x.status = exitGeneric
		case api.AlreadyAdded:
			x.println("ERROR: process group already active")
		case api.BadName:
			x.println("ERROR: no such process/group: " + name)
			x.status = exitGeneric
		default:
			x.fail(err)
		}
	}
	return x.done()
}
