package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"unicode/utf8"

	"github.com/urfave/cli/v2"

	"roost/supervisor/api"
)

const statusHelp = "status <name>\t\tGet status for a single process\n" +
	"status <gname>:*\tGet status for all processes in a group\n" +
	"status <name> <name>\tGet status for multiple named processes\n" +
	"status\t\t\tGet all process status info"

func init() {
	ctlCommand(&cli.Command{
		Name:      "status",
		Usage:     "show the state of processes, as supervisorctl status does",
		ArgsUsage: "[NAME|GROUP:*|all ...]",
		Description: helpText(statusHelp) + "\n\nExamples:\n  roost status\n  roost status web 'workers:*'\n  roost status --json\n\n" +
			"Exit status: 0 when every process shown is running, 3 when one is not\n" +
			"(STOPPED, EXITED, FATAL), 4 for an unknown name or no supervisor.",
		Flags:  []cli.Flag{&cli.BoolFlag{Name: "json", Usage: "print the processes' info as a JSON array"}},
		Action: statusAction,
	})
}

func statusAction(c *cli.Context) error {
	x, err := connect(c, exitStatusUnknown)
	if err != nil {
		return err
	}
	fetch := x.client.ProcessesStatus // the table's fields only
	if c.Bool("json") || slices.Contains(c.Args().Slice(), "--json") {
		fetch = x.client.ProcessesWithUsage
	}
	all, err := fetch(x.ctx)
	if err != nil {
		x.fail(err)
		return x.done()
	}
	args := names(c)
	// `roost status web --json`: urfave stops parsing flags at the first name.
	jsonOut := c.Bool("json")
	if i := slices.Index(args, "--json"); i >= 0 {
		jsonOut = true
		args = append(args[:i:i], args[i+1:]...)
	}
	matching := selectProcesses(x, all, args, exitStatusUnknown, false)
	if jsonOut {
		if matching == nil {
			matching = []api.ProcessInfo{}
		}
		enc := json.NewEncoder(x.out)
		enc.SetIndent("", "  ")
		if err := enc.Encode(matching); err != nil {
			return fmt.Errorf("status: %w", err)
		}
	} else {
		writeStatus(x.out, matching)
	}
	for _, in := range matching {
		if in.State.IsStopped() {
			x.status = exitStatusDead
		}
	}
	return x.done()
}

// writeStatus prints supervisorctl's status lines: the namespec padded to
// the longest one (at least 30) plus 3, the state padded to 10, the
// description. The listing goes out in one write, not one per line: a
// system call and a wakeup of the reader per process.
func writeStatus(w io.Writer, infos []api.ProcessInfo) {
	width := 30
	for _, in := range infos {
		width = max(width, utf8.RuneCountInString(in.Namespec()))
	}
	bw := bufio.NewWriterSize(w, 64<<10)
	for _, in := range infos {
		fmt.Fprintf(bw, "%-*s%-10s%s\n", width+3, in.Namespec(), in.StateName, in.Description)
	}
	_ = bw.Flush() // as the unbuffered writes before: a closed stdout is not an error here
}
