// Package supervisor is roost's per-user runtime: supervisord's process
// state machine, one owner goroutine per process, the spawn and stop
// recipes, groups and priority order, reread/update, the main log, and the
// watcher that applies a changed configuration.
//
// A Supervisor is built from a parsed configuration (New) and runs until its
// context ends or Shutdown is called (Run). It implements api.Backend, which
// the control socket (JSON and XML-RPC) calls.
//
// Semantics are supervisord 4.2.5's (supervisor/process.py,
// rpcinterface.py, supervisord.py) unless a comment says why not.
package supervisor

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"log/syslog"
	"os"
	"os/user"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"roost/cgroup"
	"roost/config"
	"roost/health"
	"roost/logrotate"
	"roost/supervisor/api"
)

// Options configure a Supervisor.
type Options struct {
	// Load re-reads the configuration (reread, update, HUP, the watcher).
	// nil: config.Load(cfg.File, config.LoadOptions{}).
	Load func() (*config.Config, error)
	// Logger receives the main log. nil: the supervisor writes
	// [supervisord] logfile at [supervisord] loglevel in supervisord's
	// format, and echoes it to stdout unless silent=true or Managed (as
	// supervisord -n does).
	Logger *slog.Logger
	// Version is roost's version, for api.Backend.Version.
	Version string
	// Watch applies valid changes of the configuration files as they are
	// saved (fsnotify on their directories, debounced).
	Watch bool
	// Managed says the root master started this supervisor. It changes one
	// default: the main log is not echoed to stdout, since the master keeps
	// the supervisor's output itself.
	Managed bool
	// Cron is the project's cron file (`roost run --cron FILE`). "": the
	// file named cron in the configuration's directory. A missing file
	// means no cron jobs; see cron.go.
	Cron string
	// ServerURL is SUPERVISOR_SERVER_URL for programs (e.g.
	// "unix:///run/roost/users/alice/roost.sock" when `roost run --socket`
	// overrides the config). "": unix://[unix_http_server] file, as
	// supervisord.
	ServerURL string
	// Broken is why the file on disk did not load at start: the
	// configuration New is given then stands in for it (CONFIG-ERROR, see
	// configstate.go), and the file is applied once it loads.
	Broken error
	// Saved says that configuration is the last good one saved in the
	// user's state, not an empty one.
	Saved bool
	// Applied is called with each configuration a full update applied
	// (the watcher, HUP, `roost update`), to save it as the last good one.
	Applied func(*config.Config)
	// Reexec lets the supervisor re-exec its binary in place, keeping its
	// programs (handover.go); nil: it cannot.
	Reexec *ReexecOptions
}

// Supervisor runs one configuration's programs. Its methods are safe for
// concurrent use.
type Supervisor struct {
	opts        Options
	oom         *oomWatch        // tells OOM kills (oom_linux.go)
	cg          *cgroup.Programs // per-program cgroups (cgroup_linux.go); nil without delegation
	load        func() (*config.Config, error)
	log         *slog.Logger
	events      *broker
	listenerIO  ListenerIO // speaks to [eventlistener:x] processes (SetListenerIO)
	self        *account   // the user this supervisor runs as
	serverURL   string
	identifier  string
	childlogdir string
	mainSink    *logrotate.Sink // nil: no main log file of ours
	cron        *cronState
	started     time.Time
	// readyTimeout bounds a rolling restart's wait for one process to be
	// ready (rolling.go).
	readyTimeout time.Duration

	moodv       atomic.Int32                    // api.SupervisorState
	proxyStatus atomic.Pointer[api.ProxyStatus] // the master's last verdict (proxy.go)
	// verdicts is closed and replaced at each verdict (bluegreen.go waits
	// on it); guarded by verdictMu.
	verdictMu sync.Mutex
	verdicts  chan struct{}
	// extra is the port of a process a blue-green restart is adding to
	// its program's route, by program (guarded by mu).
	extra map[string]int
	// proxyGen is ProxyInfo.Generation: bumped at each change a
	// blue-green restart makes to the routes.
	proxyGen  atomic.Uint64
	problem   atomic.Pointer[diskProblem] // the file on disk does not load (configstate.go)
	running   atomic.Bool
	shutdownc chan struct{}
	shutOnce  sync.Once
	restartc  chan struct{}
	reexec    reexecState // handover.go

	// life ends when Run stops the programs; the goroutines of processes
	// waiting for their dependencies (depends.go) end with it, and depWG
	// counts them.
	life    context.Context
	endLife context.CancelFunc
	depWG   sync.WaitGroup
	notify  notifier // the NOTIFY_SOCKET of notify=true programs (notify.go)

	// opMu serializes what changes the set of processes or runs through all
	// of them in order: autostart, update, add/remove, restart, shutdown.
	opMu sync.Mutex

	mu     sync.RWMutex // guards the fields below
	cfg    *config.Config
	read   *config.Config // the last configuration read (reread); cfg until then
	groups map[string]*group
	order  []*group // by priority, then name
}

// group is an active process group.
type group struct {
	cfg   *config.Group
	procs []*process // by priority, then name
}

var _ api.Backend = (*Supervisor)(nil)

// New builds a Supervisor for cfg: its main log, its groups and their
// processes, all STOPPED. Nothing is spawned before Run.
func New(cfg *config.Config, opts Options) (*Supervisor, error) {
	if cfg == nil {
		return nil, errors.New("new supervisor: no configuration")
	}
	s := &Supervisor{
		opts:      opts,
		load:      opts.Load,
		events:    newBroker(),
		shutdownc: make(chan struct{}),
		restartc:  make(chan struct{}, 1),
		cfg:       cfg,
		read:      cfg,
		groups:    map[string]*group{},
		started:   time.Now(),

		readyTimeout: defaultReadyTimeout,
		oom:          newOOMWatch(),
		cg:           openPrograms(),
	}
	s.life, s.endLife = context.WithCancel(context.Background())
	if s.load == nil {
		file := cfg.File
		s.load = func() (*config.Config, error) { return config.Load(file, config.LoadOptions{}) }
	}
	s.moodv.Store(int32(api.SupervisorRunning))
	s.identifier = cfg.Supervisord.Identifier
	if s.identifier == "" {
		s.identifier = "supervisor"
	}
	s.childlogdir = cfg.Supervisord.Childlogdir
	if s.childlogdir == "" {
		s.childlogdir = os.TempDir()
	}
	if u, err := user.LookupId(strconv.Itoa(os.Getuid())); err == nil {
		s.self, _ = lookupAccount(u.Username)
	}
	s.serverURL = opts.ServerURL
	if s.serverURL == "" && cfg.UnixHTTPServer != nil && cfg.UnixHTTPServer.File != "" {
		s.serverURL = "unix://" + cfg.UnixHTTPServer.File
	}
	if err := s.openMainLog(); err != nil {
		return nil, err
	}
	for _, w := range cfg.Warnings {
		s.log.Warn("config: "+w.String(), "file", w.Pos.File, "line", w.Pos.Line)
	}
	for _, gc := range cfg.Groups {
		if g := s.makeGroup(gc); g != nil {
			s.groups[gc.Name] = g
		}
	}
	s.sortGroups()
	if opts.Reexec != nil && opts.Reexec.From != nil {
		s.adopt(opts.Reexec.From)
	}
	if opts.Broken != nil {
		running := "none"
		if opts.Saved {
			running = "saved"
		}
		s.problem.Store(&diskProblem{state: api.ConfigError, running: running})
		s.noteBroken(opts.Broken)
		s.logConfigError(opts.Broken)
	}
	c, err := newCron(s, cfg, opts.Cron)
	if err != nil {
		if s.mainSink != nil {
			_ = s.mainSink.Close()
		}
		return nil, fmt.Errorf("cron file: %w", err)
	}
	s.cron = c
	return s, nil
}

// openMainLog sets s.log: Options.Logger, or [supervisord] logfile (NONE:
// none) in supervisord's format, plus stdout unless silent or managed.
func (s *Supervisor) openMainLog() error {
	if s.opts.Logger != nil {
		s.log = s.opts.Logger
		return nil
	}
	sv := s.cfg.Supervisord
	var out []io.Writer
	echo := !sv.Silent && !s.opts.Managed
	switch sv.Logfile {
	case "":
	case "/dev/stdout":
		out = append(out, os.Stdout)
		echo = false
	case "/dev/stderr":
		out = append(out, os.Stderr)
	case "syslog":
		w, err := syslog.New(syslog.LOG_INFO|syslog.LOG_DAEMON, "roost")
		if err != nil {
			return fmt.Errorf("main log to syslog: %w", err)
		}
		out = append(out, w)
	default:
		sk, err := logrotate.OpenSink(sv.Logfile, sv.LogfileMaxBytes, sv.LogfileBackups)
		if err != nil {
			return fmt.Errorf("open main log %s: %w", sv.Logfile, err)
		}
		s.mainSink = sk
		out = append(out, sk)
	}
	if echo {
		out = append(out, os.Stdout)
	}
	s.log = slog.New(newLineHandler(parseLogLevel(sv.LogLevel), out...))
	return nil
}

// makeGroup builds an active group from its configuration. Groups roost does not run
// (fcgi-program) are left out, with a warning.
func (s *Supervisor) makeGroup(gc *config.Group) *group {
	if !runnable(gc) {
		s.log.Warn(fmt.Sprintf("%s: [%s:%s] is not supported yet; not started", gc.Pos, gc.Kind, gc.Name))
		return nil
	}
	g := &group{cfg: gc}
	for _, pc := range gc.Processes {
		g.procs = append(g.procs, newProcess(s, pc, s.openLogs(pc, nil)))
	}
	return g
}

// sortGroups orders s.order by priority, then name. Callers hold s.mu (or
// own s exclusively).
func (s *Supervisor) sortGroups() {
	s.order = s.order[:0]
	for _, g := range s.groups {
		s.order = append(s.order, g)
	}
	sortGroupList(s.order)
}

func sortGroupList(gs []*group) {
	slices.SortFunc(gs, func(a, b *group) int {
		return cmp.Or(cmp.Compare(a.cfg.Priority, b.cfg.Priority), cmp.Compare(a.cfg.Name, b.cfg.Name))
	})
}

// sortProcs orders a group's processes by priority, then name.
func sortProcs(ps []*process) {
	slices.SortFunc(ps, func(a, b *process) int {
		ca, cb := a.view().cfg, b.view().cfg
		return cmp.Or(cmp.Compare(ca.Priority, cb.Priority), cmp.Compare(ca.Name, cb.Name))
	})
}

func (s *Supervisor) mood() api.SupervisorState { return api.SupervisorState(s.moodv.Load()) }

func (s *Supervisor) setMood(m api.SupervisorState, event string) {
	s.moodv.Store(int32(m))
	if event != "" {
		s.events.publish(api.Event{Time: time.Now().UnixNano(), Type: event})
	}
}

// orphanReaped is called by the reaper for an orphan it reaped. An orphan
// that a signal ended is almost always what a stop left of a program's
// group (an `sh -c` leader's child, killed by the stop's sweep, which the
// log already says): that line is debug-level noise. One that exited on its
// own (a daemon) is told at info, as supervisord tells it.
func (s *Supervisor) orphanReaped(pid int, status string, signaled bool) {
	level := slog.LevelInfo
	if signaled {
		level = slog.LevelDebug
	}
	s.log.Log(context.Background(), level, fmt.Sprintf("reaped unknown pid %d (%s)", pid, status), "pid", pid)
}

// Run starts the autostart processes in priority order and supervises until
// ctx is done or Shutdown is called; then it stops every process in reverse
// priority order, kills what is left of their process groups and of any
// orphan they left, and returns. Restart (supervisord's reload) happens
// inside Run. A Supervisor runs once.
func (s *Supervisor) Run(ctx context.Context) error {
	if !s.running.CompareAndSwap(false, true) {
		return errors.New("run supervisor: already ran")
	}
	if err := becomeSubreaper(); err != nil {
		s.log.Warn(fmt.Sprintf("orphans of programs will not be reaped by roost: %v", err))
	}
	addOwner(s)
	defer removeOwner(s)
	s.mu.RLock()
	pf := s.cfg.Supervisord.Pidfile
	s.mu.RUnlock()
	if pf != "" {
		// supervisord writes its pid file even with -n, and removes it at exit.
		if err := os.WriteFile(pf, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
			s.log.Log(ctx, levelCritical, fmt.Sprintf("could not write pidfile %s: %v", pf, err))
		} else {
			defer os.Remove(pf)
		}
	}
	s.log.Info(fmt.Sprintf("roost %s started with pid %d", s.Version(), os.Getpid()), "pid", os.Getpid())
	s.logPrograms()
	s.announceGroups()
	s.setMood(api.SupervisorRunning, "SUPERVISOR_STATE_CHANGE_RUNNING")

	wctx, stopWatch := context.WithCancel(context.Background())
	var watchDone chan struct{}
	if s.opts.Watch {
		watchDone = make(chan struct{})
		go func() {
			defer close(watchDone)
			s.watch(wctx)
		}()
	}

	// The health room: subscribed before the first spawn, so it sees
	// every RUNNING; it stops before the programs do.
	hctx, stopHealth := context.WithCancel(context.Background())
	healthDone := health.Start(hctx, s)

	ahead := make(chan struct{})
	go func() {
		defer close(ahead)
		s.openAhead()
	}()
	for first := true; ; first = false {
		s.startAll()
		if first {
			s.cron.start() // after the programs, so @reboot jobs find them spawned (none after a handover)
		}
		// Start-up's garbage (config parsing, a goroutine and a spawn per
		// program) is returned to the kernel now, once, rather than kept
		// resident by an idle supervisor whose heap may not grow again.
		debug.FreeOSMemory()
		restart := false
		select {
		case <-ctx.Done():
		case <-s.shutdownc:
		case <-s.restartc:
			restart = true
		}
		if !restart {
			break
		}
		s.restart()
	}

	stopWatch()
	if watchDone != nil {
		<-watchDone
	}
	s.endLife()
	s.depWG.Wait()
	stopHealth()
	<-healthDone
	s.setMood(api.SupervisorShutdown, "SUPERVISOR_STATE_CHANGE_STOPPING")
	<-ahead
	// Cron jobs first: they were started last, and use the programs.
	s.cron.stop()
	s.opMu.Lock()
	defer s.opMu.Unlock()
	s.stopAllOrdered()
	s.sweep()
	s.closeNotify()
	s.dropAllGroups()
	s.log.Info("roost stopped")
	if s.mainSink != nil {
		_ = s.mainSink.Close()
	}
	return nil
}

// startAll spawns every autostart process that never ran, in priority
// order: processes of equal (group priority, process priority) are spawned
// concurrently, and a level is spawned (not RUNNING: supervisord does not
// wait either) before the next begins.
func (s *Supervisor) startAll() {
	s.opMu.Lock()
	defer s.opMu.Unlock()
	s.mu.RLock()
	var all []*process
	var keys [][2]int
	for _, g := range s.order {
		for _, p := range g.procs {
			all = append(all, p)
			keys = append(keys, [2]int{g.cfg.Priority, p.view().cfg.Priority})
		}
	}
	s.mu.RUnlock()
	for i := 0; i < len(all); {
		j := i
		for j < len(all) && keys[j] == keys[i] {
			j++
		}
		var wg sync.WaitGroup
		for _, p := range all[i:j] {
			wg.Add(1)
			go func() {
				defer wg.Done()
				s.autostart(p)
			}()
		}
		wg.Wait()
		i = j
	}
}

// stopAllOrdered is supervisord's shutdown: groups in reverse priority
// order, one group at a time (stop_all, then wait until all its processes
// are in a STOPPED state), reporting "waiting for ... to die" every 3 s.
// With depends_on the order is the reverse of startOrder, and a batch also
// ends before a process its members depend on (stopBatches). The caller
// holds opMu.
func (s *Supervisor) stopAllOrdered() {
	ps := startOrder(s.allProcesses(false))
	ps = slices.Clone(ps)
	slices.Reverse(ps)
	for _, batch := range stopBatches(ps, true) {
		s.stopAndWait(batch, true)
	}
}

// stopGroupAndWait stops a group's processes in reverse priority order
// (BACKOFF ones give up) and waits until all are in a STOPPED state.
func (s *Supervisor) stopGroupAndWait(g *group, shutdown bool) {
	ps := slices.Clone(g.procs)
	slices.Reverse(ps)
	s.stopAndWait(ps, shutdown)
}

// stopAndWait stops ps in that order (BACKOFF ones give up) and waits until
// all are in a STOPPED state. At shutdown, like supervisord's
// shutdown_report, it logs "waiting for ... to die" (every process not yet
// stopped) at once and every 3 s.
func (s *Supervisor) stopAndWait(ps []*process, shutdown bool) {
	var pending []<-chan error
	for _, p := range ps {
		pending = append(pending, p.shutdown())
	}
	report := time.NewTimer(0)
	if !shutdown {
		report.Stop()
	}
	defer report.Stop()
	for len(pending) > 0 {
		select {
		case <-pending[0]:
			pending = pending[1:]
		case <-report.C:
			if names := s.unstopped(); len(names) > 0 {
				s.log.Info("waiting for " + strings.Join(names, ", ") + " to die")
			}
			report.Reset(3 * time.Second)
		}
	}
}

// unstopped names the processes not in a STOPPED state.
func (s *Supervisor) unstopped() []string {
	var names []string
	for _, p := range s.allProcesses(false) {
		if !p.view().state.IsStopped() {
			names = append(names, p.name)
		}
	}
	return names
}

// sweep kills (SIGKILL) every descendant still alive after all processes
// stopped: the rest of process groups whose leader exited on its own, and
// orphans that daemonized and were adopted by this subreaper. It then waits
// (up to 5 s, on the reaper's events, not by polling) until they are gone.
func (s *Supervisor) sweep() {
	deadline := time.NewTimer(5 * time.Second)
	defer deadline.Stop()
	for round := 0; ; round++ {
		reaped := reapedSignal()
		left, err := leftovers(s)
		if err != nil {
			s.log.Warn(fmt.Sprintf("looking for leftover processes: %v", err))
			return
		}
		if len(left) == 0 {
			return
		}
		if round == 0 {
			pids := make([]string, len(left))
			for i, l := range left {
				pids[i] = strconv.Itoa(l.PID)
			}
			s.log.Info("killing leftover processes: " + strings.Join(pids, " "))
		}
		for _, l := range left {
			if err := killIdentified(l); err != nil {
				s.log.Warn(err.Error())
			}
		}
		select {
		case <-reaped:
		case <-deadline.C:
			s.log.Warn(fmt.Sprintf("%d leftover processes did not die", len(left)))
			return
		}
	}
}

// dropAllGroups forgets every group (all stopped), ending their owner
// goroutines and closing their sinks.
func (s *Supervisor) dropAllGroups() {
	s.mu.Lock()
	gs := s.order
	s.groups, s.order = map[string]*group{}, nil
	s.mu.Unlock()
	for _, g := range gs {
		s.dropGroup(g)
	}
}

// dropGroup ends the owner goroutines of a stopped group and closes its
// sinks.
func (s *Supervisor) dropGroup(g *group) {
	for _, p := range g.procs {
		s.dropProcess(p)
	}
}

func (s *Supervisor) dropProcess(p *process) {
	logs := p.view().logs
	p.remove()
	closeUnusedLogs(logs, nil)
}

// restart is supervisord's restart (supervisorctl reload): stop everything
// in order, read the configuration again and start afresh. An invalid
// configuration is logged and the old one is started again.
func (s *Supervisor) restart() {
	s.setMood(api.SupervisorRestarting, "SUPERVISOR_STATE_CHANGE_STOPPING") // supervisord's runforever says so on a reload too
	s.opMu.Lock()
	s.stopAllOrdered()
	cfg, err := s.load()
	if err != nil {
		s.logConfigError(err)
		s.mu.RLock()
		cfg = s.cfg
		s.mu.RUnlock()
	}
	s.mu.RLock()
	dropped := slices.Clone(s.order)
	s.mu.RUnlock()
	s.dropAllGroups()
	// supervisord starts afresh: no event listener pool outlives a reload.
	for _, g := range dropped {
		s.events.publish(api.Event{Time: time.Now().UnixNano(), Type: "PROCESS_GROUP_REMOVED", Group: g.cfg.Name})
	}
	groups := map[string]*group{}
	for _, gc := range cfg.Groups {
		if g := s.makeGroup(gc); g != nil {
			groups[gc.Name] = g
		}
	}
	s.mu.Lock()
	old := s.cfg
	s.cfg, s.read, s.groups = cfg, cfg, groups
	s.sortGroups()
	s.mu.Unlock()
	// Cron jobs are not stopped by a restart: the file is re-read, and
	// only changed jobs are.
	s.cron.configure(cfg)
	s.cron.reload()
	s.opMu.Unlock()
	s.noteProxies(old, cfg)
	s.announceGroups()
	s.setMood(api.SupervisorRunning, "SUPERVISOR_STATE_CHANGE_RUNNING")
}

// announceGroups publishes PROCESS_GROUP_ADDED for every group, in priority
// order: supervisord adds its groups so before it announces RUNNING, at its
// start and after a reload, and an event listener pool hears the groups
// added after it.
func (s *Supervisor) announceGroups() {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, g := range s.order {
		s.events.publish(api.Event{Time: time.Now().UnixNano(), Type: "PROCESS_GROUP_ADDED", Group: g.cfg.Name})
	}
}

// logConfigError logs every diagnostic of a configuration that failed to
// load, one per line, with its file:line.
func (s *Supervisor) logConfigError(err error) {
	var cerr *config.Error
	if errors.As(err, &cerr) {
		for _, d := range cerr.Diagnostics {
			s.log.Error("config: "+d.String()+" (the running configuration is kept)",
				"file", d.Pos.File, "line", d.Pos.Line)
		}
		return
	}
	for _, line := range strings.Split(strings.TrimSpace(err.Error()), "\n") {
		s.log.Error("config: " + line + " (the running configuration is kept)")
	}
}
