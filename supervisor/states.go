package supervisor

import (
	"fmt"

	"roost/supervisor/api"
)

// transitions is supervisord's process state machine (supervisor/process.py):
// which states each state may change to. Anything else is a programming
// error, refused by setState.
var transitions = map[api.State][]api.State{
	// spawn() asserts EXITED, FATAL, BACKOFF or STOPPED before STARTING.
	api.Stopped: {api.Starting},
	api.Exited:  {api.Starting},
	api.Fatal:   {api.Starting},
	// transition(): startsecs elapsed → RUNNING; spawn error or exit before
	// startsecs → BACKOFF; kill() → STOPPING; a failing kill → UNKNOWN.
	api.Starting: {api.Running, api.Backoff, api.Stopping, api.Unknown},
	// finish() → EXITED; kill() → STOPPING.
	api.Running: {api.Exited, api.Stopping, api.Unknown},
	// retry → STARTING; give_up() → FATAL; kill() of a BACKOFF process →
	// STOPPED (so a stop is not blocked behind the retries).
	api.Backoff: {api.Starting, api.Fatal, api.Stopped},
	// finish() after a stop request → STOPPED.
	api.Stopping: {api.Stopped, api.Unknown},
	// supervisord has no way out of UNKNOWN short of crashing; roost lets
	// the exit of the process settle it.
	api.Unknown: {api.Stopped, api.Exited},
}

// canTransition reports whether from → to is one of supervisord's transitions.
func canTransition(from, to api.State) bool {
	for _, s := range transitions[from] {
		if s == to {
			return true
		}
	}
	return false
}

// transitionError is a refused state change.
type transitionError struct {
	name     string
	from, to api.State
}

func (e *transitionError) Error() string {
	return fmt.Sprintf("process %s: illegal state change %s -> %s", e.name, e.from, e.to)
}
