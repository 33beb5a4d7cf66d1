package master

import (
	"fmt"

	"roost/cgroup"
)

// UserState is the state of a user's supervisor, as `roost admin users`
// shows it. The names are supervisord's process states where they mean the
// same thing, plus REFUSED for a user the master will not run.
type UserState int

// The user supervisor states.
const (
	UserStopped  UserState = iota // not running, not scheduled (before the first start, after a stop)
	UserStarting                  // spawned, not yet up for startSecs
	UserRunning                   // up for startSecs or more
	UserBackoff                   // exited unexpectedly; restarts when the backoff delay ends
	UserStopping                  // asked to stop (SIGTERM), waiting for its exit
	UserRefused                   // the master will not run it: see LastError (root, uid < min_uid, no ports…)
)

var userStateNames = map[UserState]string{
	UserStopped: "STOPPED", UserStarting: "STARTING", UserRunning: "RUNNING",
	UserBackoff: "BACKOFF", UserStopping: "STOPPING", UserRefused: "REFUSED",
}

// String returns the state's name, e.g. "RUNNING".
func (s UserState) String() string {
	if n, ok := userStateNames[s]; ok {
		return n
	}
	return fmt.Sprintf("UserState(%d)", int(s))
}

// MarshalText writes the name.
func (s UserState) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText reads a name.
func (s *UserState) UnmarshalText(b []byte) error {
	for k, v := range userStateNames {
		if v == string(b) {
			*s = k
			return nil
		}
	}
	return fmt.Errorf("unknown user state %q", b)
}

// allowed is the transition table: setState refuses anything else.
var allowed = map[UserState][]UserState{
	UserStopped:  {UserStarting, UserBackoff, UserRefused},
	UserStarting: {UserRunning, UserBackoff, UserStopping},
	UserRunning:  {UserBackoff, UserStopping},
	UserBackoff:  {UserStarting, UserStopped, UserRefused},
	UserStopping: {UserStopped},
	UserRefused:  {UserStarting, UserBackoff, UserStopped, UserRefused},
}

// UserStatus is one line of `roost admin users`: what the master knows of a
// user's supervisor, and what that supervisor reports of its programs.
type UserStatus struct {
	Name      string    `json:"name"`
	UID       int       `json:"uid"` // -1 for a user not in /etc/passwd
	PID       int       `json:"pid"` // 0 when not running
	State     UserState `json:"state"`
	Since     int64     `json:"since"`    // unix seconds of the last state change
	Restarts  int       `json:"restarts"` // spawns since the master started, minus one
	PortBase  int       `json:"port_base"`
	PortCount int       `json:"port_count"`
	Project   string    `json:"project"` // absolute project directory
	// ProgramsRunning and ProgramsTotal come from the user's supervisor; -1
	// when it could not be asked (see ProgramsError).
	ProgramsRunning int    `json:"programs_running"`
	ProgramsTotal   int    `json:"programs_total"`
	ProgramsError   string `json:"programs_error,omitempty"`
	// LastError is why the supervisor last exited or could not start, or why
	// the user is refused: an exit status and the tail of its output.
	LastError string `json:"last_error,omitempty"`
	// Routes and RoutesServed count the user's [proxy:*] sections and
	// those nginx serves; -1 when the master has not read them (proxy
	// disabled, or the supervisor is not running).
	Routes       int `json:"routes"`
	RoutesServed int `json:"routes_served"`
	// ProxyProblems say which parts of the user's routes are left out and
	// why ("[proxy:web] host ... belongs to bob").
	ProxyProblems []string `json:"proxy_problems,omitempty"`
	// RoutesPending counts the user's routes whose latest form nginx does
	// not run yet (ProxyProblems says why: "[proxy:web] pending: …").
	RoutesPending int `json:"routes_pending,omitempty"`
	// Config is what the user's supervisor says of its file on disk when
	// it is not what runs: CONFIG-ERROR (nothing of it runs) or STALE (the
	// previous configuration runs); "" when it applies. ConfigError is its
	// first file:line problem.
	Config      string `json:"config,omitempty"`
	ConfigError string `json:"config_error,omitempty"`
	// Usage is what the user's cgroup holds now (the supervisor, its
	// programs and cron jobs together); nil without cgroups.
	Usage *cgroup.Stats `json:"usage,omitempty"`
}
