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
		Action: namesAction(0, "", "", 0, func(x *ctl, args []string) {
			x.eachGroup(args, func(name string) error { return x.client.AddGroup(x.ctx, name) }, map[api.Code]groupReply{
				api.Success:       {"{name}: added process group", false},
				api.ShutdownState: {"ERROR: shutting down", true},
				api.AlreadyAdded:  {"ERROR: process group already active", false},
				api.BadName:       {"ERROR: no such process/group: {name}", true},
			})
		}),
	})
}
