package master

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"

	"roost/audit"
	"roost/config"
)

// Options configure a Master.
type Options struct {
	// ConfigFile is roost.toml; "" means config.DefaultMasterFile.
	ConfigFile string
	// Executable is the roost binary user supervisors run as `roost run
	// --managed`; "" means this process's own executable.
	Executable string
	// Logger receives the master's log; nil means slog.Default().
	Logger *slog.Logger
	// Users is the user database; the zero value reads /etc/passwd and
	// /etc/group.
	Users UserDB
	// Notify, when set, is told the master's service state in sd_notify's
	// words: "READY=1", "RELOADING=1", "STOPPING=1".
	Notify func(state string)
}

// Master is the root master: one unprivileged supervisor per configured
// user, kept alive, and the admin socket. Build it with New, then Run it.
type Master struct {
	opts     Options
	log      *slog.Logger
	audit    *audit.Log // {state_dir}/audit.log: the admin socket's requests
	exe      string
	file     string
	usersDir string

	reloadc chan chan error
	reexecc chan reexecReq // `roost admin reexec` (reexec.go)
	// upgradeq feeds the one goroutine that upgrades adopted supervisors
	// running an older binary, one user at a time (upgrade.go).
	upgradeOnce sync.Once
	upgradeq    chan string
	applied     chan struct{} // closed once Run applied roost.toml the first time
	router      *router       // the nginx side (router.go)
	cg          *userCgroups  // per-user cgroups and bind filters (cgroups_linux.go), set by Run
	ho          *handover     // the handover record (handover.go), set by Run
	image       MasterImage   // this exec of the master and what it adopted (reexec.go)

	mu       sync.Mutex // guards the fields below
	cfg      *config.Master
	slots    map[string]*slot
	retiring map[string]*slot // removed users whose supervisor is stopping
	ports    *portTable
	stopping bool
	// adoptions are the supervisors found running at start, by user,
	// until apply gives each to its slot (adopt.go).
	adoptions map[string][]adoption
}

// New reads roost.toml and returns a master for it. The file must belong
// to root and be writable by nobody else: the master trusts it.
func New(opts Options) (*Master, error) {
	m := &Master{
		opts:     opts,
		log:      opts.Logger,
		exe:      opts.Executable,
		file:     opts.ConfigFile,
		reloadc:  make(chan chan error),
		reexecc:  make(chan reexecReq),
		applied:  make(chan struct{}),
		image:    MasterImage{PID: os.Getpid(), Started: time.Now().UnixNano()},
		slots:    map[string]*slot{},
		retiring: map[string]*slot{},
	}
	if m.log == nil {
		m.log = slog.Default()
	}
	if m.file == "" {
		m.file = config.DefaultMasterFile
	}
	if m.exe == "" {
		exe, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("master: find the roost executable: %w", err)
		}
		m.exe = exe
	}
	if !filepath.IsAbs(m.exe) {
		return nil, fmt.Errorf("master: executable %q is not an absolute path", m.exe)
	}
	cfg, err := m.load()
	if err != nil {
		return nil, err
	}
	m.cfg = cfg
	m.usersDir = filepath.Join(cfg.RunDir, "users")
	m.router = newRouter(m)
	return m, nil
}

// load reads and checks roost.toml.
func (m *Master) load() (*config.Master, error) {
	if err := checkRootFile(m.file); err != nil {
		return nil, fmt.Errorf("master: %w", err)
	}
	return CheckConfig(m.file)
}

// CheckConfig reads roost.toml and validates it as the master does,
// [proxy] policy included (`roost master --check`).
func CheckConfig(file string) (*config.Master, error) {
	cfg, err := config.LoadMaster(file)
	if err != nil {
		return nil, err
	}
	if err := checkProxyPolicy(cfg); err != nil {
		return nil, err
	}
	return cfg, nil
}

// CheckUsers lists the users cfg names that would get no supervisor (not
// in /etc/passwd, root, below min_uid...), one line each, and the warnings
// about the groups it names (which may be created later).
func CheckUsers(cfg *config.Master) (refused, warnings []string, err error) {
	cands, warnings, err := UserDB{}.Resolve(cfg)
	if err != nil {
		return nil, nil, err
	}
	for _, c := range cands {
		if c.Refused != nil {
			refused = append(refused, fmt.Sprintf("%s: [users] %s gets no supervisor: %v", cfg.PosOf("users.names"), c.Name, c.Refused))
		}
	}
	return refused, warnings, nil
}

// Config returns the configuration in force.
func (m *Master) Config() *config.Master {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.cfg
}

func (m *Master) stopWait() time.Duration { return m.Config().Users.StopWait }

func (m *Master) notify(state string) {
	if m.opts.Notify != nil {
		m.opts.Notify(state)
	}
}

// Run prepares the directories, starts every user's supervisor and the
// admin socket, and keeps them until ctx ends; then it stops every user
// supervisor (each stops its programs), kills whatever is left, and
// returns. roost.toml is re-read when it changes on disk or when Reload is
// called.
func (m *Master) Run(ctx context.Context) error {
	if os.Geteuid() != 0 {
		return errors.New("master: roost master must run as root (it starts each user's supervisor as that user)")
	}
	if err := closeOnExecAll(); err != nil {
		return fmt.Errorf("master: %w", err)
	}
	cfg := m.Config()
	if err := ensureRootDir(cfg.RunDir, 0o755, true); err != nil {
		return fmt.Errorf("master: run_dir: %w", err)
	}
	if err := ensureRootDir(m.usersDir, 0o755, true); err != nil {
		return fmt.Errorf("master: run_dir: %w", err)
	}
	for _, d := range []string{socketsDirName, nginxDirName} {
		if err := ensureRootDir(filepath.Join(cfg.RunDir, d), 0o755, true); err != nil {
			return fmt.Errorf("master: run_dir: %w", err)
		}
	}
	if err := ensureRootDir(cfg.StateDir, 0o700, false); err != nil {
		return fmt.Errorf("master: state_dir: %w", err)
	}
	// Before the reaper: an adopted child's exit belongs to its slot.
	adoptions := m.loadAdoptions(cfg.StateDir)
	if err := startReaper(); err != nil {
		return fmt.Errorf("master: %w", err)
	}
	ports, err := loadPorts(cfg.StateDir)
	if err != nil {
		return fmt.Errorf("master: %w", err)
	}
	cg := newUserCgroups(cfg.RunDir, m.log)
	m.mu.Lock()
	m.ports = ports
	m.cg = cg
	m.ho = newHandover(cfg.StateDir, m.log, adoptions)
	m.adoptions = adoptions
	for name := range adoptions {
		m.image.Adopted = append(m.image.Adopted, name)
	}
	sort.Strings(m.image.Adopted)
	m.mu.Unlock()

	// What root does through the admin socket: root's file, in root's
	// 0700 state_dir, which no user can change.
	if m.audit, err = audit.OpenDir(cfg.StateDir); err != nil {
		m.log.Error("no audit log of admin requests", "err", err)
	}
	defer m.audit.Close()
	admin, err := m.listenAdmin(filepath.Join(cfg.RunDir, AdminSocketName))
	if err != nil {
		return fmt.Errorf("master: admin socket: %w", err)
	}
	adminCtx, stopAdmin := context.WithCancel(context.Background())
	adminDone := make(chan error, 1)
	go func() { adminDone <- admin.Serve(adminCtx) }()
	if addr := cfg.Metrics.Listen; addr != "" {
		// Metrics are no reason to leave users without their programs:
		// a failed bind is logged, the master goes on.
		if done, err := m.serveMetrics(adminCtx, addr); err != nil {
			m.log.Error("[metrics] listen: cannot serve metrics; the master runs without them", "file", m.file, "pos", cfg.PosOf("metrics.listen").String(), "err", err)
		} else {
			defer func() { stopAdmin(); <-done }()
		}
	}

	watcher, err := fsnotify.NewWatcher()
	if err != nil {
		stopAdmin()
		<-adminDone
		return fmt.Errorf("master: watch %s: %w", m.file, err)
	}
	defer watcher.Close()
	if err := watcher.Add(filepath.Dir(m.file)); err != nil {
		m.log.Warn("cannot watch roost.toml's directory: only SIGHUP reloads it", "file", m.file, "err", err)
	}

	routerCtx, stopRouter := context.WithCancel(context.Background())
	routerDone := make(chan struct{})
	go func() {
		defer close(routerDone)
		m.router.run(routerCtx)
	}()
	defer func() {
		stopRouter()
		<-routerDone
	}()

	m.apply(cfg)
	close(m.applied)
	m.log.Info("master running", "config", m.file, "run_dir", cfg.RunDir, "users", len(m.statuses()))
	m.notify("READY=1")

	var debounce *time.Timer
	var debounceC <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			m.shutdown()
			stopAdmin()
			if err := <-adminDone; err != nil {
				m.log.Error("admin socket", "err", err)
			}
			return nil
		case reply := <-m.reloadc:
			reply <- m.reload()
		case req := <-m.reexecc:
			m.reexec(req) // returns only when the exec did not happen
		case ev, ok := <-watcher.Events:
			if !ok {
				watcher.Events = nil
				continue
			}
			if filepath.Clean(ev.Name) != filepath.Clean(m.file) || ev.Op == fsnotify.Chmod {
				continue
			}
			if debounce != nil {
				debounce.Stop()
			}
			debounce = time.NewTimer(200 * time.Millisecond)
			debounceC = debounce.C
		case <-debounceC:
			debounce, debounceC = nil, nil
			if _, err := os.Stat(m.file); err != nil {
				continue // mid-save (removed before the rename): the next event comes
			}
			m.log.Info("roost.toml changed on disk: reloading", "file", m.file)
			m.reload()
		case err, ok := <-watcher.Errors:
			if !ok {
				watcher.Errors = nil
				continue
			}
			m.log.Warn("watching roost.toml", "err", err)
		case err := <-adminDone:
			stopAdmin()
			m.shutdown()
			return fmt.Errorf("master: admin socket: %w", err)
		}
	}
}

// Reload re-reads roost.toml and applies it, as SIGHUP does. An invalid
// file changes nothing and is the error returned.
func (m *Master) Reload(ctx context.Context) error {
	reply := make(chan error, 1)
	return ask(ctx, m.reloadc, reply, reply)
}

// ask hands req to Run's goroutine through ch and waits for the answer on
// reply, or for ctx to end.
func ask[R any](ctx context.Context, ch chan<- R, req R, reply <-chan error) error {
	select {
	case ch <- req:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-reply:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// reload runs on Run's goroutine.
func (m *Master) reload() error {
	m.notify("RELOADING=1")
	defer m.notify("READY=1")
	cfg, err := m.load()
	if err == nil {
		old := m.Config()
		switch {
		case cfg.RunDir != old.RunDir:
			err = fmt.Errorf("%s: run_dir changed from %s to %s: restart the master to move it", cfg.PosOf("run_dir"), old.RunDir, cfg.RunDir)
		case cfg.StateDir != old.StateDir:
			err = fmt.Errorf("%s: state_dir changed from %s to %s: restart the master to move it", cfg.PosOf("state_dir"), old.StateDir, cfg.StateDir)
		}
	}
	if err != nil {
		m.log.Error("roost.toml not reloaded; nothing changed", "file", m.file, "err", err)
		return err
	}
	old := m.Config()
	m.apply(cfg)
	m.log.Info("roost.toml reloaded", "file", m.file)
	if cfg.Metrics.Listen != old.Metrics.Listen {
		m.log.Warn("[metrics] listen changed: it takes effect when the master restarts", "file", m.file, "listen", cfg.Metrics.Listen)
	}
	return nil
}

// apply makes the running supervisors match cfg: new users start, removed
// users stop, and users whose settings changed restart; the others are
// left alone.
func (m *Master) apply(cfg *config.Master) {
	cands, warnings, err := m.opts.Users.Resolve(cfg)
	if err != nil {
		m.log.Error("cannot read the user database; nothing changed", "err", err)
		return
	}
	for _, w := range warnings {
		m.log.Warn(w)
	}
	var names []string
	for _, c := range cands {
		if c.Refused == nil {
			names = append(names, c.Name)
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.stopping {
		return
	}
	defer m.router.kick()
	blocks, portErrs, changed := m.ports.assign(cfg.Ports, names)
	if changed {
		if err := m.ports.save(); err != nil {
			m.log.Error("port blocks not saved: they may change at the next start", "err", err)
		}
	}
	if m.cfg.Ports != cfg.Ports {
		m.cg.refresh(cfg.Ports, blocks)
	}
	for _, n := range names {
		if err := m.cg.setLimits(n, cfg.LimitsFor(n)); err != nil {
			m.log.Error("the user's limits are not all in force", "user", n, "err", err)
		}
	}
	m.cfg = cfg
	want := map[string]bool{}
	for _, c := range cands {
		want[c.Name] = true
		sp := buildSpec(cfg, m.file, m.exe, m.usersDir, c, blocks[c.Name], portErrs[c.Name])
		if c.Refused != nil {
			m.log.Warn("user refused", "user", c.Name, "reason", c.Refused)
		} else if e := portErrs[c.Name]; e != nil {
			m.log.Error("user has no port block", "user", c.Name, "err", e)
		}
		if s, ok := m.slots[c.Name]; ok {
			s.setWant(sp)
			continue
		}
		s := newSlot(m, sp)
		m.claimAdoption(s)
		m.slots[c.Name] = s
		var prev <-chan struct{}
		if old, ok := m.retiring[c.Name]; ok {
			prev = old.done
		}
		go s.run(prev)
	}
	for name, s := range m.slots {
		if want[name] {
			continue
		}
		delete(m.slots, name)
		m.log.Info("user removed from roost.toml: stopping its supervisor", "user", name)
		m.retire(name, s, cfg)
	}
	m.retireUnclaimed(cfg)
}

// retire stops a slot that no user of cfg wants and removes the user's
// directories and cgroups once it is done. m.mu is held.
func (m *Master) retire(name string, s *slot, cfg *config.Master) {
	m.retiring[name] = s
	go func() {
		s.send(context.Background(), slotCmd{kind: cmdRetire})
		<-s.done
		m.mu.Lock()
		if m.retiring[name] == s {
			delete(m.retiring, name)
			if _, back := m.slots[name]; !back {
				if err := removeUserDir(m.usersDir, name); err != nil {
					m.log.Warn("remove run directory", "user", name, "err", err)
				}
				m.cg.remove(name)
				for _, d := range []string{socketsDirName, nginxDirName} {
					if err := removeUserDir(filepath.Join(cfg.RunDir, d), name); err != nil {
						m.log.Warn("remove socket directory", "user", name, "err", err)
					}
				}
			}
		}
		m.mu.Unlock()
	}()
}

// shutdown stops every user supervisor, waits for them, and kills what
// is left.
func (m *Master) shutdown() {
	m.notify("STOPPING=1")
	m.mu.Lock()
	m.stopping = true
	all := m.allSlots()
	m.mu.Unlock()
	m.log.Info("stopping every user supervisor", "count", len(all))
	var wg sync.WaitGroup
	for _, s := range all {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.send(context.Background(), slotCmd{kind: cmdRetire})
			<-s.done
		}()
	}
	wg.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), sweepTimeout)
	defer cancel()
	if n, err := killLeftovers(ctx, -1); err != nil || n > 0 {
		m.log.Warn("final sweep", "killed", n, "err", err)
	}
	m.cg.removeAll()
	if err := m.ho.save(); err != nil { // empty now: nothing to adopt
		m.log.Warn("handover record", "err", err)
	}
	m.log.Info("master stopped")
}

// allSlots returns every slot, the retiring ones too. m.mu is held.
func (m *Master) allSlots() []*slot {
	var all []*slot
	for _, s := range m.slots {
		all = append(all, s)
	}
	for _, s := range m.retiring {
		all = append(all, s)
	}
	return all
}

// isStopping reports whether the master is shutting down.
func (m *Master) isStopping() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.stopping
}

// statuses returns every user's published status, by name.
func (m *Master) statuses() []UserStatus {
	m.mu.Lock()
	out := make([]UserStatus, 0, len(m.slots))
	for _, s := range m.slots {
		out = append(out, *s.status.Load())
	}
	m.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// RestartUser restarts one user's supervisor now, forgetting its backoff.
func (m *Master) RestartUser(ctx context.Context, name string) error {
	m.mu.Lock()
	s, ok := m.slots[name]
	m.mu.Unlock()
	if !ok {
		return fmt.Errorf("%w: %q", ErrNoSuchUser, name)
	}
	return s.send(ctx, slotCmd{kind: cmdRestart})
}

// ErrNoSuchUser: the master runs no supervisor for that user.
var ErrNoSuchUser = errors.New("no such user in roost.toml")
