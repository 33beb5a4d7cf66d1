package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"roost/eventlistener"
	"syscall"

	"github.com/urfave/cli/v2"

	"roost/audit"
	"roost/config"
	"roost/cronjobs"
	"roost/dashboard"
	"roost/handover"
	"roost/metrics"
	"roost/supervisor"
	"roost/supervisor/api"
	"roost/supervisor/api/xmlrpc"
)

func init() {
	commands = append(commands, &cli.Command{
		Name:      "run",
		Usage:     "run a supervisord.conf in the foreground, as `supervisord -n` does",
		ArgsUsage: " ",
		Description: "Examples:\n" +
			"  roost run -c examples/hello/supervisord.conf\n" +
			"  roost run            # finds ./supervisord.conf like supervisord\n\n" +
			"Without -c the configuration is the first of ./supervisord.conf,\n" +
			"./etc/supervisord.conf, /etc/supervisord.conf, /etc/supervisor/supervisord.conf.\n" +
			"The control socket is --socket, else [unix_http_server] file=, else the\n" +
			"per-user default (see `roost --help`).\n\n" +
			"Signals: TERM, INT and QUIT stop every program in reverse priority order,\n" +
			"then roost exits 0. HUP applies the configuration like `roost update`:\n" +
			"only what changed restarts (supervisord restarts everything). USR2\n" +
			"reopens the log files.\n\n" +
			"Cron: the file named cron beside the configuration (or --cron FILE) is the\n" +
			"project's crontab (see `roost cron --help`); a missing file means no jobs.\n" +
			"Jobs run as the supervisor's user, in the configuration's directory. Their\n" +
			"output goes to cron.log, one line per line with its time and the job's\n" +
			"name, in the log directory: [supervisord] childlogdir when the file sets\n" +
			"it (with --managed: else --logdir), else the directory of [supervisord]\n" +
			"logfile, else the temp directory as roost-cron-UID.log; it rotates with\n" +
			"logfile_maxbytes and logfile_backups. The cron file is re-read with the\n" +
			"configuration (saved, HUP, update, reload); an invalid one is logged as\n" +
			"cron:LINE: ... and the running jobs are kept. At shutdown cron jobs stop\n" +
			"first: SIGTERM to the job's process group, SIGKILL 10 s later.\n\n" +
			"Run as root with [supervisord] user= set, roost drops to that user (and\n" +
			"its groups) before anything else, as supervisord does.\n\n" +
			"Exit status: 0 after a clean shutdown; 2 when the configuration is invalid\n" +
			"(every file:line problem is printed; nothing starts), the socket is taken\n" +
			"or privileges cannot be dropped, as supervisord exits 2 for its usage errors.\n" +
			"With --managed an invalid configuration does not stop it: it runs the last\n" +
			"one that applied (saved in ~/.local/state/roost), else no programs, and\n" +
			"every client verb names the file:line until the file is fixed.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "configuration", Aliases: []string{"c"}, Usage: "configuration `FILE`"},
			&cli.StringFlag{Name: "socket", Aliases: []string{"s"}, Usage: "control socket `PATH`, overriding [unix_http_server] file="},
			&cli.StringFlag{Name: "cron", Usage: "the cron `FILE` (default: cron beside the configuration)"},
			&cli.BoolFlag{Name: "no-watch", Usage: "do not apply saved configuration changes automatically"},
			&cli.BoolFlag{Name: "managed", Usage: "started by the roost master: the configuration may not exist yet, logs go to --logdir"},
			&cli.StringFlag{Name: "logdir", Usage: "with --managed: the log `DIR` (default ~/log)"},
		},
		OnUsageError: func(_ *cli.Context, err error, _ bool) error {
			return cli.Exit("roost run: "+err.Error(), 2)
		},
		Action: runAction,
	})
}

// exitUsage is supervisord's exit status for a configuration or start-up error.
const exitUsage = 2

func runAction(c *cli.Context) error {
	if c.Args().Present() {
		return cli.Exit(fmt.Sprintf("roost run: unexpected argument %q; use -c FILE", c.Args().First()), exitUsage)
	}
	stderr := c.App.ErrWriter
	// Before the main log is open: its format, on stderr.
	log := supervisor.LineLogger(stderr)
	cwd, err := os.Getwd()
	if err != nil {
		return cli.Exit("roost run: "+err.Error(), exitUsage)
	}
	path := flagString(c, "configuration")
	if path == "" {
		if path, err = config.Find(cwd); err != nil {
			return cli.Exit("roost run: "+err.Error(), exitUsage)
		}
	}
	load := func() (*config.Config, error) {
		return config.Load(path, withServices(config.LoadOptions{Dir: cwd}))
	}
	// Started by `roost upgrade` (package handover): the previous image's
	// running configuration and programs go on.
	from, err := handover.Take()
	if err != nil && !errors.Is(err, handover.ErrNone) {
		return cli.Exit("roost run: "+err.Error(), exitUsage)
	}
	var fallback func(error) (*config.Config, bool, error)
	if c.Bool("managed") {
		surviveMasterLoss()
		managedDirs()
		sock, err := filepath.Abs(flagString(c, "socket"))
		logDir, merr := managedSetup(flagString(c, "socket"), c.String("logdir"))
		if err != nil || merr != nil {
			return cli.Exit(fmt.Sprintf("roost run: %v", errors.Join(err, merr)), exitUsage)
		}
		load = managedLoad(path, cwd, logDir, sock)
		fallback = managedFallback(path, cwd, logDir, sock, stderr)
	}
	var cfg *config.Config
	if from != nil {
		cfg, err = supervisor.AdoptedConfig(from)
	} else {
		cfg, err = load()
	}
	var broken error
	saved := false
	if err != nil && from != nil {
		return cli.Exit("roost run: "+err.Error(), exitUsage)
	}
	if err != nil {
		if fallback == nil {
			return configError(stderr, path, err)
		}
		// Under the master a broken file never stops the supervisor: it
		// serves its socket and reports the file (CONFIG-ERROR).
		broken = err
		if cfg, saved, err = fallback(err); err != nil {
			return configError(stderr, path, err)
		}
	}

	if err := dropPrivileges(cfg.Supervisord.User); err != nil {
		return cli.Exit("roost run: "+err.Error(), exitUsage)
	}
	// After the drop, as supervisord does it: root could raise any limit.
	if err := raiseLimits(cfg.Supervisord.Minfds, cfg.Supervisord.Minprocs); err != nil {
		return cli.Exit("Error: "+err.Error(), exitUsage)
	}
	if cfg.Supervisord.User == "" && os.Geteuid() == 0 && !c.Bool("managed") {
		log.Warn("roost is running as root: privileges were not dropped because no user= is set in " +
			"[supervisord]; set user=root to silence this")
	}
	if !c.Bool("managed") {
		warnNoCgroups(log)
	}

	sockPath := flagString(c, "socket")
	if sockPath == "" && cfg.UnixHTTPServer != nil {
		sockPath = cfg.UnixHTTPServer.File
	}
	if sockPath == "" {
		sockPath = api.DefaultSocket()
	}
	if sockPath, err = filepath.Abs(sockPath); err != nil {
		return cli.Exit("roost run: socket: "+err.Error(), exitUsage)
	}
	srvOpts := api.ServerOptions{Logger: log}
	if u := cfg.UnixHTTPServer; u != nil {
		srvOpts.Username, srvOpts.Password = u.Username, u.Password
	}
	cronFile := c.String("cron")
	if cronFile != "" {
		if cronFile, err = filepath.Abs(cronFile); err != nil {
			return cli.Exit("roost run: cron: "+err.Error(), exitUsage)
		}
	}
	return runSupervisor(c, cfg, load, sockPath, cronFile, srvOpts, broken, saved, from)
}

// runSupervisor builds the runtime and its control socket and runs both
// until a TERM, INT or QUIT (or `roost shutdown`).
func runSupervisor(c *cli.Context, cfg *config.Config, load func() (*config.Config, error), sockPath, cronFile string, opts api.ServerOptions, broken error, saved bool, from *handover.State) error {
	sopts := supervisor.Options{
		Load:      load,
		Version:   version,
		Watch:     !c.Bool("no-watch"),
		Managed:   c.Bool("managed"),
		Cron:      cronFile,
		ServerURL: "unix://" + sockPath,
		Broken:    broken,
		Saved:     saved,
	}
	var srv *api.Server // made once sup exists; the re-exec's socket hook uses it
	sopts.Reexec = reexecOptions(func() *api.Server { return srv }, from)
	log := opts.Logger // stderr until the main log is open
	if sopts.Managed {
		cwd, cerr := os.Getwd() // managedLoad's Dir
		if state, err := lastGoodPath(cfg.File); err == nil && cerr == nil {
			sopts.Applied = lastGoodSaver(state, withServices(config.LoadOptions{Dir: cwd}), func() *slog.Logger { return log })
			if broken == nil {
				sopts.Applied(cfg)
			}
		}
	}
	if sopts.Managed && load != nil {
		ue := newUserEnv(filepath.Dir(cfg.File))
		ue.apply(func() *slog.Logger { return log })
		sopts.Load = func() (*config.Config, error) { ue.apply(func() *slog.Logger { return log }); return load() }
	}
	sup, err := supervisor.New(cfg, sopts)
	var cerrs cronjobs.Errors
	if errors.As(err, &cerrs) {
		for _, e := range cerrs {
			fmt.Fprintln(c.App.ErrWriter, e.Error())
		}
		return cli.Exit(fmt.Sprintf("roost run: %s is not valid (%d problems); nothing was started",
			supervisor.CronFile(cfg, cronFile), len(cerrs)), exitUsage)
	}
	if err != nil {
		return cli.Exit("roost run: "+err.Error(), exitUsage)
	}
	// From here on everything this process says goes to the main log, in
	// its one format (before Run, so before any reload calls Applied).
	log = sup.Logger()
	opts.Logger = log
	var logDir string
	if sopts.Managed {
		logDir, _ = managedLogDir(c.String("logdir"))
	}
	al := openAudit(cfg, logDir, log)
	defer al.Close()
	opts.Wrap = auditWrap(al, log)
	srv = api.NewServer(sup, opts)
	met := metrics.NewSupervisor(sup)
	met.SetProject(filepath.Dir(cfg.File)) // its deploys, when ~/current is a release
	mountSupervisordAPI(srv, sup, met, opts.Logger, al)
	if err := listenOrInherit(srv, sockPath, from); err != nil {
		return cli.Exit("roost run: "+err.Error(), exitUsage)
	}
	var inet net.Listener
	if in := cfg.InetHTTPServer; in != nil && broken == nil {
		if inet, err = listenInet(in); err != nil && !sopts.Managed {
			srv.Close()
			return cli.Exit("roost run: "+err.Error(), exitUsage)
		} else if err != nil {
			// Under the master the file never stops the supervisor.
			fmt.Fprintln(c.App.ErrWriter, "roost run: "+err.Error()+" (the unix socket is served)")
			log.Error("[inet_http_server] not served", "err", err)
		}
	}

	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGQUIT, syscall.SIGHUP, syscall.SIGUSR2)
	defer signal.Stop(sigs)
	go func() {
		for sig := range sigs {
			switch sig {
			case syscall.SIGHUP:
				go func() {
					if _, err := sup.Reload(ctx); err != nil {
						opts.Logger.Error("HUP: configuration not applied", "err", err)
					}
				}()
			case syscall.SIGUSR2:
				if err := sup.ReopenLogs(); err != nil {
					opts.Logger.Error("USR2: reopening logs", "err", err)
				}
			default:
				stop()
			}
		}
	}()

	srvCtx, stopSrv := context.WithCancel(context.Background())
	srvDone := make(chan error, 1)
	met.Start(srvCtx) // counts from the first event until the socket closes
	go func() {
		err := srv.Serve(srvCtx)
		if err != nil {
			opts.Logger.Error("control socket failed; shutting down", "err", err)
			stop()
		}
		srvDone <- err
	}()
	userSock := closedChan()
	if c.Bool("managed") {
		userSock = serveUserSocket(srvCtx, cfg, sockPath, sup, met, opts, al)
	}
	inetDone := closedChan()
	if inet != nil {
		done := make(chan struct{})
		inetDone = done
		in := cfg.InetHTTPServer
		log.Info("serving [inet_http_server] (basic auth)", "addr", inet.Addr().String())
		inetReadable(in, log)
		if sopts.Managed {
			inetOutsideBlock(inet, log)
		}
		go func() {
			defer close(done)
			if err := srv.ServeTCP(srvCtx, inet, in.Username, in.Password); err != nil {
				log.Error("[inet_http_server] stopped", "err", err)
			}
		}()
	}
	// The event listener room hears every event from the first; it stops
	// after the supervisor, so listeners hear the shutdown.
	roomCtx, stopRoom := context.WithCancel(context.Background())
	room := eventlistener.New(roomCtx, sup, log)
	sup.SetListenerIO(room)
	roomDone := make(chan struct{})
	go func() {
		defer close(roomDone)
		room.Run()
	}()
	runErr := sup.Run(ctx)
	stopRoom()
	<-roomDone
	// The socket answers until every program has stopped.
	stopSrv()
	srvErr := <-srvDone
	<-userSock
	<-inetDone
	if runErr != nil {
		return cli.Exit("roost run: "+runErr.Error(), exitGeneric)
	}
	if srvErr != nil {
		return cli.Exit("roost run: "+srvErr.Error(), exitGeneric)
	}
	return nil
}

// configError prints every problem of an invalid configuration, one
// file:line diagnostic a line, and returns supervisord's exit status for it.
func configError(w io.Writer, path string, err error) error {
	var cerr *config.Error
	if errors.As(err, &cerr) {
		for _, d := range cerr.Diagnostics {
			fmt.Fprintln(w, d.String())
		}
		return cli.Exit(fmt.Sprintf("roost run: %s is not valid (%d problems); nothing was started", path, len(cerr.Diagnostics)), exitUsage)
	}
	return cli.Exit("roost run: "+err.Error(), exitUsage)
}

// mountSupervisordAPI mounts supervisord's XML-RPC interface and log
// streams, which the real supervisorctl uses, the audit log's resources
// and the Prometheus metrics, behind the server's checks.
func mountSupervisordAPI(srv *api.Server, b api.Backend, met *metrics.Supervisor, log *slog.Logger, al *audit.Log) {
	srv.Mount("GET /metrics", met.Handler())
	srv.Mount("/RPC2", xmlrpc.NewHandler(b, xmlrpc.Options{Logger: log}))
	tail := xmlrpc.NewLogtailHandler(b)
	srv.Mount("/logtail/", tail)
	srv.Mount("/mainlogtail", tail)
	opts := dashboardOptions()
	opts.Logger = log
	srv.Mount(dashboard.Prefix, dashboard.New(b, opts))
	if al != nil {
		audit.Mount(srv, al)
	}
}
