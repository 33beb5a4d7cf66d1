package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"roost/config"
	"roost/health"
)

// `roost check [-c FILE] [--json]`: parse and validate a configuration the
// way `roost run` would, print every error and warning as
// "file:line: [section] key: message", then the processes it resolves to.
// Exit 0 when the file is usable (warnings allowed), 1 when it is not, 2 for
// a usage error (bad flags, no configuration found).

func init() {
	commands = append(commands, &cli.Command{
		Name:      "check",
		Usage:     "parse and validate a supervisord.conf and its cron file; print file:line errors, the processes and the cron jobs",
		ArgsUsage: " ",
		Description: "With no -c, the configuration is your project's when a roost master runs\n" +
			"your supervisor (checked with the PORT and ROOST_PORT_* it gets), else it is\n" +
			"found like supervisorctl finds it:\n" +
			"./supervisord.conf, ./etc/supervisord.conf, /etc/supervisord.conf,\n" +
			"/etc/supervisor/supervisord.conf. The cron file is cron beside it (or\n" +
			"--cron FILE); its problems print as cron:LINE: message. Exit status: 0 valid\n" +
			"(warnings allowed), 1 invalid (the configuration or the cron file), 2 usage error.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "configuration", Aliases: []string{"c"}, Usage: "the configuration `FILE`"},
			&cli.StringFlag{Name: "cron", Usage: "the cron `FILE` (default: cron beside the configuration)"},
			&cli.StringFlag{Name: "socket", Aliases: []string{"s"}, Usage: "your supervisor's socket `PATH` (default: $ROOST_SOCKET, else the one the roost master made), for the project and its PORT"},
			&cli.BoolFlag{Name: "json", Usage: "print one JSON object: {valid, file, errors, warnings, processes, proxies, cron}"},
		},
		OnUsageError: func(_ *cli.Context, err error, _ bool) error {
			return cli.Exit("roost check: "+err.Error(), 2)
		},
		Action: checkCommand,
	})
}

func checkCommand(c *cli.Context) error {
	if c.NArg() > 0 {
		return cli.Exit(fmt.Sprintf("roost check: unexpected argument %q; use -c FILE", c.Args().First()), 2)
	}
	path := c.String("configuration")
	// Under a roost master the user's own project comes first, checked
	// with the PORT and ROOST_PORT_* the master gives it.
	project, masterEnv := managedProject(c.String("socket"))
	if path == "" && project != "" {
		path = project
	}
	if path == "" {
		cwd, err := os.Getwd()
		if err != nil {
			return cli.Exit("roost check: "+err.Error(), 2)
		}
		// A project with a Procfile and no supervisord.conf: what roost
		// deploy would write from it.
		p, done, perr := checkProcfile(c, cwd)
		if perr != nil {
			return cli.Exit(perr.Error(), 1)
		}
		if p != "" {
			defer done()
			path = p
		} else if path, err = config.Find(cwd); err != nil {
			return cli.Exit("roost check: "+err.Error(), 2)
		}
	}
	// What the supervisor runs: the project's file and the services roost
	// added (roost service add), as `roost run` loads them.
	cfg, err := config.Load(path, withServices(config.LoadOptions{Env: checkEnv(masterEnv)}))
	var cerr *config.Error
	if err != nil && !errors.As(err, &cerr) {
		return cli.Exit(fmt.Sprintf("roost check: %s: %v", path, err), 1)
	}
	out := c.App.Writer
	abs, _ := filepath.Abs(path)
	cronPath := c.String("cron")
	if cronPath != "" {
		cronPath, _ = filepath.Abs(cronPath)
	}
	cr := checkCron(abs, cronPath, time.Now())
	if cwd, err := os.Getwd(); err == nil && cwd != "/" {
		if rel, err := filepath.Rel(cwd, abs); err == nil && !strings.HasPrefix(rel, "..") {
			path = rel
		}
	}
	if c.Bool("json") {
		if werr := writeCheckJSON(out, abs, cfg, cerr, cr); werr != nil {
			return cli.Exit("roost check: "+werr.Error(), 1)
		}
	} else {
		writeCheckText(out, path, cfg, cerr)
		cr.writeText(out)
	}
	if cerr != nil || !cr.Valid {
		return cli.Exit("", 1)
	}
	return nil
}

func writeCheckText(w io.Writer, path string, cfg *config.Config, cerr *config.Error) {
	if cerr != nil {
		for _, d := range cerr.Diagnostics {
			fmt.Fprintln(w, d.String())
		}
		fmt.Fprintf(w, "%s: invalid: %d error(s)\n", path, len(cerr.Diagnostics))
		return
	}
	for _, d := range cfg.Warnings {
		fmt.Fprintln(w, "warning: "+d.String())
	}
	procs := cfg.Processes()
	fmt.Fprintf(w, "%s: valid: %d process(es) in %d group(s)", path, len(procs), len(cfg.Groups))
	if len(cfg.Warnings) > 0 {
		fmt.Fprintf(w, ", %d warning(s)", len(cfg.Warnings))
	}
	fmt.Fprintln(w)
	if len(procs) == 0 {
		return
	}
	withUser := false
	for _, p := range procs {
		withUser = withUser || p.User != ""
	}
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	head := "NAME\tAUTOSTART\tPRIORITY\tSTDOUT\t"
	if withUser {
		head += "USER\t"
	}
	fmt.Fprintln(tw, head+"COMMAND")
	for _, g := range cfg.Groups {
		for _, p := range g.Processes {
			auto := "yes"
			if !p.Autostart {
				auto = "no"
			}
			if g.Kind == config.KindFCGIProgram {
				auto = "not run (" + string(g.Kind) + ")"
			}
			row := fmt.Sprintf("%s\t%s\t%d\t%s\t", p.Namespec(), auto, p.Priority, logName(p.Stdout, p.RedirectStderr))
			if withUser {
				row += orDash(p.User) + "\t"
			}
			fmt.Fprintln(tw, row+oneLine(p.Command))
		}
	}
	tw.Flush()
	for _, px := range cfg.Proxies {
		var names []string
		for _, p := range cfg.ProcessesOf(px.Program) {
			names = append(names, p.Namespec())
		}
		fmt.Fprintf(w, "proxy %s: %s -> %s", px.Name, strings.Join(px.Hosts, " "), strings.Join(names, " "))
		for _, s := range px.Static {
			fmt.Fprintf(w, "; %s -> %s", s.Prefix, s.Dir)
		}
		fmt.Fprintln(w)
	}
	for _, p := range cfg.Processes() {
		if line := extensionLine(p); line != "" {
			fmt.Fprintf(w, "%s: %s\n", p.Namespec(), line)
		}
	}
}

// extensionLine sums up roost's keys of a process (health check,
// depends_on, notify); "" without them.
func extensionLine(p *config.Process) string {
	var parts []string
	if len(p.DependsOn) > 0 {
		parts = append(parts, "starts after "+strings.Join(p.DependsOn, ", ")+" (depends_on)")
	}
	if hc := p.Health; hc != nil {
		parts = append(parts, fmt.Sprintf("health check %s every %v (timeout %v), restarted after %d failures in a row",
			health.Describe(hc), hc.Interval, hc.Timeout, hc.Retries))
	}
	if p.Notify {
		n := "RUNNING at READY=1 (notify)"
		if p.WatchdogSec > 0 {
			n += fmt.Sprintf(", restarted after %v without WATCHDOG=1", p.WatchdogSec)
		}
		parts = append(parts, n)
	}
	return oneLine(strings.Join(parts, "; "))
}

// logName says where a stream goes, for the table.
func logName(l config.LogConfig, withStderr bool) string {
	s := l.File
	switch {
	case l.Auto:
		s = "AUTO"
	case s == "" && l.Syslog:
		s = "syslog"
	case s == "":
		s = "NONE"
	}
	if withStderr {
		s += " (+stderr)"
	}
	return s
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// oneLine shows a multi-line command on one line.
func oneLine(s string) string { return strings.ReplaceAll(s, "\n", `\n`) }

// checkDiag is a diagnostic as --json prints it: its parts and its text.
type checkDiag struct {
	config.Diagnostic
	Text string `json:"text"`
}

// checkProcess is a process as --json prints it.
type checkProcess struct {
	Name          string   `json:"name"` // the namespec, e.g. "app:web_01"
	Group         string   `json:"group"`
	Program       string   `json:"program"`
	Kind          string   `json:"kind"` // program, eventlistener or fcgi-program
	Command       string   `json:"command"`
	Argv          []string `json:"argv"`
	Autostart     bool     `json:"autostart"`
	Priority      int      `json:"priority"`
	User          string   `json:"user,omitempty"`
	Directory     string   `json:"directory,omitempty"`
	StdoutLogfile string   `json:"stdout_logfile"`
	StderrLogfile string   `json:"stderr_logfile"`
	// roost's keys of [program:x]: health check, depends_on, notify.
	Health    *config.HealthCheck `json:"healthcheck,omitempty"`
	DependsOn []string            `json:"depends_on,omitempty"`
	Notify    bool                `json:"notify,omitempty"`
}

func writeCheckJSON(w io.Writer, path string, cfg *config.Config, cerr *config.Error, cr cronCheck) error {
	type result struct {
		Valid     bool            `json:"valid"`
		File      string          `json:"file"`
		Errors    []checkDiag     `json:"errors"`
		Warnings  []checkDiag     `json:"warnings"`
		Processes []checkProcess  `json:"processes"`
		Proxies   []*config.Proxy `json:"proxies"`
		Cron      cronCheck       `json:"cron"`
	}
	r := result{Valid: cerr == nil && cr.Valid, File: path, Errors: []checkDiag{}, Warnings: []checkDiag{}, Processes: []checkProcess{}, Proxies: []*config.Proxy{}, Cron: cr}
	if cerr != nil {
		for _, d := range cerr.Diagnostics {
			r.Errors = append(r.Errors, checkDiag{d, d.String()})
		}
	} else {
		for _, d := range cfg.Warnings {
			r.Warnings = append(r.Warnings, checkDiag{d, d.String()})
		}
		for _, g := range cfg.Groups {
			for _, p := range g.Processes {
				r.Processes = append(r.Processes, checkProcess{
					Name: p.Namespec(), Group: p.Group, Program: p.Program, Kind: string(g.Kind),
					Command: p.Command, Argv: p.Argv, Autostart: p.Autostart, Priority: p.Priority,
					User: p.User, Directory: p.Directory,
					StdoutLogfile: logName(p.Stdout, false), StderrLogfile: stderrName(p),
					Health: p.Health, DependsOn: p.DependsOn, Notify: p.Notify,
				})
			}
		}
		if cfg.Proxies != nil {
			r.Proxies = cfg.Proxies
		}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// stderrName says where stderr goes.
func stderrName(p *config.Process) string {
	if p.RedirectStderr {
		return "stdout"
	}
	return logName(p.Stderr, false)
}
