package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"os/user"
	"path/filepath"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"roost/audit"
	"roost/config"
	"roost/deploy"
	"roost/supervisor/api"
)

// `roost deploy`, `roost releases`, `roost rollback`: package deploy's
// verbs, run as the user whose project it is (never as root). Settings come
// from roost.toml [deploy]: --master-config, else $ROOST_MASTER_CONFIG,
// else /etc/roost/roost.toml.

func init() {
	mc := &cli.StringFlag{Name: "master-config", Usage: "roost.toml `FILE` (default $ROOST_MASTER_CONFIG, else " + config.DefaultMasterFile + ")"}
	commands = append(commands,
		&cli.Command{
			Name:      "deploy",
			Usage:     "build a release (a directory, a ref of your repository) and switch your project to it; --init makes the repository git push deploys through",
			ArgsUsage: "[DIR]",
			Description: "roost deploy --init makes ~/repo.git (roost.toml [deploy] repo) with a pre-receive hook:\n" +
				"then `git push USER@HOST:repo.git main` builds and deploys. A release is unpacked into\n" +
				"releases/<UTC time>-<commit>/ beside your project, its dependencies installed\n" +
				"(package.json, go.mod, requirements.txt, cpanfile/Makefile.PL/Build.PL, Gemfile), its\n" +
				"postinstall run, its supervisord.conf and cron checked; only then does ~/current point\n" +
				"at it and your programs restart without dropping a request (one process at a time;\n" +
				"numprocs=1 behind [proxy:*] blue-green, on a spare port). A failure changes nothing;\n" +
				"--dry-run builds in a scratch release and removes it.\n\n" +
				"Examples:\n  roost deploy --init\n  roost deploy ./site\n  roost deploy --ref main\n  roost deploy --dry-run ./site\n  roost deploy --rollback",
			Flags: []cli.Flag{mc,
				&cli.BoolFlag{Name: "init", Usage: "make the bare repository and its hook (idempotent)"},
				&cli.StringFlag{Name: "ref", Usage: "deploy `REF` of your repository (a branch, tag or commit)"},
				&cli.BoolFlag{Name: "dry-run", Usage: "build a scratch release (installers, postinstall, check), say whether it builds, remove it; switch nothing"},
				&cli.BoolFlag{Name: "rollback", Usage: "same as roost rollback [ID]"},
				&cli.BoolFlag{Name: "hook", Hidden: true, Usage: "run as git's pre-receive hook"},
			},
			Action: deployCommand,
		},
		&cli.Command{
			Name:      "releases",
			Usage:     "list your releases: id, time, commit, build time, state (current, previous, ready, failed, pruned)",
			ArgsUsage: " ",
			Flags:     []cli.Flag{mc, &cli.BoolFlag{Name: "json", Usage: "print the JSON array"}},
			Action:    releasesCommand,
		},
		&cli.Command{
			Name:      "rollback",
			Usage:     "switch your project back to the previous release (or release ID) without building, and restart",
			ArgsUsage: "[ID]",
			Flags:     []cli.Flag{mc},
			Action:    rollbackCommand,
		})
}

// deployLayout reads roost.toml's [deploy] and the current user.
func deployLayout(c *cli.Context) (deploy.Layout, string, error) {
	if os.Geteuid() == 0 {
		return deploy.Layout{}, "", fmt.Errorf("runs as the user whose project it deploys, never as root: " +
			"run it as that user (su - USER -c 'roost deploy …'), or push to their repository")
	}
	file := c.String("master-config")
	if file == "" {
		file = os.Getenv("ROOST_MASTER_CONFIG")
	}
	if file == "" {
		file = config.DefaultMasterFile
	}
	file, _ = filepath.Abs(file)
	m, err := config.LoadMaster(file)
	if err != nil {
		return deploy.Layout{}, "", err
	}
	if !m.Deploy.Enabled {
		return deploy.Layout{}, "", fmt.Errorf("deploy is not enabled on this host: the administrator sets [deploy] enabled = true in %s", file)
	}
	u, err := user.Current()
	if err != nil {
		return deploy.Layout{}, "", err
	}
	if err := config.ValidateUserName(u.Username); err != nil {
		return deploy.Layout{}, "", err
	}
	if !filepath.IsAbs(u.HomeDir) {
		return deploy.Layout{}, "", fmt.Errorf("your home %q is not an absolute path", u.HomeDir)
	}
	// The build reads the variables the supervisor gives the programs:
	// in roost.toml's config_dir (the supervisor's ROOST_CONFIG_DIR).
	if os.Getenv(config.EnvConfigDir) == "" {
		os.Setenv(config.EnvConfigDir, filepath.Join(u.HomeDir, m.ConfigDir(u.Username)))
	}
	return deploy.LayoutFor(m, u.Username, u.HomeDir), file, nil
}

// deployContext ends on SIGINT/SIGTERM (a pusher's Ctrl-C).
func deployContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
}

func deployCommand(c *cli.Context) error {
	l, file, err := deployLayout(c)
	if err != nil {
		return cli.Exit("roost deploy: "+err.Error(), 1)
	}
	ctx, cancel := deployContext()
	defer cancel()
	out := c.App.Writer
	opt := deploy.Options{DryRun: c.Bool("dry-run"), Env: os.Environ()}
	switch {
	case c.Bool("init"):
		exe, err := os.Executable()
		if err == nil {
			exe, err = filepath.EvalSymlinks(exe)
		}
		if err != nil {
			return cli.Exit("roost deploy --init: "+err.Error(), 1)
		}
		err = deploy.Init(l, exe, file, out)
	case c.Bool("hook"):
		// Git shows the hook's output as remote: lines; the steps said
		// what failed, and the push is rejected.
		err = deploy.Hook(ctx, l, os.Stdin, out, opt)
		if !opt.DryRun {
			deployNote(ctx, l, "deploy (git push)", err)
		}
		if err != nil {
			return cli.Exit("roost deploy: push rejected: the ref was not updated", 1)
		}
	case c.Bool("rollback"):
		return rollback(ctx, l, c.Args().First(), c)
	case c.String("ref") != "":
		if c.NArg() > 0 {
			return cli.Exit("roost deploy: give a DIR or --ref REF, not both", 2)
		}
		var commit string
		if commit, err = resolveRef(l.Repo, c.String("ref")); err == nil {
			_, err = deploy.Deploy(ctx, l, deploy.Source{Repo: l.Repo, Ref: c.String("ref"), Commit: commit}, out, opt)
		}
		if !opt.DryRun {
			deployNote(ctx, l, "deploy --ref "+c.String("ref"), err)
		}
	case c.NArg() == 1:
		dir, aerr := filepath.Abs(c.Args().First())
		if fi, serr := os.Stat(dir); aerr != nil || serr != nil || !fi.IsDir() {
			return cli.Exit(fmt.Sprintf("roost deploy: %q is not a directory", c.Args().First()), 2)
		}
		_, err = deploy.Deploy(ctx, l, deploy.Source{Dir: dir}, out, opt)
		if !opt.DryRun {
			deployNote(ctx, l, "deploy "+dir, err)
		}
	default:
		return cli.Exit("roost deploy: give a DIR, --ref REF, --init or --rollback (roost deploy --help)", 2)
	}
	if err != nil {
		return cli.Exit("roost deploy: "+err.Error(), 1)
	}
	return nil
}

// resolveRef returns the commit ref names in repo.
func resolveRef(repo, ref string) (string, error) {
	if ref == "" || strings.HasPrefix(ref, "-") || strings.ContainsAny(ref, "\x00\n\r ") {
		return "", fmt.Errorf("%q is not a ref", ref)
	}
	b, err := exec.Command("git", "--git-dir="+repo, "rev-parse", "--verify", "--quiet", ref+"^{commit}").Output()
	if err != nil {
		return "", fmt.Errorf("%s has no commit %q (git push it first)", repo, ref)
	}
	return strings.TrimSpace(string(b)), nil
}

func releasesCommand(c *cli.Context) error {
	l, _, err := deployLayout(c)
	if err != nil {
		return cli.Exit("roost releases: "+err.Error(), 1)
	}
	rels, err := deploy.Releases(l)
	if err != nil {
		return cli.Exit("roost releases: "+err.Error(), 1)
	}
	out := c.App.Writer
	if c.Bool("json") {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(rels)
	}
	if len(rels) == 0 {
		fmt.Fprintf(out, "no releases in %s yet: roost deploy --init, then git push\n", l.Releases)
		return nil
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "\tID\tTIME\tCOMMIT\tBUILD\tSTATE")
	for _, r := range rels {
		mark, commit := "", r.Commit
		if r.State == deploy.StateCurrent {
			mark = "*"
		}
		if len(commit) > 12 {
			commit = commit[:12]
		}
		if commit == "" {
			commit = r.Source
		}
		state := r.State
		if r.Error != "" {
			state += ": " + r.Error
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%.1fs\t%s\n", mark, r.ID, r.Time.Format(time.DateTime), commit, r.BuildSeconds, strings.ReplaceAll(state, "\n", " "))
	}
	return tw.Flush()
}

func rollbackCommand(c *cli.Context) error {
	l, _, err := deployLayout(c)
	if err != nil {
		return cli.Exit("roost rollback: "+err.Error(), 1)
	}
	ctx, cancel := deployContext()
	defer cancel()
	return rollback(ctx, l, c.Args().First(), c)
}

func rollback(ctx context.Context, l deploy.Layout, id string, c *cli.Context) error {
	if id != "" {
		if err := deploy.ValidID(id); err != nil {
			return cli.Exit("roost rollback: "+err.Error(), 2)
		}
	}
	_, err := deploy.Rollback(ctx, l, id, c.App.Writer)
	deployNote(ctx, l, strings.TrimSpace("rollback "+id), err)
	if err != nil {
		return cli.Exit("roost rollback: "+err.Error(), 1)
	}
	return nil
}

// deployNote records a deploy or rollback in the user's audit log, through
// their supervisor when one answers.
func deployNote(ctx context.Context, l deploy.Layout, request string, err error) {
	c, derr := api.Dial(l.Socket, api.WithServerUIDs(os.Getuid()))
	if derr != nil {
		return
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	auditNote(ctx, c, audit.FrontDeploy, request, err)
}

// checkProcfile is roost check in a project with a Procfile and no
// supervisord.conf: it prints the file roost deploy would write from the
// Procfile (the mapping) and returns a temporary copy of it to check, and
// what removes it; "" when dir has no Procfile, an error (Procfile:LINE)
// when it is broken.
func checkProcfile(c *cli.Context, dir string) (string, func(), error) {
	if _, err := os.Stat(filepath.Join(dir, "supervisord.conf")); err == nil {
		return "", nil, nil
	}
	data, err := os.ReadFile(filepath.Join(dir, "Procfile"))
	if err != nil {
		return "", nil, nil
	}
	project := "current"
	if home, err := os.UserHomeDir(); err == nil {
		if rel, err := filepath.Rel(home, dir); err == nil && !strings.HasPrefix(rel, "..") {
			project = rel
		}
	}
	conf, err := deploy.ProcfileConf(data, project, "")
	if err != nil {
		return "", nil, err
	}
	tmp, err := os.MkdirTemp("", "roost-procfile-")
	if err != nil {
		return "", nil, err
	}
	done := func() { os.RemoveAll(tmp) }
	p := filepath.Join(tmp, "supervisord.conf")
	if err := os.WriteFile(p, conf, 0o644); err != nil {
		done()
		return "", nil, err
	}
	fmt.Fprintf(c.App.Writer, "Procfile: no supervisord.conf here; roost deploy writes this one from the Procfile "+
		"(and routes web to your default host with [proxy:web]):\n%s\n", conf)
	return p, done, nil
}
