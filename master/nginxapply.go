package master

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/fsnotify/fsnotify"

	"roost/config"
	"roost/config/nginx"
)

// When a render reaches nginx, and what is pending meanwhile.
//
// Rate. Installs (nginx -t with the candidate in place, then the reload)
// run at most once per [proxy] reload_interval on average, for all users
// together, with a burst of applyBurst: a token bucket that holds
// applyBurst installs and gains one per interval. A quiet nginx takes a
// change at once (the master's first install at start does not hold back
// the first user's route by a whole interval); under a storm a render that
// changed while the bucket is empty is held, and the router renders again
// when it has an install again, with whatever every user declares then
// (the latest state wins; the changes in between are never installed), so
// over any time T there are at most applyBurst + T/interval installs. Every reload leaves nginx's old workers running
// until their connections end (or worker_shutdown_timeout), so this is
// what bounds the workers a user can make nginx keep by rewriting their
// file in a loop. One limit for everyone is also a limit per user, and a
// storming user cannot starve another: the other's change rides on the
// next reload.
//
// Success. Only a reload that succeeded makes a configuration "applied"
// (what the verdicts say nginx serves). A failure (the file cannot be
// written, nginx -t refuses it for a reason no user's route is to blame
// for, typically the main configuration, or the reload fails, e.g. nginx
// is down) leaves the change pending: the router tries again after a
// backoff (1 s, 2 s, 4 s … 30 s, never faster than the rate), and at
// once (within the interval) when a file changes in the directories of
// nginx's configuration (the output's, the one above it, and that of a
// `-c FILE` in test_command; not logs or pid files), where an admin's fix
// lands. After a failed reload the output may hold bytes nginx does not
// run, so the next attempt installs even if the render did not change; so
// does the first render of a master that found the file already there.
//
// Who is told. Each route whose text in the candidate differs from its
// text in the applied configuration is pending: the user's verdict says
// so and why (ProxyRouteStatus.Pending, ProxyStatus.Pending; `roost
// proxy` shows "pending: …"), `roost admin users` counts it and lists
// "[proxy:NAME] pending: …", and `roost admin nginx` gives the admin the
// command's own error.

// The retry backoff after a failed install, and the installs the rate
// limit lets through at once.
const (
	applyBackoffMin = time.Second
	applyBackoffMax = 30 * time.Second
	applyBurst      = 2
)

// Why a change is pending, as the user reads it (after "pending: "). They
// never quote the admin's files or commands.
const (
	pendingMainConfig = "nginx -t fails on the main configuration (not your file)"
	pendingOwnFile    = "nginx -t fails on a part of the master's file no route is to blame for (not your file)"
	pendingReload     = "nginx did not reload (the master retries; the admin is told)"
	pendingWrite      = "the master cannot write nginx's configuration (it retries; the admin is told)"
)

// pendingRate is why a change waits for the rate limit.
func pendingRate(interval time.Duration) string {
	return fmt.Sprintf("waiting for the next nginx reload (at most one every %v)", interval)
}

// applier is the router's record of its installs (owned by router.run).
type applier struct {
	lastTry  time.Time // the last install attempt
	budget   float64   // installs the rate allows at budgetAt (the bucket)
	budgetAt time.Time // zero: the bucket is full
	failures int       // consecutive failed attempts
	hurry    bool      // nginx's configuration changed: skip the backoff once
	dirty    bool      // the output may hold bytes nginx does not run
	reason   string    // for the users: why the latest render is not in nginx ("" when it is)
	adminErr string    // for the admin: the failure, with the command's output
}

// bucket is the installs the rate allows at now: one more per interval
// since the last attempt, at most applyBurst.
func (a *applier) bucket(now time.Time, interval time.Duration) float64 {
	if a.budgetAt.IsZero() {
		return applyBurst
	}
	return min(applyBurst, a.budget+float64(now.Sub(a.budgetAt))/float64(interval))
}

// wait is how long until the next install may run (<= 0: now).
func (a *applier) wait(now time.Time, interval time.Duration) time.Duration {
	var d time.Duration
	if b := a.bucket(now, interval); b < 1 {
		d = time.Duration((1 - b) * float64(interval))
	}
	if a.failures > 0 && !a.hurry {
		d = max(d, a.lastTry.Add(min(applyBackoffMin<<min(a.failures-1, 6), applyBackoffMax)).Sub(now))
	}
	return d
}

// held records a render held back by the rate limit (a failure's reason
// stays: it is still why nothing newer is in nginx).
func (a *applier) held(interval time.Duration) {
	if a.failures == 0 {
		a.reason = pendingRate(interval)
	}
}

// tried records an install attempt: it takes one from the bucket.
func (a *applier) tried(now time.Time, interval time.Duration) {
	a.budget, a.budgetAt = a.bucket(now, interval)-1, now
	a.lastTry, a.hurry = now, false
}

// failed records a failed attempt.
func (a *applier) failed(reason, adminErr string) {
	a.failures++
	a.reason, a.adminErr = reason, adminErr
}

// settled records that nginx runs the latest render.
func (a *applier) settled() {
	a.failures, a.hurry, a.dirty = 0, false, false
	a.reason, a.adminErr = "", ""
}

// retrying says whether a change of nginx's configuration should hurry
// the next attempt.
func (a *applier) retrying() bool { return a.failures > 0 || a.dirty }

// nginxDirs are the directories where a fix of nginx's configuration
// lands: the output's, the one above it (Debian's nginx.conf is beside
// conf.d/), and that of the file after -c in test_command.
func nginxDirs(px config.MasterProxy) []string {
	dir := filepath.Dir(px.Output)
	dirs := []string{dir, filepath.Dir(dir)}
	for i, a := range px.TestCommand {
		if a == "-c" && i+1 < len(px.TestCommand) && filepath.IsAbs(px.TestCommand[i+1]) {
			dirs = append(dirs, filepath.Dir(filepath.Clean(px.TestCommand[i+1])))
		}
	}
	slices.Sort(dirs)
	return slices.Compact(dirs)
}

// notConfig says whether a change of name cannot be a fix of nginx's
// configuration: the output or the master's own files beside it (the
// master's own doing), and logs and pid files (nginx -t and a running
// nginx write those).
func notConfig(px config.MasterProxy, name string) bool {
	name = filepath.Clean(name)
	dir, base := filepath.Dir(px.Output), filepath.Base(px.Output)
	return name == px.Output || (filepath.Dir(name) == dir && strings.HasPrefix(filepath.Base(name), "."+base+".roost-")) ||
		strings.HasSuffix(name, ".log") || strings.HasSuffix(name, ".pid")
}

// nginxWatch follows the directories of nginx's configuration and reports
// every change there that may be a fix (see notConfig) on changed. It runs
// until ctx ends; a directory that cannot be watched is logged and left
// to the backoff timer.
func (r *router) nginxWatch(ctx context.Context, px config.MasterProxy, changed chan<- struct{}) {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		r.log.Warn("cannot watch nginx's configuration: a failed nginx -t is retried on a timer only", "err", err)
		return
	}
	defer w.Close()
	for _, d := range nginxDirs(px) {
		if err := w.Add(d); err != nil {
			r.log.Warn("cannot watch a directory of nginx's configuration", "dir", d, "err", err)
		}
	}
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-w.Events:
			if !ok {
				return
			}
			if notConfig(px, ev.Name) {
				continue
			}
			select {
			case changed <- struct{}{}:
			default:
			}
		case err, ok := <-w.Errors:
			if !ok {
				return
			}
			r.log.Debug("watching nginx's configuration", "err", err)
		}
	}
}

// renderAndApply renders in and installs the result when it differs from
// what nginx runs and the rate and backoff allow; a held or failed install
// is retried by a timer. When nginx -t fails on a line config/nginx.Blame
// gives to a user, it renders again without that user's routes (see the
// comment in router.go). It returns the renderer's warnings.
func (r *router) renderAndApply(ctx context.Context, cfg *config.Master, in *nginx.Input, fps map[string][32]byte) []nginx.Warning {
	px := cfg.Proxy
	r.lastErr = ""
	for attempt := 0; attempt <= len(in.Users); attempt++ {
		conf, warns, err := nginx.Render(*in)
		if err != nil { // the policy was checked when roost.toml was loaded
			r.lastErr = "render: " + err.Error()
			r.log.Error("cannot render the nginx configuration", "err", err)
			return warns
		}
		r.candidate = conf
		if r.haveApplied && !r.apply.dirty && bytes.Equal(conf, r.applied) {
			r.apply.settled()
			return warns
		}
		now := time.Now()
		if attempt == 0 {
			if d := r.apply.wait(now, px.ReloadInterval); d > 0 {
				r.apply.held(px.ReloadInterval)
				r.lastErr = r.apply.adminErr
				r.scheduleIn(d)
				r.log.Debug("nginx install held back", "for", d.Round(time.Millisecond), "failures", r.apply.failures)
				return warns
			}
		}
		r.apply.tried(now, px.ReloadInterval)
		res := install(ctx, px, conf)
		switch {
		case res.err != nil:
			r.applyFailed(px, pendingWrite, res.err.Error())
			r.log.Error("nginx configuration not installed", "output", px.Output, "err", res.err)
			return warns
		case res.testErr != nil:
			line := blameLine(res.testOut, px.Output)
			name, section, ok := nginx.Blame(conf, line)
			msg := firstError(res.testOut)
			if !ok || r.failed[name].section != "" {
				reason := pendingMainConfig
				if line > 0 {
					reason = pendingOwnFile
				}
				r.applyFailed(px, reason, fmt.Sprintf("%v: %s (no user's route is to blame: the previous file stays)", res.testErr, msg))
				r.log.Error("nginx -t refused the configuration; the previous one stays, the master retries",
					"err", res.testErr, "output", res.testOut)
				return warns
			}
			r.failed[name] = failure{fp: fps[name], section: section, msg: msg}
			r.log.Error("nginx -t failed on a user's route: rendering again without that user's routes",
				"user", name, "section", section, "line", line, "err", msg)
			exclude(in, name)
			continue
		}
		r.installed, r.installedAt = conf, now
		if res.reloadErr != nil {
			r.apply.dirty = true
			r.applyFailed(px, pendingReload, fmt.Sprintf("%v: %s", res.reloadErr, firstError(res.reloadOut)))
			r.log.Error("nginx configuration installed, but the reload failed; the master retries",
				"err", res.reloadErr, "output", res.reloadOut)
			return warns
		}
		r.applied, r.haveApplied = conf, true
		r.installs.Add(1)
		r.apply.settled()
		r.log.Info("nginx configuration installed and nginx reloaded", "output", px.Output,
			"routes", len(nginx.Served(conf)), "left_out", len(warns))
		return warns
	}
	return nil
}

// applyFailed records a failed install and arms its retry.
func (r *router) applyFailed(px config.MasterProxy, reason, adminErr string) {
	r.installFailures.Add(1)
	r.apply.failed(reason, adminErr)
	r.lastErr = adminErr
	r.scheduleIn(r.apply.wait(time.Now(), px.ReloadInterval))
}

// pendingSet says which routes' latest form nginx does not run yet.
type pendingSet struct {
	reason           string
	applied, pending map[nginx.RouteKey]string
}

// pendingRoutes compares the latest render with what nginx runs.
func (r *router) pendingRoutes() pendingSet {
	if r.apply.reason == "" {
		return pendingSet{}
	}
	return pendingSet{reason: r.apply.reason, applied: nginx.RouteTexts(r.applied), pending: nginx.RouteTexts(r.candidate)}
}

// route is why the user's section is pending, or "".
func (p pendingSet) route(user, section string) string {
	k := nginx.RouteKey{User: user, Section: section}
	if p.reason == "" || p.applied[k] == p.pending[k] {
		return ""
	}
	return p.reason
}

// user is why some route of the user is pending (one nginx still serves
// though the user removed it included), or "".
func (p pendingSet) user(user string) string {
	for _, m := range []map[nginx.RouteKey]string{p.applied, p.pending} {
		for k := range m {
			if k.User == user && p.route(user, k.Section) != "" {
				return p.reason
			}
		}
	}
	return ""
}
