package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"

	"roost/audit"
	"roost/config"
	"roost/deploy"
	"roost/metrics"
	"roost/service"
	"roost/supervisor"
	"roost/supervisor/api"
)

// `roost run --managed` is the supervisor the root master starts for a
// user, as that user. It differs from a plain `roost run` in what a shared
// host needs:
//
//   - the configuration may not exist yet (nor its directory): the
//     supervisor then runs with no programs and picks the file up the
//     moment it is saved (or a "current" symlink is pointed at a release
//     holding one); a file that exists but cannot be read or is invalid
//     does not stop it: it runs the last good configuration saved in the
//     user's state, else none, serves its socket, and reports the file
//     (CONFIG-ERROR: DESIGN.md, "A broken file") until it loads;
//   - [supervisord] logfile and childlogdir left at supervisord's defaults
//     go to --logdir (default ~/log, created 0700 by the supervisor, as the
//     user): the main log is --logdir/roost.log; a pidfile left at its
//     default goes next to the socket;
//   - the control socket is --socket, in the directory the master made;
//     the configuration's own [unix_http_server] file= is served as well
//     when it can be (so `supervisorctl -c supervisord.conf` keeps working),
//     and skipped with a warning when it cannot (another user's supervisor
//     holds the same path, say). It is opened at start: one added later
//     needs a restart of the supervisor (`roost shutdown`: the master starts
//     it again).

// managedLoad returns the loader of a managed supervisor.
func managedLoad(path, cwd, logDir, sockPath string) func() (*config.Config, error) {
	opts := withServices(config.LoadOptions{Dir: cwd})
	return func() (*config.Config, error) {
		var cfg *config.Config
		var err error
		if _, serr := os.Stat(path); errors.Is(serr, fs.ErrNotExist) {
			cfg, err = config.LoadEmpty(path, opts)
		} else {
			cfg, err = config.Load(path, opts)
		}
		if err != nil {
			return nil, err
		}
		managedDefaults(cfg, cwd, logDir, sockPath)
		// Under the master a file with no [supervisord] is the normal case.
		cfg.Warnings = slices.DeleteFunc(cfg.Warnings, func(d config.Diagnostic) bool {
			return d.Message == config.NoSupervisordWarning
		})
		return cfg, nil
	}
}

// managedFallback returns what a managed supervisor runs when the file on
// disk does not load at start: the last good configuration saved in the
// user's state (saved true), else an empty one. It prints the file's
// problems on stderr, which the master keeps.
func managedFallback(path, cwd, logDir, sockPath string, stderr io.Writer) func(error) (*config.Config, bool, error) {
	return func(broken error) (*config.Config, bool, error) {
		for _, l := range config.ErrorLines(broken) {
			fmt.Fprintln(stderr, l)
		}
		opts := withServices(config.LoadOptions{Dir: cwd})
		if state, err := lastGoodPath(path); err == nil {
			if cfg, err := loadLastGood(state, path, opts); err == nil {
				managedDefaults(cfg, cwd, logDir, sockPath)
				fmt.Fprintf(stderr, "roost run: %s is not valid; running the last configuration that applied (%s) until it is fixed\n", path, state)
				return cfg, true, nil
			} else if !errors.Is(err, fs.ErrNotExist) {
				fmt.Fprintf(stderr, "roost run: the last good configuration cannot be used: %v\n", err)
			}
		}
		cfg, err := config.LoadEmpty(path, opts)
		if err != nil {
			return nil, false, err
		}
		managedDefaults(cfg, cwd, logDir, sockPath)
		fmt.Fprintf(stderr, "roost run: %s is not valid; running no programs until it is fixed (CONFIG-ERROR)\n", path)
		return cfg, false, nil
	}
}

// managedDefaults moves what supervisord would write into the working
// directory (the home) to the log directory and the run directory.
func managedDefaults(cfg *config.Config, cwd, logDir, sockPath string) {
	sv := &cfg.Supervisord
	if sv.Logfile == filepath.Join(cwd, "supervisord.log") {
		sv.Logfile = filepath.Join(logDir, "roost.log")
	}
	if !sv.ChildlogdirSet {
		sv.Childlogdir, sv.ChildlogdirSet = logDir, true // cron.log goes there too
	}
	if sv.Pidfile == filepath.Join(cwd, "supervisord.pid") {
		sv.Pidfile = filepath.Join(filepath.Dir(sockPath), "roost.pid")
	}
}

// managedSetup checks the managed flags and makes the log directory.
func managedSetup(sockPath, logDir string) (string, error) {
	if sockPath == "" {
		return "", errors.New("--managed needs --socket (the master passes it)")
	}
	logDir, err := managedLogDir(logDir)
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(logDir, 0o700); err != nil {
		return "", fmt.Errorf("log directory: %w", err)
	}
	return logDir, nil
}

// managedLogDir is --logdir, ~/log by default.
func managedLogDir(flag string) (string, error) {
	if flag == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("--logdir: %w", err)
		}
		flag = filepath.Join(home, "log")
	}
	if !filepath.IsAbs(flag) {
		return "", fmt.Errorf("--logdir %q is not an absolute path", flag)
	}
	return flag, nil
}

// serveUserSocket serves the configuration's [unix_http_server] file= next
// to the managed socket, until ctx ends. Failing to is a warning.
func serveUserSocket(ctx context.Context, cfg *config.Config, sockPath string, sup *supervisor.Supervisor, met *metrics.Supervisor, opts api.ServerOptions, al *audit.Log) <-chan struct{} {
	log := opts.Logger
	done := make(chan struct{})
	u := cfg.UnixHTTPServer
	if u == nil || u.File == "" || u.File == sockPath {
		close(done)
		return done
	}
	srv := api.NewServer(sup, opts)
	mountSupervisordAPI(srv, sup, met, opts.Logger, al)
	if err := srv.Listen(u.File); err != nil {
		log.Warn("[unix_http_server] file= not served; use the roost socket", "file", u.File, "socket", sockPath, "err", err)
		close(done)
		return done
	}
	go func() {
		defer close(done)
		if err := srv.Serve(ctx); err != nil {
			log.Warn("[unix_http_server] file= stopped", "file", u.File, "err", err)
		}
	}()
	return done
}

func closedChan() <-chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}

// managedDirs sets ROOST_CONFIG_DIR and ROOST_SERVICES_DIR in a managed
// supervisor's environment when the master did not: it passes them only
// when roost.toml moves them, so that a master upgraded from a release
// without them adopts its supervisors instead of restarting them. The
// supervisor, its programs and, through its configuration state, the
// user's `roost env` and `roost service` then name the same files, whatever
// XDG_CONFIG_HOME the user's shell has.
func managedDirs() {
	home, err := os.UserHomeDir()
	if err != nil || !filepath.IsAbs(home) {
		return
	}
	if _, ok := os.LookupEnv(config.EnvConfigDir); !ok {
		os.Setenv(config.EnvConfigDir, deploy.ConfigDir(home, os.Getenv))
	}
	if _, ok := os.LookupEnv(config.EnvServicesDir); !ok {
		os.Setenv(config.EnvServicesDir, service.Root(home))
	}
}
