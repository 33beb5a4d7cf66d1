package supervisor

import (
	"context"
	"errors"
	"os/exec"
	"time"

	"roost/cgroup"
	"roost/config"
)

// Per-program cgroups: under the master, the user's supervisor lives in a
// leaf of its own beside the programs group the master delegated to the
// user (cgroup.OpenPrograms). Each process then gets a group of its own
// there (cgroup.ProgramGroup: "web_00"), with its [program:x] limits
// within the admin's, and every cron job the cron group: a stop kills the
// whole group once the leader is gone (a double-forked daemon too), and
// an OOM kill is counted in the program's group. Without delegation
// (plain `roost run`) there are no such groups and nothing changes.
// All the mechanics are in package cgroup; this is the supervisor's side
// of it: place a child, kill a group.

// groupKillTimeout bounds the kill of a stopped program's group.
const groupKillTimeout = 10 * time.Second

// placement is where a child is born and whether its group goes with it.
type placement struct {
	group   string          // "" for none
	kill    bool            // kill the group once the stopped leader is gone
	rlimits []cgroup.Rlimit // without a group: memory_max as RLIMIT_DATA
}

// openPrograms finds the delegated programs group, nil without one.
func openPrograms() *cgroup.Programs {
	p, err := cgroup.OpenPrograms()
	if err != nil {
		return nil
	}
	return p
}

// logPrograms says at start whether programs get groups of their own.
func (s *Supervisor) logPrograms() {
	if s.cg == nil {
		if s.opts.Managed {
			s.log.Warn("per-program cgroups: none (the master delegated no programs group): no per-program limits, stop kills by process group only")
		}
		return
	}
	s.log.Info("per-program cgroups: " + s.cg.Mode() + " at " + s.cg.Dir() + " (one group per process, one for cron jobs)")
}

// placeProcess prepares a process's group with its limits; a group the
// host refuses is logged and the process starts without one.
func (s *Supervisor) placeProcess(name string, alt bool, l config.Limits) placement {
	if s.cg == nil {
		// No group to hold the limits: memory_max becomes the nearest
		// rlimit (an approximation, see cgroup.Rlimits); pids_max and
		// cpu_max need a group and are said to be ignored.
		if l.PidsMax > 0 || l.CPUMax > 0 {
			s.log.Warn("pids_max and cpu_max need per-program cgroups, which this supervisor has none of: not applied", "program", name)
		}
		return placement{rlimits: cgroup.Rlimits(cgroup.Limits{MemoryMax: l.MemoryMax})}
	}
	g := cgroup.ProgramGroup(name)
	if alt {
		g += ".b" // never a process's group: theirs have no dot but "x.<hex>"
	}
	if err := s.cg.Prepare(g, cgroup.Limits{MemoryMax: l.MemoryMax, PidsMax: l.PidsMax, CPUMax: l.CPUMax}); err != nil {
		// A limit the host refuses (a missing controller; on v1 a CPU
		// quota above the user's) leaves the group usable; a group that
		// cannot be made is found at the start, which goes without it.
		s.log.Warn("cgroup of "+name+": "+err.Error(), "program", name)
	}
	s.oom.baseline(s.cg, g)
	return placement{group: g, kill: true}
}

// placeCron is the cron jobs' group (never killed as a whole: one job's
// stop must not take the others).
func (s *Supervisor) placeCron() placement {
	if s.cg == nil {
		return placement{}
	}
	if err := s.cg.Prepare(cgroup.CronGroup, cgroup.Limits{}); err != nil {
		return placement{}
	}
	return placement{group: cgroup.CronGroup}
}

// start starts cmd in its group, or where the supervisor is when the
// group cannot be entered. It runs on a fork thread.
func (pl placement) start(s *Supervisor, cmd *exec.Cmd) error {
	if pl.group == "" || s == nil || s.cg == nil {
		if err := cmd.Start(); err != nil {
			return err
		}
		// Set right after the start (the child is the supervisor's user,
		// so no privilege is needed); what it allocates before is the
		// approximation's slack.
		if err := cgroup.SetRlimits(cmd.Process.Pid, pl.rlimits); err != nil && s != nil {
			s.log.Warn("memory_max as an rlimit: "+err.Error(), "program", cmd.Path)
		}
		return nil
	}
	// In a group of its own, the child's fate at the supervisor's death is
	// the group's: the master kills the user's tree when the supervisor
	// is gone. Pdeathsig would tie it to the thread that forks on v1 (the
	// Programs' fork thread), which an upgrade's execve ends (handover.go).
	cmd.SysProcAttr.Pdeathsig = 0
	err := s.cg.Start(pl.group, cmd)
	if errors.Is(err, cgroup.ErrEnter) {
		s.log.Warn(err.Error()+"; starting without it", "program", pl.group)
		return cmd.Start()
	}
	return err
}

// killGroup kills what is left in a stopped child's group.
func (pl placement) killGroup(s *Supervisor) {
	if !pl.kill || pl.group == "" || s == nil || s.cg == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), groupKillTimeout)
	defer cancel()
	n, err := s.cg.Kill(ctx, pl.group)
	if n > 0 {
		s.log.Info("killed what the stopped program left in its cgroup", "program", pl.group, "count", n)
	}
	if err != nil {
		s.log.Warn("kill of cgroup "+pl.group+": "+err.Error(), "program", pl.group)
	}
}
