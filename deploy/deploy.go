package deploy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"roost/supervisor/api"
)

// Source is what a deploy builds: a commit of the bare repository, or a
// directory.
type Source struct {
	Repo   string // the bare repository (with Commit)
	Ref    string // the ref pushed, for the record
	Commit string // a full commit id
	// Old, for a push, is the commit Ref had when the push began (all
	// zeros: none). Checked once the deploy lock is held: a push that
	// waited for another one to the same branch is refused, since git
	// would refuse its ref update after it deployed.
	Old string
	Dir string // or a directory to copy
}

// Options tune one deploy.
type Options struct {
	// DryRun builds a scratch release (unpack, installers, postinstall,
	// check), reports whether it built and removes it: nothing is
	// switched, restarted or recorded.
	DryRun bool
	// Env is the user's environment: the build's, and git's (a hook's
	// quarantine) for the unpack.
	Env []string
	// Now is the clock (tests).
	Now func() time.Time
}

// Deploy builds src into a new release and, when every step succeeded,
// makes it current and restarts the user's programs on it. The pusher's
// terminal is out; everything is also written to LogDir/deploy/<id>.log.
// On any failure before the switch ~/current and what runs are untouched
// and the partial release is removed.
func Deploy(ctx context.Context, l Layout, src Source, out io.Writer, opt Options) (Release, error) {
	now := time.Now
	if opt.Now != nil {
		now = opt.Now
	}
	if err := os.MkdirAll(l.Releases, 0o755); err != nil {
		return Release{}, err
	}
	unlock, err := lock(l, out, l.Timeout)
	if err != nil {
		return Release{}, err
	}
	defer unlock()
	if src.Old != "" {
		if err := refIs(ctx, src.Repo, src.Ref, src.Old, opt.Env); err != nil {
			fmt.Fprintf(out, " !     %v\n", err)
			return Release{}, err
		}
	}

	short, source := "dir", src.Dir
	if src.Dir == "" {
		short, source = src.Commit[:min(7, len(src.Commit))], "git"
	}
	start := now()
	id, err := newID(l, start, short)
	if err != nil {
		return Release{}, err
	}
	dir := filepath.Join(l.Releases, id)
	rel := Release{ID: id, Time: start.UTC(), Source: source, Ref: src.Ref, Commit: src.Commit}

	w := out
	if err := os.MkdirAll(filepath.Join(l.LogDir, "deploy"), 0o755); err == nil {
		if f, err := os.OpenFile(filepath.Join(l.LogDir, "deploy", id+".log"), os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644); err == nil {
			defer f.Close()
			w = io.MultiWriter(out, f)
		}
	}
	fail := func(step string, err error) (Release, error) {
		// Whether the disk is full is seen before the partial release
		// is removed (which frees it).
		if full := diskFull(err, l.Releases); full != "" {
			err = fmt.Errorf("%w: %s", err, full)
		}
		if rerr := os.RemoveAll(dir); rerr != nil {
			fmt.Fprintf(w, " !     cannot remove the partial release %s: %v\n", dir, rerr)
		}
		rel.State, rel.Error = StateFailed, fmt.Sprintf("%s: %v", step, err)
		rel.BuildSeconds = now().Sub(start).Seconds()
		fmt.Fprintf(w, " !     %s failed: %v\n", step, err)
		if opt.DryRun {
			fmt.Fprintf(w, " !     dry run of %s: the build fails; nothing was switched\n", id)
			return rel, fmt.Errorf("%s: %w", step, err)
		}
		writeRecord(l, rel)
		fmt.Fprintf(w, " !     deploy of %s refused: %s and what runs are untouched\n", id, l.Current)
		return rel, fmt.Errorf("%s: %w", step, err)
	}

	bctx, cancel := context.WithTimeout(ctx, l.Timeout)
	defer cancel()
	what := src.Dir
	if what == "" {
		what = fmt.Sprintf("%s (%s)", src.Commit, src.Ref)
	}
	fmt.Fprintf(w, "-----> roost deploy: release %s from %s\n", id, what)
	t0 := now()
	if src.Dir != "" {
		err = copyTree(src.Dir, dir)
	} else {
		err = extractGit(bctx, src.Repo, src.Commit, dir, opt.Env)
	}
	if err != nil {
		return fail("unpack", err)
	}
	fmt.Fprintf(w, "-----> unpack (%.1fs)\n", now().Sub(t0).Seconds())

	env := buildEnv(opt.Env, l.Home)
	vars, err := ReadEnv(EnvFile(l.Home))
	if err != nil {
		return fail("env", err)
	}
	for _, v := range vars {
		env = append(env, v.Key+"="+v.Value)
	}
	steps := buildSteps(l, dir, pathOf(env))
	fmt.Fprintf(w, "       steps: %s\n", stepNames(steps))
	if opt.DryRun {
		for i, s := range steps {
			fmt.Fprintf(w, "       %d. %s\n", i+1, s)
		}
		fmt.Fprintf(w, "       %d. switch %s to releases/%s, restart the programs, keep %d releases (not in a dry run)\n", len(steps)+1, l.Current, id, l.Keep)
	}
	for _, s := range steps {
		t0 := now()
		fmt.Fprintf(w, "-----> %s\n", s)
		if err := runStep(bctx, s, env, w); err != nil {
			return fail(s.Name, err)
		}
		fmt.Fprintf(w, "       %s done (%.1fs)\n", s.Name, now().Sub(t0).Seconds())
	}
	rel.State = StateReady
	rel.BuildSeconds = now().Sub(start).Seconds()
	if opt.DryRun {
		if err := os.RemoveAll(dir); err != nil {
			fmt.Fprintf(w, " !     cannot remove the scratch release %s: %v\n", dir, err)
		}
		fmt.Fprintf(w, "-----> dry run: release %s builds (%.1fs); it was removed, %s and what runs are untouched\n", id, rel.BuildSeconds, l.Current)
		return rel, nil
	}
	if err := writeRecord(l, rel); err != nil {
		return fail("record", err)
	}
	prev := currentID(l)
	if err := switchTo(l, id, start, w); err != nil {
		return fail("switch", err)
	}
	fmt.Fprintf(w, "-----> %s is now release %s (built in %.1fs)\n", l.Current, id, rel.BuildSeconds)
	if err := restart(ctx, l, w); err != nil {
		if prev == "" {
			fmt.Fprintf(w, " !     restart: %v\n", err)
			return rel, err
		}
		fmt.Fprintf(w, " !     restart on the new release failed: %v\n-----> switching back to %s\n", err, prev)
		if serr := switchTo(l, prev, now(), w); serr != nil {
			fmt.Fprintf(w, " !     switching back: %v\n", serr)
		} else if rerr := restart(ctx, l, w); rerr != nil {
			fmt.Fprintf(w, " !     restart on %s: %v\n", prev, rerr)
		} else {
			fmt.Fprintf(w, "-----> %s is release %s again; the push is refused\n", l.Current, prev)
			os.RemoveAll(dir) // nothing runs in it any more
		}
		rel.State, rel.Error = StateFailed, "restart: "+err.Error()
		writeRecord(l, rel)
		return rel, fmt.Errorf("restart: %w", err)
	}
	prune(l, w)
	fmt.Fprintf(w, "-----> deployed %s in %.1fs\n", id, now().Sub(start).Seconds())
	rel.State = StateCurrent
	return rel, nil
}

func stepNames(steps []Step) string {
	names := make([]string, len(steps))
	for i, s := range steps {
		names[i] = s.Name
	}
	return strings.Join(names, ", ") + ", switch, restart, prune"
}

// switchTo points ~/current at release id: a new symlink renamed over the
// old one, so every reader sees the old release or the new one. A first
// deploy over a real ~/current directory moves it aside into RELEASES as
// a release of its own, listed just before a release built at now; it is
// never deleted.
func switchTo(l Layout, id string, now time.Time, out io.Writer) error {
	fi, err := os.Lstat(l.Current)
	switch {
	case err == nil && fi.IsDir():
		aside := now.UTC().Format("20060102T150405Z") + "-before"
		to := filepath.Join(l.Releases, aside)
		if err := os.Rename(l.Current, to); err != nil {
			return fmt.Errorf("move the existing %s aside: %w", l.Current, err)
		}
		writeRecord(l, Release{ID: aside, Time: now.UTC().Add(-time.Millisecond), Source: l.Current, State: StateReady})
		fmt.Fprintf(out, "       the existing directory %s is kept as release %s\n", l.Current, aside)
	case err == nil && fi.Mode()&fs.ModeSymlink == 0:
		return fmt.Errorf("%s exists and is neither a directory nor a symlink: move it away", l.Current)
	case err != nil && !errors.Is(err, fs.ErrNotExist):
		return err
	}
	target, err := filepath.Rel(filepath.Dir(l.Current), filepath.Join(l.Releases, id))
	if err != nil {
		return err
	}
	tmp := filepath.Join(filepath.Dir(l.Current), "."+filepath.Base(l.Current)+".roost-new")
	os.Remove(tmp)
	if err := os.Symlink(target, tmp); err != nil {
		return err
	}
	if err := os.Rename(tmp, l.Current); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}

// restart makes the user's supervisor apply the switched project and
// restart every program on the new code, each group one process at a time
// (numprocs >= 2 keeps serving throughout). No supervisor running is not an
// error: the release runs when one starts.
func restart(ctx context.Context, l Layout, out io.Writer) error { return Restart(ctx, l.Socket, out) }

// Restart is restart through the supervisor at socket: update, then every
// group not added or changed by it restarted one process at a time.
func Restart(ctx context.Context, socket string, out io.Writer) error {
	return RestartExcept(ctx, socket, out, nil)
}

// RestartExcept is Restart, leaving the groups skip names (nil: none)
// running as they are: `roost service add` rolls the user's programs but
// not the services, whose configuration did not change.
func RestartExcept(ctx context.Context, socket string, out io.Writer, skip func(group string) bool) error {
	if _, err := os.Stat(socket); err != nil {
		fmt.Fprintf(out, "       no supervisor of yours answers at %s: the release runs when it starts\n", socket)
		return nil
	}
	c, err := api.Dial(socket)
	if err != nil {
		return err
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	ch, err := c.Update(ctx, nil)
	if err != nil {
		return fmt.Errorf("update: %w", err)
	}
	fmt.Fprintf(out, "-----> update: added %v, changed %v, removed %v\n", ch.Added, ch.Changed, ch.Removed)
	procs, err := c.Processes(ctx)
	if err != nil {
		return err
	}
	var groups []string
	for _, p := range procs {
		if !slices.Contains(groups, p.Group) && !slices.Contains(ch.Added, p.Group) && !slices.Contains(ch.Changed, p.Group) &&
			(skip == nil || !skip(p.Group)) {
			groups = append(groups, p.Group)
		}
	}
	for _, g := range groups {
		t0 := time.Now()
		res, err := c.RollingRestart(ctx, g)
		if err != nil {
			return fmt.Errorf("restart %s: %w", g, err)
		}
		for _, r := range res {
			if r.Status != api.Success {
				return fmt.Errorf("restart %s:%s: %s", r.Group, r.Name, r.Description)
			}
		}
		fmt.Fprintf(out, "       restarted %s (%d processes, one at a time, %.1fs)\n", g, len(res), time.Since(t0).Seconds())
	}
	return nil
}

// Rollback makes release id (or, with id "", the newest ready release
// before the current one) current again, without building, and restarts
// the programs on it.
func Rollback(ctx context.Context, l Layout, id string, out io.Writer) (Release, error) {
	unlock, err := lock(l, out, l.Timeout)
	if err != nil {
		return Release{}, err
	}
	defer unlock()
	rels, err := Releases(l)
	if err != nil {
		return Release{}, err
	}
	var to *Release
	for i := range rels {
		r := &rels[i]
		if (id == "" && r.State == StatePrevious) || (id != "" && r.ID == id) {
			to = r
		}
	}
	switch {
	case to == nil && id == "":
		return Release{}, errors.New("no previous release to roll back to: see roost releases")
	case to == nil:
		return Release{}, fmt.Errorf("no release %s: see roost releases", id)
	case to.State == StateCurrent:
		return *to, fmt.Errorf("release %s is already current", to.ID)
	case to.State != StateReady && to.State != StatePrevious:
		return *to, fmt.Errorf("release %s is %s: only a built release can become current", to.ID, to.State)
	}
	if err := switchTo(l, to.ID, time.Now(), out); err != nil {
		return *to, err
	}
	fmt.Fprintf(out, "-----> %s is now release %s\n", l.Current, to.ID)
	if err := restart(ctx, l, out); err != nil {
		return *to, err
	}
	to.State = StateCurrent
	return *to, nil
}
