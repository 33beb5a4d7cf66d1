package xmlrpc

import (
	"context"
	"io"
	"sort"
	"sync"
	"syscall"
	"time"

	"roost/supervisor/api"
)

// fakeBackend is an in-memory api.Backend for the adapter's unit tests (the
// end-to-end test uses the real runtime). Processes change state only when
// the test says so (transition), so tests of waiting calls await events
// instead of timing them.
type fakeBackend struct {
	mu      sync.Mutex
	state   api.SupervisorState
	procs   []*fakeProc
	mainLog *fakeLog
	changed chan struct{} // closed and replaced on every state change
	nextPID int
	events  []string // what was asked of it, in order: "start web wait=true", ...
	// starting receives a process's namespec each time a start request has
	// put it in STARTING.
	starting chan string
	// canceled receives a value each time a waiting call ends because its
	// context did.
	canceled chan struct{}
	// autoRun makes started processes RUNNING at once (for supervisorctl
	// sessions); otherwise they stay STARTING until transition.
	autoRun bool
	rereads api.Changes
	// clock, when set, is the time in unix seconds; otherwise time.Now.
	clock int64
}

func (f *fakeBackend) now() int64 {
	if f.clock != 0 {
		return f.clock
	}
	return time.Now().Unix()
}

type fakeProc struct {
	info     api.ProcessInfo
	cfg      api.ConfigInfo
	logs     map[api.Stream]*fakeLog
	spawnErr string // start fails with SPAWN_ERROR
	stdin    []byte
	signals  []syscall.Signal
}

type fakeLog struct {
	data    []byte
	changed chan struct{}
}

func newFakeLog(s string) *fakeLog { return &fakeLog{data: []byte(s), changed: make(chan struct{})} }

func newFake() *fakeBackend {
	return &fakeBackend{
		state:    api.SupervisorRunning,
		mainLog:  newFakeLog("2026-01-01 00:00:00,000 INFO supervisord started\n"),
		changed:  make(chan struct{}),
		nextPID:  1000,
		starting: make(chan string, 16),
		canceled: make(chan struct{}, 16),
	}
}

// add configures a process, STOPPED and never started.
func (f *fakeBackend) add(group, name string) *fakeProc {
	f.mu.Lock()
	defer f.mu.Unlock()
	p := &fakeProc{
		info: api.ProcessInfo{Name: name, Group: group, State: api.Stopped,
			StdoutLogfile: "/logs/" + name + ".out", StderrLogfile: "/logs/" + name + ".err"},
		cfg: api.ConfigInfo{Name: name, Group: group, GroupPrio: 999, ProcessPrio: 999, InUse: true,
			Autostart: true, Command: "/bin/" + name, ExitCodes: []int{0}, StartRetries: 3, StartSecs: 1,
			StopSignal: 15, StopWaitSecs: 10, StdoutLogfile: "/logs/" + name + ".out",
			StderrLogfile: "/logs/" + name + ".err", StdoutLogfileMaxBytes: 52428800, StdoutLogfileBackups: 10,
			StderrLogfileMaxBytes: 52428800, StderrLogfileBackups: 10},
		logs: map[api.Stream]*fakeLog{api.Stdout: newFakeLog(""), api.Stderr: newFakeLog("")},
	}
	f.procs = append(f.procs, p)
	sort.Slice(f.procs, func(i, j int) bool { return f.procs[i].info.Namespec() < f.procs[j].info.Namespec() })
	return p
}

func (f *fakeBackend) record(e string) { f.events = append(f.events, e) }

func (f *fakeBackend) recorded() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.events...)
}

func (f *fakeBackend) broadcast() {
	close(f.changed)
	f.changed = make(chan struct{})
}

func (f *fakeBackend) find(name string) (*fakeProc, error) {
	for _, p := range f.procs {
		if p.info.Namespec() == name {
			return p, nil
		}
	}
	return nil, api.Errorf(api.BadName, "%s", name)
}

func (f *fakeBackend) setState(p *fakeProc, s api.State) {
	now := f.now()
	switch s {
	case api.Starting:
		f.nextPID++
		p.info.PID = f.nextPID
		p.info.Start = now
	case api.Stopped, api.Exited, api.Fatal:
		p.info.PID = 0
		p.info.Stop = now
	}
	p.info.State = s
	f.broadcast()
}

// transition moves a process to state s, as its runtime would.
func (f *fakeBackend) transition(name string, s api.State) {
	f.mu.Lock()
	defer f.mu.Unlock()
	p, err := f.find(name)
	if err != nil {
		panic(err)
	}
	f.setState(p, s)
}

// waitFor blocks until done (called under f.mu) is true, or ctx ends.
func (f *fakeBackend) waitFor(ctx context.Context, done func() (bool, error)) error {
	f.mu.Lock()
	for {
		ok, err := done()
		if ok || err != nil {
			f.mu.Unlock()
			return err
		}
		ch := f.changed
		f.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			select {
			case f.canceled <- struct{}{}:
			default:
			}
			return ctx.Err()
		}
		f.mu.Lock()
	}
}

func (f *fakeBackend) Identification() string { return "supervisor" }
func (f *fakeBackend) Version() string        { return "4.2.5" }
func (f *fakeBackend) PID() int               { return 4242 }

func (f *fakeBackend) State() api.SupervisorState {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.state
}

func (f *fakeBackend) ReadMainLog(offset, length int64) ([]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return readFile(f.mainLog.data, offset, length)
}

func (f *fakeBackend) ClearMainLog() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.mainLog.data = nil
	return nil
}

func (f *fakeBackend) FollowMainLog(ctx context.Context, tail int64, w io.Writer) error {
	return f.follow(ctx, f.mainLog, tail, w)
}

func (f *fakeBackend) Shutdown() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("shutdown")
	f.state = api.SupervisorShutdown
	return nil
}

func (f *fakeBackend) Restart() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("restart")
	f.state = api.SupervisorRestarting
	return nil
}

func (f *fakeBackend) Reread() (api.Changes, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.rereads, nil
}

func (f *fakeBackend) AddGroup(name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, p := range f.procs {
		if p.info.Group == name {
			return api.Errorf(api.AlreadyAdded, "%s", name)
		}
	}
	return api.Errorf(api.BadName, "%s", name)
}

func (f *fakeBackend) RemoveGroup(name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	found := false
	for _, p := range f.procs {
		if p.info.Group == name {
			found = true
			if p.info.State.IsRunning() {
				return api.Errorf(api.StillRunning, "%s", name)
			}
		}
	}
	if !found {
		return api.Errorf(api.BadName, "%s", name)
	}
	var keep []*fakeProc
	for _, p := range f.procs {
		if p.info.Group != name {
			keep = append(keep, p)
		}
	}
	f.procs = keep
	return nil
}

func (f *fakeBackend) Update(ctx context.Context, names []string) (api.Changes, error) {
	return api.Changes{}, nil
}

func (f *fakeBackend) ProcessInfo(name string) (api.ProcessInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	p, err := f.find(name)
	if err != nil {
		return api.ProcessInfo{}, err
	}
	info := p.info
	info.Now = f.now()
	return info, nil
}

func (f *fakeBackend) AllProcessInfo() []api.ProcessInfo {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]api.ProcessInfo, len(f.procs))
	for i, p := range f.procs {
		out[i] = p.info
		out[i].Now = f.now()
	}
	return out
}

func (f *fakeBackend) AllConfigInfo() []api.ConfigInfo {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]api.ConfigInfo, len(f.procs))
	for i, p := range f.procs {
		out[i] = p.cfg
	}
	return out
}

func (f *fakeBackend) StartProcess(ctx context.Context, name string, wait bool) error {
	f.mu.Lock()
	f.record("start " + name + " wait=" + map[bool]string{true: "true", false: "false"}[wait])
	p, err := f.find(name)
	if err == nil && p.spawnErr != "" {
		p.info.SpawnErr = p.spawnErr
		f.setState(p, api.Backoff)
		err = api.Errorf(api.SpawnError, "%s", name)
	} else if err == nil && p.info.State.IsRunning() {
		err = api.Errorf(api.AlreadyStarted, "%s", name)
	}
	if err != nil {
		f.mu.Unlock()
		return err
	}
	f.setState(p, api.Starting)
	if f.autoRun {
		f.setState(p, api.Running)
	}
	f.mu.Unlock()
	select {
	case f.starting <- name:
	default:
	}
	if !wait {
		return nil
	}
	return f.waitFor(ctx, func() (bool, error) {
		switch p.info.State {
		case api.Running:
			return true, nil
		case api.Starting:
			return false, nil
		}
		return false, api.Errorf(api.AbnormalTermination, "%s", name)
	})
}

func (f *fakeBackend) StopProcess(ctx context.Context, name string, wait bool) error {
	f.mu.Lock()
	f.record("stop " + name)
	p, err := f.find(name)
	if err == nil && !p.info.State.IsRunning() {
		err = api.Errorf(api.NotRunning, "%s", name)
	}
	if err != nil {
		f.mu.Unlock()
		return err
	}
	f.setState(p, api.Stopped)
	f.mu.Unlock()
	return nil
}

func (f *fakeBackend) SignalProcess(name string, sig syscall.Signal) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	p, err := f.find(name)
	if err != nil {
		return err
	}
	if !p.info.State.IsSignallable() {
		return api.Errorf(api.NotRunning, "%s", name)
	}
	p.signals = append(p.signals, sig)
	f.record("signal " + name + " " + sig.String())
	return nil
}

func (f *fakeBackend) group(name string) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var names []string
	for _, p := range f.procs {
		if p.info.Group == name {
			names = append(names, p.info.Namespec())
		}
	}
	if names == nil {
		return nil, api.Errorf(api.BadName, "%s", name)
	}
	return names, nil
}

func (f *fakeBackend) each(names []string, pred func(api.State) bool, op func(string) error) []api.Result {
	rs := []api.Result{}
	for _, n := range names {
		info, err := f.ProcessInfo(n)
		if err != nil || !pred(info.State) {
			continue
		}
		r := api.Result{Name: info.Name, Group: info.Group, Status: api.Success, Description: "OK"}
		if err := op(n); err != nil {
			r.Status, r.Description = api.CodeOf(err), err.Error()
		}
		rs = append(rs, r)
	}
	return rs
}

func (f *fakeBackend) all() []string {
	var names []string
	for _, info := range f.AllProcessInfo() {
		names = append(names, info.Namespec())
	}
	return names
}

func notRunning(s api.State) bool { return !s.IsRunning() }
func running(s api.State) bool    { return s.IsRunning() }

func (f *fakeBackend) StartGroup(ctx context.Context, group string, wait bool) ([]api.Result, error) {
	names, err := f.group(group)
	if err != nil {
		return nil, err
	}
	return f.each(names, notRunning, func(n string) error { return f.StartProcess(ctx, n, wait) }), nil
}

func (f *fakeBackend) StopGroup(ctx context.Context, group string, wait bool) ([]api.Result, error) {
	names, err := f.group(group)
	if err != nil {
		return nil, err
	}
	return f.each(names, running, func(n string) error { return f.StopProcess(ctx, n, wait) }), nil
}

func (f *fakeBackend) SignalGroup(group string, sig syscall.Signal) ([]api.Result, error) {
	names, err := f.group(group)
	if err != nil {
		return nil, err
	}
	return f.each(names, api.State.IsSignallable, func(n string) error { return f.SignalProcess(n, sig) }), nil
}

func (f *fakeBackend) StartAll(ctx context.Context, wait bool) []api.Result {
	return f.each(f.all(), notRunning, func(n string) error { return f.StartProcess(ctx, n, wait) })
}

func (f *fakeBackend) StopAll(ctx context.Context, wait bool) []api.Result {
	return f.each(f.all(), running, func(n string) error { return f.StopProcess(ctx, n, wait) })
}

func (f *fakeBackend) SignalAll(sig syscall.Signal) []api.Result {
	return f.each(f.all(), api.State.IsSignallable, func(n string) error { return f.SignalProcess(n, sig) })
}

func (f *fakeBackend) logOf(name string, s api.Stream) (*fakeLog, error) {
	p, err := f.find(name)
	if err != nil {
		return nil, err
	}
	l := p.logs[s]
	if l == nil {
		return nil, api.Errorf(api.NoFile, "%s", name)
	}
	return l, nil
}

// appendLog adds output to a process's log, waking its followers.
func (f *fakeBackend) appendLog(name string, s api.Stream, text string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	l, err := f.logOf(name, s)
	if err != nil {
		panic(err)
	}
	l.data = append(l.data, text...)
	close(l.changed)
	l.changed = make(chan struct{})
}

func (f *fakeBackend) ReadProcessLog(name string, s api.Stream, offset, length int64) ([]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	l, err := f.logOf(name, s)
	if err != nil {
		return nil, err
	}
	return readFile(l.data, offset, length)
}

func (f *fakeBackend) TailProcessLog(name string, s api.Stream, offset, length int64) ([]byte, int64, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	l, err := f.logOf(name, s)
	if err != nil {
		return nil, 0, false, err
	}
	sz := int64(len(l.data))
	overflow := false
	if sz > offset+length {
		overflow, offset = true, sz-1
	}
	if offset+length > sz {
		if offset > sz-1 {
			length = 0
		}
		offset = sz - length
	}
	offset, length = max(offset, 0), max(length, 0)
	return l.data[offset:min(offset+length, sz)], sz, overflow, nil
}

func (f *fakeBackend) FollowProcessLog(ctx context.Context, name string, s api.Stream, tail int64, w io.Writer) error {
	f.mu.Lock()
	l, err := f.logOf(name, s)
	f.mu.Unlock()
	if err != nil {
		return err
	}
	return f.follow(ctx, l, tail, w)
}

func (f *fakeBackend) follow(ctx context.Context, l *fakeLog, tail int64, w io.Writer) error {
	f.mu.Lock()
	pos := max(int64(len(l.data))-tail, 0)
	for {
		chunk := append([]byte(nil), l.data[pos:]...)
		pos = int64(len(l.data))
		ch := l.changed
		f.mu.Unlock()
		if len(chunk) > 0 {
			if _, err := w.Write(chunk); err != nil {
				return err
			}
		}
		select {
		case <-ctx.Done():
			select {
			case f.canceled <- struct{}{}:
			default:
			}
			return ctx.Err()
		case <-ch:
		}
		f.mu.Lock()
	}
}

func (f *fakeBackend) ClearProcessLogs(name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	p, err := f.find(name)
	if err != nil {
		return err
	}
	for _, l := range p.logs {
		l.data = nil
	}
	return nil
}

func (f *fakeBackend) ClearAllProcessLogs() []api.Result {
	return f.each(f.all(), func(api.State) bool { return true }, f.ClearProcessLogs)
}

func (f *fakeBackend) SendProcessStdin(name string, data []byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	p, err := f.find(name)
	if err != nil {
		return err
	}
	if p.info.PID == 0 {
		return api.Errorf(api.NotRunning, "%s", name)
	}
	p.stdin = append(p.stdin, data...)
	return nil
}

func (f *fakeBackend) SendRemoteCommEvent(typ, data string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("event " + typ + " " + data)
	return nil
}

func (f *fakeBackend) Subscribe(ctx context.Context) <-chan api.Event {
	ch := make(chan api.Event)
	go func() {
		<-ctx.Done()
		close(ch)
	}()
	return ch
}

// readFile is supervisord's readFile over a byte slice.
func readFile(data []byte, offset, length int64) ([]byte, error) {
	sz := int64(len(data))
	if offset < 0 {
		if length != 0 {
			return nil, &api.Error{Code: api.BadArguments}
		}
		return data[max(sz+offset, 0):], nil
	}
	if length < 0 {
		return nil, &api.Error{Code: api.BadArguments}
	}
	if offset > sz {
		return nil, nil
	}
	if length == 0 {
		return data[offset:], nil
	}
	return data[offset:min(offset+length, sz)], nil
}

var _ api.Backend = (*fakeBackend)(nil)
