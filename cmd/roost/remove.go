package main

import (
	"github.com/urfave/cli/v2"

	"roost/supervisor/api"
)

const removeHelp = "remove <name> [...]\tRemoves process/group from active config"

func init() {
	ctlCommand(&cli.Command{
		Name:        "remove",
		Usage:       "remove a stopped group from the running configuration",
		ArgsUsage:   "GROUP ...",
		Description: helpText(removeHelp) + "\n\nExample:\n  roost stop 'oldapp:*' && roost remove oldapp",
		Action:      removeAction,
	})
}

func removeAction(c *cli.Context) error {
	x, err := connect(c, exitNotRunning)
	if err != nil {
		return err
	}
	for _, name := range names(c) {
		err := x.client.RemoveGroup(x.ctx, name)
		switch api.CodeOf(err) {
		case api.Success:
			x.println(name + ": removed process group")
		case api.StillRunning:
			x.println("ERROR: process/group still running: " + name)
			x.status = exitGeneric
		case api.BadName:
			x.println("ERROR: no such process/group: " + name)
			x.status = exitGeneric
		default:
			x.fail(err)
		}
	}
	return x.done()
}
