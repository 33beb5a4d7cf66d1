// Command roost is a per-user process supervisor: a nested supervisord for
// hosts shared by several unix users. See DESIGN.md for the architecture.
//
// This is the only main package and the only place that calls os.Exit or
// signal.Notify. Each verb lives in its own file and registers itself in
// commands from an init function, so verbs can be added without touching this
// file.
package main

import (
	"errors"
	"fmt"
	"os"
	"sort"

	"github.com/urfave/cli/v2"
)

// version is roost's version, reported by `roost version` and the API.
var version = "0.1.0-dev"

// commands are the verbs; files add theirs in init.
var commands []*cli.Command

func newApp() *cli.App {
	sort.Slice(commands, func(i, j int) bool { return commands[i].Name < commands[j].Name })
	return &cli.App{
		Name:    "roost",
		Usage:   "a per-user process supervisor that speaks supervisord",
		Version: version,
		Description: "roost runs a project's supervisord.conf (and cron file) as its user.\n" +
			"`roost run -c supervisord.conf` is `supervisord -n -c supervisord.conf`;\n" +
			"the other verbs control a running supervisor like supervisorctl does.",
		Commands:             commands,
		EnableBashCompletion: true,
		// Errors are printed once, by main, with the exit code they carry.
		ExitErrHandler: func(*cli.Context, error) {},
	}
}

func main() {
	os.Exit(run(os.Args))
}

// run executes the command line and returns the process exit code.
func run(args []string) int {
	err := newApp().Run(args)
	if err == nil {
		return 0
	}
	var ec cli.ExitCoder
	if errors.As(err, &ec) {
		if msg := err.Error(); msg != "" {
			fmt.Fprintln(os.Stderr, msg)
		}
		return ec.ExitCode()
	}
	fmt.Fprintln(os.Stderr, "roost:", err)
	return 1
}
