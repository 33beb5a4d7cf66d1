package main

import (
	"github.com/urfave/cli/v2"
)

const versionHelp = "version\t\t\tShow the version of the remote supervisord process"

func init() {
	ctlCommand(&cli.Command{
		Name:      "version",
		Usage:     "print the running supervisor's roost version",
		ArgsUsage: " ",
		Description: helpText(versionHelp) + "\n\nExample:\n  roost version\n\n" +
			"This is the version of the roost serving the socket; `roost --version`\n" +
			"prints this binary's.",
		Action: versionAction,
	})
}

func versionAction(c *cli.Context) error {
	if c.Args().Present() {
		return usageError(c, "Error: version accepts no arguments", versionHelp, exitGeneric)
	}
	x, err := connect(c, exitNotRunning)
	if err != nil {
		return err
	}
	v, err := x.client.Version(x.ctx)
	if err != nil {
		x.fail(err)
		return x.done()
	}
	x.println(v)
	return x.done()
}
