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
		Action: noArgsAction("version", versionHelp, versionVerb),
	})
}

// versionVerb is the version verb, once connected.
func versionVerb(x *ctl) {
	v, err := x.client.Version(x.ctx)
	if err != nil {
		x.fail(err)
		return
	}
	x.println(v)
}
