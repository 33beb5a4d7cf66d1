// Package eventlistener runs supervisord's [eventlistener:x] pools: it reads
// the runtime's event stream, keeps each pool's event buffer, and speaks the
// event listener protocol with the pool's processes over their stdin and
// stdout, as supervisord 4.2.5 does (supervisor/events.py, dispatchers.py
// PEventListenerDispatcher, process.py EventListenerPool).
//
// The listener processes are ordinary supervised processes: the runtime
// spawns, restarts and logs them; at each spawn it hands their stdin and
// stdout to the Room (supervisor.ListenerIO). Everything else comes from the
// event stream: a pool exists from its own PROCESS_GROUP_ADDED to its
// PROCESS_GROUP_REMOVED, a process receives events only while RUNNING, and
// the event it was processing when it exited goes back to the head of its
// pool's buffer.
//
// The protocol, per listener process (supervisord's listener states):
//
//	ACKNOWLEDGED --"READY\n"--> READY --event sent--> BUSY
//	BUSY --"RESULT 2\nOK"--> ACKNOWLEDGED            (the event is done)
//	BUSY --"RESULT 4\nFAIL" (anything but OK)--> ACKNOWLEDGED, event re-buffered at the head
//	anything else (bytes while READY, a bad RESULT line) --> UNKNOWN until the process restarts
//
// An event is sent as one header line and its payload:
//
//	ver:3.0 server:IDENT serial:N pool:NAME poolserial:N eventname:TYPE len:N\n<payload>
//
// A pool's buffer holds buffer_size events; a new one pushes the oldest out
// with the main log's "pool NAME event buffer overflowed, discarding event
// N". TICK_5/60/3600 are produced only while some pool subscribes to them,
// by one timer: a supervisor without listeners has no timer at all.
package eventlistener

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"roost/config"
	"roost/supervisor/api"
)

// Runtime is what the room needs of the supervisor.
type Runtime interface {
	// Subscribe streams the runtime's events until ctx ends.
	Subscribe(ctx context.Context) <-chan api.Event
	// GroupConfig is an active group's configuration, or nil.
	GroupConfig(name string) *config.Group
	// Identification is [supervisord] identifier, the header's server.
	Identification() string
}

// The listener states (supervisord's EventListenerStates).
type listenerState int

const (
	ready        listenerState = 10
	busy         listenerState = 20
	acknowledged listenerState = 30
	unknown      listenerState = 40
)

func (s listenerState) String() string {
	switch s {
	case ready:
		return "READY"
	case busy:
		return "BUSY"
	case acknowledged:
		return "ACKNOWLEDGED"
	}
	return "UNKNOWN"
}

// maxResult bounds a RESULT line and its body (supervisord has no bound; a
// result is "OK" or "FAIL"): a listener cannot make its supervisor buffer
// without end.
const maxResult = 1 << 20

var (
	readyToken  = []byte("READY\n")
	resultToken = []byte("RESULT ")
)

// event is one event on its way to the pools that subscribe to it: its
// serial is taken when the first pool accepts it (supervisord's
// GlobalSerial), and each pool gives it a serial of its own.
type event struct {
	name    string // the event type, e.g. PROCESS_STATE_RUNNING
	payload string
	serial  int64 // -1 until a pool accepts it
	pools   map[string]int64
}

// Room is the event listener room of one supervisor.
type Room struct {
	rt     Runtime
	log    *slog.Logger
	evs    <-chan api.Event
	inbox  inbox
	pools  []*pool // in creation order (supervisord's subscription order)
	serial int64   // GlobalSerial

	tick     *time.Timer
	tickLast map[int64]int64 // period → the timeslice of its last TICK
	gen      uint64
}

// input is what the listener processes' side sends the loop: a process
// spawned (attach), or a chunk of its stdout.
type input struct {
	attach *instance
	inst   *instance
	data   []byte
}

type pool struct {
	name    string
	subs    []string // events=, upper case
	size    int      // buffer_size
	members []*member
	buffer  []*event
	serial  int64
}

// member is one process of a pool.
type member struct {
	name       string
	runningPid int // the pid while the process is RUNNING, else 0
	inst       *instance
}

// instance is one spawn of a listener process.
type instance struct {
	pool, name string
	pid        int
	gen        uint64
	state      listenerState
	event      *event // sent, no result yet
	buf        []byte // supervisord's state_buffer
	result     []byte
	resultLen  int // -1: no RESULT line read yet
	writes     chan []byte
}

// New subscribes to rt's events (until ctx ends); Run serves them.
func New(ctx context.Context, rt Runtime, log *slog.Logger) *Room {
	tick := time.NewTimer(time.Hour)
	tick.Stop()
	return &Room{
		tick:     tick,
		rt:       rt,
		log:      log,
		evs:      rt.Subscribe(ctx),
		inbox:    inbox{signal: make(chan struct{}, 1)},
		serial:   -1,
		tickLast: map[int64]int64{},
	}
}

// Run serves until the event stream ends.
func (r *Room) Run() {
	defer r.tick.Stop()
	for {
		select {
		case ev, ok := <-r.evs:
			if !ok {
				r.stop()
				return
			}
			r.onEvent(ev)
		case <-r.inbox.signal:
			// What the runtime published before these inputs were put
			// (a pool's PROCESS_GROUP_ADDED, the exit of the spawn before
			// this one) is in the event channel: it comes first.
			if !r.drain() {
				r.stop()
				return
			}
			for _, in := range r.inbox.take() {
				if in.attach != nil {
					r.onAttach(in.attach)
				} else {
					r.onOutput(in.inst, in.data)
				}
			}
		case now := <-r.tick.C:
			r.onTick(now)
		}
		for _, p := range r.pools {
			r.dispatch(p)
		}
	}
}

// drain handles the events waiting in the channel; false when it closed.
func (r *Room) drain() bool {
	for {
		select {
		case ev, ok := <-r.evs:
			if !ok {
				return false
			}
			r.onEvent(ev)
		default:
			return true
		}
	}
}

// stop ends every listener's instance (their writers).
func (r *Room) stop() {
	for _, p := range r.pools {
		for _, m := range p.members {
			r.detach(m)
		}
	}
}

// Attach implements supervisor.ListenerIO.
func (r *Room) Attach(group, name string, pid int, stdin *os.File) func([]byte) {
	inst := &instance{pool: group, name: name, pid: pid, state: acknowledged, resultLen: -1,
		writes: make(chan []byte, 1)}
	go writeLoop(stdin, inst.writes)
	r.inbox.put(input{attach: inst})
	return func(b []byte) { r.inbox.put(input{inst: inst, data: b}) }
}

// inbox is the listeners' side's queue to the room: putting never blocks,
// so a process's goroutine (Attach) never waits for the room, which may be
// waiting for the runtime's lock (GroupConfig).
type inbox struct {
	mu     sync.Mutex
	q      []input
	signal chan struct{} // one pending wakeup
}

func (b *inbox) put(in input) {
	b.mu.Lock()
	b.q = append(b.q, in)
	b.mu.Unlock()
	select {
	case b.signal <- struct{}{}:
	default:
	}
}

func (b *inbox) take() []input {
	b.mu.Lock()
	defer b.mu.Unlock()
	q := b.q
	b.q = nil
	return q
}

// writeLoop writes the events sent to one listener process to its stdin,
// so that a listener that does not read never stalls the room. It ends when
// the instance is detached; a write that fails (the process is gone) is
// dropped: the process's exit puts its event back.
func writeLoop(stdin *os.File, writes <-chan []byte) {
	for b := range writes {
		for len(b) > 0 {
			n, err := stdin.Write(b)
			b = b[n:]
			if errors.Is(err, os.ErrDeadlineExceeded) {
				// sendProcessStdin's deadline, left on the shared file.
				_ = stdin.SetWriteDeadline(time.Time{})
				continue
			}
			if err != nil {
				break
			}
		}
	}
}

func (r *Room) poolByName(name string) *pool {
	for _, p := range r.pools {
		if p.name == name {
			return p
		}
	}
	return nil
}

func (p *pool) member(name string) *member {
	for _, m := range p.members {
		if m.name == name {
			return m
		}
	}
	return nil
}

// onEvent is supervisord's events.notify for one runtime event.
func (r *Room) onEvent(ev api.Event) {
	switch ev.Type {
	case "PROCESS_GROUP_ADDED":
		// supervisord makes the group (its pool subscribes), then notifies.
		if gc := r.rt.GroupConfig(ev.Group); gc != nil && gc.Listener != nil && r.poolByName(ev.Group) == nil {
			r.addPool(gc)
		}
	case "PROCESS_GROUP_REMOVED":
		// supervisord unsubscribes the pool, then notifies.
		if p := r.poolByName(ev.Group); p != nil {
			for _, m := range p.members {
				r.detach(m)
			}
			r.pools = slices.DeleteFunc(r.pools, func(q *pool) bool { return q == p })
			r.armTick(time.Now())
		}
	}
	if e := render(ev); e != nil {
		r.notify(e)
	}
	if strings.HasPrefix(ev.Type, "PROCESS_STATE_") {
		r.onProcessState(ev)
	}
}

// onProcessState follows a pool's processes: whether they are RUNNING, and
// their exits (supervisord's Subprocess.finish, which puts the event the
// process was busy with back at the head of its pool's buffer).
func (r *Room) onProcessState(ev api.Event) {
	p := r.poolByName(ev.Group)
	if p == nil {
		return
	}
	m := p.member(ev.Name)
	if m == nil {
		return
	}
	if ev.To == api.Running {
		m.runningPid = ev.PID
	} else {
		m.runningPid = 0
	}
	switch ev.To {
	case api.Exited, api.Stopped, api.Backoff:
		if m.inst != nil && ev.PID != 0 && m.inst.pid == ev.PID {
			r.detach(m)
		}
	}
}

// detach ends a member's current instance, re-buffering its event.
func (r *Room) detach(m *member) {
	inst := m.inst
	if inst == nil {
		return
	}
	m.inst = nil
	close(inst.writes)
	if inst.event != nil {
		if p := r.poolByName(inst.pool); p != nil {
			r.accept(p, inst.event, true)
		}
		inst.event = nil
	}
}

func (r *Room) onAttach(inst *instance) {
	p := r.poolByName(inst.pool)
	var m *member
	if p != nil {
		m = p.member(inst.name)
	}
	if m == nil {
		close(inst.writes)
		return
	}
	r.detach(m) // the previous spawn's exit may still be on its way
	r.gen++
	inst.gen = r.gen
	m.inst = inst
}

func (r *Room) addPool(gc *config.Group) {
	p := &pool{name: gc.Name, subs: gc.Listener.Events, size: gc.Listener.BufferSize, serial: -1}
	if p.size < 1 {
		p.size = 1
	}
	for _, pc := range gc.Processes {
		p.members = append(p.members, &member{name: pc.Name})
	}
	r.pools = append(r.pools, p)
	r.armTick(time.Now())
}

// notify offers e to every pool, in subscription order. A pool subscribed
// to a type through two of its names (PROCESS_STATE and
// PROCESS_STATE_RUNNING) buffers it twice, as supervisord's callbacks do.
func (r *Room) notify(e *event) {
	for _, p := range r.pools {
		for _, sub := range p.subs {
			if matches(sub, e.name) {
				r.accept(p, e, false)
			}
		}
	}
}

// accept is supervisord's EventListenerPool._acceptEvent.
func (r *Room) accept(p *pool, e *event, head bool) {
	if e.serial < 0 {
		r.serial = nextSerial(r.serial)
		e.serial = r.serial
	}
	if _, ok := e.pools[p.name]; !ok {
		p.serial = nextSerial(p.serial)
		e.pools[p.name] = p.serial
	} else {
		r.log.Debug(fmt.Sprintf("rebuffering event %d for pool %s (buf size=%d, max=%d)", e.serial, p.name, len(p.buffer), p.size))
	}
	if len(p.buffer) >= p.size && len(p.buffer) > 0 {
		old := p.buffer[0]
		p.buffer = p.buffer[1:]
		r.log.Error(fmt.Sprintf("pool %s event buffer overflowed, discarding event %d", p.name, old.serial))
	}
	if head {
		p.buffer = slices.Insert(p.buffer, 0, e)
	} else {
		p.buffer = append(p.buffer, e)
	}
}

func nextSerial(s int64) int64 {
	if s == math.MaxInt64 {
		return 0
	}
	return s + 1
}

// dispatch is supervisord's EventListenerPool.dispatch: the oldest events
// first, each to one READY process, until none is.
func (r *Room) dispatch(p *pool) {
	for len(p.buffer) > 0 {
		e := p.buffer[0]
		p.buffer = p.buffer[1:]
		if !r.send(p, e) {
			r.accept(p, e, true)
			return
		}
	}
}

// send gives e to the first READY process of p that is RUNNING.
func (r *Room) send(p *pool, e *event) bool {
	for _, m := range p.members {
		inst := m.inst
		if inst == nil || m.runningPid == 0 || m.runningPid != inst.pid || inst.state != ready {
			continue
		}
		env := fmt.Sprintf("ver:3.0 server:%s serial:%d pool:%s poolserial:%d eventname:%s len:%d\n%s",
			r.rt.Identification(), e.serial, p.name, e.pools[p.name], e.name, len(e.payload), e.payload)
		select {
		case inst.writes <- []byte(env):
		default:
			// Its stdin still holds an event it was sent: it answered
			// before reading it. Like an EPIPE in supervisord, try the next.
			continue
		}
		inst.state = busy
		inst.event = e
		r.log.Debug(fmt.Sprintf("event %d sent to listener %s", e.serial, m.name))
		return true
	}
	return false
}

// onOutput is supervisord's PEventListenerDispatcher.handle_read_event for
// the listener's stdout (the log has had its copy already).
func (r *Room) onOutput(inst *instance, data []byte) {
	if inst.gen == 0 {
		return // never attached (no such pool or member)
	}
	p := r.poolByName(inst.pool)
	if p == nil {
		return
	}
	if m := p.member(inst.name); m == nil || m.inst != inst {
		return // an earlier spawn's last words
	}
	inst.buf = append(inst.buf, data...)
	r.stateChange(p, inst)
}

// stateChange is supervisord's handle_listener_state_change.
func (r *Room) stateChange(p *pool, inst *instance) {
	for len(inst.buf) > 0 {
		switch inst.state {
		case unknown:
			inst.buf = nil
			return
		case acknowledged:
			if len(inst.buf) < len(readyToken) {
				return
			}
			if string(inst.buf[:len(readyToken)]) == string(readyToken) {
				r.setState(inst, ready)
				inst.buf = inst.buf[len(readyToken):]
			} else {
				r.setState(inst, unknown)
				inst.buf = nil
			}
			inst.event = nil
		case ready:
			// Spurious data: be strict about it.
			r.setState(inst, unknown)
			inst.buf = nil
			inst.event = nil
			return
		case busy:
			if inst.resultLen < 0 {
				i := bytes.IndexByte(inst.buf, '\n')
				if i < 0 && len(inst.buf) <= maxResult {
					return
				}
				if i < 0 {
					i = len(inst.buf) - 1 // a "line" that never ends: bad
				}
				line := inst.buf[:i]
				inst.buf = inst.buf[i+1:]
				n, err := strconv.Atoi(string(line[min(len(resultToken), len(line)):]))
				if err != nil || n < 0 || n > maxResult {
					r.log.Warn(fmt.Sprintf("%s: bad result line: '%s'", inst.name, line))
					r.setState(inst, unknown)
					inst.buf = nil
					r.reject(p, inst)
					return
				}
				inst.resultLen = n
				inst.result = inst.result[:0]
			}
			need := inst.resultLen - len(inst.result)
			take := min(need, len(inst.buf))
			inst.result = append(inst.result, inst.buf[:take]...)
			inst.buf = inst.buf[take:]
			if len(inst.result) < inst.resultLen {
				return
			}
			r.result(p, inst, string(inst.result))
			inst.event = nil
			inst.result, inst.resultLen = nil, -1
		}
	}
}

// result is supervisord's handle_result with default_handler: OK
// acknowledges the event, anything else rejects it (back to the head of
// the buffer).
func (r *Room) result(p *pool, inst *instance, res string) {
	if res == "OK" {
		r.log.Debug(fmt.Sprintf("%s: event was processed", inst.name))
		r.setState(inst, acknowledged)
		return
	}
	r.log.Warn(fmt.Sprintf("%s: event was rejected", inst.name))
	r.setState(inst, acknowledged)
	r.reject(p, inst)
}

// reject is supervisord's EventRejectedEvent: the event goes back to the
// head of its pool's buffer.
func (r *Room) reject(p *pool, inst *instance) {
	if inst.event != nil {
		r.accept(p, inst.event, true)
		inst.event = nil
	}
}

func (r *Room) setState(inst *instance, to listenerState) {
	r.log.Debug(fmt.Sprintf("%s: %s -> %s", inst.name, inst.state, to))
	inst.state = to
	if to == unknown {
		r.log.Warn(fmt.Sprintf("%s: has entered the UNKNOWN state and will no longer receive events, "+
			"this usually indicates the process violated the eventlistener protocol", inst.name))
	}
}
