package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/urfave/cli/v2"

	"roost/deploy"
)

// `roost exec [-s SOCKET] -- CMD [ARG…]`: a one-off command (a migration,
// a console) in your project's directory (the current release), with the
// PORT and ROOST_PORT_* your supervisor got from the master, as `heroku
// run` and `piku run` do. It replaces roost (exec), so its exit status is
// the command's.

func init() {
	commands = append(commands, &cli.Command{
		Name:      "exec",
		Usage:     "run a one-off command in your project (the current release) with your programs' PORT and ROOST_PORT_*",
		ArgsUsage: "-- CMD [ARG...]",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "socket", Aliases: []string{"s"}, Usage: "your supervisor's socket `PATH` (default: $ROOST_SOCKET, else the one the roost master made)"},
		},
		Action: execCommand,
	})
}

func execCommand(c *cli.Context) error {
	if c.NArg() == 0 {
		return cli.Exit("roost exec: give the command after --, e.g. roost exec -- ./manage.py migrate", 2)
	}
	file, env := managedProject(c.String("socket"))
	if file == "" {
		return cli.Exit("roost exec: no supervisor of yours answers (is the roost master running it?): nothing tells where your project is", 1)
	}
	if err := os.Chdir(filepath.Dir(file)); err != nil {
		return cli.Exit("roost exec: "+err.Error(), 1)
	}
	// The project's local/ (PERL5LIB, local/bin first on PATH), as the
	// programs have it.
	for _, kv := range deploy.LocalEnv(filepath.Dir(file), os.Getenv) {
		k, v, _ := strings.Cut(kv, "=")
		os.Setenv(k, v)
	}
	// A bare name is looked up in PATH; ./manage.py or bin/console is the
	// project's own, relative to its directory.
	path, err := exec.LookPath(c.Args().First())
	if err != nil {
		return cli.Exit(fmt.Sprintf("roost exec: %v", err), 127)
	}
	// The master's variables first: a program's getenv finds the first.
	err = syscall.Exec(path, c.Args().Slice(), append(env, os.Environ()...))
	return cli.Exit(fmt.Sprintf("roost exec: %s: %v", c.Args().First(), err), 127)
}
