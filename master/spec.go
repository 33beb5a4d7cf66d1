package master

import (
	"path/filepath"
	"strconv"

	"roost/config"
)

// buildSpec turns a resolved user into what its supervisor runs with,
// under roost.toml file. Nothing here touches the user's files: paths
// inside the home are only strings handed to the user's own supervisor.
func buildSpec(cfg *config.Master, file, exe, usersDir string, c Candidate, b Block, portErr error) userSpec {
	sp := userSpec{Name: c.Name, Account: c.Account, UserDir: filepath.Join(usersDir, c.Name)}
	switch {
	case c.Refused != nil:
		sp.Refused = c.Refused.Error()
		return sp
	case portErr != nil:
		sp.Refused = portErr.Error()
		return sp
	}
	sp.Block = b
	home := c.Account.Home
	sp.Project = filepath.Join(home, cfg.Project(c.Name))
	logDir := filepath.Join(home, cfg.LogDir(c.Name))
	sp.Env = append(userEnv(c.Account, cfg, b), config.EnvSocketDir+"="+filepath.Join(cfg.RunDir, socketsDirName, c.Name))
	// The variables below reach the supervisor only when they differ from
	// what it assumes without them. A variable given to every user would
	// change every user's spec, and the master's upgrade to this binary
	// would restart every supervisor, with its programs, instead of
	// adopting it (TestSpecEnvOfDefaultConfig).
	//
	// Where the user's roost files and services are (roost.toml
	// config_dir, services_dir): roost env, roost service and the
	// supervisor's services file follow them.
	if d := cfg.ConfigDir(c.Name); d != config.DefaultConfigDir {
		sp.Env = append(sp.Env, config.EnvConfigDir+"="+filepath.Join(home, d))
	}
	if d := cfg.ServicesDir(c.Name); d != config.DefaultServicesDir {
		sp.Env = append(sp.Env, config.EnvServicesDir+"="+filepath.Join(home, d))
	}
	if cfg.Deploy.Enabled {
		// The supervisor's dashboard lists the user's releases from
		// roost.toml's [deploy], which it finds here (as roost deploy
		// does) when the master runs on a file other than
		// /etc/roost/roost.toml.
		if abs, err := filepath.Abs(file); err == nil && abs != config.DefaultMasterFile {
			sp.Env = append(sp.Env, "ROOST_MASTER_CONFIG="+abs)
		}
	}
	sp.Args = []string{
		exe, "run", "--managed",
		"-c", filepath.Join(sp.Project, "supervisord.conf"),
		"--socket", filepath.Join(sp.UserDir, SocketName),
		"--logdir", logDir,
	}
	return sp
}

// userEnv is the user supervisor's whole environment: an allow-list built
// from the user database and roost.toml, never from the master's own
// environment (which may hold root's secrets, SUDO_USER, NOTIFY_SOCKET…).
func userEnv(a Account, cfg *config.Master, b Block) []string {
	return []string{
		"HOME=" + a.Home,
		"USER=" + a.Name,
		"LOGNAME=" + a.Name,
		"SHELL=" + a.Shell,
		"PATH=" + cfg.Users.Path,
		"LANG=" + cfg.Users.Lang,
		"PORT=" + strconv.Itoa(b.Base),
		"ROOST_PORT_BASE=" + strconv.Itoa(b.Base),
		"ROOST_PORT_COUNT=" + strconv.Itoa(b.Count),
	}
}

// SocketName is a user supervisor's control socket in its run directory.
const SocketName = "roost.sock"

// AdminSocketName is the master's admin socket in run_dir.
const AdminSocketName = "master.sock"
