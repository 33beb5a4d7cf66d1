package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/urfave/cli/v2"

	"roost/config"
	"roost/master"
)

// `roost master [-c /etc/roost/roost.toml]`: the root master. SIGTERM and
// SIGINT stop every user supervisor and exit; SIGHUP re-reads roost.toml;
// `roost admin reexec` (not a signal) re-executes it in place.
// `roost master --check` validates roost.toml and exits (0 valid, 1 not).

func init() {
	commands = append(commands, &cli.Command{
		Name:      "master",
		Usage:     "run the root master: one unprivileged supervisor per user listed in roost.toml",
		ArgsUsage: " ",
		Description: "The master starts `roost run --managed` for every user roost.toml names, as that\n" +
			"user, restarts it with backoff, and serves the admin socket {run_dir}/master.sock\n" +
			"(`roost admin`). SIGHUP or an edit of roost.toml reloads it; SIGTERM stops every\n" +
			"user supervisor (each stops its programs) and exits. `roost admin reexec` makes it\n" +
			"execute its binary again in place, keeping every supervisor; a master started while\n" +
			"supervisors of a killed one still run adopts them. Run it as root, e.g. from\n" +
			"systemd/roost.service.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "config", Aliases: []string{"c"}, Value: config.DefaultMasterFile, Usage: "roost.toml `FILE`"},
			&cli.BoolFlag{Name: "check", Usage: "validate roost.toml, print its errors, and exit"},
			&cli.StringFlag{Name: "loglevel", Value: "info", Usage: "`LEVEL` of the master's log on stderr: debug, info, warn, error"},
		},
		OnUsageError: func(_ *cli.Context, err error, _ bool) error {
			return cli.Exit("roost master: "+err.Error(), 2)
		},
		Action: masterCommand,
	})
}

func masterCommand(c *cli.Context) error {
	if c.NArg() > 0 {
		return cli.Exit(fmt.Sprintf("roost master: unexpected argument %q", c.Args().First()), 2)
	}
	file := c.String("config")
	if c.Bool("check") {
		cfg, err := master.CheckConfig(file)
		if err != nil {
			return cli.Exit(err.Error(), 1)
		}
		refused, warnings, err := master.CheckUsers(cfg)
		if err != nil {
			return cli.Exit("roost master --check: "+err.Error(), 1)
		}
		for _, w := range append(warnings, refused...) {
			fmt.Fprintln(c.App.Writer, w)
		}
		if len(refused) > 0 {
			return cli.Exit(fmt.Sprintf("%s: valid, but %d of its users get no supervisor (see above)", file, len(refused)), 1)
		}
		fmt.Fprintf(c.App.Writer, "%s: valid\n", file)
		return nil
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.String("loglevel"))); err != nil {
		return cli.Exit("roost master: --loglevel: "+err.Error(), 2)
	}
	log := slog.New(slog.NewTextHandler(c.App.ErrWriter, &slog.HandlerOptions{Level: level}))
	m, err := master.New(master.Options{
		ConfigFile: file,
		Logger:     log,
		Notify: func(state string) {
			if err := master.SDNotify(state); err != nil {
				log.Warn("sd_notify", "err", err)
			}
		},
	})
	if err != nil {
		var cerr *config.Error
		if errors.As(err, &cerr) {
			return cli.Exit("roost master: "+file+" is invalid:\n"+err.Error(), 1)
		}
		return cli.Exit("roost master: "+err.Error(), 1)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	defer signal.Stop(sigs)
	go func() {
		for sig := range sigs {
			if sig == syscall.SIGHUP {
				log.Info("SIGHUP: reloading roost.toml")
				go m.Reload(ctx) // the master logs the outcome
				continue
			}
			log.Info("stopping", "signal", sig.String())
			cancel()
		}
	}()
	if err := m.Run(ctx); err != nil {
		return cli.Exit("roost master: "+err.Error(), 1)
	}
	return nil
}
