package eventlistener

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"roost/config"
	"roost/internal/testutil"
	"roost/supervisor/api"
)

// fakeRuntime is the event stream and the groups of a supervisor, driven
// by the test. The listener processes are the test's own pipes: it reads
// what the room writes to their stdin and writes their stdout for them.
type fakeRuntime struct {
	events chan api.Event
	groups map[string]*config.Group
}

func (f *fakeRuntime) Subscribe(context.Context) <-chan api.Event { return f.events }
func (f *fakeRuntime) GroupConfig(name string) *config.Group      { return f.groups[name] }
func (f *fakeRuntime) Identification() string                     { return "supervisor" }

type harness struct {
	t    *testing.T
	rt   *fakeRuntime
	room *Room
	log  *testutil.Buffer
}

func newHarness(t *testing.T, pools ...*config.Group) *harness {
	rt := &fakeRuntime{events: make(chan api.Event, 64), groups: map[string]*config.Group{}}
	for _, g := range pools {
		rt.groups[g.Name] = g
	}
	h := &harness{t: t, rt: rt, log: &testutil.Buffer{}}
	h.room = New(context.Background(), rt, slog.New(slog.NewTextHandler(h.log, &slog.HandlerOptions{Level: slog.LevelDebug})))
	done := make(chan struct{})
	go func() {
		defer close(done)
		h.room.Run()
	}()
	t.Cleanup(func() {
		close(rt.events)
		<-done
	})
	for _, g := range pools {
		h.send(api.Event{Type: "PROCESS_GROUP_ADDED", Group: g.Name})
	}
	return h
}

func poolConf(name string, size, numprocs int, events ...string) *config.Group {
	g := &config.Group{Name: name, Kind: config.KindEventListener,
		Listener: &config.EventListener{BufferSize: size, Events: events, ResultHandler: config.DefaultResultHandler}}
	for i := range numprocs {
		n := name
		if numprocs > 1 {
			n = fmt.Sprintf("%s_%d", name, i)
		}
		g.Processes = append(g.Processes, &config.Process{Name: n, Group: name, Listener: true})
	}
	return g
}

func (h *harness) send(ev api.Event) { h.rt.events <- ev }

// listener is one spawned listener process, as the test plays it.
type listener struct {
	h      *harness
	name   string
	stdin  *bufio.Reader // what the room sent
	stdout func([]byte)
}

// spawn attaches a listener process with pid and makes it RUNNING.
func (h *harness) spawn(group, name string, pid int) *listener {
	r, w, err := os.Pipe()
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() { r.Close(); w.Close() })
	out := h.room.Attach(group, name, pid, w)
	h.send(api.Event{Type: "PROCESS_STATE_STARTING", Name: name, Group: group, From: api.Stopped, To: api.Starting})
	h.send(api.Event{Type: "PROCESS_STATE_RUNNING", Name: name, Group: group, From: api.Starting, To: api.Running, PID: pid})
	return &listener{h: h, name: name, stdin: bufio.NewReader(r), stdout: out}
}

// next reads one event the room sent: its headers and payload.
func (l *listener) next() (map[string]string, string) {
	l.h.t.Helper()
	type got struct {
		hdr     map[string]string
		payload string
		err     error
	}
	c := make(chan got, 1)
	go func() {
		line, err := l.stdin.ReadString('\n')
		if err != nil {
			c <- got{err: err}
			return
		}
		hdr := map[string]string{}
		for _, kv := range strings.Fields(line) {
			k, v, _ := strings.Cut(kv, ":")
			hdr[k] = v
		}
		n, _ := strconv.Atoi(hdr["len"])
		b := make([]byte, n)
		_, err = io.ReadFull(l.stdin, b)
		c <- got{hdr, string(b), err}
	}()
	select {
	case g := <-c:
		if g.err != nil {
			l.h.t.Fatalf("%s: reading an event: %v", l.name, g.err)
		}
		return g.hdr, g.payload
	case <-time.After(20 * time.Second):
		l.h.t.Fatalf("%s: no event within 20s; log:\n%s", l.name, l.h.log.String())
	}
	return nil, ""
}

func (l *listener) say(s string) { l.stdout([]byte(s)) }

// expect reads the next event and checks its name and payload.
func (l *listener) expect(name, payload string) map[string]string {
	l.h.t.Helper()
	hdr, p := l.next()
	if hdr["eventname"] != name || p != payload {
		l.h.t.Fatalf("%s got %s %q, want %s %q", l.name, hdr["eventname"], p, name, payload)
	}
	if hdr["ver"] != "3.0" || hdr["server"] != "supervisor" || hdr["len"] != strconv.Itoa(len(p)) {
		l.h.t.Fatalf("%s: bad header %v", l.name, hdr)
	}
	return hdr
}

func group(name string) api.Event { return api.Event{Type: "PROCESS_GROUP_ADDED", Group: name} }

// TestProtocol: READY, an event, RESULT OK acknowledges; RESULT FAIL puts
// the event back at the head of the buffer, so it comes again, first.
func TestProtocol(t *testing.T) {
	h := newHarness(t, poolConf("p", 10, 1, "PROCESS_GROUP"))
	l := h.spawn("p", "p", 100)
	l.say("READY\n")
	hdr := l.expect("PROCESS_GROUP_ADDED", "groupname:p\n")
	if hdr["serial"] != "0" || hdr["poolserial"] != "0" || hdr["pool"] != "p" {
		t.Fatalf("first event's header %v", hdr)
	}
	h.send(group("a"))
	h.send(group("b"))
	l.say("RESULT 4\nFAIL") // rejected: comes again
	l.say("READY\n")
	hdr = l.expect("PROCESS_GROUP_ADDED", "groupname:p\n")
	if hdr["serial"] != "0" {
		t.Fatalf("the rejected event came back as %v", hdr)
	}
	l.say("RESULT 2\nOKREA") // a result and half a READY in one write
	l.say("DY\n")
	l.expect("PROCESS_GROUP_ADDED", "groupname:a\n")
	l.say("RESULT 2\nOKREADY\n")
	hdr = l.expect("PROCESS_GROUP_ADDED", "groupname:b\n")
	if hdr["serial"] != "2" || hdr["poolserial"] != "2" {
		t.Fatalf("third event's header %v", hdr)
	}
	testutil.Eventually(t, 10*time.Second, "the rejection in the log", func() bool {
		return strings.Contains(h.log.String(), "p: event was rejected")
	})
}

// TestBufferOverflow: with no listener READY the buffer keeps the newest
// buffer_size events and logs each one it drops, as supervisord.
func TestBufferOverflow(t *testing.T) {
	h := newHarness(t, poolConf("p", 2, 1, "PROCESS_GROUP"))
	h.send(group("a"))
	h.send(group("b"))
	l := h.spawn("p", "p", 100)
	testutil.Eventually(t, 10*time.Second, "the overflow in the log", func() bool {
		return strings.Contains(h.log.String(), "pool p event buffer overflowed, discarding event 0")
	})
	l.say("READY\n")
	hdr := l.expect("PROCESS_GROUP_ADDED", "groupname:a\n")
	if hdr["serial"] != "1" {
		t.Fatalf("oldest kept event %v, want serial 1", hdr)
	}
	l.say("RESULT 2\nOKREADY\n")
	l.expect("PROCESS_GROUP_ADDED", "groupname:b\n")
}

// TestExitRequeues: the event a listener was busy with when it exited goes
// to its next spawn; bytes that break the protocol make a listener UNKNOWN
// and it gets nothing more.
func TestExitRequeues(t *testing.T) {
	h := newHarness(t, poolConf("p", 10, 1, "PROCESS_GROUP"))
	l := h.spawn("p", "p", 100)
	l.say("READY\n")
	l.expect("PROCESS_GROUP_ADDED", "groupname:p\n")
	h.send(api.Event{Type: "PROCESS_STATE_EXITED", Name: "p", Group: "p", From: api.Running, To: api.Exited, PID: 100})
	l2 := h.spawn("p", "p", 101)
	l2.say("READY\n")
	hdr := l2.expect("PROCESS_GROUP_ADDED", "groupname:p\n")
	if hdr["serial"] != "0" {
		t.Fatalf("after the exit got %v, want serial 0 again", hdr)
	}
	l2.say("RESULT 2\nOKnonsense")
	testutil.Eventually(t, 10*time.Second, "UNKNOWN in the log", func() bool {
		return strings.Contains(h.log.String(), "p: has entered the UNKNOWN state and will no longer receive events")
	})
	h.send(group("late"))
	l3 := h.spawn("p", "p", 102) // a restart makes it a listener again
	l3.say("READY\n")
	l3.expect("PROCESS_GROUP_ADDED", "groupname:late\n")
}

// TestPoolSharesEvents: a pool's event goes to one READY process; a BUSY
// one is skipped; subscriptions follow supervisord's abstract types.
func TestPoolSharesEvents(t *testing.T) {
	h := newHarness(t, poolConf("p", 10, 2, "PROCESS_STATE_FATAL", "SUPERVISOR_STATE_CHANGE"))
	a := h.spawn("p", "p_0", 100)
	b := h.spawn("p", "p_1", 101)
	a.say("READY\n")
	b.say("READY\n")
	h.send(api.Event{Type: "SUPERVISOR_STATE_CHANGE_RUNNING"})
	h.send(api.Event{Type: "PROCESS_STATE_BACKOFF", Name: "x", Group: "x", From: api.Starting, To: api.Backoff, Tries: 1}) // not subscribed
	h.send(api.Event{Type: "PROCESS_STATE_FATAL", Name: "x", Group: "x", From: api.Backoff, To: api.Fatal})
	a.expect("SUPERVISOR_STATE_CHANGE_RUNNING", "")
	b.expect("PROCESS_STATE_FATAL", "processname:x groupname:x from_state:BACKOFF")
}

// TestPayloads: every event type's payload, as supervisord renders it.
func TestPayloads(t *testing.T) {
	for _, tc := range []struct {
		ev   api.Event
		want string
	}{
		{api.Event{Type: "PROCESS_STATE_STARTING", Name: "w", Group: "g", From: api.Backoff, To: api.Starting, Tries: 2}, "processname:w groupname:g from_state:BACKOFF tries:2"},
		{api.Event{Type: "PROCESS_STATE_EXITED", Name: "w", Group: "g", From: api.Running, To: api.Exited, PID: 7, Expected: true}, "processname:w groupname:g from_state:RUNNING expected:1 pid:7"},
		{api.Event{Type: "PROCESS_STATE_STOPPED", Name: "w", Group: "g", From: api.Stopping, To: api.Stopped, PID: 7}, "processname:w groupname:g from_state:STOPPING pid:7"},
		{api.Event{Type: "PROCESS_STATE_FATAL", Name: "w", Group: "g", From: api.Backoff, To: api.Fatal}, "processname:w groupname:g from_state:BACKOFF"},
		{api.Event{Type: "PROCESS_LOG_STDERR", Name: "w", Group: "g", PID: 7, Message: "oops\n"}, "processname:w groupname:g pid:7 channel:stderr\noops\n"},
		{api.Event{Type: "PROCESS_COMMUNICATION_STDOUT", Name: "w", Group: "g", PID: 7, Message: "hi"}, "processname:w groupname:g pid:7\nhi"},
		{api.Event{Type: "REMOTE_COMMUNICATION", Message: "t\ndata"}, "type:t\ndata"},
		{api.Event{Type: "PROCESS_GROUP_REMOVED", Group: "g"}, "groupname:g\n"},
	} {
		if e := render(tc.ev); e == nil || e.payload != tc.want || e.name != tc.ev.Type {
			t.Errorf("%s: got %+v, want %q", tc.ev.Type, e, tc.want)
		}
	}
	if render(api.Event{Type: api.EventProxyChanged}) != nil {
		t.Errorf("roost's own events are not supervisord events")
	}
	for _, tc := range []struct {
		sub, name string
		want      bool
	}{
		{"EVENT", "TICK_5", true}, {"TICK", "TICK_60", true}, {"PROCESS_STATE", "PROCESS_STATE_FATAL", true},
		{"PROCESS_STATE_FATAL", "PROCESS_STATE_EXITED", false}, {"PROCESS_LOG", "PROCESS_LOG_STDERR", true},
		{"PROCESS_GROUP", "PROCESS_STATE_RUNNING", false},
	} {
		if matches(tc.sub, tc.name) != tc.want {
			t.Errorf("matches(%s, %s) = %v", tc.sub, tc.name, !tc.want)
		}
	}
}

// TestNoTickTimer: the tick timer runs only while a pool wants ticks.
func TestNoTickTimer(t *testing.T) {
	rt := &fakeRuntime{groups: map[string]*config.Group{}}
	r := New(context.Background(), rt, slog.New(slog.NewTextHandler(io.Discard, nil)))
	r.addPool(poolConf("p", 10, 1, "PROCESS_STATE"))
	if len(r.tickLast) != 0 {
		t.Fatalf("ticks counted for a pool without TICK: %v", r.tickLast)
	}
	r.addPool(poolConf("q", 10, 1, "TICK_60"))
	if _, ok := r.tickLast[60]; !ok || len(r.tickLast) != 1 {
		t.Fatalf("TICK_60 pool: periods %v", r.tickLast)
	}
	r.pools = r.pools[:1]
	r.armTick(time.Now())
	if len(r.tickLast) != 0 {
		t.Fatalf("after the TICK pool left: periods %v", r.tickLast)
	}
}
