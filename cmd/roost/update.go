package main

import (
	"slices"

	"github.com/urfave/cli/v2"
)

const updateHelp = "update\t\t\tReload config and add/remove as necessary, and will restart affected programs\n" +
	"update all\t\tReload config and add/remove as necessary, and will restart affected programs\n" +
	"update <gname> [...]\tUpdate specific groups"

func init() {
	ctlCommand(&cli.Command{
		Name:      "update",
		Usage:     "apply the configuration: add, remove and restart what changed",
		ArgsUsage: "[all|GROUP ...]",
		Description: helpText(updateHelp) + "\n\nExamples:\n  roost update\n  roost update web workers\n\n" +
			"Unlike supervisord, only the processes whose configuration changed are\n" +
			"restarted, not every process of a changed group. A broken configuration\n" +
			"is reported with every file:line problem and nothing changes.",
		Action: updateAction,
	})
}

// updateAction is supervisorctl's do_update, with the work done by the
// server's update (which restarts only what changed) and the same output.
func updateAction(c *cli.Context) error {
	x, err := connect(c, exitNotRunning)
	if err != nil {
		return err
	}
	pending, err := x.client.Reread(x.ctx)
	if x.rereadFailed(err, "ERROR: already shutting down") {
		return x.done()
	}
	want := names(c)
	if slices.Contains(want, "all") {
		want = nil
	}
	var valid []string
	if len(want) > 0 {
		infos, err := x.client.Processes(x.ctx)
		if err != nil {
			x.fail(err)
			return x.done()
		}
		groups := map[string]bool{}
		for _, in := range infos {
			groups[in.Group] = true
		}
		for _, g := range pending.Added {
			groups[g] = true
		}
		for _, g := range want {
			if !groups[g] {
				x.println("ERROR: no such group: " + g)
				x.status = exitGeneric
				continue
			}
			valid = append(valid, g)
		}
		if len(valid) == 0 {
			return x.done()
		}
	}
	ch, err := x.client.Update(x.ctx, valid)
	if x.rereadFailed(err, "ERROR: already shutting down") {
		return x.done()
	}
	for _, g := range ch.Removed {
		x.println(g + ": stopped")
		x.println(g + ": removed process group")
	}
	for _, g := range ch.Changed {
		x.println(g + ": stopped")
		x.println(g + ": updated process group")
	}
	for _, g := range ch.Added {
		x.println(g + ": added process group")
	}
	return x.done()
}
