package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"github.com/urfave/cli/v2"

	"roost/supervisor/api"
)

const tailHelp = "tail [-f] <name> [stdout|stderr] (default stdout)\n" +
	"Ex:\n" +
	"tail -f <name>\t\tContinuous tail of named process stdout\n" +
	"\t\t\tCtrl-C to exit.\n" +
	"tail -100 <name>\tlast 100 *bytes* of process stdout\n" +
	"tail <name> stderr\tlast 1600 *bytes* of process stderr"

func init() {
	ctlCommand(&cli.Command{
		Name:      "tail",
		Usage:     "print the end of a process log, or follow it",
		ArgsUsage: "[-f] [-BYTES | -n LINES] NAME [stdout|stderr]",
		Description: helpText(tailHelp+"\n"+
			"tail -n 20 <name>\tlast 20 lines of process stdout (roost)\n"+
			"tail -f -n 0 <name>\tonly what comes from now on (roost)") + "\n\n" +
			"Global flags (-s, -c, ...) go before the verb here: roost -s SOCK tail -f web",
		SkipFlagParsing: true,
		Action:          tailAction,
	})
}

// tailArgs is a parsed tail command line.
type tailArgs struct {
	follow  bool
	bytes   int64 // -BYTES: 1600 by default, as supervisorctl
	lines   int   // -n LINES; -1 when not given
	name    string
	channel api.Stream
}

// parseTail reads supervisorctl's tail syntax plus roost's -n LINES. On a
// bad command line it returns the message supervisorctl prints, and whether
// the help follows it.
func parseTail(args []string) (tailArgs, string, bool) {
	t := tailArgs{bytes: 1600, lines: -1}
	var pos []string
	var words []string
	for _, a := range args {
		words = append(words, strings.Fields(a)...)
	}
	if len(words) == 0 {
		return t, "Error: too few arguments", true
	}
	for i := 0; i < len(words); i++ {
		a := words[i]
		switch {
		case a == "-f" || a == "--follow":
			t.follow = true
		case a == "-n" || a == "--lines":
			if i+1 == len(words) {
				return t, "Error: " + a + " needs a number of lines", true
			}
			i++
			n, err := strconv.Atoi(words[i])
			if err != nil || n < 0 {
				return t, "Error: bad argument " + a + " " + words[i], false
			}
			t.lines = n
		case strings.HasPrefix(a, "--lines="), strings.HasPrefix(a, "-n") && len(a) > 2:
			v := strings.TrimPrefix(strings.TrimPrefix(a, "--lines="), "-n")
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				return t, "Error: bad argument " + a, false
			}
			t.lines = n
		case strings.HasPrefix(a, "-") && len(a) > 1:
			n, err := strconv.ParseInt(a[1:], 10, 64)
			if err != nil || n < 0 {
				return t, "Error: bad argument " + a, false
			}
			t.bytes = n
		default:
			pos = append(pos, a)
		}
	}
	switch len(pos) {
	case 0:
		return t, "Error: tail requires process name", false
	case 1:
		t.name, t.channel = pos[0], api.Stdout
	case 2:
		t.name = pos[0]
		ch := strings.ToLower(pos[1])
		if ch != "stdout" && ch != "stderr" {
			return t, "Error: bad channel " + pyRepr(ch), false
		}
		t.channel = api.Stream(ch)
	default:
		return t, "Error: too many arguments", true
	}
	return t, "", false
}

// pyRepr quotes s as Python's repr does for simple strings.
func pyRepr(s string) string {
	if strings.Contains(s, "'") && !strings.Contains(s, `"`) {
		return `"` + s + `"`
	}
	return "'" + strings.ReplaceAll(s, "'", `\'`) + "'"
}

func tailAction(c *cli.Context) error {
	for _, a := range c.Args().Slice() {
		if a == "-h" || a == "--help" {
			return cli.ShowCommandHelp(c.Lineage()[1], "tail")
		}
	}
	x, err := connect(c, exitNotRunning)
	if err != nil {
		return err
	}
	t, msg, help := parseTail(c.Args().Slice())
	if msg != "" {
		x.println(msg)
		if help {
			x.println(tailHelp)
		}
		return cli.Exit("", exitGeneric)
	}
	// A program's name stands for all its processes (numprocs), as in
	// `roost restart --rolling web`; supervisorctl says "no such process name".
	if procs := x.programProcesses(t.name); len(procs) > 1 {
		n := t.lines
		if n < 0 {
			n = 10
		}
		return x.showLogs(procs, &t.channel, n, t.follow)
	} else if len(procs) == 1 {
		t.name = procs[0].Namespec()
	}
	if t.follow {
		return x.follow(func(ctx context.Context) error {
			tail := int64(1024) // what supervisord's /logtail starts with
			if t.lines >= 0 {
				last, err := x.client.LastLines(ctx, t.name, t.channel, t.lines)
				if err != nil {
					return err
				}
				tail = int64(len(last))
			}
			return x.client.FollowLog(ctx, t.name, t.channel, tail, x.out)
		}, t.name)
	}
	if t.lines >= 0 {
		data, err := x.client.LastLines(x.ctx, t.name, t.channel, t.lines)
		if err != nil {
			x.logError(t.name, err)
			return x.done()
		}
		x.out.Write(data)
		return x.done()
	}
	data, err := x.client.ReadLog(x.ctx, t.name, t.channel, -t.bytes, 0)
	if err != nil {
		x.logError(t.name, err)
		return x.done()
	}
	x.println(string(data))
	return x.done()
}

// logError prints supervisorctl's messages for a failed log read.
func (x *ctl) logError(name string, err error) {
	x.status = exitGeneric
	switch api.CodeOf(err) {
	case api.NoFile:
		x.println(name + ": ERROR (no log file)")
	case api.Failed:
		x.println(name + ": ERROR (unknown error reading log)")
	case api.BadName:
		x.println(name + ": ERROR (no such process name)")
	default:
		x.fail(err)
	}
}

// follow prints supervisorctl's banner and runs stream until it ends or
// the user presses Ctrl-C (then a newline, and exit 0, as supervisorctl).
func (x *ctl) follow(stream func(context.Context) error, name string) error {
	return x.followWith(stream, func(err error) { x.logError(name, err) })
}

// followWith is follow with the caller's report of a failed stream.
func (x *ctl) followWith(stream func(context.Context) error, failed func(error)) error {
	x.println("==> Press Ctrl-C to exit <==")
	ctx, stop := signal.NotifyContext(x.ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := stream(ctx)
	if ctx.Err() != nil {
		fmt.Fprintln(x.out)
		return nil
	}
	if err != nil {
		failed(err)
	}
	return x.done()
}
