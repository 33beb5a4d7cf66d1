package cgroup

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// A user's tree, in every hierarchy (see DESIGN.md, "Cgroups"):
//
//	<top>/<user>/                   root's: cpu_max, cpu_weight, io_weight for the whole tree
//	<top>/<user>/supervisor/        root's leaf: the user's supervisor, and nothing else
//	<top>/<user>/programs/          root's limit files (memory_max, memory_high, pids_max);
//	                                the directory and its cgroup.procs (tasks, subtree_control)
//	                                delegated to the user
//	<top>/<user>/programs/web_00/   made by the supervisor, one per process: [program:x] limits
//	<top>/<user>/programs/.cron/    the cron jobs
//	<top>/<user>/programs/.spawn/   v1 only: the supervisor's fork threads between two forks
//
// The memory and pids limits sit on programs, not on the user's group:
// a program's OOM kill or fork bomb never touches the supervisor.
const (
	SupervisorLeaf = "supervisor"
	ProgramsGroup  = "programs"
	CronGroup      = ".cron"
	spawnGroup     = ".spawn"
)

// safeGroupName is a process name usable as a group's name as it is: no
// dot (every control file has one, or is one of v1Reserved), no path.
var safeGroupName = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_-]*$`) })

// v1Reserved are v1 control files without a dot.
var v1Reserved = map[string]bool{"tasks": true, "notify_on_release": true, "release_agent": true}

// ProgramGroup is the group name of a process: the name itself when it is
// safe ("web_00"), else "x." and its hex (never a control file's name,
// never another process's group, never one of roost's dot groups).
func ProgramGroup(name string) string {
	if safeGroupName().MatchString(name) && !v1Reserved[name] {
		return name
	}
	return "x." + hex.EncodeToString([]byte(name))
}

// Programs is a user's supervisor's delegated sub-tree: one group per
// process, limits the user sets within the admin's, and kill by group.
// OpenPrograms finds it; everything runs as the user.
type Programs struct {
	tree Tree
	// mu keeps a v1 fork thread's stay in a group and a kill of that
	// group apart (a frozen fork thread would freeze a spawn).
	mu sync.Mutex
	// v1 is set on cgroup v1 (the fork thread moves), else v2 is.
	v1 *V1
	v2 *V2
	// forks feeds the v1 fork thread.
	forks    chan func(tid int)
	forkOnce sync.Once
}

// ErrNotDelegated says the calling process is not a supervisor placed by
// the master in a tree it delegated: plain `roost run`.
var ErrNotDelegated = errors.New("cgroup: no delegated programs group beside this process's own (started without the master)")

// ErrEnter says Start could not place the child in its group; nothing
// was started.
var ErrEnter = errors.New("cgroup: cannot enter the group")

// OpenPrograms finds the programs group beside the calling process's own
// leaf (SupervisorLeaf) in the hierarchy Detect would pick (v2 on a
// unified host, else the v1 controllers), and checks that it is the
// caller's to manage (delegated: owned by its uid).
func OpenPrograms() (*Programs, error) {
	if isCgroup2("/sys/fs/cgroup") {
		return openV2Programs("/sys/fs/cgroup")
	}
	dirs, err := v1SelfDirs()
	if err != nil {
		return nil, err
	}
	roots := map[string]string{}
	for _, ctl := range V1Controllers {
		own, ok := dirs[ctl]
		if !ok {
			continue
		}
		d, err := programsBeside(own)
		if err != nil {
			return nil, err
		}
		roots[ctl] = d
	}
	if len(roots) == 0 {
		return nil, ErrNotDelegated
	}
	v1 := &V1{Roots: roots}
	return &Programs{tree: v1, v1: v1}, nil
}

// openV2Programs is OpenPrograms on the v2 hierarchy mounted at mnt.
func openV2Programs(mnt string) (*Programs, error) {
	self, err := Self()
	if err != nil {
		return nil, err
	}
	d, err := programsBeside(filepath.Join(mnt, self))
	if err != nil {
		return nil, err
	}
	v2 := &V2{Root: d}
	return &Programs{tree: v2, v2: v2}, nil
}

// programsBeside returns own's sibling programs group when own is a
// supervisor leaf and the sibling is the caller's.
func programsBeside(own string) (string, error) {
	if filepath.Base(own) != SupervisorLeaf {
		return "", ErrNotDelegated
	}
	d := filepath.Join(filepath.Dir(own), ProgramsGroup)
	var st unix.Stat_t
	if err := unix.Lstat(d, &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFDIR || int(st.Uid) != os.Geteuid() {
		return "", ErrNotDelegated
	}
	return d, nil
}

// Mode is "v1" or "v2".
func (p *Programs) Mode() string { return p.tree.Mode() }

// Dir is the programs group's directory (in the memory hierarchy on v1),
// for the log.
func (p *Programs) Dir() string {
	if p.v2 != nil {
		return p.v2.Root
	}
	if d, ok := p.v1.Roots["memory"]; ok {
		return d
	}
	ds, _ := p.v1.dirs("")
	return ds[0]
}

// Prepare creates the group and writes its limits (the zero ones lift
// what an earlier start wrote); the kernel bounds them by the admin's,
// above.
func (p *Programs) Prepare(group string, l Limits) error {
	if err := p.tree.Create(group); err != nil {
		return err
	}
	if p.v1 != nil {
		if err := p.tree.Create(spawnGroup); err != nil {
			return err
		}
	}
	return p.tree.SetLimits(group, l)
}

// Start starts cmd born in the group: CLONE_INTO_CGROUP on v2. On v1 the
// fork runs on a thread of the Programs' own (forkThread): it joins the
// group's tasks for the fork and parks in .spawn after it. That thread is
// never the main one, which leads the process: the OOM killer looks at
// leaders only, so it never picks the supervisor (v1's cgroup.procs does
// list the supervisor's pid in .spawn; a kill skips the caller). A
// failure to enter the group (ErrEnter) is returned before anything
// started.
func (p *Programs) Start(group string, cmd *exec.Cmd) error {
	if p.v2 != nil {
		f, err := (&Group{Path: filepath.Join(p.v2.Root, group)}).Open()
		if err != nil {
			return fmt.Errorf("%w %s: %w", ErrEnter, group, err)
		}
		defer f.Close()
		if cmd.SysProcAttr == nil {
			cmd.SysProcAttr = &syscall.SysProcAttr{}
		}
		attr := cmd.SysProcAttr
		attr.UseCgroupFD, attr.CgroupFD = true, int(f.Fd())
		return cmd.Start()
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	var err error
	p.onForkThread(func(tid int) {
		if err = p.v1.AddThread(group, tid); err != nil {
			_ = p.v1.AddThread(spawnGroup, tid) // it may have entered some hierarchies
			err = fmt.Errorf("%w %s: %w", ErrEnter, group, err)
			return
		}
		err = cmd.Start()
		// A failure to park leaves the thread in the group, where a kill
		// skips the supervisor's own pid.
		_ = p.v1.AddThread(spawnGroup, tid)
	})
	return err
}

// onForkThread runs f on the v1 fork thread, given its tid.
func (p *Programs) onForkThread(f func(tid int)) {
	p.forkOnce.Do(func() {
		p.forks = make(chan func(int))
		go p.forkThread()
	})
	done := make(chan struct{})
	p.forks <- func(tid int) { f(tid); close(done) }
	<-done
}

// forkThread serves onForkThread, locked to its OS thread for the life
// of the process (a child's Pdeathsig is tied to the thread that forked
// it). Landed on the main thread, it starts another and keeps the main
// thread idle, so that the other cannot be it.
func (p *Programs) forkThread() {
	runtime.LockOSThread() // never unlocked
	tid := unix.Gettid()
	if tid == os.Getpid() {
		go p.forkThread()
		select {}
	}
	for f := range p.forks {
		f(tid)
	}
}

// Kill kills everything in the group and waits until it is empty.
func (p *Programs) Kill(ctx context.Context, group string) (int, error) {
	if group == "" || group == spawnGroup {
		return 0, fmt.Errorf("cgroup: will not kill %q of the supervisor's own", group)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.tree.Kill(ctx, group)
}

// Stats reads a group's usage.
func (p *Programs) Stats(group string) (Stats, error) { return p.tree.Stats(group) }

// OOM is the group's OOM-kill counter; its limit is the lower of the
// group's own and the admin's on the programs group.
func (p *Programs) OOM(group string) *MemoryGroup {
	if p.v2 != nil {
		d := p.v2.Root
		return &MemoryGroup{events: filepath.Join(d, group, "memory.events"),
			limits: []string{filepath.Join(d, group, "memory.max"), filepath.Join(d, "memory.max")}}
	}
	d, ok := p.v1.Roots["memory"]
	if !ok {
		return nil
	}
	return &MemoryGroup{events: filepath.Join(d, group, "memory.oom_control"),
		limits: []string{filepath.Join(d, group, "memory.limit_in_bytes"), filepath.Join(d, "memory.limit_in_bytes")}}
}

// Remove removes an empty group (a program removed from the config).
func (p *Programs) Remove(group string) error {
	if group == "" || group == spawnGroup {
		return nil
	}
	return p.tree.Remove(group)
}

// DelegateProcs gives only the group's cgroup.procs to uid:gid (v2): the
// common ancestor of a supervisor's leaf and its programs' groups, which
// CLONE_INTO_CGROUP needs writable; a process cannot be moved into it (no
// internal processes where controllers are enabled below), and its
// directory stays root's, so the groups under it cannot be replaced.
func (t *V2) DelegateProcs(rel string, uid, gid int) error {
	d, err := t.dir(rel)
	if err != nil {
		return err
	}
	if err := os.Lchown(filepath.Join(d, "cgroup.procs"), uid, gid); err != nil {
		return fmt.Errorf("cgroup: delegate: %w", err)
	}
	return nil
}
