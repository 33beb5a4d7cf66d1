package main

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"roost/supervisor/api"
)

const availHelp = "avail\t\t\tDisplay all configured processes"

func init() {
	ctlCommand(&cli.Command{
		Name:      "avail",
		Usage:     "list every configured process: in use or available, auto or manual start, priorities",
		ArgsUsage: " ",
		Description: helpText(availHelp) + "\n\nExample:\n  roost reread && roost avail\n\n" +
			"A process of the last reread configuration that is not running yet shows as \"avail\".",
		Action: noArgsAction("avail", availHelp, availVerb),
	})
}

// availVerb is the avail verb, once connected.
func availVerb(x *ctl) {
	infos, err := x.client.ConfigInfo(x.ctx)
	switch {
	case api.CodeOf(err) == api.ShutdownState:
		x.println("ERROR: supervisor shutting down")
		x.status = exitGeneric
	case err != nil:
		x.fail(err)
	default:
		for _, in := range infos {
			x.println(availLine(in))
		}
	}
}

// availLine is supervisorctl's _formatConfigInfo.
func availLine(in api.ConfigInfo) string {
	inuse, auto := "avail", "manual"
	if in.InUse {
		inuse = "in use"
	}
	if in.Autostart {
		auto = "auto"
	}
	return fmt.Sprintf("%-32s %-9s %-9s %d:%d", api.MakeNamespec(in.Group, in.Name), inuse, auto, in.GroupPrio, in.ProcessPrio)
}
