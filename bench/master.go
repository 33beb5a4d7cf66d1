package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"roost/internal/procfs"
	"roost/internal/testutil"
	"roost/supervisor/api"
)

// masterProgramsPerUser is how many `sleep` programs each user runs, under
// the master and under the user's own supervisord (the scenario:
// 50 users with 2 programs each).
const masterProgramsPerUser = 2

// masterProject is the directory, in each user's home, holding the user's
// supervisord.conf and logs while the bench runs; it is removed afterwards.
const masterProject = "roost-bench-project"

// supervisordProject is the same project for the user's own supervisord:
// the same programs, plus the socket, pidfile and main log supervisord
// needs, kept in the project so that every instance has its own.
const supervisordProject = "roost-bench-supervisord"

// supervisordUserTop and supervisordUserSection are what that project adds
// to writeUserProject's file (%(here)s is the project directory).
const (
	supervisordUserTop = `[unix_http_server]
file=%(here)s/supervisor.sock
chmod=0700

[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface

`
	supervisordUserSection = `logfile=%(here)s/supervisord.log
pidfile=%(here)s/supervisord.pid
childlogdir=%(here)s/log
nodaemon=true
`
)

// benchUserPrefix names the users the full run creates (and deletes).
const benchUserPrefix = "roost-bench-"

// masterRuns measures the per-user cost under `roost master`: its RSS and
// PSS, each user supervisor's RSS and PSS (the pages of the one binary they
// all run are split among them, so PSS per user falls as users grow) and the
// time until every user's programs run; and, in the same run, alternating
// with it, the same users each running the same programs under a
// `supervisord -n` of their own (supervisord has no master: one instance
// per user is how a shared host runs it for its users).
// The full run creates users roost-bench-1..N and deletes them at the end;
// -quick uses the throwaway users scripts/test creates.
func (b *bench) masterRuns(ctx context.Context) error {
	why := b.masterWhy
	if why == "" && os.Geteuid() != 0 {
		why = "needs root (the master starts a supervisor as each user)"
	}
	var names []string
	if why == "" {
		var cleanup func()
		var err error
		names, cleanup, err = b.masterUsers(ctx)
		defer cleanup()
		if err != nil {
			why = "not measured: " + err.Error()
		}
	}
	if why != "" {
		for _, u := range b.o.users {
			for _, f := range masterFigs {
				b.res.unavailable(fmt.Sprintf(f, u), vRoost, why)
			}
			for _, f := range perUserFigs {
				b.res.unavailable(fmt.Sprintf(f, u), vSup, why)
			}
		}
		b.logf("master: %s", why)
		return ctx.Err()
	}
	// Users reach their sockets through run_dir, inside the work dir.
	if err := os.Chmod(b.work, 0o755); err != nil {
		return fmt.Errorf("master: %w", err)
	}
	for run := 1; run <= b.o.runs; run++ {
		for i, u := range b.o.users {
			sides := []struct {
				v string
				f func(context.Context, []string, int) error
			}{{vRoost, b.masterRun}, {vSup, b.supervisordUsersRun}}
			if (run+i)%2 == 0 {
				sides[0], sides[1] = sides[1], sides[0]
			}
			for _, s := range sides {
				if err := s.f(ctx, names[:u], run); err != nil {
					if ctx.Err() != nil {
						return ctx.Err()
					}
					b.res.fail(fmt.Sprintf(figUsersUp, u), s.v, err)
					b.logf("%s users=%d run %d failed: %v", s.v, u, run, err)
				}
			}
		}
	}
	return nil
}

// The figures of the per-user part: the master's own (roost only) and
// those both sides have.
var (
	masterFigs  = []string{figMasterRSS, figMasterPSS, figUserRSS, figUserPSS, figUserAnon, figUsersUp, figUsersPSS, figUsersEach}
	perUserFigs = []string{figUserRSS, figUserPSS, figUserAnon, figUsersUp, figUsersPSS, figUsersEach}
)

// masterUsers returns the users to run the master for, max(users) of
// them, with each one's project written; cleanup removes the projects and
// the users the bench created.
func (b *bench) masterUsers(ctx context.Context) ([]string, func(), error) {
	want := 0
	for _, u := range b.o.users {
		want = max(want, u)
	}
	var names, created []string
	cleanup := func() {
		for _, n := range names {
			if u, err := user.Lookup(n); err == nil {
				os.RemoveAll(filepath.Join(u.HomeDir, masterProject))
				os.RemoveAll(filepath.Join(u.HomeDir, supervisordProject))
			}
		}
		for _, n := range created {
			if r := b.t.run(context.Background(), "/", nil, sbin("userdel"), "--remove", n); r.Err != nil {
				b.res.note("could not delete the bench's user %s: %v", n, r.Err)
			}
		}
	}
	if b.o.quick {
		names = []string{testutil.UserA, testutil.UserB}[:min(want, 2)]
		for _, n := range names {
			if _, err := user.Lookup(n); err != nil {
				return nil, cleanup, fmt.Errorf("user %s does not exist (scripts/setup-test-env creates it)", n)
			}
		}
	} else {
		for i := 1; i <= want; i++ {
			n := benchUserPrefix + strconv.Itoa(i)
			if _, err := user.Lookup(n); err != nil {
				r := b.t.run(ctx, "/", nil, sbin("useradd"), "--create-home", "--shell", "/bin/sh", n)
				if r.Err != nil {
					return nil, cleanup, fmt.Errorf("useradd %s: %w", n, r.Err)
				}
				created = append(created, n)
			}
			names = append(names, n)
		}
		if len(created) > 0 {
			b.logf("master: created users %s…%s (deleted at the end)", created[0], created[len(created)-1])
		}
	}
	if len(names) < want {
		return nil, cleanup, fmt.Errorf("only %d users for users=%d", len(names), want)
	}
	for _, n := range names {
		if err := writeUserProject(n, masterProject, masterProgramsPerUser, "", ""); err != nil {
			return nil, cleanup, err
		}
		if err := writeUserProject(n, supervisordProject, masterProgramsPerUser, supervisordUserTop, supervisordUserSection); err != nil {
			return nil, cleanup, err
		}
	}
	return names, cleanup, nil
}

// writeUserProject writes ~name/project/supervisord.conf with n sleep
// programs, owned by the user; top goes before [supervisord], supervisord
// into it.
func writeUserProject(name, project string, n int, top, supervisord string) error {
	u, err := user.Lookup(name)
	if err != nil {
		return fmt.Errorf("user %s: %w", name, err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	dir := filepath.Join(u.HomeDir, project)
	var conf strings.Builder
	conf.WriteString("; generated by roost's bench for `roost master`\n" + top + "[supervisord]\n" + supervisord)
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&conf, "\n[program:p%d]\ncommand=/bin/sleep infinity\nstartsecs=0\nautorestart=true\nredirect_stderr=true\nstdout_logfile=%%(here)s/log/%%(program_name)s.log\n", i)
	}
	for _, d := range []string{dir, filepath.Join(dir, "log")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return fmt.Errorf("project of %s: %w", name, err)
		}
		if err := os.Chown(d, uid, gid); err != nil {
			return fmt.Errorf("project of %s: %w", name, err)
		}
	}
	f := filepath.Join(dir, "supervisord.conf")
	if err := os.WriteFile(f, []byte(conf.String()), 0o644); err != nil {
		return fmt.Errorf("project of %s: %w", name, err)
	}
	return os.Chown(f, uid, gid)
}

// masterRun starts the master for users, waits until every user's programs
// are RUNNING and records the time and the memory of the master and of
// each user supervisor.
func (b *bench) masterRun(ctx context.Context, users []string, run int) error {
	n := len(users)
	dir := filepath.Join(b.work, "master")
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("master dir: %w", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("master dir: %w", err)
	}
	conf, runDir, err := writeMasterTOML(dir, users, masterProject, "")
	if err != nil {
		return err
	}
	cmd := exec.Command(b.roostBin, "master", "-c", conf)
	cmd.Dir = dir
	r, stop, err := b.startRoost(cmd, dir, filepath.Join(dir, "master.out"))
	if err != nil {
		return fmt.Errorf("start roost master: %w", err)
	}
	defer stop()
	p, t0 := r.p, r.started

	// Every user's programs RUNNING, asked of each user's own socket.
	up, err := b.usersUp(ctx, vRoost, users, t0, func(u string) (bool, error) {
		return userRunning(ctx, filepath.Join(runDir, "users", u, "roost.sock"), masterProgramsPerUser)
	}, func() error {
		if p.exited() {
			return fmt.Errorf("roost master exited (%v); see %s", p.err, filepath.Join(dir, "master.out"))
		}
		return nil
	})
	if err != nil {
		return err
	}
	m, err := readMem(p.pid())
	if err != nil {
		return fmt.Errorf("master memory: %w", err)
	}
	b.res.add(fmt.Sprintf(figMasterRSS, n), vRoost, float64(m.RSS))
	b.res.add(fmt.Sprintf(figMasterPSS, n), vRoost, float64(m.PSS))
	sups, err := userSupervisors(p.pid(), b.roostBin)
	if err != nil {
		return err
	}
	if len(sups) != n {
		return fmt.Errorf("found %d user supervisors under the master, want %d", len(sups), n)
	}
	total, err := b.addPerUser(vRoost, n, sups)
	if err != nil {
		return fmt.Errorf("user supervisor memory: %w", err)
	}
	total += float64(m.PSS)
	b.res.add(fmt.Sprintf(figUsersPSS, n), vRoost, total)
	b.res.add(fmt.Sprintf(figUsersEach, n), vRoost, total/float64(n))
	b.logf("master users=%d run %d: all RUNNING after %s, master RSS %s PSS %s, PSS of all %s",
		n, run, uS.format(up.Seconds()), uMiB.format(float64(m.RSS)), uMiB.format(float64(m.PSS)), uMiB.format(total))
	return nil
}

// addPerUser records the RSS and PSS of each of the n users' supervisors
// (pids) for variant v and returns the sum of their PSS, in KiB.
func (b *bench) addPerUser(v string, n int, pids []int) (float64, error) {
	var total float64
	for _, pid := range pids {
		um, err := readMem(pid)
		if err != nil {
			return 0, err
		}
		b.res.add(fmt.Sprintf(figUserRSS, n), v, float64(um.RSS))
		b.res.add(fmt.Sprintf(figUserPSS, n), v, float64(um.PSS))
		b.res.add(fmt.Sprintf(figUserAnon, n), v, float64(um.PSSAnon))
		total += float64(um.PSS)
	}
	return total, nil
}

// supervisordUsersRun starts one `supervisord -n` per user, as that user
// (its uid and gid, as the master starts a user's supervisor), on
// the user's own copy of the project, all at once; it waits until every
// instance reports its programs RUNNING and records the time and each
// instance's memory. Nothing is shared between the instances but what the
// kernel shares by itself (python3's and its libraries' file pages, which
// PSS splits among them as it splits roost's binary among the master and
// its user supervisors).
func (b *bench) supervisordUsersRun(ctx context.Context, users []string, run int) error {
	n := len(users)
	type inst struct {
		user, dir string
		p         *proc
	}
	insts := make([]inst, 0, n)
	defer func() { // all at once: one by one, 50 instances take minutes
		var wg sync.WaitGroup
		grace := time.Minute
		for _, in := range insts {
			wg.Go(func() {
				if !in.p.stop(grace) {
					b.res.note("the supervisord of %s did not exit within %s of SIGTERM; the bench killed it", in.user, grace)
				}
			})
		}
		wg.Wait()
		if k := b.t.reapOrphans(); k > 0 {
			b.res.note("%d supervisord instances left %d process(es) running after they exited; the bench killed them", len(insts), k)
		}
	}()
	t0 := time.Now()
	for _, name := range users {
		u, err := user.Lookup(name)
		if err != nil {
			return fmt.Errorf("user %s: %w", name, err)
		}
		cred, err := credential(u)
		if err != nil {
			return err
		}
		dir := filepath.Join(u.HomeDir, supervisordProject)
		for _, f := range []string{"supervisord.log", "supervisord.pid", "supervisor.sock", "daemon.out"} {
			os.Remove(filepath.Join(dir, f))
		}
		cmd := exec.Command(b.supervisord, "-n", "-c", filepath.Join(dir, "supervisord.conf"))
		cmd.Dir = dir
		cmd.Env = []string{"PATH=/usr/local/bin:/usr/bin:/bin", "HOME=" + u.HomeDir, "LANG=C.UTF-8",
			"USER=" + name, "LOGNAME=" + name}
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
		out, err := logTo(filepath.Join(dir, "daemon.out"))
		if err != nil {
			return err
		}
		cmd.Stdout, cmd.Stderr = out, out
		p, err := b.t.start(cmd)
		out.Close()
		if err != nil {
			return fmt.Errorf("start supervisord as %s: %w", name, err)
		}
		insts = append(insts, inst{user: name, dir: dir, p: p})
	}
	up, err := b.usersUp(ctx, vSup, users, t0, func(u string) (bool, error) {
		st, err := newRPCClient(filepath.Join(insts[slices.Index(users, u)].dir, "supervisor.sock")).allProcessInfo(ctx)
		if err != nil {
			return false, err
		}
		if s := summarize(st); s != fmt.Sprintf("RUNNING=%d", masterProgramsPerUser) {
			return false, errors.New(s)
		}
		return true, nil
	}, func() error {
		for _, in := range insts {
			if in.p.exited() {
				return fmt.Errorf("supervisord of %s exited (%v); see %s", in.user, in.p.err, filepath.Join(in.dir, "daemon.out"))
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	pids := make([]int, len(insts))
	for i, in := range insts {
		pids[i] = in.p.pid()
	}
	total, err := b.addPerUser(vSup, n, pids)
	if err != nil {
		return fmt.Errorf("supervisord memory: %w", err)
	}
	b.res.add(fmt.Sprintf(figUsersPSS, n), vSup, total)
	b.res.add(fmt.Sprintf(figUsersEach, n), vSup, total/float64(n))
	b.logf("supervisord users=%d run %d: all RUNNING after %s, PSS of all %s",
		n, run, uS.format(up.Seconds()), uMiB.format(total))
	return nil
}

// usersUp asks running(u) of each of users until every one has said yes,
// records the time since t0 as variant v's figUsersUp, and returns it after
// the settle pause; it gives up when exited reports a daemon gone, when ctx
// ends, or a minute and a second per user after t0.
func (b *bench) usersUp(ctx context.Context, v string, users []string, t0 time.Time, running func(u string) (bool, error), exited func() error) (time.Duration, error) {
	up, err := waitEveryUser(ctx, users, t0, running, exited)
	if err != nil {
		return 0, err
	}
	b.res.add(fmt.Sprintf(figUsersUp, len(users)), v, up.Seconds())
	return up, sleepFor(ctx, b.o.settle)
}

// waitEveryUser is usersUp's wait; it returns the time since t0.
func waitEveryUser(ctx context.Context, users []string, t0 time.Time, running func(u string) (bool, error), exited func() error) (time.Duration, error) {
	deadline := t0.Add(time.Minute + time.Duration(len(users))*time.Second)
	pending := map[string]bool{}
	for _, u := range users {
		pending[u] = true
	}
	var last error
	for {
		for u := range pending {
			if ok, err := running(u); ok {
				delete(pending, u)
			} else if err != nil {
				last = fmt.Errorf("user %s: %w", u, err)
			}
		}
		if len(pending) == 0 {
			return time.Since(t0), nil
		}
		if err := exited(); err != nil {
			return 0, err
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("%d of %d users not RUNNING after %s: %v", len(pending), len(users), time.Since(t0).Round(time.Second), last)
		}
		if err := sleepFor(ctx, 5*time.Millisecond); err != nil {
			return 0, err
		}
	}
}

// credential is u's uid and gid, for a process started as u (the bench's
// users have no supplementary groups).
func credential(u *user.User) (*syscall.Credential, error) {
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err := errors.Join(err1, err2); err != nil {
		return nil, fmt.Errorf("user %s: %w", u.Username, err)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: []uint32{}}, nil
}

// startRoost starts cmd (roost master or run, its Dir set) with the
// bench's environment and its output in logPath, and returns it running
// and what stops it (and notes what it left behind).
func (b *bench) startRoost(cmd *exec.Cmd, dir, logPath string) (*running, func(), error) {
	cmd.Env = env()
	out, err := logTo(logPath)
	if err != nil {
		return nil, nil, err
	}
	cmd.Stdout, cmd.Stderr = out, out
	t0 := time.Now()
	p, err := b.t.start(cmd)
	if err != nil {
		out.Close()
		return nil, nil, err
	}
	r := &running{d: roostDaemon{bin: b.roostBin}, w: &workload{Dir: dir}, p: p, started: t0}
	return r, func() { b.stopDaemon(r); out.Close() }, nil
}

// writeMasterTOML writes dir/roost.toml for a master running users'
// project (in each one's home), extra appended; it returns the file and
// the master's run_dir.
func writeMasterTOML(dir string, users []string, project, extra string) (conf, runDir string, err error) {
	runDir = filepath.Join(dir, "run")
	quoted := make([]string, len(users))
	for i, u := range users {
		quoted[i] = strconv.Quote(u)
	}
	toml := fmt.Sprintf(`# generated by roost's bench
run_dir   = %q
state_dir = %q

[users]
names   = [%s]
project = %q
log_dir = %q
min_uid = 1000

[ports]
range    = "20000-29999"
per_user = 10
`, runDir, filepath.Join(dir, "state"), strings.Join(quoted, ", "), project, filepath.Join(project, "log")) + extra
	conf = filepath.Join(dir, "roost.toml")
	if err := os.WriteFile(conf, []byte(toml), 0o644); err != nil {
		return "", "", fmt.Errorf("master config: %w", err)
	}
	return conf, runDir, nil
}

// userRunning reports whether the supervisor on sock has want programs,
// all RUNNING.
func userRunning(ctx context.Context, sock string, want int) (bool, error) {
	c, err := api.Dial(sock)
	if err != nil {
		return false, err
	}
	defer c.Close()
	infos, err := c.Processes(ctx)
	if err != nil {
		return false, err
	}
	if len(infos) != want {
		return false, fmt.Errorf("%d programs, want %d", len(infos), want)
	}
	for _, in := range infos {
		if in.State != api.Running {
			return false, nil
		}
	}
	return true, nil
}

// userSupervisors returns the pids below the master that run the roost
// binary: the user supervisors.
func userSupervisors(master int, bin string) ([]int, error) {
	ps, err := procfs.Descendants(master, nil)
	if err != nil {
		return nil, err
	}
	var out []int
	for _, p := range ps {
		exe, err := os.Readlink("/proc/" + strconv.Itoa(p.PID) + "/exe")
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err == nil && exe == bin {
			out = append(out, p.PID)
		}
	}
	return out, nil
}

// sbin finds an administration command that may not be on PATH.
func sbin(name string) string {
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	return "/usr/sbin/" + name
}
