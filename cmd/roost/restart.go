package main

import (
	"slices"
	"strings"

	"github.com/urfave/cli/v2"

	"roost/supervisor/api"
)

const restartHelp = "restart <name>\t\tRestart a process\n" +
	"restart <gname>:*\tRestart all processes in a group\n" +
	"restart <name> <name>\tRestart multiple processes or groups\n" +
	"restart all\t\tRestart all processes\n" +
	"Note: restart does not reread config files. For that, see reread and update."

func init() {
	ctlCommand(&cli.Command{
		Name:      "restart",
		Usage:     "stop, then start processes",
		ArgsUsage: "NAME|GROUP:*|all ...",
		Description: helpText(restartHelp) + "\n\nExamples:\n  roost restart web\n  roost restart all\n  roost restart --rolling web\n\n" +
			"With --rolling, the processes of each program or group named restart one at a\n" +
			"time: each is stopped, started, and must be RUNNING and ready (its [proxy:*]\n" +
			"health_path answers 2xx/3xx, or its PORT accepts connections) before the next\n" +
			"stops, so nginx always has a live process to send requests to; a numprocs=1\n" +
			"program behind [proxy:*] restarts blue-green: its new process starts on a spare\n" +
			"port, is routed once ready, and only then does the old one stop. The restart\n" +
			"stops at the first process that does not come back, leaving the rest running.\n" +
			"Without --rolling, a named process that is its program's only one, RUNNING\n" +
			"behind [proxy:*], restarts that way too (blue-green where the port block has a\n" +
			"spare port), so `roost restart web` drops no request; the real supervisorctl's\n" +
			"restart stays stop-then-start.\n\n" +
			"Exit status: as stop, then as start (7 when a process fails to start).",
		Flags:  []cli.Flag{&cli.BoolFlag{Name: "rolling", Usage: "restart one process at a time, each ready before the next"}},
		Action: restartAction,
	})
}

// restartAction is supervisorctl's do_restart: stop, then start, each
// printing its own lines.
func restartAction(c *cli.Context) error {
	x, err := connect(c, exitNotRunning)
	if err != nil {
		return err
	}
	args := names(c)
	rolling := c.Bool("rolling")
	if i := slices.Index(args, "--rolling"); i >= 0 { // after a name, urfave leaves it in the args
		rolling = true
		args = append(args[:i:i], args[i+1:]...)
	}
	if len(args) == 0 {
		return usageError(c, "Error: restart requires a process name", restartHelp, exitGeneric)
	}
	if rolling {
		if slices.Contains(args, "all") {
			return usageError(c, "Error: restart --rolling takes programs or groups, not all", restartHelp, exitInvalidArgs)
		}
		x.rolling(args)
		return x.done()
	}
	if all, err := x.restartTargets(args); err == nil {
		args = programNames(all, args)
		var bg []string
		args, bg = x.splitBlueGreen(all, args)
		if len(bg) > 0 {
			x.rolling(bg)
		}
		if len(args) == 0 {
			return x.done()
		}
	}
	x.stop(args)
	x.start(args)
	return x.done()
}

// restartTargets are the processes restart needs to know of to resolve
// args (program names, blue-green candidates): for a few exact process
// names one small request each, else the lean listing (names, groups and
// states are all this needs) — with 1000 programs, decoding the listing
// costs more than the restart itself.
func (x *ctl) restartTargets(args []string) ([]api.ProcessInfo, error) {
	if len(args) <= 3 {
		var out []api.ProcessInfo
		for _, a := range args {
			if a == "all" || strings.Contains(a, ":*") {
				out = nil
				break
			}
			in, err := x.client.Process(x.ctx, a)
			if err != nil { // a group's name, or none: the listing says which
				out = nil
				break
			}
			out = append(out, in)
		}
		if out != nil {
			return out, nil
		}
	}
	return x.client.ProcessesStatus(x.ctx)
}

// splitBlueGreen takes out of args the names of a RUNNING process that is
// its program's only one, behind a [proxy:*] of TCP upstreams: those
// restart as --rolling does, blue-green where the server has a spare port
// for it, so a restart drops no request (supervisorctl's restart, two
// calls, keeps stop-then-start).
//
// The routes are asked for only when a name is such a process: restarting
// anything else costs no round trip more than stop and start.
func (x *ctl) splitBlueGreen(all []api.ProcessInfo, args []string) (rest, bg []string) {
	if slices.Contains(args, "all") {
		return args, nil
	}
	// The names that are a RUNNING process alone in its program.
	single := map[string]string{} // name → its program
	for _, a := range args {
		var procs []api.ProcessInfo
		for _, in := range all {
			if in.Namespec() == a || in.Group+":*" == a {
				procs = append(procs, in)
			}
		}
		if len(procs) == 1 && procs[0].State == api.Running {
			single[a] = programOf(procs[0])
		}
	}
	if len(single) == 0 {
		return args, nil
	}
	px, err := x.client.Proxy(x.ctx)
	if err != nil {
		return args, nil
	}
	proxied := map[string]bool{}
	for _, r := range px.Routes {
		if r.Program != "" && len(r.Upstreams) > 0 && !strings.HasPrefix(r.Upstreams[0], "unix:") {
			proxied[r.Program] = true
		}
	}
	for _, a := range args {
		if prog, ok := single[a]; ok && proxied[prog] {
			bg = append(bg, a)
			continue
		}
		rest = append(rest, a)
	}
	return rest, bg
}

// rolling restarts each name one process at a time, printing a line per
// process restarted; the server stops a name at its first failure.
func (x *ctl) rolling(args []string) {
	for _, name := range args {
		res, err := x.client.RollingRestart(x.ctx, name)
		if err != nil {
			r, isFault := faultResult(name, err)
			if !isFault {
				x.fail(err)
				continue
			}
			x.println(startResult(r))
			x.setFromCode(r.Status, 0)
			continue
		}
		for _, r := range res {
			if r.Status == api.Success {
				x.println(api.MakeNamespec(r.Group, r.Name) + ": restarted")
				continue
			}
			x.println(api.MakeNamespec(r.Group, r.Name) + ": ERROR (" + r.Description + ")")
			x.setFromCode(r.Status, 0)
		}
	}
}

// programOf is the program a process of a numprocs=1 program belongs to:
// its group's name, or within a [group:x] its own (process_name's
// default). Another process_name only loses the blue-green restart.
func programOf(in api.ProcessInfo) string {
	if in.Name == in.Group {
		return in.Group
	}
	return in.Name
}
