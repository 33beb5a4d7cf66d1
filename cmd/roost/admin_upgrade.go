package main

import (
	"context"
	"fmt"
	"time"

	"github.com/urfave/cli/v2"

	"roost/config"
)

// adminUpgradeTimeout bounds `roost admin upgrade` for each user.
const adminUpgradeTimeout = 45 * time.Second

func adminUpgradeCommand() *cli.Command {
	return &cli.Command{
		Name:      "upgrade",
		Usage:     "re-execute users' supervisors in place (the binary on disk now), keeping their programs running",
		ArgsUsage: "USER | --all",
		Description: "Examples:\n  roost admin upgrade --all\n  roost admin upgrade alice\n\n" +
			"After installing a new roost, each user's supervisor executes it again under\n" +
			"the same pid, one user at a time: programs keep their pids, output pipes,\n" +
			"states and timers (see `roost upgrade --help`). A supervisor whose probe of\n" +
			"the new binary fails goes on as it was, and the failure is printed.\n" +
			"Not `roost admin restart USER`, which restarts the user's programs.\n\n" +
			"Exit status 1 when any user's upgrade failed.",
		Flags:  []cli.Flag{&cli.BoolFlag{Name: "all", Usage: "every running user's supervisor"}},
		Action: adminUpgrade,
	}
}

func adminUpgrade(c *cli.Context) error {
	var users []string
	switch {
	case c.Bool("all") && c.NArg() == 0:
	case !c.Bool("all") && c.NArg() == 1:
		users = []string{c.Args().First()}
		if err := config.ValidateUserName(users[0]); err != nil {
			return cli.Exit("roost admin upgrade: "+err.Error(), 2)
		}
	default:
		return cli.Exit("roost admin upgrade: give one USER, or --all", 2)
	}
	cl, _, done, err := dialMaster(c, "upgrade")
	if err != nil {
		return err
	}
	defer done()
	n := 1
	if users == nil {
		if all, err := cl.Users(context.Background()); err == nil {
			n = max(1, len(all))
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(n)*adminUpgradeTimeout)
	defer cancel()
	res, err := cl.Upgrade(ctx, users)
	if err != nil {
		return cli.Exit("roost admin upgrade: "+err.Error(), 1)
	}
	failed := 0
	for _, r := range res {
		if r.Error != "" {
			failed++
			fmt.Fprintf(c.App.Writer, "%s: ERROR %s\n", r.User, r.Error)
			continue
		}
		fmt.Fprintf(c.App.Writer, "%s: upgraded roost %s -> %s, pid %d, %d running programs kept, unmanaged for %.1f ms\n",
			r.User, r.From, r.To, r.PID, r.Programs, r.UnmanagedMS)
	}
	if failed > 0 {
		return cli.Exit(fmt.Sprintf("roost admin upgrade: %d of %d failed", failed, len(res)), 1)
	}
	return nil
}
