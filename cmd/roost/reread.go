package main

import (
	"sort"

	"github.com/urfave/cli/v2"

	"roost/supervisor/api"
)

const rereadHelp = "reread \t\t\tReload the daemon's configuration files without add/remove"

func init() {
	ctlCommand(&cli.Command{
		Name:      "reread",
		Usage:     "re-read the configuration and report what changed, applying nothing",
		ArgsUsage: " ",
		Description: helpText(rereadHelp) + "\n\nExample:\n  roost reread     # then: roost update\n\n" +
			"A broken configuration is reported with every file:line problem; nothing changes.",
		Action: noArgsAction("reread", rereadHelp, rereadVerb),
	})
}

// rereadVerb is the reread verb, once connected.
func rereadVerb(x *ctl) {
	ch, err := x.client.Reread(x.ctx)
	if x.rereadFailed(err, "ERROR: supervisor shutting down") {
		return
	}
	x.writeChanges(ch)
}

// rereadFailed reports (and prints) a failed reread: shuttingDown is the
// line for SHUTDOWN_STATE, a broken file prints "ERROR: CANT_REREAD: ..."
// with its file:line problems.
func (x *ctl) rereadFailed(err error, shuttingDown string) bool {
	switch api.CodeOf(err) {
	case api.Success:
		return false
	case api.ShutdownState:
		x.println(shuttingDown)
		x.status = exitGeneric
	case api.CantReread:
		x.println("ERROR: " + err.Error())
		x.status = exitGeneric
	default:
		x.fail(err)
	}
	return true
}

// writeChanges is supervisorctl's _formatChanges.
func (x *ctl) writeChanges(ch api.Changes) {
	kind := map[string]string{}
	for _, n := range ch.Added {
		kind[n] = "available"
	}
	for _, n := range ch.Changed {
		kind[n] = "changed"
	}
	for _, n := range ch.Removed {
		kind[n] = "disappeared"
	}
	if len(kind) == 0 {
		x.println("No config updates to processes")
		return
	}
	names := make([]string, 0, len(kind))
	for n := range kind {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		x.println(n + ": " + kind[n])
	}
}
