// Package api is roost's control plane: the types both the runtime and its
// clients speak, the HTTP server on the per-user unix socket (JSON under
// /api/v1/, supervisord's XML-RPC at /RPC2, log streams under /logtail/), and
// the Go client the CLI and the master use.
//
// The server is a thin adapter: every operation is a method of Backend, which
// the runtime (package supervisor) implements. The JSON API and XML-RPC call the
// same methods.
package api

import (
	"context"
	"errors"
	"fmt"
	"io"
	"syscall"
	"time"
)

// State is a process state, with supervisord's names and numbers.
type State int

// The process states (supervisor/states.py).
const (
	Stopped  State = 0
	Starting State = 10
	Running  State = 20
	Backoff  State = 30
	Stopping State = 40
	Exited   State = 100
	Fatal    State = 200
	Unknown  State = 1000
)

var stateNames = map[State]string{
	Stopped: "STOPPED", Starting: "STARTING", Running: "RUNNING", Backoff: "BACKOFF",
	Stopping: "STOPPING", Exited: "EXITED", Fatal: "FATAL", Unknown: "UNKNOWN",
}

// String returns supervisord's name for the state, e.g. "RUNNING".
func (s State) String() string {
	if n, ok := stateNames[s]; ok {
		return n
	}
	return fmt.Sprintf("State(%d)", int(s))
}

// IsRunning reports whether s is one of supervisord's RUNNING_STATES
// (RUNNING, BACKOFF, STARTING).
func (s State) IsRunning() bool { return s == Running || s == Backoff || s == Starting }

// IsStopped reports whether s is one of supervisord's STOPPED_STATES
// (STOPPED, EXITED, FATAL, UNKNOWN).
func (s State) IsStopped() bool {
	return s == Stopped || s == Exited || s == Fatal || s == Unknown
}

// IsSignallable reports whether s is one of supervisord's SIGNALLABLE_STATES
// (RUNNING, STARTING, STOPPING).
func (s State) IsSignallable() bool { return s == Running || s == Starting || s == Stopping }

// SupervisorState is the state of the supervisor itself (getState).
type SupervisorState int

// The supervisor states, with supervisord's numbers.
const (
	SupervisorFatal      SupervisorState = 2
	SupervisorRunning    SupervisorState = 1
	SupervisorRestarting SupervisorState = 0
	SupervisorShutdown   SupervisorState = -1
)

// String returns supervisord's name for the state, e.g. "RUNNING".
func (s SupervisorState) String() string {
	switch s {
	case SupervisorFatal:
		return "FATAL"
	case SupervisorRunning:
		return "RUNNING"
	case SupervisorRestarting:
		return "RESTARTING"
	case SupervisorShutdown:
		return "SHUTDOWN"
	}
	return fmt.Sprintf("SupervisorState(%d)", int(s))
}

// Code is a supervisord fault code (supervisor/xmlrpc.py, class Faults).
type Code int

// The fault codes. There is no 5, 7-9 or 12-19, as in supervisord.
const (
	UnknownMethod        Code = 1
	IncorrectParameters  Code = 2
	BadArguments         Code = 3
	SignatureUnsupported Code = 4
	ShutdownState        Code = 6
	BadName              Code = 10
	BadSignal            Code = 11
	NoFile               Code = 20
	NotExecutable        Code = 21
	Failed               Code = 30
	AbnormalTermination  Code = 40
	SpawnError           Code = 50
	AlreadyStarted       Code = 60
	NotRunning           Code = 70
	Success              Code = 80
	AlreadyAdded         Code = 90
	StillRunning         Code = 91
	CantReread           Code = 92
)

var codeNames = map[Code]string{
	UnknownMethod: "UNKNOWN_METHOD", IncorrectParameters: "INCORRECT_PARAMETERS",
	BadArguments: "BAD_ARGUMENTS", SignatureUnsupported: "SIGNATURE_UNSUPPORTED",
	ShutdownState: "SHUTDOWN_STATE", BadName: "BAD_NAME", BadSignal: "BAD_SIGNAL",
	NoFile: "NO_FILE", NotExecutable: "NOT_EXECUTABLE", Failed: "FAILED",
	AbnormalTermination: "ABNORMAL_TERMINATION", SpawnError: "SPAWN_ERROR",
	AlreadyStarted: "ALREADY_STARTED", NotRunning: "NOT_RUNNING", Success: "SUCCESS",
	AlreadyAdded: "ALREADY_ADDED", StillRunning: "STILL_RUNNING", CantReread: "CANT_REREAD",
}

// String returns supervisord's name for the code, e.g. "BAD_NAME".
func (c Code) String() string {
	if n, ok := codeNames[c]; ok {
		return n
	}
	return fmt.Sprintf("Code(%d)", int(c))
}

// Error is an operation's failure, carrying the supervisord fault code that
// both the JSON API and XML-RPC report. Its text is supervisord's fault
// string: "NAME" or "NAME: detail".
type Error struct {
	Code   Code
	Detail string
}

// Error returns "BAD_NAME: foo" (or "BAD_NAME" without a detail).
func (e *Error) Error() string {
	if e.Detail == "" {
		return e.Code.String()
	}
	return e.Code.String() + ": " + e.Detail
}

// Errorf returns an *Error with the given code and a formatted detail.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Detail: fmt.Sprintf(format, args...)}
}

// CodeOf returns the fault code of err: its *Error's code, Success for nil,
// Failed for any other error.
func CodeOf(err error) Code {
	if err == nil {
		return Success
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return Failed
}

// ProcessInfo is getProcessInfo's struct: supervisord's 14 fields, plus
// roost's own, which only the JSON API carries.
type ProcessInfo struct {
	Name          string `json:"name"`
	Group         string `json:"group"`
	Start         int64  `json:"start"` // unix seconds, 0 when never started
	Stop          int64  `json:"stop"`
	Now           int64  `json:"now"`
	State         State  `json:"state"`
	StateName     string `json:"statename"`
	SpawnErr      string `json:"spawnerr"`
	ExitStatus    int    `json:"exitstatus"`
	Logfile       string `json:"logfile"` // same as StdoutLogfile
	StdoutLogfile string `json:"stdout_logfile"`
	StderrLogfile string `json:"stderr_logfile"`
	PID           int    `json:"pid"`
	Description   string `json:"description"`

	// roost's fields (JSON only).
	Restarts int `json:"restarts"` // spawns since the supervisor started, minus one
	// OOMKills counts the kernel's out-of-memory kills of the process
	// (under the user's memory_max); OOM says the last exit was one:
	// "out of memory, limit 256M".
	OOMKills int    `json:"oom_kills"`
	OOM      string `json:"oom,omitempty"`
	// Health is the process's health check result (healthcheck=, a
	// roost extension): "" without a check; HealthDetail says why it
	// fails. NotifyStatus is the last STATUS= a notify=true program sent.
	Health       Health `json:"health,omitempty"`
	HealthDetail string `json:"health_detail,omitempty"`
	NotifyStatus string `json:"notify_status,omitempty"`
	// Usage is what a running program uses now, asked for with
	// GET /api/v1/processes?usage=1 (roost status --json); nil otherwise.
	Usage *Usage `json:"usage,omitempty"`
}

// ViewStatus is the view of GET /api/v1/processes?view=status: of each
// process only what `roost status` prints (processStatus), a third of the
// bytes to encode and decode. A server older than the view ignores the
// parameter and sends every field, which decodes into ProcessInfo alike.
const ViewStatus = "status"

// processStatus is a ProcessInfo in ViewStatus: its keys are ProcessInfo's.
type processStatus struct {
	Name        string `json:"name"`
	Group       string `json:"group"`
	State       State  `json:"state"`
	StateName   string `json:"statename"`
	Description string `json:"description"`
}

// Usage is what the live processes of a program's process group use
// (the program and the children it did not move out of its group), read
// from /proc: resident memory, CPU seconds so far, and tasks (threads).
// When the program has a memory cgroup of its own, MemoryCurrent and
// MemoryPeak are its group's (page cache included, and the peak of
// processes that have exited); else MemoryPeak is the sum of each live
// process's own peak (VmHWM), an upper bound of the group's, and
// MemoryCurrent is 0.
type Usage struct {
	MemoryRSS     int64   `json:"memory_rss"`
	MemoryCurrent int64   `json:"memory_current,omitempty"`
	MemoryPeak    int64   `json:"memory_peak"`
	PeakFrom      string  `json:"memory_peak_from"` // "cgroup" or "vmhwm"
	CPUSeconds    float64 `json:"cpu_seconds"`
	Pids          int     `json:"pids"`
}

// UsageBackend is a Backend that can tell usage per program: by process
// group id (a program's pid, as it leads its group).
type UsageBackend interface {
	Usage() map[int]Usage
}

// Namespec is the name supervisorctl shows: "group:name", or "name" when the
// group and process names are equal.
func (p ProcessInfo) Namespec() string {
	if p.Group == p.Name {
		return p.Name
	}
	return p.Group + ":" + p.Name
}

// ConfigInfo is one entry of getAllConfigInfo, with supervisord's keys.
type ConfigInfo struct {
	Name                  string `json:"name"`
	Group                 string `json:"group"`
	GroupPrio             int    `json:"group_prio"`
	ProcessPrio           int    `json:"process_prio"`
	InUse                 bool   `json:"inuse"`
	Autostart             bool   `json:"autostart"`
	Directory             string `json:"directory"` // "none" when unset, as supervisord sends it
	UID                   string `json:"uid"`       // "none" when unset
	Command               string `json:"command"`
	ExitCodes             []int  `json:"exitcodes"`
	KillAsGroup           bool   `json:"killasgroup"`
	RedirectStderr        bool   `json:"redirect_stderr"`
	StartRetries          int    `json:"startretries"`
	StartSecs             int    `json:"startsecs"`
	StopSignal            int    `json:"stopsignal"`
	StopWaitSecs          int    `json:"stopwaitsecs"`
	StdoutCaptureMaxBytes int64  `json:"stdout_capture_maxbytes"`
	StdoutEventsEnabled   bool   `json:"stdout_events_enabled"`
	StdoutLogfile         string `json:"stdout_logfile"` // "auto", "none" or a path
	StdoutLogfileBackups  int    `json:"stdout_logfile_backups"`
	StdoutLogfileMaxBytes int64  `json:"stdout_logfile_maxbytes"`
	StdoutSyslog          bool   `json:"stdout_syslog"`
	StderrCaptureMaxBytes int64  `json:"stderr_capture_maxbytes"`
	StderrEventsEnabled   bool   `json:"stderr_events_enabled"`
	StderrLogfile         string `json:"stderr_logfile"`
	StderrLogfileBackups  int    `json:"stderr_logfile_backups"`
	StderrLogfileMaxBytes int64  `json:"stderr_logfile_maxbytes"`
	StderrSyslog          bool   `json:"stderr_syslog"`
	ServerURL             string `json:"serverurl"` // "none" for AUTO
}

// Result is one entry of the arrays that group operations return
// (startProcessGroup, stopAllProcesses, ...).
type Result struct {
	Name        string `json:"name"`
	Group       string `json:"group"`
	Status      Code   `json:"status"` // Success on success
	Description string `json:"description"`
}

// Changes is what reloadConfig (reread) reports: group names.
type Changes struct {
	Added   []string `json:"added"`
	Changed []string `json:"changed"`
	Removed []string `json:"removed"`
}

// Stream names a process output stream.
type Stream string

// The two streams.
const (
	Stdout Stream = "stdout"
	Stderr Stream = "stderr"
)

// Health is a checked process's health (roost's healthcheck=).
type Health string

// The health values. A process with a check is HealthStarting from each
// spawn until its first check passes.
const (
	HealthStarting  Health = "starting"  // no check has passed since the spawn
	HealthHealthy   Health = "healthy"   // the last check passed
	HealthFailing   Health = "failing"   // failed, fewer than healthcheck_retries times in a row
	HealthUnhealthy Health = "unhealthy" // failed healthcheck_retries times in a row: being restarted
)

// Event is one entry of the event stream (/api/v1/events): a process state
// change, or a supervisor-level event. Its types are supervisord's event
// names; the runtime also publishes PROCESS_LOG_STDOUT/STDERR (Message is the
// chunk read, for a program with stdout_events_enabled/stderr_events_enabled;
// not sent on /api/v1/events) and PROCESS_COMMUNICATION_STDOUT/STDERR
// (Message is the text between the capture markers).
type Event struct {
	Time    int64  `json:"time"` // unix nanoseconds
	Type    string `json:"type"` // "PROCESS_STATE_RUNNING", "SUPERVISOR_STATE_CHANGE_STOPPING", "HEALTH_UNHEALTHY" (HEALTH_ and a Health in upper case), ...
	Name    string `json:"name,omitempty"`
	Group   string `json:"group,omitempty"`
	From    State  `json:"from"`
	To      State  `json:"to"`
	PID     int    `json:"pid,omitempty"`
	Message string `json:"message,omitempty"`
	// Tries is the process's start retries so far (supervisord's backoff),
	// the "tries" of PROCESS_STATE_STARTING and _BACKOFF.
	Tries int `json:"tries,omitempty"`
	// Expected is PROCESS_STATE_EXITED's "expected": the exit code was in
	// exitcodes.
	Expected bool `json:"expected,omitempty"`
}

// Backend is everything the control plane can ask of a supervisor. The
// runtime implements it; the JSON and XML-RPC adapters call it. Names are
// supervisord namespecs: "name", "group:name"; group operations take the
// group's name. Errors are *Error with supervisord's fault codes.
//
// Methods whose supervisord counterpart takes wait=True block until the
// operation completes as supervisord's do (or ctx ends); with wait false they
// return once the request is accepted.
type Backend interface {
	// Identification is [supervisord] identifier.
	Identification() string
	// Version is roost's version string.
	Version() string
	// State is the supervisor's own state.
	State() SupervisorState
	// PID is the supervisor's process id.
	PID() int

	// ReadMainLog reads the main log with supervisord's readLog offset/length rules.
	ReadMainLog(offset, length int64) ([]byte, error)
	// ClearMainLog truncates the main log.
	ClearMainLog() error
	// FollowMainLog writes the main log's tail, then every new byte, to w
	// until ctx ends. It survives rotation.
	FollowMainLog(ctx context.Context, tail int64, w io.Writer) error

	// Shutdown stops every process in reverse priority order, then the supervisor.
	// It returns once the shutdown is under way.
	Shutdown() error
	// Restart stops every process, re-reads the configuration and starts
	// again (supervisord's restart / `reload`).
	Restart() error
	// Reread parses the configuration on disk and reports what differs from
	// the running one, changing nothing. A broken file is a CantReread error
	// whose detail lists every file:line problem.
	Reread() (Changes, error)
	// AddGroup activates a group from the last reread configuration.
	AddGroup(name string) error
	// RemoveGroup removes a stopped group.
	RemoveGroup(name string) error
	// Update re-reads the configuration and applies it: removed groups stop
	// and go, added groups come, and within changed groups only the processes
	// whose configuration changed are restarted. Empty names means all groups.
	Update(ctx context.Context, names []string) (Changes, error)

	// ProcessInfo describes one process.
	ProcessInfo(name string) (ProcessInfo, error)
	// AllProcessInfo describes every process, in supervisord's order.
	AllProcessInfo() []ProcessInfo
	// AllConfigInfo describes every configured process, sorted by name.
	AllConfigInfo() []ConfigInfo

	// StartProcess starts one process (not "group:*": use StartGroup).
	StartProcess(ctx context.Context, name string, wait bool) error
	// StopProcess stops one process.
	StopProcess(ctx context.Context, name string, wait bool) error
	// SignalProcess sends sig to one process.
	SignalProcess(name string, sig syscall.Signal) error
	// StartGroup starts the group's processes that are not running.
	StartGroup(ctx context.Context, group string, wait bool) ([]Result, error)
	// StopGroup stops the group's running processes.
	StopGroup(ctx context.Context, group string, wait bool) ([]Result, error)
	// SignalGroup signals the group's signallable processes.
	SignalGroup(group string, sig syscall.Signal) ([]Result, error)
	// StartAll starts every process that is not running, in priority order.
	StartAll(ctx context.Context, wait bool) []Result
	// StopAll stops every running process, in reverse priority order.
	StopAll(ctx context.Context, wait bool) []Result
	// SignalAll signals every signallable process.
	SignalAll(sig syscall.Signal) []Result

	// ReadProcessLog reads a process log with supervisord's readFile rules.
	ReadProcessLog(name string, stream Stream, offset, length int64) ([]byte, error)
	// TailProcessLog is supervisord's tailProcess*Log: bytes, new offset, overflow.
	TailProcessLog(name string, stream Stream, offset, length int64) ([]byte, int64, bool, error)
	// FollowProcessLog writes the last tail bytes of the log, then every new
	// byte, to w until ctx ends. It survives rotation and restarts.
	FollowProcessLog(ctx context.Context, name string, stream Stream, tail int64, w io.Writer) error
	// ClearProcessLogs truncates a process's logs, keeping rotated backups, as
	// supervisord's clearProcessLogs does.
	ClearProcessLogs(name string) error
	// ClearAllProcessLogs clears every process's logs.
	ClearAllProcessLogs() []Result
	// SendProcessStdin writes data to a running process's stdin.
	SendProcessStdin(name string, data []byte) error
	// SendRemoteCommEvent emits a REMOTE_COMMUNICATION event.
	SendRemoteCommEvent(typ, data string) error

	// Subscribe streams events until ctx ends. The channel is closed then.
	Subscribe(ctx context.Context) <-chan Event
}

// CronInfo is GET /api/v1/cron: the supervisor's cron file and its jobs.
type CronInfo struct {
	// File is the cron file's path; it need not exist (no jobs then).
	File string `json:"file"`
	// Log is cron.log, where every job's output goes, each line prefixed
	// with its time and the job's name.
	Log string `json:"log"`
	// Error is set when the file on disk could not be applied (its
	// "cron:LINE: message" problems, one a line): Jobs are then the jobs
	// of the last valid file, still running on their schedules.
	Error string `json:"error,omitempty"`
	// Jobs are in file order.
	Jobs []CronJob `json:"jobs"`
}

// CronJob is one job of the cron file and its record. Times are RFC 3339
// in the supervisor's zone; a zero time is left out.
type CronJob struct {
	Name     string `json:"name"`     // from "# name: NAME" above it, else "line-N"
	Line     int    `json:"line"`     // its line in the cron file
	Schedule string `json:"schedule"` // as written: "30 2 * * 1-5", "@daily", "@every 5m", "@reboot"
	Command  string `json:"command"`
	Zone     string `json:"zone"` // the schedule's time zone (CRON_TZ/TZ, else the supervisor's)

	Next      time.Time `json:"next,omitzero"`       // the next scheduled run; none for @reboot
	LastStart time.Time `json:"last_start,omitzero"` // the start of the last (or current) run
	LastEnd   time.Time `json:"last_end,omitzero"`   // the end of the last finished run
	// LastExitStatus is the last finished run's exit status (-1 when a
	// signal ended it or it could not start: LastError says which).
	LastExitStatus int `json:"last_exit_status"`
	// LastDuration is how long the last finished run took, in seconds.
	LastDuration float64 `json:"last_duration"`
	LastError    string  `json:"last_error,omitempty"`
	Running      bool    `json:"running"`
	PID          int     `json:"pid,omitempty"` // of the running job's shell
	Runs         int     `json:"runs"`          // runs started since the supervisor started
	Skipped      int     `json:"skipped"`       // runs skipped because the job was still running
	// Failures counts finished runs with a non-zero status or that could
	// not start, since the supervisor started.
	Failures int `json:"failures"`
}

// CronBackend is what the control plane can ask of a supervisor that runs
// a cron file. A Backend that also implements it gets the /api/v1/cron
// resources; without it they answer UNKNOWN_METHOD. Errors are *Error:
// BAD_NAME for an unknown job, ALREADY_STARTED for a job still running.
type CronBackend interface {
	// Cron describes the cron file and its jobs.
	Cron() CronInfo
	// RunCronJob starts a job now, outside its schedule. It returns once
	// the run is under way.
	RunCronJob(name string) error
	// ReadCronLog returns the last lines of cron.log that a job wrote
	// (every job's when name is ""), with their prefixes.
	ReadCronLog(name string, lines int) ([]byte, error)
	// FollowCronLog writes the last lines a job wrote (every job's when
	// name is ""), then each new one, to w until ctx ends.
	FollowCronLog(ctx context.Context, name string, lines int, w io.Writer) error
}
