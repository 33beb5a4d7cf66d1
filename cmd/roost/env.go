package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"roost/supervisor/api"
)

// `roost env [--shell]` and `roost ports`: what the roost master gave the
// user's supervisor (PORT, ROOST_PORT_BASE, ROOST_PORT_COUNT), so a login
// shell can have it (eval "$(roost env --shell)") and a user can see which
// port each routed program listens on.

func init() {
	ctlCommand(&cli.Command{
		Name:      "env",
		Usage:     "print the variables the roost master gives your supervisor (PORT, ROOST_PORT_BASE, ROOST_PORT_COUNT)",
		ArgsUsage: " ",
		Description: "Examples:\n  roost env\n  eval \"$(roost env --shell)\"    # in ~/.profile: your shell gets your ports\n\n" +
			"Exit status: 0, 1 when the supervisor does not say (not run by a master).",
		Flags:       []cli.Flag{&cli.BoolFlag{Name: "shell", Usage: "print export lines for sh"}},
		Action:      envAction,
		Subcommands: envSubcommands(),
	})
	ctlCommand(&cli.Command{
		Name:        "ports",
		Usage:       "show your port block and the ports of the programs your [proxy:NAME] sections route",
		ArgsUsage:   " ",
		Description: "Example:\n  roost ports",
		Action:      portsAction,
	})
}

// connectEnv connects and asks the supervisor for the variables the
// master gave it. A nil ctl comes with the verb's exit error.
func connectEnv(c *cli.Context) (*ctl, map[string]string, error) {
	x, err := connect(c, exitNotRunning)
	if err != nil {
		return nil, nil, err
	}
	st, err := x.client.ConfigState(x.ctx)
	if err != nil {
		x.fail(err)
		return nil, nil, x.done()
	}
	return x, st.Env, nil
}

func envAction(c *cli.Context) error {
	x, env, err := connectEnv(c)
	if x == nil {
		return err
	}
	if len(env) == 0 {
		x.println("this supervisor has no PORT from a roost master (it was not started by one)")
		return cli.Exit("", exitGeneric)
	}
	for _, k := range api.MasterEnv {
		v, ok := env[k]
		if !ok || strings.ContainsAny(v, "'\n\x00") {
			continue
		}
		if c.Bool("shell") {
			x.println("export " + k + "='" + v + "'")
		} else {
			x.println(k + "=" + v)
		}
	}
	return x.done()
}

func portsAction(c *cli.Context) error {
	x, env, err := connectEnv(c)
	if x == nil {
		return err
	}
	if base, count := env["ROOST_PORT_BASE"], env["ROOST_PORT_COUNT"]; base != "" && count != "" {
		var b, n int
		if _, err := fmt.Sscan(base, &b); err == nil {
			if _, err := fmt.Sscan(count, &n); err == nil && n > 0 {
				x.println(fmt.Sprintf("block  %d-%d (PORT=%s)", b, b+n-1, env["PORT"]))
			}
		}
	} else if p := env["PORT"]; p != "" {
		x.println("PORT=" + p)
	} else {
		x.println("no port block: this supervisor was not started by a roost master")
	}
	info, err := x.client.Proxy(x.ctx)
	if err != nil {
		if api.CodeOf(err) != api.UnknownMethod {
			x.fail(err)
		}
		return x.done()
	}
	for _, r := range info.Routes {
		x.println(fmt.Sprintf("%-6s %s (program %s): %s", "route", r.Section, r.Program, strings.Join(r.Upstreams, " ")))
	}
	return x.done()
}

// managedProject asks the user's own supervisor, when the roost master runs
// one for them (its socket is under the master's run directory, or sock), for its
// configuration file and the variables the master gave it. It returns ""
// when there is none.
// sock, when set (-s, $ROOST_SOCKET), names the supervisor's socket.
func managedProject(sock string) (string, []string) {
	if sock == "" {
		sock = os.Getenv("ROOST_SOCKET")
	}
	if p, err := socketArg(sock); err == nil {
		sock = p
	}
	if sock == "" {
		sock = api.DefaultSocket()
		if !strings.HasPrefix(filepath.Clean(sock), api.RunDir+"/") {
			return "", nil
		}
	}
	c, err := api.Dial(sock)
	if err != nil {
		return "", nil
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, err := c.ConfigState(ctx)
	if err != nil {
		return "", nil
	}
	var env []string
	for _, k := range api.MasterEnv {
		if v, ok := st.Env[k]; ok {
			env = append(env, k+"="+v)
		}
	}
	return st.File, env
}

// checkEnv is the environment `roost check` expands %(ENV_X)s from: the
// master's PORT and ROOST_PORT_* first (the loader keeps the first value),
// then the caller's.
func checkEnv(master []string) []string {
	if len(master) == 0 {
		return nil // os.Environ()
	}
	return append(append([]string{}, master...), os.Environ()...)
}
