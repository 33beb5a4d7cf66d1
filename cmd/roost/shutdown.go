package main

import (
	"errors"
	"syscall"

	"github.com/urfave/cli/v2"

	"roost/supervisor/api"
)

const shutdownHelp = "shutdown \tShut the remote supervisord down."

func init() {
	ctlCommand(&cli.Command{
		Name:      "shutdown",
		Usage:     "stop every process (in reverse priority order), then the supervisor",
		ArgsUsage: " ",
		Description: helpText(shutdownHelp) + "\n\nExample:\n  roost shutdown\n\n" +
			"It returns once the shutdown is under way; the supervisor exits when\n" +
			"every process has stopped.",
		Action: shutdownAction,
	})
}

func shutdownAction(c *cli.Context) error {
	if c.Args().Present() {
		return usageError(c, "Error: shutdown accepts no arguments", shutdownHelp, exitGeneric)
	}
	x, err := dialServer(c)
	if x == nil {
		return err
	}
	if err == nil {
		err = x.client.Shutdown(x.ctx)
	}
	switch {
	case err == nil:
		x.println("Shut down")
	case api.CodeOf(err) == api.ShutdownState:
		x.println("ERROR: already shutting down")
	case errors.Is(err, syscall.ECONNREFUSED):
		x.println("ERROR: " + x.srv.url() + " refused connection (already shut down?)")
		x.status = exitGeneric
	case errors.Is(err, syscall.ENOENT):
		x.println("ERROR: " + x.srv.url() + " no such file (already shut down?)")
		x.status = exitGeneric
	default:
		x.fail(err)
		if x.status == exitNotRunning || x.status == exitPrivileges {
			x.status = exitGeneric
		}
	}
	return x.done()
}
