package main

import (
	"fmt"
	"os"

	"github.com/urfave/cli/v2"

	"roost/handover"
	"roost/supervisor"
	"roost/supervisor/api"
)

// `roost upgrade` (and the hidden probe it relies on): the user's
// supervisor re-executes its binary in place, keeping its programs
// (package handover). `roost reload` keeps supervisord's meaning.

func init() {
	ctlCommand(&cli.Command{
		Name:      "upgrade",
		Usage:     "re-execute the supervisor's binary in place, keeping every program running",
		ArgsUsage: " ",
		Description: "Example:\n  roost upgrade\n\n" +
			"The supervisor (`roost run`, under the master or not) executes its binary\n" +
			"again, as found on disk now (a new roost installed there is the upgrade),\n" +
			"with the same pid. Its programs keep running untouched: same pids, same\n" +
			"output pipes (no line lost or split), same states, start times, restart\n" +
			"counts and timers; cron jobs keep their next runs. A program that exits\n" +
			"meanwhile is seen and restarted (autorestart) by the new image.\n\n" +
			"The new binary is first run as a probe; if it cannot take over (it does\n" +
			"not start, or is not a roost that speaks this handover), nothing changes\n" +
			"and the error is printed. Not to be confused with `roost reload`, which\n" +
			"restarts every program as supervisorctl reload does.\n\n" +
			"Exit status: 0 when the new image serves, 1 when the upgrade did not happen.",
		Action: noArgsAction("upgrade", "upgrade\t\tRe-execute the supervisor's binary, keeping its programs.", upgradeVerb),
	})
	commands = append(commands, &cli.Command{
		Name:   handover.ProbeCommand,
		Hidden: true,
		Usage:  "answer a supervisor's handover probe (internal)",
		Action: func(c *cli.Context) error {
			// The state must decode, and its configuration too, as this
			// binary's `roost run` would take them.
			check := func(st *handover.State) error {
				_, err := supervisor.AdoptedConfig(st)
				return err
			}
			if err := handover.Answer(os.Stdin, c.App.Writer, version, check); err != nil {
				return cli.Exit("roost "+handover.ProbeCommand+": "+err.Error(), 1)
			}
			return nil
		},
	})
}

// upgradeVerb is the upgrade verb, once connected.
func upgradeVerb(x *ctl) {
	st, err := x.client.Upgrade(x.ctx)
	if err != nil {
		x.println("ERROR: " + err.Error())
		x.status = exitGeneric
		return
	}
	x.println(upgradeLine(st))
}

// upgradeLine says how an upgrade went.
func upgradeLine(st api.ReexecInfo) string {
	return fmt.Sprintf("upgraded: roost %s -> %s, pid %d, %d running programs kept, unmanaged for %.1f ms",
		st.From, st.Version, st.PID, st.Programs, float64(st.Unmanaged))
}

// reexecOptions are `roost run`'s: the binary on disk and this command
// line, the control socket handed over.
func reexecOptions(srv func() *api.Server, from *handover.State) *supervisor.ReexecOptions {
	bin, err := os.Executable() // the path, even once the file was replaced
	if err != nil {
		return nil
	}
	return &supervisor.ReexecOptions{
		Binary: bin,
		Args:   os.Args,
		Socket: func() (string, int, int, func(), error) { return srv().HandOver() },
		From:   from,
	}
}

// listenOrInherit binds the control socket, or takes the one the previous
// image handed over.
func listenOrInherit(srv *api.Server, path string, from *handover.State) error {
	if from != nil && from.Socket != nil {
		if from.Socket.Path == path {
			return srv.Inherit(path, from.Socket.FD, from.Socket.Lock)
		}
		// Cannot happen with the same command line; never stop over it.
		handover.File(from.Socket.FD, "socket").Close()
		handover.File(from.Socket.Lock, "lock").Close()
	}
	return srv.Listen(path)
}
