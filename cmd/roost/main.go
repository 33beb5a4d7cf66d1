// Command roost is a per-user process supervisor: a nested supervisord for
// hosts shared by several unix users. See DESIGN.md for the architecture.
//
// This is the only main package and the only place that calls os.Exit or
// signal.Notify. Each verb lives in its own file and registers itself in
// commands from an init function, so verbs can be added without touching this
// file.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"sort"
	"strings"

	"github.com/urfave/cli/v2"

	"roost/internal/mainthread"
	"roost/internal/termsafe"
)

// version is roost's version, reported by `roost version` and the API.
var version = "0.1.0-dev"

// commands are the verbs; files add theirs in init.
var commands []*cli.Command

func newApp(stdout, stderr io.Writer) *cli.App {
	sort.Slice(commands, func(i, j int) bool { return commands[i].Name < commands[j].Name })
	return &cli.App{
		Name:    "roost",
		Usage:   "a per-user process supervisor that speaks supervisord",
		Version: version,
		Description: "roost runs a project's supervisord.conf (and cron file) as its user.\n" +
			"`roost run -c supervisord.conf` is `supervisord -n -c supervisord.conf`;\n" +
			"the other verbs control a running supervisor like supervisorctl does.\n\n" +
			socketHelp,
		Commands:             commands,
		Flags:                globalFlags(),
		EnableBashCompletion: true,
		Writer:               stdout,
		ErrWriter:            stderr,
		// Without a verb: help. With an unknown one: supervisorctl's answer
		// and exit status.
		Action: func(c *cli.Context) error {
			if !c.Args().Present() {
				return cli.ShowAppHelp(c)
			}
			fmt.Fprintf(c.App.Writer, "*** Unknown syntax: %s\n", strings.Join(c.Args().Slice(), " "))
			return cli.Exit("", 1)
		},
		// Errors are printed once, by run, with the exit code they carry.
		ExitErrHandler: func(*cli.Context, error) {},
	}
}

// The main goroutine stays on the main thread, which forks every program
// of `roost run` and execs its upgrades (internal/mainthread).
func init() { runtime.LockOSThread() }

func main() {
	os.Exit(mainthread.Serve(func() int { return run(os.Args, os.Stdout, os.Stderr) }))
}

// run executes the command line and returns the process exit code.
func run(args []string, stdout, stderr io.Writer) int {
	return runContext(context.Background(), args, stdout, stderr)
}

// runContext is run with a context the verbs' requests and streams end with.
// Everything any verb prints passes through termsafe: a server's answers
// (names, descriptions, log lines, errors) are its user's words, and must
// not drive the reader's terminal (SECURITY.md).
func runContext(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	stdout, stderr = termsafe.NewWriter(stdout), termsafe.NewWriter(stderr)
	err := newApp(stdout, stderr).RunContext(ctx, args)
	if err == nil {
		return 0
	}
	var ec cli.ExitCoder
	if errors.As(err, &ec) {
		if msg := err.Error(); msg != "" {
			fmt.Fprintln(stderr, msg)
		}
		return ec.ExitCode()
	}
	fmt.Fprintln(stderr, "roost:", err)
	return 1
}
