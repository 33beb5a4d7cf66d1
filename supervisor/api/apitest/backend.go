// Package apitest is an in-memory api.Backend for tests of the control
// plane (server, client, CLI, XML-RPC): processes are records whose states
// change when asked, or when the test moves them (Hold, Transition), logs are
// byte slices, nothing runs. Tests that need real processes use package
// supervisor instead.
package apitest

import (
	"context"
	"fmt"
	"io"
	"slices"
	"sync"
	"syscall"
	"time"

	"roost/supervisor/api"
)

// Proc is one fake process.
type Proc struct {
	Group, Name string
	State       api.State
	PID         int
	Autostart   bool
	// StartErr, when set, is what starting it fails with (e.g. SpawnError).
	StartErr api.Code
	// Logs holds the process's output; a stream without an entry has no log file.
	Logs map[api.Stream][]byte
	// Signals records the signals it received.
	Signals []syscall.Signal
	// Start and Stop are the unix times of its last start and stop; a
	// RUNNING process with no Start reads as started now.
	Start, Stop int64
}

// Backend is a fake api.Backend. Its exported fields may be set before use;
// afterwards use its methods, which lock.
type Backend struct {
	mu      sync.Mutex
	changed chan struct{} // closed and replaced on every log append and state change
	procs   []*Proc
	subs    map[chan api.Event]struct{}
	nextPID int
	state   api.SupervisorState

	// Pending is what Reread reports and Update applies (by name only).
	Pending api.Changes
	// RereadErr, when set, makes Reread and Update fail with it.
	RereadErr error
	// MainLog is the supervisor's main log.
	MainLog []byte
	// ShutdownCalled and RestartCalled count those calls.
	ShutdownCalled, RestartCalled int
	// UpdateNames records the names of each Update call.
	UpdateNames [][]string
	// Stdin collects SendProcessStdin data by namespec.
	Stdin map[string][]byte
	// Hold keeps started processes STARTING until Transition moves them on,
	// so a test of a waiting call awaits the state it sets; otherwise a
	// started process is RUNNING at once.
	Hold bool
	// Starting, when set, receives a namespec (without blocking) each time
	// a start puts that process in STARTING.
	Starting chan string
	// Canceled, when set, receives (without blocking) each time a waiting
	// start or a log follow ends because its context did.
	Canceled chan struct{}
	// Now, when set, is the clock of Start, Stop and ProcessInfo.Now;
	// otherwise time.Now.
	Now func() time.Time
}

// New returns a backend with processes, in the order AllProcessInfo lists them.
func New(procs ...*Proc) *Backend {
	b := &Backend{changed: make(chan struct{}), subs: map[chan api.Event]struct{}{}, nextPID: 1000,
		Stdin: map[string][]byte{}, state: api.SupervisorRunning}
	for _, p := range procs {
		if p.Logs == nil {
			p.Logs = map[api.Stream][]byte{api.Stdout: nil, api.Stderr: nil}
		}
		if p.State.IsRunning() && p.PID == 0 {
			b.nextPID++
			p.PID = b.nextPID
		}
		b.procs = append(b.procs, p)
	}
	return b
}

var _ api.Backend = (*Backend)(nil)

func (b *Backend) find(name string) (*Proc, error) {
	g, p, isGroup := api.SplitNamespec(name)
	if !isGroup {
		for _, pr := range b.procs {
			if pr.Group == g && pr.Name == p {
				return pr, nil
			}
		}
	}
	return nil, api.Errorf(api.BadName, "%s", name)
}

func (b *Backend) group(name string) ([]*Proc, error) {
	var out []*Proc
	for _, p := range b.procs {
		if p.Group == name {
			out = append(out, p)
		}
	}
	if out == nil {
		return nil, api.Errorf(api.BadName, "%s", name)
	}
	return out, nil
}

func (b *Backend) emit(p *Proc, from api.State) {
	b.broadcast(api.Event{Time: time.Now().UnixNano(), Type: "PROCESS_STATE_" + p.State.String(),
		Name: p.Name, Group: p.Group, From: from, To: p.State, PID: p.PID})
}

// broadcast sends ev to every subscriber.
func (b *Backend) broadcast(ev api.Event) {
	for ch := range b.subs {
		select {
		case ch <- ev:
		default: // a slow subscriber loses events, as the runtime's would
		}
	}
}

func (b *Backend) now() int64 {
	if b.Now != nil {
		return b.Now().Unix()
	}
	return time.Now().Unix()
}

// setState moves p to state to, as its runtime would: STARTING gives it a
// new pid, a stopped state takes the pid away; waiters and subscribers hear
// of it.
func (b *Backend) setState(p *Proc, to api.State) {
	from := p.State
	switch to {
	case api.Starting:
		b.nextPID++
		p.PID, p.Start = b.nextPID, b.now()
		if b.Starting != nil {
			select {
			case b.Starting <- api.MakeNamespec(p.Group, p.Name):
			default:
			}
		}
	case api.Stopped, api.Exited, api.Fatal:
		p.PID, p.Stop = 0, b.now()
	}
	p.State = to
	b.emit(p, from)
	b.wake()
}

// wake wakes everything waiting on a change (followers, waiting starts).
func (b *Backend) wake() {
	close(b.changed)
	b.changed = make(chan struct{})
}

// canceled reports a wait or follow that its context ended.
func (b *Backend) canceled() {
	if b.Canceled != nil {
		select {
		case b.Canceled <- struct{}{}:
		default:
		}
	}
}

// Transition moves the named process to state to, as its runtime would
// (see Hold). It panics on an unknown name: that is a broken test.
func (b *Backend) Transition(name string, to api.State) {
	b.mu.Lock()
	defer b.mu.Unlock()
	p, err := b.find(name)
	if err != nil {
		panic(err)
	}
	b.setState(p, to)
}

func (b *Backend) info(p *Proc) api.ProcessInfo {
	now := b.now()
	in := api.ProcessInfo{Name: p.Name, Group: p.Group, State: p.State, StateName: p.State.String(),
		PID: p.PID, Now: now, Start: p.Start, Stop: p.Stop}
	if _, ok := p.Logs[api.Stdout]; ok {
		in.StdoutLogfile = "/fake/" + p.Name + ".out"
		in.Logfile = in.StdoutLogfile
	}
	if _, ok := p.Logs[api.Stderr]; ok {
		in.StderrLogfile = "/fake/" + p.Name + ".err"
	}
	switch {
	case p.State == api.Running:
		if in.Start == 0 {
			in.Start = now
		}
		in.Description = fmt.Sprintf("pid %d, uptime 0:00:00", p.PID)
	case p.State == api.Fatal || p.State == api.Backoff:
		in.SpawnErr = "can't find command"
		in.Description = in.SpawnErr
	case p.State == api.Stopped || p.State == api.Exited:
		in.Description = "Not started"
	}
	return in
}

// Identification implements api.Backend.
func (b *Backend) Identification() string { return "supervisor" }

// Version implements api.Backend.
func (b *Backend) Version() string { return "0.0.0-test" }

// State implements api.Backend: RUNNING until Shutdown or Restart.
func (b *Backend) State() api.SupervisorState {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.state
}

// PID implements api.Backend.
func (b *Backend) PID() int { return 42 }

// readRange applies supervisord's readFile rules to data.
func readRange(data []byte, offset, length int64) ([]byte, error) {
	size := int64(len(data))
	if offset < 0 && length != 0 || length < 0 {
		return nil, &api.Error{Code: api.BadArguments} // bare, as the runtime's
	}
	if offset < 0 {
		offset = max(size+offset, 0)
	}
	end := size
	if length > 0 {
		end = min(offset+length, size)
	}
	if offset >= size {
		return []byte{}, nil
	}
	return slices.Clone(data[offset:end]), nil
}

// ReadMainLog implements api.Backend.
func (b *Backend) ReadMainLog(offset, length int64) ([]byte, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return readRange(b.MainLog, offset, length)
}

// ClearMainLog implements api.Backend.
func (b *Backend) ClearMainLog() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.MainLog = nil
	return nil
}

// FollowMainLog implements api.Backend.
func (b *Backend) FollowMainLog(ctx context.Context, tail int64, w io.Writer) error {
	return b.follow(ctx, tail, w, func() ([]byte, error) { return b.MainLog, nil })
}

// Shutdown implements api.Backend.
func (b *Backend) Shutdown() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.ShutdownCalled++
	b.state = api.SupervisorShutdown
	return nil
}

// Restart implements api.Backend.
func (b *Backend) Restart() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.RestartCalled++
	b.state = api.SupervisorRestarting
	return nil
}

// Reread implements api.Backend.
func (b *Backend) Reread() (api.Changes, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.RereadErr != nil {
		return api.Changes{}, b.RereadErr
	}
	return b.Pending, nil
}

// AddGroup implements api.Backend: a pending added group becomes a group
// with one stopped process of the same name.
func (b *Backend) AddGroup(name string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, err := b.group(name); err == nil {
		return api.Errorf(api.AlreadyAdded, "%s", name)
	}
	if !slices.Contains(b.Pending.Added, name) {
		return api.Errorf(api.BadName, "%s", name)
	}
	b.procs = append(b.procs, &Proc{Group: name, Name: name, Logs: map[api.Stream][]byte{api.Stdout: nil}})
	b.Pending.Added = slices.DeleteFunc(b.Pending.Added, func(s string) bool { return s == name })
	return nil
}

// RemoveGroup implements api.Backend.
func (b *Backend) RemoveGroup(name string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	ps, err := b.group(name)
	if err != nil {
		return err
	}
	for _, p := range ps {
		if p.State.IsRunning() || p.State == api.Stopping {
			return api.Errorf(api.StillRunning, "%s", name)
		}
	}
	b.procs = slices.DeleteFunc(b.procs, func(p *Proc) bool { return p.Group == name })
	return nil
}

// Update implements api.Backend: it reports the pending changes (limited to
// names) and forgets them.
func (b *Backend) Update(ctx context.Context, names []string) (api.Changes, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.UpdateNames = append(b.UpdateNames, names)
	if b.RereadErr != nil {
		return api.Changes{}, b.RereadErr
	}
	keep := func(l []string) []string {
		if len(names) == 0 {
			return l
		}
		return slices.DeleteFunc(slices.Clone(l), func(s string) bool { return !slices.Contains(names, s) })
	}
	ch := api.Changes{Added: keep(b.Pending.Added), Changed: keep(b.Pending.Changed), Removed: keep(b.Pending.Removed)}
	for _, g := range ch.Added {
		b.procs = append(b.procs, &Proc{Group: g, Name: g, State: api.Running, PID: 7777})
	}
	for _, g := range ch.Removed {
		b.procs = slices.DeleteFunc(b.procs, func(p *Proc) bool { return p.Group == g })
	}
	b.Pending = api.Changes{}
	return ch, nil
}

// ProcessInfo implements api.Backend.
func (b *Backend) ProcessInfo(name string) (api.ProcessInfo, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	p, err := b.find(name)
	if err != nil {
		return api.ProcessInfo{}, err
	}
	return b.info(p), nil
}

// AllProcessInfo implements api.Backend.
func (b *Backend) AllProcessInfo() []api.ProcessInfo {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]api.ProcessInfo, 0, len(b.procs))
	for _, p := range b.procs {
		out = append(out, b.info(p))
	}
	return out
}

// AllConfigInfo implements api.Backend.
func (b *Backend) AllConfigInfo() []api.ConfigInfo {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []api.ConfigInfo
	for _, p := range b.procs {
		c := configInfo(p.Group, p.Name, p.Autostart)
		c.InUse = true
		out = append(out, c)
	}
	for _, g := range b.Pending.Added {
		out = append(out, configInfo(g, g, true))
	}
	slices.SortFunc(out, func(a, c api.ConfigInfo) int {
		if a.Name < c.Name {
			return -1
		}
		if a.Name > c.Name {
			return 1
		}
		return 0
	})
	return out
}

// configInfo is a program's configuration with supervisord's defaults.
func configInfo(group, name string, autostart bool) api.ConfigInfo {
	return api.ConfigInfo{Name: name, Group: group, GroupPrio: 999, ProcessPrio: 999, Autostart: autostart,
		Command: "/bin/true", ExitCodes: []int{0}, StartRetries: 3, StartSecs: 1,
		StopSignal: int(syscall.SIGTERM), StopWaitSecs: 10}
}

func (b *Backend) start(p *Proc) error {
	if p.State.IsRunning() {
		return api.Errorf(api.AlreadyStarted, "%s", api.MakeNamespec(p.Group, p.Name))
	}
	if p.StartErr != 0 {
		b.setState(p, api.Backoff)
		b.setState(p, api.Fatal)
		return api.Errorf(p.StartErr, "%s", api.MakeNamespec(p.Group, p.Name))
	}
	b.setState(p, api.Starting)
	if !b.Hold {
		b.setState(p, api.Running)
	}
	return nil
}

// awaitRunning waits, for a start with wait=true under Hold, until p leaves
// STARTING: nil once RUNNING, ABNORMAL_TERMINATION for any other state.
// It is called with b.mu held and returns with it held.
func (b *Backend) awaitRunning(ctx context.Context, p *Proc) error {
	for p.State == api.Starting {
		changed := b.changed
		b.mu.Unlock()
		select {
		case <-changed:
			b.mu.Lock()
		case <-ctx.Done():
			b.mu.Lock()
			b.canceled()
			return ctx.Err()
		}
	}
	if p.State != api.Running {
		return api.Errorf(api.AbnormalTermination, "%s", api.MakeNamespec(p.Group, p.Name))
	}
	return nil
}

// startAll starts ps (those not running) and, when wait, awaits each.
func (b *Backend) startAll(ctx context.Context, ps []*Proc, wait bool) []api.Result {
	started := []*Proc{}
	out := b.each(ps, notRunning, func(p *Proc) error {
		err := b.start(p)
		if err == nil {
			started = append(started, p)
		}
		return err
	})
	if !wait {
		return out
	}
	for _, p := range started {
		if err := b.awaitRunning(ctx, p); err != nil {
			for i := range out {
				if out[i].Group == p.Group && out[i].Name == p.Name {
					out[i] = result(p, err)
				}
			}
		}
	}
	return out
}

func (b *Backend) stop(p *Proc) error {
	if !p.State.IsRunning() {
		return api.Errorf(api.NotRunning, "%s", api.MakeNamespec(p.Group, p.Name))
	}
	b.setState(p, api.Stopping)
	p.PID = 0
	b.setState(p, api.Stopped)
	return nil
}

func (b *Backend) signal(p *Proc, sig syscall.Signal) error {
	if !p.State.IsSignallable() {
		return api.Errorf(api.NotRunning, "%s", api.MakeNamespec(p.Group, p.Name))
	}
	p.Signals = append(p.Signals, sig)
	return nil
}

func result(p *Proc, err error) api.Result {
	r := api.Result{Name: p.Name, Group: p.Group, Status: api.CodeOf(err), Description: "OK"}
	if err != nil {
		r.Description = err.Error()
	}
	return r
}

// each applies op to the processes that pass filter.
func (b *Backend) each(ps []*Proc, filter func(*Proc) bool, op func(*Proc) error) []api.Result {
	out := []api.Result{}
	for _, p := range ps {
		if filter(p) {
			out = append(out, result(p, op(p)))
		}
	}
	return out
}

func notRunning(p *Proc) bool { return !p.State.IsRunning() }
func running(p *Proc) bool    { return p.State.IsRunning() }
func signalable(p *Proc) bool { return p.State.IsSignallable() }

// StartProcess implements api.Backend.
func (b *Backend) StartProcess(ctx context.Context, name string, wait bool) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	p, err := b.find(name)
	if err != nil {
		return err
	}
	if err := b.start(p); err != nil || !wait {
		return err
	}
	return b.awaitRunning(ctx, p)
}

// StopProcess implements api.Backend.
func (b *Backend) StopProcess(ctx context.Context, name string, wait bool) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	p, err := b.find(name)
	if err != nil {
		return err
	}
	return b.stop(p)
}

// SignalProcess implements api.Backend.
func (b *Backend) SignalProcess(name string, sig syscall.Signal) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	p, err := b.find(name)
	if err != nil {
		return err
	}
	return b.signal(p, sig)
}

// StartGroup implements api.Backend.
func (b *Backend) StartGroup(ctx context.Context, group string, wait bool) ([]api.Result, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	ps, err := b.group(group)
	if err != nil {
		return nil, err
	}
	return b.startAll(ctx, ps, wait), nil
}

// StopGroup implements api.Backend.
func (b *Backend) StopGroup(ctx context.Context, group string, wait bool) ([]api.Result, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	ps, err := b.group(group)
	if err != nil {
		return nil, err
	}
	return b.each(ps, running, b.stop), nil
}

// SignalGroup implements api.Backend.
func (b *Backend) SignalGroup(group string, sig syscall.Signal) ([]api.Result, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	ps, err := b.group(group)
	if err != nil {
		return nil, err
	}
	return b.each(ps, signalable, func(p *Proc) error { return b.signal(p, sig) }), nil
}

// StartAll implements api.Backend.
func (b *Backend) StartAll(ctx context.Context, wait bool) []api.Result {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.startAll(ctx, slices.Clone(b.procs), wait)
}

// StopAll implements api.Backend.
func (b *Backend) StopAll(ctx context.Context, wait bool) []api.Result {
	b.mu.Lock()
	defer b.mu.Unlock()
	rev := slices.Clone(b.procs)
	slices.Reverse(rev)
	return b.each(rev, running, b.stop)
}

// SignalAll implements api.Backend.
func (b *Backend) SignalAll(sig syscall.Signal) []api.Result {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.each(b.procs, signalable, func(p *Proc) error { return b.signal(p, sig) })
}

func (b *Backend) logOf(name string, stream api.Stream) ([]byte, error) {
	p, err := b.find(name)
	if err != nil {
		return nil, err
	}
	data, ok := p.Logs[stream]
	if !ok {
		return nil, api.Errorf(api.NoFile, "%s", name)
	}
	return data, nil
}

// ReadProcessLog implements api.Backend.
func (b *Backend) ReadProcessLog(name string, stream api.Stream, offset, length int64) ([]byte, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	data, err := b.logOf(name, stream)
	if err != nil {
		return nil, err
	}
	return readRange(data, offset, length)
}

// TailProcessLog implements api.Backend with supervisord's tailFile rules.
func (b *Backend) TailProcessLog(name string, stream api.Stream, offset, length int64) ([]byte, int64, bool, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	data, err := b.logOf(name, stream)
	if err != nil {
		return nil, 0, false, err
	}
	// supervisord's tailFile, line by line.
	size := int64(len(data))
	overflow := false
	if size > offset+length {
		overflow = true
		offset = size - 1
	}
	if offset+length > size {
		if offset > size-1 {
			length = 0
		}
		offset = max(size-length, 0)
	}
	length = max(length, 0)
	out := []byte{}
	if length > 0 {
		out = slices.Clone(data[offset:min(offset+length, size)])
	}
	return out, size, overflow, nil
}

// follow writes the last tail bytes of get(), then new bytes as appended.
func (b *Backend) follow(ctx context.Context, tail int64, w io.Writer, get func() ([]byte, error)) error {
	b.mu.Lock()
	data, err := get()
	if err != nil {
		b.mu.Unlock()
		return err
	}
	off := max(int64(len(data))-tail, 0)
	for {
		chunk := slices.Clone(data[min(off, int64(len(data))):])
		off = int64(len(data))
		changed := b.changed
		b.mu.Unlock()
		if len(chunk) > 0 {
			if _, err := w.Write(chunk); err != nil {
				return err
			}
		}
		select {
		case <-ctx.Done():
			b.canceled()
			return nil
		case <-changed:
		}
		b.mu.Lock()
		if data, err = get(); err != nil {
			b.mu.Unlock()
			return err
		}
	}
}

// FollowProcessLog implements api.Backend.
func (b *Backend) FollowProcessLog(ctx context.Context, name string, stream api.Stream, tail int64, w io.Writer) error {
	return b.follow(ctx, tail, w, func() ([]byte, error) { return b.logOf(name, stream) })
}

// AppendLog adds output to a process log (or, for name "", the main log)
// and wakes its followers.
func (b *Backend) AppendLog(name string, stream api.Stream, data string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if name == "" {
		b.MainLog = append(b.MainLog, data...)
	} else if p, err := b.find(name); err == nil {
		p.Logs[stream] = append(p.Logs[stream], data...)
	}
	b.wake()
}

// ClearProcessLogs implements api.Backend.
func (b *Backend) ClearProcessLogs(name string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	p, err := b.find(name)
	if err != nil {
		return err
	}
	for s := range p.Logs {
		p.Logs[s] = nil
	}
	return nil
}

// ClearAllProcessLogs implements api.Backend.
func (b *Backend) ClearAllProcessLogs() []api.Result {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.each(b.procs, func(*Proc) bool { return true }, func(p *Proc) error {
		for s := range p.Logs {
			p.Logs[s] = nil
		}
		return nil
	})
}

// SendProcessStdin implements api.Backend.
func (b *Backend) SendProcessStdin(name string, data []byte) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	p, err := b.find(name)
	if err != nil {
		return err
	}
	if !p.State.IsRunning() {
		return api.Errorf(api.NotRunning, "%s", name)
	}
	b.Stdin[name] = append(b.Stdin[name], data...)
	return nil
}

// SendRemoteCommEvent implements api.Backend.
func (b *Backend) SendRemoteCommEvent(typ, data string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.broadcast(api.Event{Time: time.Now().UnixNano(), Type: "REMOTE_COMMUNICATION", Message: typ + " " + data})
	return nil
}

// Subscribe implements api.Backend.
func (b *Backend) Subscribe(ctx context.Context) <-chan api.Event {
	ch := make(chan api.Event, 64)
	b.mu.Lock()
	b.subs[ch] = struct{}{}
	b.mu.Unlock()
	go func() {
		<-ctx.Done()
		b.mu.Lock()
		delete(b.subs, ch)
		close(ch)
		b.mu.Unlock()
	}()
	return ch
}

// Proc returns a copy of the named process's record.
func (b *Backend) Proc(name string) Proc {
	b.mu.Lock()
	defer b.mu.Unlock()
	p, err := b.find(name)
	if err != nil {
		return Proc{}
	}
	return *p
}
