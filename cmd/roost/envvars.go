package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/urfave/cli/v2"

	"roost/audit"
	"roost/deploy"
)

// `roost env set KEY=VALUE…`, `roost env unset KEY…`, `roost env list
// [--show]`: the user's configuration variables (deploy.EnvFile, 0600),
// given to every program and build; set and unset restart the programs one
// process at a time so they get them.

// envSubcommands are roost env's subcommands.
func envSubcommands() []*cli.Command {
	return []*cli.Command{
		{Name: "set", Usage: "set variables for every program and build, and restart the programs one process at a time",
			ArgsUsage: "KEY=VALUE...", Flags: globalFlags(), Action: envSet},
		{Name: "unset", Usage: "remove variables, and restart the programs one process at a time",
			ArgsUsage: "KEY...", Flags: globalFlags(), Action: envSet},
		{Name: "list", Usage: "list your variables, values masked", ArgsUsage: " ",
			Flags: []cli.Flag{&cli.BoolFlag{Name: "show", Usage: "print the values"}}, Action: envList},
	}
}

// readEnvFile returns the user's variables file and what it holds: the
// file the user's supervisor reads (its ROOST_CONFIG_DIR, adopted by
// quietSupervisor).
func readEnvFile(c *cli.Context) (string, []deploy.EnvVar, error) {
	if !dirsAsked {
		if x, _ := quietSupervisor(c); x != nil {
			x.client.Close()
		}
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", nil, cli.Exit("roost env: "+err.Error(), 1)
	}
	file := deploy.EnvFile(home)
	vars, err := deploy.ReadEnv(file)
	if err != nil {
		return "", nil, cli.Exit("roost env: "+err.Error(), 1)
	}
	return file, vars, nil
}

// envSet is set and unset: validate every argument, write the file, then
// have the supervisor load it and restart the programs.
func envSet(c *cli.Context) error {
	verb := c.Command.Name
	if c.NArg() == 0 {
		return cli.Exit(fmt.Sprintf("roost env %s: give %s", verb, c.Command.ArgsUsage), exitInvalidArgs)
	}
	var changes []envChange
	for _, a := range c.Args().Slice() {
		k, v, ok := strings.Cut(a, "=")
		if verb == "set" && !ok {
			return cli.Exit(fmt.Sprintf("roost env set: %.40q is not KEY=VALUE", a), exitInvalidArgs)
		}
		if verb == "unset" && ok {
			return cli.Exit(fmt.Sprintf("roost env unset: give the KEY only, not %.40q", a), exitInvalidArgs)
		}
		if err := deploy.ValidateEnvKey(k); err != nil {
			return cli.Exit(fmt.Sprintf("roost env %s: %v", verb, err), exitInvalidArgs)
		}
		ch := envChange{key: k}
		if verb == "set" {
			ch.value = &v
		}
		changes = append(changes, ch)
	}
	return changeEnv(c, changes, nil)
}

// envChange is one variable to set (value) or remove (nil value).
type envChange struct {
	key   string
	value *string
}

// changeEnv writes the changes to the user's variables file, then has the
// supervisor load it and restart the programs one process at a time
// (deploy.RestartExcept; the groups skip names are left running). The keys
// are valid (deploy.ValidateEnvKey). `roost env set|unset` and `roost
// service add|remove` share it.
func changeEnv(c *cli.Context, changes []envChange, skip func(string) bool) error {
	if err := writeEnv(c, changes); err != nil {
		return err
	}
	x, err := connect(c, exitNotRunning)
	if x == nil {
		fmt.Fprintln(c.App.ErrWriter, "your programs get them when your supervisor starts them")
		return err
	}
	defer x.client.Close()
	err = deploy.RestartExcept(x.ctx, x.client.Path(), c.App.Writer, skip)
	front, request := envAuditRequest(c, changes)
	auditNote(x.ctx, x.client, front, request, err)
	if err != nil {
		return cli.Exit("roost env: restart: "+err.Error(), 1)
	}
	return nil
}

// envAuditRequest names a change of the variables for the audit log:
// "env set KEY…" (never a value), or the service verb that made it.
func envAuditRequest(c *cli.Context, changes []envChange) (front, request string) {
	if l := c.Lineage(); len(l) > 1 && l[1].Command != nil && l[1].Command.Name == "service" {
		return audit.FrontService, "service " + c.Command.Name + " " + strings.Join(c.Args().Slice(), " ")
	}
	keys := make([]string, len(changes))
	for i, ch := range changes {
		keys[i] = ch.key
	}
	return audit.FrontEnv, "env " + c.Command.Name + " " + strings.Join(keys, " ")
}

// writeEnv writes the changes to the user's variables file.
func writeEnv(c *cli.Context, changes []envChange) error {
	file, vars, err := readEnvFile(c)
	if err != nil {
		return err
	}
	var set, removed []string
	for _, ch := range changes {
		vars = deploy.SetEnv(vars, ch.key, ch.value)
		if ch.value != nil {
			set = append(set, ch.key)
		} else {
			removed = append(removed, ch.key)
		}
	}
	if err := deploy.WriteEnv(file, vars); err != nil {
		return cli.Exit("roost env: "+err.Error(), 1)
	}
	if len(set) > 0 {
		fmt.Fprintf(c.App.Writer, "set %s in %s\n", strings.Join(set, ", "), file)
	}
	if len(removed) > 0 {
		fmt.Fprintf(c.App.Writer, "removed %s in %s\n", strings.Join(removed, ", "), file)
	}
	return nil
}

func envList(c *cli.Context) error {
	_, vars, err := readEnvFile(c)
	if err != nil {
		return err
	}
	for _, v := range vars {
		val := "********"
		if c.Bool("show") {
			val = v.Value
		}
		fmt.Fprintf(c.App.Writer, "%s=%s\n", v.Key, val)
	}
	return nil
}
