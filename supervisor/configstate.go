package supervisor

import (
	"fmt"
	"os"

	"roost/config"
	"roost/supervisor/api"
)

// The configuration-error state (DESIGN.md, "A broken file"): a supervisor
// whose file on disk does not load keeps running what it has, reports the
// file's problems to every client (api.ConfigState), and applies the file
// as soon as it loads (the watcher, HUP, update).
//
//   - Options.Broken set: the file was broken when the supervisor started;
//     it runs the configuration New was given instead (an empty one, or
//     the last good one saved in the user's state: Options.Saved) and is
//     CONFIG-ERROR;
//   - a load that fails later (reread) makes it STALE, unless it was
//     CONFIG-ERROR already;
//   - a full update that applies a loaded file makes it OK.

// diskProblem is a broken file on disk.
type diskProblem struct {
	state    string // api.ConfigError or api.ConfigStale
	running  string // what runs instead: "none", "previous", "saved"
	first    string
	problems []string
}

// noteBroken records that the file on disk did not load.
func (s *Supervisor) noteBroken(err error) {
	lines := config.ErrorLines(err)
	if len(lines) == 0 {
		lines = []string{"the configuration cannot be read"}
	}
	first := lines[0]
	if len(lines) > 1 {
		first += fmt.Sprintf(" (and %d more problems: roost check)", len(lines)-1)
	}
	p := &diskProblem{state: api.ConfigStale, running: "previous", first: first, problems: lines}
	if old := s.problem.Load(); old != nil && old.state == api.ConfigError {
		p.state, p.running = old.state, old.running
	}
	s.problem.Store(p)
}

// noteLoaded records that the file on disk loads again, though what runs
// is not it until an update applies it (reread alone, update of some groups).
func (s *Supervisor) noteLoaded() {
	old := s.problem.Load()
	if old == nil {
		return
	}
	p := *old
	p.first = "the file on disk is valid again but not applied yet (`roost update` applies it)"
	p.problems = nil
	s.problem.CompareAndSwap(old, &p)
}

// noteApplied records that the file on disk is what runs.
func (s *Supervisor) noteApplied() {
	if s.problem.Swap(nil) != nil {
		s.log.Info("configuration applied: the file on disk is what runs again")
	}
}

// noteWarnings logs the warnings of an applied configuration (a misspelt
// key such as enviroment=) that the one before it did not have: on a live
// apply as at start, not only in `roost check`. Status shows them too.
func (s *Supervisor) noteWarnings(old, cur *config.Config) {
	seen := map[string]bool{}
	for _, w := range old.Warnings {
		seen[w.Message+"|"+w.Section+"|"+w.Key] = true
	}
	for _, w := range cur.Warnings {
		if !seen[w.Message+"|"+w.Section+"|"+w.Key] {
			s.log.Warn("config: "+w.String(), "file", w.Pos.File, "line", w.Pos.Line)
		}
	}
}

// ConfigState reports whether the file on disk is what runs (api.ConfigStateBackend).
func (s *Supervisor) ConfigState() api.ConfigState {
	st := api.ConfigState{State: api.ConfigOK}
	if p := s.problem.Load(); p != nil {
		st.State, st.Running, st.Error, st.Problems = p.state, p.running, p.first, p.problems
	}
	if c := s.cron; c != nil {
		c.mu.Lock()
		cronErr := c.loadErr
		c.mu.Unlock()
		st.Cron = firstLine(cronErr)
	}
	for _, k := range api.MasterEnv {
		if v, ok := os.LookupEnv(k); ok {
			if st.Env == nil {
				st.Env = map[string]string{}
			}
			st.Env[k] = v
		}
	}
	s.mu.RLock()
	st.File = s.cfg.File
	for _, w := range s.cfg.Warnings {
		st.Warnings = append(st.Warnings, w.String())
	}
	s.mu.RUnlock()
	return st
}

var _ api.ConfigStateBackend = (*Supervisor)(nil)
