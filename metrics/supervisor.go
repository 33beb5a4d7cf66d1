// Package metrics is roost's Prometheus exposition: a user supervisor's
// programs and cron jobs (Supervisor, served at /metrics on its control
// socket) and the master's endpoint (Master), which adds the master's own
// figures to every user's, relabelled with user.
//
// Counters that only the event stream can tell (starts, exits by reason)
// are counted by one goroutine reading the runtime's event subscription;
// everything else is read when a scrape asks (snapshots, usage from /proc,
// cron records, log counters), so an idle supervisor does no metrics work
// at all. The text format is written here (expo.go), not by client_golang.
package metrics

import (
	"context"
	"net/http"
	"sort"
	"sync"
	"time"

	"roost/supervisor/api"
)

// The exit reasons of roost_process_exits_total.
const (
	ReasonExpected   = "expected"    // exited with a code in exitcodes
	ReasonUnexpected = "unexpected"  // exited with another code, or a signal
	ReasonStopped    = "stopped"     // stopped on request (stop, restart, reload)
	ReasonTooQuickly = "too_quickly" // exited before startsecs: BACKOFF
	ReasonOOM        = "oom"         // killed by the kernel's OOM killer
)

var exitReasons = []string{ReasonExpected, ReasonUnexpected, ReasonStopped, ReasonTooQuickly, ReasonOOM}

// processStates are the states roost_process_state has a series for.
var processStates = []api.State{api.Stopped, api.Starting, api.Running, api.Backoff, api.Stopping, api.Exited, api.Fatal, api.Unknown}

var healths = []api.Health{api.HealthStarting, api.HealthHealthy, api.HealthFailing, api.HealthUnhealthy}

// LogCounter is a Backend that counts the bytes written to its programs'
// logs (the runtime does).
type LogCounter interface {
	LogBytesWritten(fn func(program string, stream api.Stream, n int64))
}

// Supervisor is one user supervisor's metrics. Make it with NewSupervisor,
// Start it before the runtime runs, and mount Handler.
type Supervisor struct {
	b api.Backend

	mu      sync.Mutex
	progs   map[string]*progCounts // by namespec
	project string                 // see SetProject
}

// progCounts are what the event stream told of one program.
type progCounts struct {
	starts  float64
	exits   map[string]float64
	oomSeen int // OOMKills already given to an exit
}

// NewSupervisor returns the metrics of the supervisor b.
func NewSupervisor(b api.Backend) *Supervisor {
	return &Supervisor{b: b, progs: map[string]*progCounts{}}
}

// Start subscribes to the event stream now (so no event after Start is
// missed) and counts from it in a goroutine until ctx ends. The goroutine
// sleeps on the channel: it wakes only for events.
func (s *Supervisor) Start(ctx context.Context) {
	ch := s.b.Subscribe(ctx)
	go func() {
		for ev := range ch {
			s.count(ev)
		}
	}()
}

// Handler serves the exposition (mount it behind the control socket's
// checks).
func (s *Supervisor) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { serveExposition(w, s.collect) })
}

// count is one event: a start, or an exit with its reason.
func (s *Supervisor) count(ev api.Event) {
	if ev.Name == "" {
		return
	}
	name := api.ProcessInfo{Name: ev.Name, Group: ev.Group}.Namespec()
	reason := ""
	switch {
	case ev.Type == "PROCESS_STATE_STARTING":
	case ev.Type == "PROCESS_STATE_STOPPED" && ev.From == api.Stopping:
		reason = ReasonStopped
	case ev.Type == "PROCESS_STATE_BACKOFF" && ev.From == api.Starting && ev.PID != 0:
		reason = ReasonTooQuickly // PID 0: the spawn failed, nothing exited
	case ev.Type == "PROCESS_STATE_EXITED" && ev.Expected:
		reason = ReasonExpected
	case ev.Type == "PROCESS_STATE_EXITED":
		reason = ReasonUnexpected
	default:
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	pc := s.progs[name]
	if pc == nil {
		pc = &progCounts{exits: map[string]float64{}}
		s.progs[name] = pc
	}
	if reason == "" {
		pc.starts++
		return
	}
	// The runtime publishes its snapshot before the event: an OOM kill
	// of this exit is already counted there.
	if info, err := s.b.ProcessInfo(name); err == nil && info.OOMKills > pc.oomSeen {
		pc.oomSeen++
		reason = ReasonOOM
	}
	pc.exits[reason]++
}

// families are the supervisor's metrics by name: the master accepts from
// a user's supervisor only these names, with these types and label names.
var families = sync.OnceValue(func() map[string]*metricDesc {
	out := map[string]*metricDesc{}
	for _, l := range supervisorDescs {
		out[l.name] = l
	}
	return out
})

var (
	labProgram = []string{"program"}

	descState = &metricDesc{typ: gauge, name: "roost_process_state",
		help: "Process state (supervisord's names): 1 for the state the process is in, 0 for the others.", labels: []string{"program", "state"}}
	descStarts = &metricDesc{typ: counter, name: "roost_process_starts_total",
		help: "Spawns of the process (STARTING) since the supervisor started.", labels: labProgram}
	descExits = &metricDesc{typ: counter, name: "roost_process_exits_total",
		help: "Exits of the process by reason: expected, unexpected, stopped, too_quickly (before startsecs), oom.", labels: []string{"program", "reason"}}
	descRestarts = &metricDesc{typ: counter, name: "roost_process_restarts_total",
		help: "Spawns of the process after its first since the supervisor started.", labels: labProgram}
	descOOM = &metricDesc{typ: counter, name: "roost_process_oom_kills_total",
		help: "Kills of the process by the kernel's out-of-memory killer.", labels: labProgram}
	descStartTime = &metricDesc{typ: gauge, name: "roost_process_start_time_seconds",
		help: "Unix time of the process's last start (0: never started).", labels: labProgram}
	descUptime = &metricDesc{typ: gauge, name: "roost_process_uptime_seconds",
		help: "Seconds since the process started, while it runs (0 otherwise).", labels: labProgram}
	descPID = &metricDesc{typ: gauge, name: "roost_process_pid",
		help: "Process id (0 when not running).", labels: labProgram}
	descCPU = &metricDesc{typ: counter, name: "roost_process_cpu_seconds_total",
		help: "CPU seconds (user and system) used by the live processes of the program's process group.", labels: labProgram}
	descRSS = &metricDesc{typ: gauge, name: "roost_process_resident_memory_bytes",
		help: "Resident memory of the live processes of the program's process group.", labels: labProgram}
	descMemCur = &metricDesc{typ: gauge, name: "roost_process_memory_cgroup_bytes",
		help: "The program's own memory cgroup's usage (page cache included), when it has one.", labels: labProgram}
	descPeak = &metricDesc{typ: gauge, name: "roost_process_memory_peak_bytes",
		help: "Peak memory: the program's memory cgroup's, else the sum of its live processes' VmHWM.", labels: labProgram}
	descThreads = &metricDesc{typ: gauge, name: "roost_process_threads",
		help: "Tasks (threads) of the live processes of the program's process group.", labels: labProgram}
	descHealth = &metricDesc{typ: gauge, name: "roost_process_health",
		help: "Health check result of a program with healthcheck=: 1 for its health now (starting, healthy, failing, unhealthy), 0 for the others.", labels: []string{"program", "health"}}
	descLog = &metricDesc{typ: counter, name: "roost_process_log_bytes_total",
		help: "Bytes written to the program's log files since the supervisor started.", labels: []string{"program", "stream"}}

	labJob       = []string{"job"}
	descCronRuns = &metricDesc{typ: counter, name: "roost_cron_runs_total",
		help: "Runs of the cron job started since the supervisor started.", labels: labJob}
	descCronFails = &metricDesc{typ: counter, name: "roost_cron_failures_total",
		help: "Runs of the cron job that exited non-zero or could not start.", labels: labJob}
	descCronSkips = &metricDesc{typ: counter, name: "roost_cron_skipped_total",
		help: "Scheduled runs skipped because the job was still running.", labels: labJob}
	descCronDur = &metricDesc{typ: gauge, name: "roost_cron_last_duration_seconds",
		help: "Duration of the job's last finished run.", labels: labJob}
	descCronStatus = &metricDesc{typ: gauge, name: "roost_cron_last_exit_status",
		help: "Exit status of the job's last finished run (-1: a signal, or it could not start).", labels: labJob}
	descCronEnd = &metricDesc{typ: gauge, name: "roost_cron_last_end_time_seconds",
		help: "Unix time the job's last run ended (0: none yet).", labels: labJob}
	descCronActive = &metricDesc{typ: gauge, name: "roost_cron_running",
		help: "1 while a run of the job is under way.", labels: labJob}

	supervisorDescs = []*metricDesc{descState, descStarts, descExits, descRestarts, descOOM, descStartTime,
		descUptime, descPID, descCPU, descRSS, descMemCur, descPeak, descThreads, descHealth, descLog,
		descCronRuns, descCronFails, descCronSkips, descCronDur, descCronStatus, descCronEnd, descCronActive,
		descDeployReleases, descDeployOK, descDeployFail, descDeployBuild}
)

// collect reads the gauges and the counters' current values.
func (s *Supervisor) collect(e *exposition) {
	infos := s.b.AllProcessInfo()
	var usage map[int]api.Usage
	if ub, ok := s.b.(api.UsageBackend); ok {
		usage = ub.Usage() // one scan of /proc for every program
	}
	now := time.Now()
	s.mu.Lock()
	counts := make(map[string]progCounts, len(infos))
	for _, p := range infos {
		if pc := s.progs[p.Namespec()]; pc != nil {
			cp := *pc
			cp.exits = make(map[string]float64, len(pc.exits))
			for k, v := range pc.exits {
				cp.exits[k] = v
			}
			counts[p.Namespec()] = cp
		}
	}
	s.mu.Unlock()
	for _, p := range infos {
		name := p.Namespec()
		for _, st := range processStates {
			v := 0.0
			if p.State == st {
				v = 1
			}
			e.add(descState, v, name, st.String())
		}
		pc := counts[name]
		e.add(descStarts, pc.starts, name)
		for _, r := range exitReasons {
			e.add(descExits, pc.exits[r], name, r)
		}
		e.add(descRestarts, float64(p.Restarts), name)
		e.add(descOOM, float64(p.OOMKills), name)
		e.add(descStartTime, float64(p.Start), name)
		up := 0.0
		if p.PID != 0 && p.Start > 0 && (p.State == api.Running || p.State == api.Starting || p.State == api.Stopping) {
			up = max(now.Sub(time.Unix(p.Start, 0)).Seconds(), 0)
		}
		e.add(descUptime, up, name)
		e.add(descPID, float64(p.PID), name)
		if p.Health != "" {
			for _, h := range healths {
				v := 0.0
				if p.Health == h {
					v = 1
				}
				e.add(descHealth, v, name, string(h))
			}
		}
		if u, ok := usage[p.PID]; ok && p.PID != 0 {
			e.add(descCPU, u.CPUSeconds, name)
			e.add(descRSS, float64(u.MemoryRSS), name)
			if u.MemoryCurrent > 0 {
				e.add(descMemCur, float64(u.MemoryCurrent), name)
			}
			e.add(descPeak, float64(u.MemoryPeak), name)
			e.add(descThreads, float64(u.Pids), name)
		}
	}
	if lc, ok := s.b.(LogCounter); ok {
		lc.LogBytesWritten(func(program string, stream api.Stream, n int64) {
			e.add(descLog, float64(n), program, string(stream))
		})
	}
	s.collectDeploys(e)
	if cb, ok := s.b.(api.CronBackend); ok {
		jobs := cb.Cron().Jobs
		sort.SliceStable(jobs, func(i, j int) bool { return jobs[i].Name < jobs[j].Name })
		seen := map[string]bool{}
		for _, j := range jobs {
			if seen[j.Name] {
				continue // two "# name:" alike: the first only, a series is unique
			}
			seen[j.Name] = true
			e.add(descCronRuns, float64(j.Runs), j.Name)
			e.add(descCronFails, float64(j.Failures), j.Name)
			e.add(descCronSkips, float64(j.Skipped), j.Name)
			e.add(descCronDur, j.LastDuration, j.Name)
			e.add(descCronStatus, float64(j.LastExitStatus), j.Name)
			end := 0.0
			if !j.LastEnd.IsZero() {
				end = float64(j.LastEnd.UnixNano()) / 1e9
			}
			e.add(descCronEnd, end, j.Name)
			running := 0.0
			if j.Running {
				running = 1
			}
			e.add(descCronActive, running, j.Name)
		}
	}
}
