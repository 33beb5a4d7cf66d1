package eventlistener

import (
	"fmt"
	"strings"
	"time"

	"roost/supervisor/api"
)

// abstract are supervisord's abstract event types: a subscription to one
// covers every type named with it and a "_" (EVENT covers them all).
var abstract = []string{"PROCESS_STATE", "PROCESS_COMMUNICATION", "PROCESS_LOG",
	"SUPERVISOR_STATE_CHANGE", "TICK", "PROCESS_GROUP"}

// matches reports whether a subscription to sub receives an event of type
// name (Python's isinstance on supervisord's event classes).
func matches(sub, name string) bool {
	switch {
	case sub == name, sub == "EVENT":
		return true
	}
	for _, a := range abstract {
		if sub == a {
			return strings.HasPrefix(name, a+"_")
		}
	}
	return false
}

// render turns a runtime event into supervisord's event and payload, or
// nil for an event supervisord does not have.
func render(ev api.Event) *event {
	var payload string
	switch t := ev.Type; {
	case strings.HasPrefix(t, "PROCESS_STATE_"):
		// ProcessStateEvent.payload and its get_extra_values.
		payload = fmt.Sprintf("processname:%s groupname:%s from_state:%s", ev.Name, ev.Group, ev.From)
		switch ev.To {
		case api.Starting, api.Backoff:
			payload += fmt.Sprintf(" tries:%d", ev.Tries)
		case api.Exited:
			expected := 0
			if ev.Expected {
				expected = 1
			}
			payload += fmt.Sprintf(" expected:%d pid:%d", expected, ev.PID)
		case api.Running, api.Stopping, api.Stopped:
			payload += fmt.Sprintf(" pid:%d", ev.PID)
		}
	case t == "PROCESS_LOG_STDOUT", t == "PROCESS_LOG_STDERR":
		payload = fmt.Sprintf("processname:%s groupname:%s pid:%d channel:%s\n%s",
			ev.Name, ev.Group, ev.PID, strings.ToLower(strings.TrimPrefix(t, "PROCESS_LOG_")), ev.Message)
	case t == "PROCESS_COMMUNICATION_STDOUT", t == "PROCESS_COMMUNICATION_STDERR":
		payload = fmt.Sprintf("processname:%s groupname:%s pid:%d\n%s", ev.Name, ev.Group, ev.PID, ev.Message)
	case t == "REMOTE_COMMUNICATION":
		payload = "type:" + ev.Message // the runtime's Message is "TYPE\nDATA"
	case t == "SUPERVISOR_STATE_CHANGE_RUNNING", t == "SUPERVISOR_STATE_CHANGE_STOPPING":
	case t == "PROCESS_GROUP_ADDED", t == "PROCESS_GROUP_REMOVED":
		payload = fmt.Sprintf("groupname:%s\n", ev.Group)
	default:
		return nil
	}
	return &event{name: ev.Type, payload: payload, serial: -1, pools: map[string]int64{}}
}

// The tick periods, in supervisord's order (events.TICK_EVENTS).
var tickPeriods = []int64{5, 60, 3600}

// tickWanted reports whether some pool subscribes to TICK_<period>.
func (r *Room) tickWanted(period int64) bool {
	name := fmt.Sprintf("TICK_%d", period)
	for _, p := range r.pools {
		for _, sub := range p.subs {
			if matches(sub, name) {
				return true
			}
		}
	}
	return false
}

// armTick sets the one tick timer to the next boundary of a period some
// pool wants, or stops it when none does. A period starts being counted
// when it becomes wanted, as supervisord counts from its start: the first
// TICK_N comes at the first boundary after that.
func (r *Room) armTick(now time.Time) {
	r.tick.Stop()
	next := int64(0)
	for _, period := range tickPeriods {
		if !r.tickWanted(period) {
			delete(r.tickLast, period)
			continue
		}
		if _, ok := r.tickLast[period]; !ok {
			r.tickLast[period] = timeslice(period, now.Unix())
		}
		if at := r.tickLast[period] + period; next == 0 || at < next {
			next = at
		}
	}
	if next != 0 {
		r.tick.Reset(time.Until(time.Unix(next, 0)))
	}
}

// onTick is supervisord's tick(): every wanted period whose timeslice
// rolled over sends its TICK event, shortest period first.
func (r *Room) onTick(now time.Time) {
	for _, period := range tickPeriods {
		last, ok := r.tickLast[period]
		if !ok {
			continue
		}
		if this := timeslice(period, now.Unix()); this != last {
			r.tickLast[period] = this
			r.notify(&event{name: fmt.Sprintf("TICK_%d", period), payload: fmt.Sprintf("when:%d", this),
				serial: -1, pools: map[string]int64{}})
		}
	}
	r.armTick(now)
}

func timeslice(period, when int64) int64 { return when - when%period }
