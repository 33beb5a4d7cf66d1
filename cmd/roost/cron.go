package main

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"roost/supervisor/api"
)

// `roost cron list|run|log`: the supervisor's cron jobs.

const cronHelp = `The cron file is "cron" beside supervisord.conf (roost run --cron FILE
overrides it): a user crontab, read again whenever it is saved.

  # name: backup
  30 2 * * 1-5  ./bin/backup --quiet
  # Comments take whole lines. MAILTO is ignored: output goes to cron.log.
  TZ=Europe/Berlin
  # After a %, the rest is the job's input (each further % a newline):
  0 9 * * mon   ./bin/report%to the team%
  @every 5m     ./bin/poll
  @reboot       ./bin/warm-cache

Each job runs as your user, in the project directory, with /bin/sh -c
(SHELL= in the file changes that), in a process group of its own. A job
still running when its next time comes is not started again (the skip is
counted and logged). Its output goes to cron.log in the log directory
(childlogdir if set, ~/log under the master, else beside the main log
file), each line prefixed with the time and the job's name:

  2026-11-22 02:30:00 backup | dumped 3 tables

A job without a "# name:" comment is called line-N after its line.`

func init() {
	ctlCommand(&cli.Command{
		Name:        "cron",
		Usage:       "list the cron jobs, run one now, or show what they wrote",
		ArgsUsage:   "list|run|log",
		Description: cronHelp,
		Subcommands: []*cli.Command{
			{
				Name:      "list",
				Usage:     "show every job: schedule, next run, last run and its status, skips",
				ArgsUsage: " ",
				Description: "Examples:\n  roost cron list\n  roost cron list --json   # RFC 3339 times, for scripts\n\n" +
					"LAST STATUS is \"exit N (duration)\", \"running (pid N)\", how a signal\n" +
					"ended the run, or \"never\". SKIPPED counts the runs skipped because the\n" +
					"job was still running. When the cron file on disk is invalid, its\n" +
					"problems are printed first and the jobs shown are the last valid file's.",
				Flags:  append([]cli.Flag{&cli.BoolFlag{Name: "json", Usage: "print the cron file, its log and every job as JSON"}}, globalFlags()...),
				Action: cronListAction,
			},
			{
				Name:      "run",
				Usage:     "run jobs now, outside their schedule",
				ArgsUsage: "NAME [NAME...]",
				Description: "Examples:\n  roost cron run backup\n  roost cron run line-12\n\n" +
					"Prints \"NAME: started\" once the job runs (it is not waited for: see\n" +
					"roost cron list and roost cron log NAME). A job still running is not\n" +
					"started twice. Exit status: 0 when every job started, 1 otherwise.",
				Flags:  globalFlags(),
				Action: cronRunAction,
			},
			{
				Name:      "log",
				Usage:     "print the last lines a job wrote to cron.log, or follow them",
				ArgsUsage: "[-f] [-n LINES] [NAME]",
				Description: "Examples:\n  roost cron log backup         # its last 20 lines\n" +
					"  roost cron log -n 100 backup\n  roost cron log -f backup      # and every new one; Ctrl-C to exit\n" +
					"  roost cron log -f             # every job's\n\n" +
					"The lines keep their \"TIME NAME | \" prefixes.",
				Flags: append([]cli.Flag{
					&cli.BoolFlag{Name: "follow", Aliases: []string{"f"}, Usage: "print new lines as they come, until Ctrl-C"},
					&cli.IntFlag{Name: "lines", Aliases: []string{"n"}, Value: api.DefaultCronLogLines, Usage: "print the last `LINES` lines"},
				}, globalFlags()...),
				Action: cronLogAction,
			},
		},
		Action: func(c *cli.Context) error {
			if c.Args().Present() {
				return usageError(c, "*** Unknown syntax: cron "+strings.Join(c.Args().Slice(), " "),
					"cron list|run NAME|log [-f] NAME", exitInvalidArgs)
			}
			return cli.ShowSubcommandHelp(c)
		},
	})
}

// cronFailure prints what a cron verb's fault means for a job and sets
// the exit status.
func (x *ctl) cronFailure(name string, err error) {
	x.status = exitGeneric
	switch api.CodeOf(err) {
	case api.BadName:
		x.println(name + ": ERROR (no such job)")
	case api.AlreadyStarted:
		x.println(name + ": ERROR (already running)")
	case api.ShutdownState:
		x.println(name + ": ERROR (the supervisor is shutting down)")
	case api.UnknownMethod:
		x.println("ERROR: this supervisor runs no cron jobs (it is not roost, or too old)")
	default:
		x.fail(err)
	}
}

func cronListAction(c *cli.Context) error {
	x, err := connect(c, exitNotRunning)
	if err != nil {
		return err
	}
	info, err := x.client.Cron(x.ctx)
	if err != nil {
		x.cronFailure("cron", err)
		return x.done()
	}
	if c.Bool("json") || slices.Contains(c.Args().Slice(), "--json") {
		enc := json.NewEncoder(x.out)
		enc.SetIndent("", "  ")
		if err := enc.Encode(info); err != nil {
			x.fail(err)
		}
		return x.done()
	}
	writeCronList(x, info, time.Now())
	return x.done()
}

// writeCronList prints the jobs as a table, in the local zone.
func writeCronList(x *ctl, info api.CronInfo, now time.Time) {
	if info.Error != "" {
		x.println("The cron file on disk is not valid; the jobs below are the last valid file's:")
		for _, l := range strings.Split(info.Error, "\n") {
			x.println("  " + l)
		}
		x.println("")
	}
	if len(info.Jobs) == 0 {
		x.println("no cron jobs (cron file: " + info.File + ")")
		return
	}
	tw := tabwriter.NewWriter(x.out, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tSCHEDULE\tNEXT\tLAST RUN\tLAST STATUS\tSKIPPED")
	for _, j := range info.Jobs {
		next := "-"
		if !j.Next.IsZero() {
			next = j.Next.Local().Format(time.DateTime) + " (" + relTime(j.Next, now) + ")"
		}
		last := "never"
		if !j.LastStart.IsZero() {
			last = j.LastStart.Local().Format(time.DateTime) + " (" + relTime(j.LastStart, now) + ")"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\n", j.Name, oneLine(j.Schedule), next, last, oneLine(j.Status()), j.Skipped)
	}
	tw.Flush()
	x.println("log: " + info.Log)
}

// relTime says when t is from now, to one unit: "in 4m", "2h ago", "now".
func relTime(t, now time.Time) string {
	d := t.Sub(now)
	future := d >= 0
	if !future {
		d = -d
	}
	var s string
	switch {
	case d < time.Second:
		return "now"
	case d < time.Minute:
		s = strconv.Itoa(int(d/time.Second)) + "s"
	case d < time.Hour:
		s = strconv.Itoa(int(d/time.Minute)) + "m"
	case d < 48*time.Hour:
		s = strconv.Itoa(int(d/time.Hour)) + "h"
	default:
		s = strconv.Itoa(int(d/(24*time.Hour))) + "d"
	}
	if future {
		return "in " + s
	}
	return s + " ago"
}

func cronRunAction(c *cli.Context) error {
	args := names(c)
	if len(args) == 0 {
		return usageError(c, "Error: cron run requires a job name", "cron run NAME [NAME...]", exitInvalidArgs)
	}
	x, err := connect(c, exitNotRunning)
	if err != nil {
		return err
	}
	for _, name := range args {
		if err := x.client.RunCronJob(x.ctx, name); err != nil {
			x.cronFailure(name, err)
			continue
		}
		x.println(name + ": started")
	}
	return x.done()
}

func cronLogAction(c *cli.Context) error {
	// urfave stops parsing flags at the first argument: `cron log backup -f`
	// is read here.
	follow, lines := c.Bool("follow"), c.Int("lines")
	var args []string
	rest := names(c)
	for i := 0; i < len(rest); i++ {
		switch a := rest[i]; {
		case a == "-f" || a == "--follow":
			follow = true
		case (a == "-n" || a == "--lines") && i+1 < len(rest):
			i++
			n, err := strconv.Atoi(rest[i])
			if err != nil {
				return usageError(c, "Error: bad argument "+a+" "+rest[i], "cron log [-f] [-n LINES] [NAME]", exitInvalidArgs)
			}
			lines = n
		default:
			args = append(args, a)
		}
	}
	if len(args) > 1 || lines < 0 || lines > api.MaxCronLogLines {
		return usageError(c, "Error: bad arguments", "cron log [-f] [-n LINES] [NAME]", exitInvalidArgs)
	}
	name := ""
	if len(args) == 1 {
		name = args[0]
	}
	x, err := connect(c, exitNotRunning)
	if err != nil {
		return err
	}
	if follow {
		return x.followWith(func(ctx context.Context) error {
			return x.client.FollowCronLog(ctx, name, lines, x.out)
		}, func(err error) { x.cronFailure(name, err) })
	}
	data, err := x.client.CronLog(x.ctx, name, lines)
	if err != nil {
		x.cronFailure(name, err)
		return x.done()
	}
	x.out.Write(data)
	return x.done()
}
