package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"

	"roost/config"
	"roost/deploy"
	"roost/export"
	"roost/service"
	"roost/supervisor"
)

// `roost export kubernetes|systemd`: the project as another engine's
// files (package export). Warnings (what has no equivalent) go to stderr
// with their file:line; exit 0 with warnings, 1 when the project does not
// load or cannot be exported, 2 for a usage error.

func init() {
	common := func() []cli.Flag {
		return []cli.Flag{
			&cli.StringFlag{Name: "configuration", Aliases: []string{"c"}, Usage: "the configuration `FILE` (default: found like roost check finds it)"},
			&cli.StringFlag{Name: "cron", Usage: "the cron `FILE` (default: cron beside the configuration)"},
			&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Value: "-", Usage: "write one file per object into `DIR` (made if missing), or - for one stream on stdout"},
			&cli.StringFlag{Name: "name", Usage: "the project's `NAME` in labels and unit names (default: the project directory's name)"},
			&cli.IntFlag{Name: "port", Value: 8080, Usage: "the `PORT` a proxied program listens on (%(ENV_PORT)s and $PORT)"},
		}
	}
	usageError := func(verb string) cli.OnUsageErrorFunc {
		return func(_ *cli.Context, err error, _ bool) error {
			return cli.Exit("roost export "+verb+": "+err.Error(), exitInvalidArgs)
		}
	}
	commands = append(commands, &cli.Command{
		Name:  "export",
		Usage: "write the project as Kubernetes manifests or systemd units",
		Description: "Reads what roost runs (the configuration with your services, the cron file, your\n" +
			"roost env variables) and writes it for another engine. What has no equivalent\n" +
			"there is printed as a warning naming its file:line; nothing is dropped silently.\n" +
			"The same project exported twice gives the same bytes.",
		Subcommands: []*cli.Command{
			{
				Name:      "kubernetes",
				Aliases:   []string{"k8s"},
				Usage:     "a Deployment per program, a Service and an Ingress per [proxy:x], a CronJob per cron job, Secrets for the environment",
				ArgsUsage: " ",
				Description: "Each [program:x] becomes a Deployment (numprocs: replicas; command= split as\n" +
					"supervisord splits it; directory=: workingDir; stopwaitsecs:\n" +
					"terminationGracePeriodSeconds; a stopsignal other than TERM: a preStop hook;\n" +
					"memory_max, cpu_max: resources; healthcheck=: a liveness probe; a proxy's\n" +
					"health_path: startup and readiness probes). environment= and your roost env\n" +
					"variables become Secrets the containers read with envFrom. Each [proxy:x]\n" +
					"becomes a Service and an Ingress for its hosts; each cron line a CronJob\n" +
					"(TZ: timeZone; a run still going skips the next: concurrencyPolicy Forbid).\n" +
					"Services (roost service add) are not exported: use a managed database.\n\n" +
					"Examples:\n" +
					"  roost export kubernetes --image registry.example.com/app:v1 | kubectl apply -f -\n" +
					"  roost export kubernetes --namespace shop -o k8s/ && kubectl apply -f k8s/",
				Flags: append(common(),
					&cli.StringFlag{Name: "image", Usage: "every container's `IMAGE`: the project and its runtime (default: NAME:latest, with a warning)"},
					&cli.StringFlag{Name: "namespace", Usage: "the objects' `NAMESPACE` (default: none: kubectl's current one)"},
				),
				OnUsageError: usageError("kubernetes"),
				Action:       exportCommand,
			},
			{
				Name:      "systemd",
				Usage:     "a .service per process, a .timer and .service per cron job, a .target for them all",
				ArgsUsage: " ",
				Description: "Each process becomes NAME-PROCESS.service (autorestart: Restart=;\n" +
					"startretries: StartLimitBurst=; stopsignal: KillSignal=; stopwaitsecs:\n" +
					"TimeoutStopSec=; a log file: StandardOutput=append:; memory_max, pids_max,\n" +
					"cpu_max: MemoryMax=, TasksMax=, CPUQuota=; your roost env file:\n" +
					"EnvironmentFile=). Each cron job becomes a .timer (OnCalendar= from its five\n" +
					"fields) and a .service; NAME.target starts them all. System units run as you\n" +
					"(User=); --user writes units for systemctl --user.\n\n" +
					"Examples:\n" +
					"  roost export systemd -o /etc/systemd/system && systemctl daemon-reload && systemctl start NAME.target\n" +
					"  roost export systemd --user -o ~/.config/systemd/user && systemctl --user daemon-reload",
				Flags: append(common(),
					&cli.BoolFlag{Name: "user", Usage: "user units (systemctl --user): no User=, wanted by default.target"},
				),
				OnUsageError: usageError("systemd"),
				Action:       exportCommand,
			},
		},
	})
}

func exportCommand(c *cli.Context) error {
	verb := c.Command.Name
	fail := func(code int, format string, a ...any) error {
		return cli.Exit("roost export "+verb+": "+fmt.Sprintf(format, a...), code)
	}
	if c.NArg() > 0 {
		return fail(exitInvalidArgs, "unexpected argument %q", c.Args().First())
	}
	port := c.Int("port")
	if port < 1 || port > 65535 {
		return fail(exitInvalidArgs, "--port %d is not a TCP port", port)
	}
	path := c.String("configuration")
	if path == "" {
		if project, _ := managedProject(""); project != "" {
			path = project
		} else {
			cwd, err := os.Getwd()
			if err != nil {
				return fail(exitInvalidArgs, "%v", err)
			}
			if path, err = config.Find(cwd); err != nil {
				return fail(exitInvalidArgs, "%v", err)
			}
		}
	}
	in, err := exportInput(path, c.String("cron"), port)
	if err != nil {
		return fail(1, "%v", err)
	}
	in.Project = c.String("name")
	var (
		files []export.File
		warns []export.Warning
		sep   string
	)
	if verb == "kubernetes" {
		files, warns, err = export.Kubernetes(*in, export.KubernetesOptions{Image: c.String("image"), Namespace: c.String("namespace"), Port: port})
		sep = "---\n"
	} else {
		opt := export.SystemdOptions{User: c.Bool("user"), LookPath: exec.LookPath}
		if u, uerr := user.Current(); uerr == nil && u.Uid != "0" {
			opt.RunAs = u.Username
		}
		files, warns, err = export.Systemd(*in, opt)
		sep = "\n"
	}
	for _, w := range warns {
		fmt.Fprintln(c.App.ErrWriter, "warning: "+w.String())
	}
	if err != nil {
		return fail(1, "cannot export:\n%v", err)
	}
	out := c.String("output")
	if out == "-" {
		_, err := c.App.Writer.Write(export.Stream(files, sep))
		return err
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return fail(1, "%v", err)
	}
	for _, f := range files {
		mode := os.FileMode(0o644)
		if f.Secret {
			mode = 0o600
		}
		p := filepath.Join(out, f.Name)
		if err := writeExportFile(p, f.Data, mode); err != nil {
			return fail(1, "%v", err)
		}
		fmt.Fprintln(c.App.Writer, p)
	}
	return nil
}

// writeExportFile replaces p with data (a temporary file renamed over it,
// so a Secret is never readable by others, not even for a moment).
func writeExportFile(p string, data []byte, mode os.FileMode) error {
	tmp := p + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC|os.O_EXCL, mode)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, p)
	}
	if err != nil {
		os.Remove(tmp)
	}
	return err
}

// exportInput loads what `roost run` would run: the configuration with
// the services file (as roost check loads it), expanded with the user's
// roost env variables and PORT=port, the cron file and the services.
func exportInput(path, cronOverride string, port int) (*export.Input, error) {
	in := &export.Input{Services: map[string]export.Service{}}
	var env []string
	for _, e := range os.Environ() {
		k, _, _ := strings.Cut(e, "=")
		if k == config.EnvPort || k == config.EnvPortBase || k == config.EnvPortCount || k == config.EnvSocketDir {
			continue
		}
		env = append(env, e)
	}
	if home, err := os.UserHomeDir(); err == nil && filepath.IsAbs(home) {
		in.EnvFile = deploy.EnvFile(home)
		vars, err := deploy.ReadEnv(in.EnvFile)
		if err != nil {
			return nil, err
		}
		for _, v := range vars {
			in.UserEnv = append(in.UserEnv, config.EnvVar{Name: v.Key, Value: v.Value})
			env = append(env, v.Key+"="+v.Value)
		}
		if len(vars) == 0 {
			in.EnvFile = ""
		}
		list, err := service.List(home)
		if err != nil {
			return nil, err
		}
		for _, s := range list {
			in.Services[s.Name] = export.Service{Kind: s.Kind, Var: s.Var}
		}
	}
	env = append(env, config.EnvPort+"="+strconv.Itoa(port))
	cfg, err := config.Load(path, withServices(config.LoadOptions{Env: env}))
	var cerr *config.Error
	if errors.As(err, &cerr) {
		return nil, fmt.Errorf("%s does not load (roost check shows the same):\n%v", path, err)
	}
	if err != nil {
		return nil, err
	}
	in.Config = cfg
	if cronOverride != "" {
		cronOverride, _ = filepath.Abs(cronOverride)
	}
	cron, err := supervisor.ReadCron(supervisor.CronFile(cfg, cronOverride), cfg.Here)
	if err != nil {
		return nil, fmt.Errorf("the cron file does not parse (roost check shows the same):\n%v", err)
	}
	in.Cron = cron
	return in, nil
}
