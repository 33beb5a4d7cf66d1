package main

import (
	"context"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"
)

const maintailHelp = "maintail -f \tContinuous tail of supervisor main log file (Ctrl-C to exit)\n" +
	"maintail -100\tlast 100 *bytes* of supervisord main log file\n" +
	"maintail\tlast 1600 *bytes* of supervisor main log file\n"

func init() {
	ctlCommand(&cli.Command{
		Name:            "maintail",
		Usage:           "print the end of the supervisor's main log, or follow it",
		ArgsUsage:       "[-f|-BYTES]",
		Description:     helpText(maintailHelp) + "\nGlobal flags (-s, -c, ...) go before the verb here: roost -s SOCK maintail -f",
		SkipFlagParsing: true,
		Action:          maintailAction,
	})
}

func maintailAction(c *cli.Context) error {
	var args []string
	for _, a := range c.Args().Slice() {
		if a == "-h" || a == "--help" {
			return cli.ShowCommandHelp(c.Lineage()[1], "maintail")
		}
		args = append(args, strings.Fields(a)...)
	}
	x, err := connect(c, exitNotRunning)
	if err != nil {
		return err
	}
	bytes := int64(1600)
	switch {
	case len(args) > 1:
		x.println("Error: too many arguments")
		x.println(maintailHelp)
		return cli.Exit("", exitGeneric)
	case len(args) == 1 && args[0] == "-f":
		return x.follow(func(ctx context.Context) error {
			return x.client.FollowMainLog(ctx, 1024, x.out)
		}, "supervisord")
	case len(args) == 1:
		n, err := strconv.ParseInt(strings.TrimPrefix(args[0], "-"), 10, 64)
		if !strings.HasPrefix(args[0], "-") || err != nil {
			x.println("Error: bad argument " + args[0])
			return cli.Exit("", exitGeneric)
		}
		bytes = n
	}
	data, err := x.client.ReadMainLog(x.ctx, -bytes, 0)
	if err != nil {
		x.logError("supervisord", err)
		return x.done()
	}
	x.println(string(data))
	return x.done()
}
