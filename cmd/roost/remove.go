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
		Action: namesAction(0, "", "", 0, func(x *ctl, args []string) {
			x.eachGroup(args, func(name string) error { return x.client.RemoveGroup(x.ctx, name) }, map[api.Code]groupReply{
				api.Success:      {"{name}: removed process group", false},
				api.StillRunning: {"ERROR: process/group still running: {name}", true},
				api.BadName:      {"ERROR: no such process/group: {name}", true},
			})
		}),
	})
}
