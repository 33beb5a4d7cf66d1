package deploy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// Step is one thing a deploy does, as data: a command (Argv, run in Dir
// with Env added to the build's environment) or a built-in action (Argv
// nil). A dry run prints the steps; a deploy runs them in order and stops
// at the first that fails.
type Step struct {
	Name string   // what the pusher sees: "npm ci", "postinstall", "check"
	Why  string   // what in the tree called for it: "package.json and package-lock.json"
	Argv []string // nil for a built-in
	Dir  string
	Env  []string
	// Missing names the tool Argv needs that is not installed: the step
	// fails with that, and says what would have run.
	Missing string
	// guard, when set, runs first: its error fails the step before
	// Argv runs (and is the whole step for a built-in).
	guard func(ctx context.Context, out io.Writer) error
}

// String is the step as a dry run prints it.
func (s Step) String() string {
	var b strings.Builder
	b.WriteString(s.Name)
	if s.Argv != nil {
		fmt.Fprintf(&b, ": %s", strings.Join(s.Argv, " "))
	}
	if s.Why != "" {
		fmt.Fprintf(&b, " (%s)", s.Why)
	}
	if s.Missing != "" {
		fmt.Fprintf(&b, " [%s is not installed]", s.Missing)
	}
	return b.String()
}

// installer is one dependency installer: the files that call for it and
// the steps it becomes.
type installer struct {
	files []string // any of these at the release's root
	steps func(dir string, has func(string) bool) []Step
}

// installers are tried in this order; each whose files are present adds
// its steps.
var installers = []installer{
	{files: []string{"package.json"}, steps: func(dir string, has func(string) bool) []Step {
		if has("package-lock.json") || has("npm-shrinkwrap.json") {
			return []Step{{Name: "npm ci", Why: "package.json and its lock file", Argv: []string{"npm", "ci"}}}
		}
		return []Step{{Name: "npm install", Why: "package.json without a lock file", Argv: []string{"npm", "install", "--omit=dev"}}}
	}},
	{files: []string{"go.mod"}, steps: func(string, func(string) bool) []Step {
		return []Step{{Name: "go mod download", Why: "go.mod", Argv: []string{"go", "mod", "download"}}}
	}},
	{files: []string{"requirements.txt"}, steps: func(string, func(string) bool) []Step {
		return []Step{
			{Name: "venv", Why: "requirements.txt", Argv: []string{"python3", "-m", "venv", ".venv"}},
			{Name: "pip install", Why: "requirements.txt", Argv: []string{".venv/bin/pip", "install", "-r", "requirements.txt"}},
		}
	}},
	{files: []string{"cpanfile", "Makefile.PL", "Build.PL"}, steps: func(dir string, has func(string) bool) []Step {
		why := "cpanfile"
		for _, f := range []string{"cpanfile", "Makefile.PL", "Build.PL"} {
			if has(f) {
				why = f
				break
			}
		}
		return []Step{{Name: "cpanm", Why: why, Argv: []string{"cpanm", "--notest", "--installdeps", "-L", "local", "."}}}
	}},
	{files: []string{"Gemfile"}, steps: func(string, func(string) bool) []Step {
		return []Step{{Name: "bundle install", Why: "Gemfile", Argv: []string{"bundle", "install"},
			Env: []string{"BUNDLE_PATH=vendor/bundle"}}}
	}},
}

// buildSteps are the steps the release in dir calls for: its dependency
// installers, its postinstall, a Procfile's supervisord.conf and release
// command, then the check of its supervisord.conf and cron with l.Roost,
// l.Socket giving the master's PORT. path is the PATH the tools are looked
// up in.
func buildSteps(l Layout, dir, path string) []Step {
	roost, socket := l.Roost, l.Socket
	has := func(name string) bool {
		fi, err := os.Lstat(filepath.Join(dir, name))
		return err == nil && fi.Mode().IsRegular()
	}
	var steps []Step
	for _, in := range installers {
		for _, f := range in.files {
			if has(f) {
				steps = append(steps, in.steps(dir, has)...)
				break
			}
		}
	}
	for i := range steps {
		s := &steps[i]
		s.Dir = dir
		if _, err := lookPath(s.Argv[0], dir, path); err != nil {
			s.Missing = s.Argv[0]
		}
		if s.Name == "npm ci" {
			reuseNodeModules(s, l, dir)
		}
	}
	if fi, err := os.Lstat(filepath.Join(dir, "postinstall")); err == nil {
		s := Step{Name: "postinstall", Why: "postinstall at the project's root", Argv: []string{"./postinstall"}, Dir: dir}
		if !fi.Mode().IsRegular() || fi.Mode()&0o111 == 0 {
			s.guard = func(context.Context, io.Writer) error {
				return errors.New("postinstall is not an executable file: make it one (chmod +x postinstall; git add postinstall) and push again")
			}
		}
		steps = append(steps, s)
	}
	if _, err := os.Lstat(filepath.Join(dir, "supervisord.conf")); err != nil && has("Procfile") {
		project, err := filepath.Rel(l.Home, l.Current)
		if err != nil {
			project = l.Current
		}
		steps = append(steps, procfileSteps(dir, project, l.DefaultHost)...)
	}
	check := []string{roost, "check", "-c", filepath.Join(dir, "supervisord.conf")}
	if socket != "" {
		check = append(check, "-s", socket)
	}
	steps = append(steps, Step{Name: "check", Why: "supervisord.conf and cron, as roost check reads them", Argv: check, Dir: dir,
		guard: func(context.Context, io.Writer) error {
			if _, err := os.Lstat(filepath.Join(dir, "supervisord.conf")); err != nil {
				return errors.New("the release has no supervisord.conf at its root: roost would run nothing; add one ([program:web] …) and push again")
			}
			return nil
		}})
	return steps
}

// errDone is a guard's way to say it did the whole step: Argv is not run.
var errDone = errors.New("done by the guard")

// reuseNodeModules makes an npm ci step take the current release's
// node_modules, hard-linked, when its package.json and lock file are the
// new release's byte for byte (the build cache of Heroku's and Dokku's
// node buildpacks, without the copy): a deploy whose dependencies did not
// change installs nothing. Should the link fail, npm ci runs. The files
// are shared with the previous release: a build that rewrites a file of
// node_modules in place (not by rename) changes it in both.
func reuseNodeModules(s *Step, l Layout, dir string) {
	prev := currentID(l)
	if prev == "" {
		return
	}
	from := filepath.Join(l.Releases, prev)
	if fi, err := os.Lstat(filepath.Join(from, "node_modules")); err != nil || !fi.IsDir() {
		return
	}
	for _, f := range []string{"package.json", "package-lock.json", "npm-shrinkwrap.json"} {
		a, aerr := os.ReadFile(filepath.Join(from, f))
		b, berr := os.ReadFile(filepath.Join(dir, f))
		if (aerr == nil) != (berr == nil) || !bytes.Equal(a, b) {
			return
		}
	}
	s.Why = fmt.Sprintf("package.json and its lock file unchanged since release %s: its node_modules, hard-linked; else npm ci", prev)
	s.guard = func(_ context.Context, out io.Writer) error {
		to := filepath.Join(dir, "node_modules")
		err := os.Mkdir(to, 0o755)
		if err == nil {
			err = cloneTree(filepath.Join(from, "node_modules"), to, true)
		}
		if err != nil {
			os.RemoveAll(to)
			fmt.Fprintf(out, "       cannot link release %s's node_modules (%v): npm ci\n", prev, err)
			return nil
		}
		fmt.Fprintf(out, "       node_modules of release %s linked: nothing to install\n", prev)
		return errDone
	}
}

// lookPath finds a step's program: a relative path with a slash is the
// release's own (found once an earlier step made it), a bare name is
// looked up in path.
func lookPath(name, dir, path string) (string, error) {
	if strings.Contains(name, "/") {
		return name, nil
	}
	for _, d := range filepath.SplitList(path) {
		p := filepath.Join(d, name)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s not found in PATH %s", name, path)
}

// runStep runs one step, its output to out, within ctx.
func runStep(ctx context.Context, s Step, env []string, out io.Writer) error {
	if s.Missing != "" {
		return fmt.Errorf("%s is needed (%s) but not installed on this host: it would run `%s` in the release; "+
			"ask the administrator to install %s, or remove %s from the project", s.Missing, s.Why, strings.Join(s.Argv, " "), s.Missing, s.Why)
	}
	if s.guard != nil {
		if err := s.guard(ctx, out); errors.Is(err, errDone) {
			return nil
		} else if err != nil {
			return err
		}
	}
	if s.Argv == nil {
		return nil
	}
	argv0 := s.Argv[0]
	if !strings.Contains(argv0, "/") {
		p, err := lookPath(argv0, s.Dir, pathOf(env))
		if err != nil {
			return err
		}
		argv0 = p
	}
	cmd := exec.CommandContext(ctx, argv0, s.Argv[1:]...)
	cmd.Args[0] = s.Argv[0]
	cmd.Dir = s.Dir
	cmd.Env = append(append([]string{}, env...), s.Env...)
	// What an earlier step installed into the release (cpanm's local/)
	// is found by the later ones (postinstall, check), as the programs
	// will find it.
	cmd.Env = append(cmd.Env, LocalEnv(s.Dir, func(k string) string { return valueOf(cmd.Env, k) })...)
	cmd.Stdin = nil
	cmd.Stdout, cmd.Stderr = out, out
	// Its own process group: a timeout kills the whole build, and what
	// the step left behind (a postinstall that daemonized) is killed
	// after it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		return err
	}
	err := cmd.Wait()
	syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	if ctx.Err() != nil {
		return fmt.Errorf("timed out: %w", ctx.Err())
	}
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return fmt.Errorf("`%s` failed: %v", strings.Join(s.Argv, " "), ee.ProcessState)
		}
		return fmt.Errorf("`%s`: %w", strings.Join(s.Argv, " "), err)
	}
	return nil
}

// pathOf returns PATH from env.
func pathOf(env []string) string {
	if v := valueOf(env, "PATH"); v != "" {
		return v
	}
	return "/usr/local/bin:/usr/bin:/bin"
}

// valueOf is key's value in env (the last one wins, as exec's dedup
// keeps it), "" when unset.
func valueOf(env []string, key string) string {
	for i := len(env) - 1; i >= 0; i-- {
		if v, ok := strings.CutPrefix(env[i], key+"="); ok {
			return v
		}
	}
	return ""
}

// buildEnv is the environment of the build steps: the user's, without
// git's hook variables (GIT_DIR would make a `git` in postinstall act on
// the repository), with HOME set.
func buildEnv(base []string, home string) []string {
	var env []string
	for _, kv := range base {
		if strings.HasPrefix(kv, "GIT_") || strings.HasPrefix(kv, "HOME=") {
			continue
		}
		env = append(env, kv)
	}
	if pathOf(env) == "" || !hasKey(env, "PATH") {
		env = append(env, "PATH=/usr/local/bin:/usr/bin:/bin")
	}
	return append(env, "HOME="+home)
}

func hasKey(env []string, k string) bool {
	for _, kv := range env {
		if strings.HasPrefix(kv, k+"=") {
			return true
		}
	}
	return false
}
