package master

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"roost/config"
	"roost/config/nginx"
	"roost/internal/procfs"
	"roost/supervisor/api"
)

// The router: the master's nginx side (roost.toml [proxy]).
//
// Who says what. Each user's own supervisor reads its [proxy:NAME]
// sections and serves them on its socket (GET /api/v1/proxy): hosts,
// static directories as it resolved them, knobs, and one 127.0.0.1:PORT
// upstream per process, from the port block the master gave it. The
// master never opens a user's file: it asks. It treats every byte of the
// answer as hostile: the answer is size-capped, every value is checked
// again by config/nginx against the admin's policy, the user's project
// directory and port block as the master knows them, and each upstream
// port is checked against /proc/net/tcp{,6}: a port on which a socket of
// another uid listens is not routed, and the user is told who holds it;
// each unix socket upstream is checked in the file system. The checks run
// at every render and every second while a route exists (router_verify.go,
// upstream_linux.go); where the kernel allows, binding another user's
// port is refused outright (cgroups_linux.go).
//
// When. For every user whose supervisor is RUNNING the master keeps one
// watcher: it subscribes to the supervisor's events, then fetches the
// routes, and fetches again (debounced) after ROOST_PROXY_CHANGED (a
// configuration was applied), a process state change or a group change.
// Nothing polls. A watcher that cannot connect retries with a growing
// delay while the supervisor runs. A user whose supervisor stops loses
// their routes until it is back.
//
// Rendering. Every update schedules one render, at most routerDelay
// later, for all users at once (config/nginx.Render is a pure function of
// the policy and every user's routes). Unchanged bytes are not installed
// and nginx is not reloaded. Changed bytes are installed as nginxfile.go
// describes, when nginxapply.go's rate limit and backoff allow (a held or
// failed install is retried by a timer, and reported as pending until
// nginx reloaded it); when nginx -t fails on a line config/nginx.Blame gives to a
// user, that user's routes are left out, the render is done again without
// them (at most once per user), and the failure is recorded: the user's
// routes stay out, and the user and the admin are told, until the user's
// routes change. A failure no user can be blamed for leaves the old file
// in place, and is retried.
//
// The verdict. After each render the master posts each user's verdict to
// their supervisor (POST /api/v1/proxy/status, which only root may), for
// `roost proxy`; `roost admin users` and `roost admin nginx` show it, and
// the master logs every left-out part.

// Router timing and limits.
const (
	// routerDelay is how long an update waits for the ones that follow it
	// before the render (a debounce with a bounded wait).
	routerDelay = 300 * time.Millisecond
	// watchDelay debounces a user's burst of events before a fetch.
	watchDelay = 200 * time.Millisecond
	// maxProxyResponse bounds a supervisor's answer about its routes.
	maxProxyResponse = 1 << 20
	// maxRoutesPerUser bounds the routes one user may declare.
	maxRoutesPerUser = 256
	// watchRetryMax caps the delay between a watcher's connection attempts.
	watchRetryMax = 10 * time.Second
	// requestTimeout bounds one request to a user's supervisor.
	requestTimeout = 5 * time.Second
)

// NginxStatus is what `roost admin nginx` shows: the configuration the
// master installed last, and how its last attempt went.
type NginxStatus struct {
	Enabled bool   `json:"enabled"`
	Output  string `json:"output"`
	// Config is what the output file holds since the master last
	// installed it ("" before that).
	Config    string `json:"config"`
	Installed int64  `json:"installed,omitempty"` // unix seconds
	Rendered  int64  `json:"rendered,omitempty"`  // unix seconds of the last render
	// Error says why the last render could not be installed, or why nginx
	// did not reload it.
	Error string `json:"error,omitempty"`
	// Warnings list every part of every user's routes that was left out.
	Warnings []string `json:"warnings,omitempty"`
	// Pending says why the latest render is not what nginx runs yet (the
	// reload rate limit, or a failure the master retries: see Error).
	Pending string `json:"pending,omitempty"`
}

// NginxCheck is what `roost admin nginx --check` shows: what the master
// would render now, without installing it.
type NginxCheck struct {
	Config   string   `json:"config"`
	Warnings []string `json:"warnings,omitempty"`
	Error    string   `json:"error,omitempty"`
}

// userProxy is one user's routing summary for `roost admin users`.
type userProxy struct {
	routes, served int
	problems       []string
	pending        int // routes whose latest form nginx does not run yet
}

// routesUpdate is what a watcher reports.
type routesUpdate struct {
	name string
	pid  int
	info *api.ProxyInfo // nil with err
	err  error
}

// userRoutes is the latest a user's supervisor said.
type userRoutes struct {
	info *api.ProxyInfo
	err  string
}

// failure is a user's routes that failed nginx -t.
type failure struct {
	fp      [32]byte // of the routes that failed
	section string
	msg     string
}

type router struct {
	m      *Master
	log    *slog.Logger
	kickc  chan struct{}
	updc   chan routesUpdate
	checkc chan chan NginxCheck
	holdc  chan routerHold // the master re-executes (reexec.go)

	status  atomic.Pointer[NginxStatus]
	summary atomic.Pointer[map[string]userProxy]
	renders atomic.Int64 // renders done, for tests to await one
	// installs and installFailures count nginx installs that reached a
	// reload, and those that failed (metrics.go).
	installs, installFailures atomic.Int64

	// owned by run
	watchers    map[string]*userWatcher
	infos       map[string]userRoutes
	failed      map[string]failure
	applied     []byte
	haveApplied bool
	installed   []byte  // what the output holds since the master installed it
	candidate   []byte  // the latest render, applied or pending
	apply       applier // installs: rate, failures, what is pending (nginxapply.go)
	timer       *time.Timer
	timerAt     time.Time
	nginxc      chan struct{} // a file of nginx's configuration changed
	nginxKey    string        // the directories being watched, as a key
	stopWatch   context.CancelFunc
	pushed      map[string][]byte // the last verdict handed to each watcher, without its time
	lastErr     string
	installedAt time.Time
	warned      map[string]bool // the problems the last render logged
	verified    [32]byte        // verifyKey of the last render's notes (router_verify.go)
	vtimer      *time.Timer     // the next owner check, while any route exists
	// holdUntil: the first render waits, at most until then, for the
	// routes of every adopted supervisor, so that a master that took its
	// users over never installs a file without their routes.
	holdUntil time.Time
	tls       tlsSide // certificates for the routed hosts (tls.go)
}

func newRouter(m *Master) *router {
	r := &router{
		m: m, log: m.log.With("component", "nginx"),
		kickc:    make(chan struct{}, 1),
		updc:     make(chan routesUpdate, 16),
		checkc:   make(chan chan NginxCheck),
		holdc:    make(chan routerHold),
		watchers: map[string]*userWatcher{},
		infos:    map[string]userRoutes{},
		failed:   map[string]failure{},
		pushed:   map[string][]byte{},
		nginxc:   make(chan struct{}, 1),
	}
	r.status.Store(&NginxStatus{})
	empty := map[string]userProxy{}
	r.summary.Store(&empty)
	return r
}

// kick tells the router that user states or roost.toml changed.
func (r *router) kick() {
	select {
	case r.kickc <- struct{}{}:
	default:
	}
}

// run is the router's owner goroutine.
func (r *router) run(ctx context.Context) {
	defer func() {
		for _, w := range r.watchers {
			w.cancel()
		}
		if r.stopWatch != nil {
			r.stopWatch()
		}
		r.tls.stop()
	}()
	cfg := r.m.Config()
	r.ensureTLS(ctx, cfg)
	if data, err := os.ReadFile(cfg.Proxy.Output); err == nil && cfg.Proxy.Enabled {
		// The master's own file (root's directory). Whether nginx runs it
		// is not known (the last master's reload may have failed): the
		// first render installs and reloads even unchanged bytes, once.
		r.applied, r.haveApplied, r.installed, r.candidate = data, true, data, data
		r.apply.dirty = true
	}
	if len(r.m.image0().Adopted) > 0 {
		r.holdUntil = time.Now().Add(adoptedRoutesWait)
	}
	r.reconcile()
	r.followNginx(ctx)
	r.schedule()
	for {
		vc := r.verifyTimer()
		var tc <-chan time.Time
		if r.timer != nil {
			tc = r.timer.C
		}
		select {
		case <-ctx.Done():
			return
		case <-r.kickc:
			r.ensureTLS(ctx, r.m.Config())
			r.reconcile()
			r.followNginx(ctx)
			r.schedule()
		case <-r.nginxc:
			if !r.apply.retrying() {
				r.log.Debug("nginx's configuration changed; nothing is pending")
				continue
			}
			r.log.Info("nginx's configuration changed: retrying the pending install")
			r.apply.hurry = true
			r.schedule()
		case u := <-r.updc:
			w := r.watchers[u.name]
			if w == nil || w.pid != u.pid {
				continue // a watcher that was replaced
			}
			if u.err != nil {
				prev := r.infos[u.name]
				prev.err = sanitize(u.err.Error(), 300)
				r.infos[u.name] = prev
				r.log.Warn("cannot read the user's routes", "user", u.name, "err", prev.err)
				if !r.holdUntil.IsZero() {
					r.schedule()
				}
				continue
			}
			r.infos[u.name] = userRoutes{info: u.info}
			r.schedule()
		case <-tc:
			r.timer, r.timerAt = nil, time.Time{}
			if r.holding() {
				r.scheduleIn(time.Until(r.holdUntil))
				continue
			}
			r.render(ctx)
		case h := <-r.holdc:
			close(h.ack)
			<-h.release
		case reply := <-r.checkc:
			reply <- r.check()
		case <-vc:
			r.vtimer = nil
			r.verify()
		}
	}
}

// schedule arms the render, unless one is already due as soon.
func (r *router) schedule() { r.scheduleIn(routerDelay) }

// scheduleIn arms the render d from now, or keeps an earlier one.
func (r *router) scheduleIn(d time.Duration) {
	at := time.Now().Add(d)
	if r.timer != nil && !r.timerAt.After(at) {
		return
	}
	if r.timer != nil {
		r.timer.Stop()
	}
	r.timer, r.timerAt = time.NewTimer(d), at
}

// followNginx keeps one watcher on the directories of nginx's
// configuration while routing is on (nginxapply.go).
func (r *router) followNginx(ctx context.Context) {
	px := r.m.Config().Proxy
	key := ""
	if px.Enabled {
		key = strings.Join(nginxDirs(px), "\x00")
	}
	if key == r.nginxKey {
		return
	}
	if r.stopWatch != nil {
		r.stopWatch()
		r.stopWatch = nil
	}
	r.nginxKey = key
	if key != "" {
		wctx, cancel := context.WithCancel(ctx)
		r.stopWatch = cancel
		go r.nginxWatch(wctx, px, r.nginxc)
	}
}

// reconcile keeps one watcher per RUNNING user supervisor (per pid).
func (r *router) reconcile() {
	cfg := r.m.Config()
	live := map[string]bool{}
	for _, st := range r.m.statuses() {
		w := r.watchers[st.Name]
		if !cfg.Proxy.Enabled || st.State != UserRunning || st.PID == 0 {
			continue
		}
		live[st.Name] = true
		if w != nil && w.pid == st.PID {
			continue
		}
		if w != nil {
			w.cancel()
		}
		delete(r.infos, st.Name)
		delete(r.pushed, st.Name)
		r.watchers[st.Name] = r.startWatcher(st)
	}
	for name, w := range r.watchers {
		if !live[name] {
			w.cancel()
			delete(r.watchers, name)
			delete(r.infos, name)
			delete(r.pushed, name)
		}
	}
}

// input builds the renderer's input: every managed user (their own names
// stay reserved even without routes), with the routes their supervisor
// reported, each upstream checked against the listening sockets. It
// returns per-user notes (by section) and the fingerprint of each user's
// routes.
func (r *router) input(cfg *config.Master) (nginx.Input, map[string]map[string][]string, map[string][32]byte) {
	in := nginx.Input{Policy: policyOf(cfg)}
	notes := map[string]map[string][]string{}
	fps := map[string][32]byte{}
	listeners, lerr := procfs.TCPListeners()
	if lerr != nil {
		r.log.Error("cannot read the listening sockets: every TCP upstream is left out", "err", lerr)
	}
	for _, st := range r.m.statuses() {
		u := nginx.User{Name: st.Name, ProjectDir: st.Project, RunDir: r.runSubdir(nginxDirName, st.Name)}
		if st.PortCount > 0 {
			u.Ports = nginx.PortRange{First: st.PortBase, Last: st.PortBase + st.PortCount - 1}
		}
		info := r.infos[st.Name].info
		if info == nil || st.State == UserRefused {
			in.Users = append(in.Users, u)
			continue
		}
		note := func(section, format string, args ...any) {
			if notes[st.Name] == nil {
				notes[st.Name] = map[string][]string{}
			}
			notes[st.Name][section] = append(notes[st.Name][section], fmt.Sprintf(format, args...))
		}
		routes := info.Routes
		if len(routes) > maxRoutesPerUser {
			note("", "%d routes declared; only the first %d are considered", len(routes), maxRoutesPerUser)
			routes = routes[:maxRoutesPerUser]
		}
		for _, pr := range routes {
			rt := pr // api.ProxyRoute is nginx.Route: only the upstreams and Pos change
			rt.Pos, rt.Upstreams = cleanPos(pr.Pos), nil
			for _, up := range pr.Upstreams {
				routed, why := r.routeUpstream(listeners, lerr, up, st.Name, st.UID)
				if why != "" {
					note(pr.Section, "%s", why)
					continue
				}
				rt.Upstreams = append(rt.Upstreams, routed)
			}
			u.Routes = append(u.Routes, rt)
		}
		b, _ := json.Marshal(u.Routes)
		fps[st.Name] = sha256.Sum256(b)
		in.Users = append(in.Users, u)
	}
	return in, notes, fps
}

// portHolder checks who listens on an upstream "127.0.0.1:PORT": ok when
// nobody does or only uid; else it names the other owner. Anything that
// does not parse is left to the renderer, which refuses it with a reason.
func portHolder(ls []procfs.Listener, up string, uid int) (string, bool) {
	ap, err := netip.ParseAddrPort(up)
	if err != nil {
		return "", true
	}
	for _, l := range ls {
		if l.Accepts(ap) && l.UID != uid {
			name := "uid " + strconv.Itoa(l.UID)
			if u, err := user.LookupId(strconv.Itoa(l.UID)); err == nil {
				name += " (" + sanitize(u.Username, 40) + ")"
			}
			return name, false
		}
	}
	return "", true
}

// cleanPos keeps a position from a user's supervisor printable.
func cleanPos(p config.Pos) config.Pos {
	f := sanitize(p.File, 200)
	if f != p.File || p.Line < 0 {
		return config.Pos{}
	}
	return p
}

// policyOf is the renderer's policy from roost.toml.
func policyOf(cfg *config.Master) nginx.Policy {
	px := cfg.Proxy
	return nginx.Policy{
		Listen: px.Listen, Hosts: px.Hosts, Grants: cfg.Grants(),
		ServerNamesHashBucketSize: px.ServerNamesHashBucketSize, ServerNamesHashMaxSize: px.ServerNamesHashMaxSize,
		MaxBodySize: px.MaxBodySize, NoDefaultServer: !px.DefaultServer,
	}
}

// checkProxyPolicy validates roost.toml's [proxy] table as the renderer
// will read it.
func checkProxyPolicy(cfg *config.Master) error {
	err := nginx.CheckPolicy(policyOf(cfg))
	if err == nil {
		return nil
	}
	msg := strings.TrimPrefix(err.Error(), "policy: ")
	d := config.Diagnostic{Pos: cfg.PosOf("proxy"), Section: "proxy", Message: msg}
	if rest, ok := strings.CutPrefix(msg, "grants for "); ok {
		// "grants for bob: hosts[0] …": the [user.bob] table's hosts.
		if name, m, ok := strings.Cut(rest, ": "); ok && config.ValidateUserName(name) == nil {
			d = config.Diagnostic{Pos: cfg.PosOf("user." + name + ".hosts"), Section: "user." + name, Key: "hosts", Message: m}
		}
	}
	return &config.Error{Diagnostics: []config.Diagnostic{d}}
}

// exclude leaves a user's routes out of in (their names stay reserved).
func exclude(in *nginx.Input, name string) {
	for i := range in.Users {
		if in.Users[i].Name == name {
			in.Users[i].Routes = nil
		}
	}
}

// render renders every user's routes and installs the result when it
// changed (see the comment at the top).
func (r *router) render(ctx context.Context) {
	cfg := r.m.Config()
	if !cfg.Proxy.Enabled || r.m.isStopping() {
		return // at shutdown, nginx keeps the routes: the master comes back
	}
	in, notes, fps := r.input(cfg)
	r.addTLS(cfg, &in)
	r.verified = verifyKey(notes)
	for name, f := range r.failed {
		if fp, ok := fps[name]; !ok || fp != f.fp {
			delete(r.failed, name) // the routes changed: try them again
			continue
		}
		exclude(&in, name)
	}
	warns := r.renderAndApply(ctx, cfg, &in, fps)
	r.wantCerts(cfg, in)
	// Each problem is logged once, when it appears, not at every render.
	warned := map[string]bool{}
	logOnce := func(msg, name, section string) {
		key := name + "\x00" + section + "\x00" + msg
		warned[key] = true
		if !r.warned[key] {
			r.log.Warn("route left out: "+msg, "user", name, "section", section)
		}
	}
	for _, w := range warns {
		logOnce(w.String(), w.User, w.Section)
	}
	for name, secs := range notes {
		for sec, ns := range secs {
			for _, n := range ns {
				logOnce(n, name, sec)
			}
		}
	}
	r.warned = warned
	r.publish(cfg, warns, notes)
	r.renders.Add(1)
}

// publish records the outcome for the admin and hands each user their
// verdict.
func (r *router) publish(cfg *config.Master, warns []nginx.Warning, notes map[string]map[string][]string) {
	served := map[[2]string][]string{}
	for _, sr := range nginx.Served(r.applied) {
		served[[2]string{sr.User, sr.Section}] = sr.Upstreams
	}
	now := time.Now()
	pend := r.pendingRoutes()
	summary := map[string]userProxy{}
	var all []string
	for name, ur := range r.infos {
		if ur.info == nil {
			continue
		}
		st := api.ProxyStatus{Time: now.Unix(), Routes: []api.ProxyRouteStatus{}, Generation: ur.info.Generation}
		sum := userProxy{}
		if f, ok := r.failed[name]; ok {
			st.Error = fmt.Sprintf("nginx -t failed on [%s]: %s; all your routes are left out until you change them", f.section, f.msg)
			sum.problems = append(sum.problems, st.Error)
		}
		for _, n := range notes[name][""] {
			sum.problems = append(sum.problems, n)
			st.Error = strings.TrimPrefix(st.Error+"; "+n, "; ")
		}
		for _, w := range warns {
			if w.User == name && w.Section == "" {
				st.Error = strings.TrimPrefix(st.Error+"; "+w.Message, "; ")
				sum.problems = append(sum.problems, w.String())
			}
		}
		for _, pr := range ur.info.Routes {
			ups, ok := served[[2]string{name, pr.Section}]
			rs := api.ProxyRouteStatus{Section: pr.Section, Served: ok, Upstreams: ups}
			rs.Problems = append(rs.Problems, notes[name][pr.Section]...)
			for _, w := range warns {
				if w.User == name && w.Section == pr.Section {
					rs.Problems = append(rs.Problems, w.Message)
				}
			}
			if rs.Pending = pend.route(name, pr.Section); rs.Pending != "" {
				sum.pending++
				sum.problems = append(sum.problems, "["+sanitize(pr.Section, 100)+"] pending: "+rs.Pending)
			}
			if rs.Served {
				sum.served++
			}
			sum.routes++
			for _, p := range rs.Problems {
				// The section is the user's text: sanitized for root's terminal.
				sum.problems = append(sum.problems, "["+sanitize(pr.Section, 100)+"] "+p)
			}
			st.Routes = append(st.Routes, rs)
		}
		var tlsProblems []string
		st.TLS, tlsProblems = r.userTLS(name)
		sum.problems = append(sum.problems, tlsProblems...)
		if st.Pending = pend.user(name); st.Pending != "" && sum.pending == 0 {
			sum.problems = append(sum.problems, "pending: "+st.Pending) // a removed route nginx still serves
		}
		summary[name] = sum
		for _, p := range sum.problems {
			all = append(all, "user "+name+": "+p)
		}
		r.hand(name, st)
	}
	sort.Strings(all)
	r.summary.Store(&summary)
	r.status.Store(&NginxStatus{
		Enabled: cfg.Proxy.Enabled, Output: cfg.Proxy.Output, Config: string(r.installed), Pending: r.apply.reason,
		Installed: unixOrZero(r.installedAt), Rendered: now.Unix(), Error: r.lastErr, Warnings: all,
	})
}

// hand gives a user's watcher their verdict when it changed.
func (r *router) hand(name string, st api.ProxyStatus) {
	w := r.watchers[name]
	if w == nil {
		return
	}
	key := st
	key.Time = 0
	b, _ := json.Marshal(key)
	if bytes.Equal(b, r.pushed[name]) {
		return
	}
	r.pushed[name] = b
	w.setVerdict(st)
}

func unixOrZero(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.Unix()
}

// check renders what would be installed now, without installing it.
func (r *router) check() NginxCheck {
	cfg := r.m.Config()
	in, _, fps := r.input(cfg)
	r.addTLS(cfg, &in)
	for name, f := range r.failed {
		if fps[name] == f.fp {
			exclude(&in, name)
		}
	}
	conf, warns, err := nginx.Render(in)
	out := NginxCheck{Config: string(conf)}
	if err != nil {
		out.Error = err.Error()
	}
	for _, w := range warns {
		out.Warnings = append(out.Warnings, w.String())
	}
	return out
}

// Check asks the router what it would render now.
func (r *router) Check(ctx context.Context) (NginxCheck, error) {
	reply := make(chan NginxCheck, 1)
	select {
	case r.checkc <- reply:
	case <-ctx.Done():
		return NginxCheck{}, ctx.Err()
	}
	select {
	case c := <-reply:
		return c, nil
	case <-ctx.Done():
		return NginxCheck{}, ctx.Err()
	}
}

// userWatcher follows one user supervisor (one pid) for the router.
type userWatcher struct {
	r      *router
	name   string
	uid    int
	pid    int
	path   string
	cancel context.CancelFunc

	verdict atomic.Pointer[api.ProxyStatus]
	pushc   chan struct{} // a new verdict is waiting
}

func (r *router) startWatcher(st UserStatus) *userWatcher {
	ctx, cancel := context.WithCancel(context.Background())
	w := &userWatcher{r: r, name: st.Name, uid: st.UID, pid: st.PID, cancel: cancel,
		path: filepath.Join(r.m.usersDir, st.Name, SocketName), pushc: make(chan struct{}, 1)}
	go w.run(ctx)
	return w
}

func (w *userWatcher) setVerdict(st api.ProxyStatus) {
	w.verdict.Store(&st)
	select {
	case w.pushc <- struct{}{}:
	default:
	}
}

func (w *userWatcher) report(ctx context.Context, u routesUpdate) {
	u.name, u.pid = w.name, w.pid
	select {
	case w.r.updc <- u:
	case <-ctx.Done():
	}
}

// run connects to the supervisor's socket and follows it, reconnecting
// with a growing delay until ctx ends (the supervisor stopped or changed).
func (w *userWatcher) run(ctx context.Context) {
	delay := 100 * time.Millisecond
	for {
		c, err := api.Dial(w.path, api.WithServerUIDs(w.uid), api.WithMaxResponseBytes(maxProxyResponse))
		if err == nil {
			err = w.session(ctx, c)
			c.Close()
			delay = 100 * time.Millisecond
		}
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			w.report(ctx, routesUpdate{err: err})
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		delay = min(2*delay, watchRetryMax)
	}
}

// relevant says whether an event may change a user's routes or the
// sockets behind them.
func relevant(ev api.Event) bool {
	return ev.Type == api.EventProxyChanged || strings.HasPrefix(ev.Type, "PROCESS_STATE_") ||
		strings.HasPrefix(ev.Type, "PROCESS_GROUP_") || ev.Type == "SUPERVISOR_STATE_CHANGE_RUNNING"
}

// session subscribes to the supervisor's events, fetches its routes, and
// fetches again after relevant events; it posts the router's verdicts.
func (w *userWatcher) session(ctx context.Context, c *api.Client) error {
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	evc := make(chan struct{}, 1)
	opened := make(chan struct{})
	errc := make(chan error, 1)
	go func() {
		errc <- c.EventsFrom(sctx, func() { close(opened) }, func(ev api.Event) error {
			if relevant(ev) {
				select {
				case evc <- struct{}{}:
				default:
				}
			}
			return nil
		})
	}()
	select {
	case <-opened:
	case err := <-errc:
		return fmt.Errorf("events: %w", streamEnd(err))
	case <-ctx.Done():
		return nil
	}
	fetch := func() {
		fctx, cancel := context.WithTimeout(ctx, requestTimeout)
		defer cancel()
		info, err := c.Proxy(fctx)
		if err != nil {
			w.report(ctx, routesUpdate{err: fmt.Errorf("GET /api/v1/proxy: %w", err)})
			return
		}
		w.report(ctx, routesUpdate{info: &info})
	}
	post := func() {
		st := w.verdict.Load()
		if st == nil {
			return
		}
		pctx, cancel := context.WithTimeout(ctx, requestTimeout)
		defer cancel()
		if err := c.SetProxyStatus(pctx, *st); err != nil {
			w.r.log.Debug("cannot post the user's proxy status", "user", w.name, "err", err)
		}
	}
	fetch()
	post()
	var debounce *time.Timer
	var dc <-chan time.Time
	defer func() {
		if debounce != nil {
			debounce.Stop()
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-errc:
			return fmt.Errorf("events: %w", streamEnd(err))
		case <-evc:
			if debounce == nil {
				debounce = time.NewTimer(watchDelay)
				dc = debounce.C
			}
		case <-dc:
			debounce, dc = nil, nil
			fetch()
		case <-w.pushc:
			post()
		}
	}
}

func streamEnd(err error) error {
	if err == nil {
		return errStreamEnded
	}
	return err
}

var errStreamEnded = fmt.Errorf("the stream ended")

// proxySummary returns a user's routing summary for `roost admin users`.
func (r *router) proxySummary(name string) (userProxy, bool) {
	s, ok := (*r.summary.Load())[name]
	return s, ok
}
