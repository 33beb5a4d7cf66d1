package master

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"roost/cgroup"
	"roost/internal/testutil"
	"roost/supervisor/api"
)

// hog allocates and touches MB megabytes, then idles: a program whose
// memory grows past the user's memory_max.
func hog(mb string) int {
	n, err := strconv.Atoi(mb)
	if err != nil {
		return 2
	}
	var keep [][]byte
	for range n {
		b := make([]byte, 1<<20)
		for i := 0; i < len(b); i += 4096 {
			b[i] = 1
		}
		keep = append(keep, b)
	}
	fmt.Println("allocated", len(keep), "MB")
	time.Sleep(time.Hour)
	return 0
}

// testV1Tree is the master's resource tree for the e2e master (the same
// name and place: the test process's groups, the master's name).
func testV1Tree(t *testing.T, e *env) *cgroup.V1 {
	t.Helper()
	tr, _, err := cgroup.Detect(cgroupName(e.runDir))
	testutil.Require(t, err == nil, fmt.Sprintf("cgroups: %v", err))
	v1, ok := tr.(*cgroup.V1)
	testutil.Require(t, ok, "cgroup v1 controllers (a hybrid host)")
	return v1
}

// userStatusJSON is `roost status --json` as the user.
func userStatusJSON(t *testing.T, x *e2e, a testutil.Account) map[string]api.ProcessInfo {
	t.Helper()
	sock := filepath.Join(x.runDir, "users", a.Name, SocketName)
	out, code := exitOf(t, asUser(a, x.bin, "-s", sock, "status", "--json"))
	var infos []api.ProcessInfo
	if err := json.Unmarshal([]byte(out), &infos); err != nil {
		t.Fatalf("roost status --json: exit %d, %v\n%s", code, err, out)
	}
	m := map[string]api.ProcessInfo{}
	for _, p := range infos {
		m[p.Name] = p
	}
	return m
}

// cpuTicks is a process's user and system time in clock ticks.
func cpuTicks(t *testing.T, pid int) int64 {
	t.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(data[strings.LastIndexByte(string(data), ')')+2:]))
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return ut + st
}

// A memory hog past memory_max is OOM-killed by the kernel, reported as
// such (status description, --json, the supervisor's log) and restarted by
// autorestart; a busy loop under cpu_max = "50%" gets at most about half
// a CPU; `roost admin users` shows the usage.
func TestE2EMemoryAndCPULimits(t *testing.T) {
	e := newEnv(t, testutil.UserA, testutil.UserB)
	alice, bob := e.users[0], e.users[1]
	e.writeProject(alice, fmt.Sprintf("[supervisord]\n"+
		"[program:hog]\ncommand=/bin/sh -c 'sleep 1; exec %[1]s hog 400'\nstartsecs=0\nautorestart=true\n"+
		"[program:once]\ncommand=%[1]s hog 400\nstartsecs=0\nautorestart=false\n", helperExe))
	e.writeProject(bob, "[supervisord]\n[program:spin]\ncommand=/bin/sh -c 'while :; do :; done'\nstartsecs=0\n")
	e.writeConf([]string{alice.Name, bob.Name}, "[user.roost-alice.limits]\nmemory_max = \"128M\"\n"+
		"[user.roost-bob.limits]\ncpu_max = \"50%\"\n")
	tr := testV1Tree(t, e)
	t.Cleanup(func() { // after the master's own cleanup stopped it
		for _, r := range tr.Roots {
			if _, err := os.Stat(r); err == nil {
				t.Errorf("%s is left after the master stopped", r)
			}
		}
	})
	x := startMaster(t, e)
	sup := x.waitUser(t, alice.Name, 30*time.Second, "running", running)
	x.waitUser(t, bob.Name, 30*time.Second, "running", running)

	// The tree: the supervisor alone in its leaf, each program in its own
	// group below the programs group that holds the admin's limit.
	memDir := filepath.Join(tr.Roots["memory"], alice.Name)
	if g := memoryGroupOf(t, sup.PID); g != filepath.Join(memDir, cgroup.SupervisorLeaf) {
		t.Errorf("alice's supervisor is in %s", g)
	}
	if got := readTrim(t, filepath.Join(memDir, cgroup.ProgramsGroup, "memory.limit_in_bytes")); got != "134217728" {
		t.Errorf("programs' memory.limit_in_bytes = %s, want 128M", got)
	}

	// once: killed, stays EXITED, and says why.
	var ps map[string]api.ProcessInfo
	testutil.Eventually(t, 60*time.Second, "once to be OOM-killed and hog restarted after one", func() bool {
		ps = userStatusJSON(t, x, alice)
		return ps["once"].State == api.Exited && ps["hog"].OOMKills >= 1 && ps["hog"].Restarts >= 1
	})
	once := ps["once"]
	if hp := ps["hog"].PID; hp != 0 {
		if g := memoryGroupOf(t, hp); g != "" && g != filepath.Join(memDir, cgroup.ProgramsGroup, "hog") {
			t.Errorf("hog (pid %d) is in %s", hp, g)
		}
	}
	if once.OOMKills != 1 || once.OOM != "out of memory, limit 128M" || !strings.HasSuffix(once.Description, "(out of memory, limit 128M)") {
		t.Errorf("once: oom_kills %d, oom %q, description %q", once.OOMKills, once.OOM, once.Description)
	}
	sock := filepath.Join(x.runDir, "users", alice.Name, SocketName)
	out, _ := exitOf(t, asUser(alice, x.bin, "-s", sock, "status", "once"))
	if !strings.Contains(out, "EXITED") || !strings.Contains(out, "(out of memory, limit 128M)") {
		t.Errorf("roost status once:\n%s", out)
	}
	logData, err := os.ReadFile(filepath.Join(alice.Home, "log", "roost.log"))
	if err != nil || !strings.Contains(string(logData), "exited: once (terminated by SIGKILL: out of memory, limit 128M; not expected)") {
		t.Errorf("the supervisor's log does not say out of memory: %v\n%s", err, logData)
	}

	// spin: at most ~60% of one CPU over 3 seconds.
	sp := userStatusJSON(t, x, bob)["spin"]
	if sp.State != api.Running || sp.PID == 0 {
		t.Fatalf("spin: %+v", sp)
	}
	before, start := cpuTicks(t, sp.PID), time.Now()
	time.Sleep(3 * time.Second) // a measurement window, not a synchronisation
	used := float64(cpuTicks(t, sp.PID)-before) / 100 / time.Since(start).Seconds()
	t.Logf("spin under cpu_max 50%%: %.0f%% of one CPU", used*100)
	if used > 0.6 {
		t.Errorf("spin used %.0f%% of one CPU under cpu_max = \"50%%\"", used*100)
	}

	// roost status --json says what spin uses. How fast its CPU seconds
	// grow depends on the machine's load (a busy 2-core CI box gives a
	// throttled spin a few percent): wait for them.
	testutil.Eventually(t, 90*time.Second, "spin's usage in roost status --json", func() bool {
		u := userStatusJSON(t, x, bob)["spin"].Usage
		return u != nil && u.CPUSeconds >= 0.5 && u.Pids >= 1 && u.MemoryRSS > 0
	})
	testutil.Eventually(t, 90*time.Second, "bob's CPU seconds in roost admin users", func() bool {
		u := x.users(t)[bob.Name].Usage
		return u != nil && u.CPUSeconds >= 1
	})

	us := x.users(t)
	// The OOM kills were the programs': the supervisor never was one.
	if u := us[alice.Name]; u.PID != sup.PID || u.Restarts != sup.Restarts {
		t.Errorf("alice's supervisor restarted: pid %d (restarts %d), was %d (%d)", u.PID, u.Restarts, sup.PID, sup.Restarts)
	}
	if u := us[alice.Name]; u.Usage == nil || u.Usage.OOMKills < 2 || u.Usage.Pids < 1 || u.Usage.MemoryCurrent <= 0 {
		t.Errorf("admin users: alice's usage %+v", u.Usage)
	}
	out, code := x.roost(t, "admin", "users")
	if code != 0 || !strings.Contains(out, "MEM") {
		t.Errorf("roost admin users: exit %d\n%s", code, out)
	}
}

// A fork bomb stops at pids_max, and meanwhile another user's supervisor
// still starts a program.
func TestE2EForkBombStopsAtPidsMax(t *testing.T) {
	e := newEnv(t, testutil.UserA, testutil.UserB)
	alice, bob := e.users[0], e.users[1]
	// Bounded: 300 forks at most, each a sleep that the stop kills.
	e.writeProject(alice, "[supervisord]\n[program:bomb]\n"+
		"command=/bin/sh -c 'i=0; while [ $i -lt 300 ]; do sleep 600 & i=$((i+1)); done; wait'\nstartsecs=0\nautorestart=false\n")
	e.writeProject(bob, "[supervisord]\n[program:web]\ncommand=/bin/sleep 600\nstartsecs=0\n"+
		"[program:extra]\ncommand=/bin/sleep 601\nstartsecs=0\nautostart=false\n")
	e.writeConf([]string{alice.Name, bob.Name}, "[user.roost-alice.limits]\npids_max = 40\n")
	x := startMaster(t, e)
	tr := testV1Tree(t, e)
	x.waitUser(t, alice.Name, 30*time.Second, "running", running)
	x.waitUser(t, bob.Name, 30*time.Second, "running", func(s UserStatus) bool { return running(s) && s.ProgramsRunning == 1 })
	// The admin's pids_max is on the programs group; v1 counts the
	// refused forks in the forking task's group, the program's.
	cur := filepath.Join(tr.Roots["pids"], alice.Name, cgroup.ProgramsGroup, "pids.current")
	events := filepath.Join(tr.Roots["pids"], alice.Name, cgroup.ProgramsGroup, "bomb", "pids.events")
	testutil.Eventually(t, 30*time.Second, "alice's bomb to be refused forks at pids_max", func() bool {
		return readTrim(t, events) != "max 0"
	})
	if n, _ := strconv.Atoi(readTrim(t, cur)); n > 40 || n < 30 {
		t.Errorf("pids.current %d under pids_max 40", n)
	}
	if n := len(programs(t, alice, "sleep")); n >= 40 || n < 10 {
		t.Errorf("alice has %d sleeps under pids_max 40", n)
	}
	sock := filepath.Join(x.runDir, "users", bob.Name, SocketName)
	start := time.Now()
	out, code := exitOf(t, asUser(bob, x.bin, "-s", sock, "start", "extra"))
	t.Logf("bob's start took %v while alice is at pids_max", time.Since(start))
	if code != 0 || !strings.Contains(out, "started") {
		t.Errorf("bob: roost start extra: exit %d\n%s", code, out)
	}
	if time.Since(start) > 10*time.Second {
		t.Errorf("bob's start took %v", time.Since(start))
	}
	ps := x.terminate(t)
	if !ps.Success() {
		t.Errorf("master: %v", ps)
	}
	if left := programs(t, alice, ""); len(left) != 0 {
		t.Errorf("alice: %d processes left", len(left))
	}
	for _, r := range tr.Roots {
		if _, err := os.Stat(r); err == nil {
			t.Errorf("%s is left after the master stopped", r)
		}
	}
}

// memoryGroupOf is the directory of pid's v1 memory group ("" once the
// process is gone).
func memoryGroupOf(t *testing.T, pid int) string {
	t.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		return ""
	}
	for _, l := range strings.Split(string(data), "\n") {
		parts := strings.SplitN(l, ":", 3)
		if len(parts) == 3 && slices.Contains(strings.Split(parts[1], ","), "memory") {
			return filepath.Join("/sys/fs/cgroup/memory", parts[2])
		}
	}
	return ""
}

// sleepsOf lists a user's live processes whose command line is "sleep
// ARG".
func sleepsOf(t *testing.T, a testutil.Account, arg string) []int {
	t.Helper()
	var out []int
	for _, p := range programs(t, a, "sleep") {
		cl, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", p.PID))
		if string(cl) == "/bin/sleep\x00"+arg+"\x00" && alive(p) {
			out = append(out, p.PID)
		}
	}
	return out
}

// Each process in a group of its own with its [program:x] limits, below
// the admin's that the user cannot raise; `roost stop` and `restart` kill
// a double-forked daemon with its program's group; an OOM kill under the
// program's own memory_max says that limit.
func TestE2EProgramCgroups(t *testing.T) {
	e := newEnv(t, testutil.UserA)
	alice := e.users[0]
	e.writeProject(alice, fmt.Sprintf("[supervisord]\n"+
		// The daemon escapes its process group and session: only its
		// cgroup holds it.
		"[program:daemon]\ncommand=/bin/sh -c '(setsid /bin/sleep 6001 &); exec /bin/sleep 6002'\nstartsecs=0\nstopwaitsecs=2\n"+
		"memory_max=64M\npids_max=20\ncpu_max=30%%\n"+
		"[program:web]\ncommand=/bin/sleep 6003\nnumprocs=2\nprocess_name=%%(program_name)s_%%(process_num)02d\nstartsecs=0\n"+
		"[program:small]\ncommand=%s hog 100\nstartsecs=0\nautorestart=false\nmemory_max=32M\n", helperExe))
	e.writeCron(alice, "# name: job\n@reboot exec /bin/sleep 6004\n")
	e.writeConf([]string{alice.Name}, "[user.roost-alice.limits]\nmemory_max = \"256M\"\npids_max = 200\n")
	tr := testV1Tree(t, e)
	x := startMaster(t, e)
	x.waitUser(t, alice.Name, 30*time.Second, "running", running)
	sock := filepath.Join(x.runDir, "users", alice.Name, SocketName)
	roost := func(args ...string) (string, int) {
		return exitOf(t, asUser(alice, x.bin, append([]string{"-s", sock}, args...)...))
	}
	var escaped []int
	testutil.Eventually(t, 30*time.Second, "the daemon's double fork", func() bool {
		escaped = sleepsOf(t, alice, "6001")
		return len(escaped) == 1 && len(sleepsOf(t, alice, "6003")) == 2 && len(sleepsOf(t, alice, "6004")) == 1
	})
	user := func(ctl string) string { return filepath.Join(tr.Roots[ctl], alice.Name) }
	progs := func(ctl string, g ...string) string {
		return filepath.Join(append([]string{user(ctl), cgroup.ProgramsGroup}, g...)...)
	}
	if g := memoryGroupOf(t, escaped[0]); g != progs("memory", "daemon") {
		t.Errorf("the escaped daemon is in %s, want %s", g, progs("memory", "daemon"))
	}
	if job := sleepsOf(t, alice, "6004"); memoryGroupOf(t, job[0]) != progs("memory", cgroup.CronGroup) {
		t.Errorf("the cron job is in %s", memoryGroupOf(t, job[0]))
	}
	web := sleepsOf(t, alice, "6003")
	for _, pid := range web {
		if g := memoryGroupOf(t, pid); g != progs("memory", "web_00") && g != progs("memory", "web_01") {
			t.Errorf("web (pid %d) is in %s", pid, g)
		}
	}
	for file, want := range map[string]string{
		progs("memory", "daemon", "memory.limit_in_bytes"): "67108864",
		progs("pids", "daemon", "pids.max"):                "20",
		progs("cpu", "daemon", "cpu.cfs_quota_us"):         "30000",
		progs("memory", "memory.limit_in_bytes"):           "268435456",
		progs("pids", "pids.max"):                          "200",
	} {
		if got := readTrim(t, file); got != want {
			t.Errorf("%s = %s, want %s", file, got, want)
		}
	}

	// The user cannot raise the admin's limits, nor make a group beside
	// them, nor move a program out from under them: the kernel says no.
	for _, c := range []struct{ what, script string }{
		{"raise memory", "echo 1073741824 > " + progs("memory", "memory.limit_in_bytes")},
		{"raise memsw", "echo -1 > " + progs("memory", "memory.memsw.limit_in_bytes")},
		{"raise pids", "echo max > " + progs("pids", "pids.max")},
		{"lift the CPU quota", "echo -1 > " + filepath.Join(user("cpu"), "cpu.cfs_quota_us")},
		{"make a group beside programs", "mkdir " + filepath.Join(user("memory"), "mine")},
		{"remove programs", "rmdir " + progs("memory")},
		{"move a program to the user's group", fmt.Sprintf("echo %d > %s", web[0], filepath.Join(user("memory"), "cgroup.procs"))},
		{"move a program to the supervisor's leaf", fmt.Sprintf("echo %d > %s", web[0], filepath.Join(user("memory"), cgroup.SupervisorLeaf, "cgroup.procs"))},
	} {
		out, code := exitOf(t, asUser(alice, "/bin/sh", "-c", c.script))
		if code == 0 || !strings.Contains(out, "Permission denied") {
			t.Errorf("as the user, %s (%s): exit %d, %q; want Permission denied", c.what, c.script, code, out)
		}
	}
	if got := readTrim(t, progs("memory", "memory.limit_in_bytes")); got != "268435456" {
		t.Errorf("the admin's memory limit is now %s", got)
	}
	if g := memoryGroupOf(t, web[0]); g != progs("memory", "web_00") && g != progs("memory", "web_01") {
		t.Errorf("web moved to %s", g)
	}
	// Within their own, the user may: their program's group is theirs.
	if out, code := exitOf(t, asUser(alice, "/bin/sh", "-c", "echo 16777216 > "+progs("memory", "web_00", "memory.limit_in_bytes"))); code != 0 {
		t.Errorf("the user cannot lower their own program's limit: exit %d, %s", code, out)
	}

	// The program's own memory_max, not the admin's, is the one it hit.
	testutil.Eventually(t, 60*time.Second, "small to be OOM-killed", func() bool {
		return userStatusJSON(t, x, alice)["small"].State == api.Exited
	})
	if s := userStatusJSON(t, x, alice)["small"]; s.OOM != "out of memory, limit 32M" || s.OOMKills != 1 {
		t.Errorf("small: oom %q, oom_kills %d", s.OOM, s.OOMKills)
	}
	if s := userStatusJSON(t, x, alice)["daemon"]; s.OOMKills != 0 || s.State != api.Running {
		t.Errorf("daemon: %+v", s)
	}

	// stop: the daemon goes with its program's group; web stays.
	if out, code := roost("stop", "daemon"); code != 0 {
		t.Fatalf("roost stop daemon: exit %d\n%s", code, out)
	}
	testutil.Eventually(t, 10*time.Second, "nothing of the daemon after stop", func() bool {
		return len(sleepsOf(t, alice, "6001")) == 0 && len(sleepsOf(t, alice, "6002")) == 0
	})
	if got := sleepsOf(t, alice, "6003"); !slices.Equal(got, web) {
		t.Errorf("web's processes %v, were %v", got, web)
	}
	// restart: one daemon, not two.
	if out, code := roost("start", "daemon"); code != 0 {
		t.Fatalf("roost start daemon: exit %d\n%s", code, out)
	}
	testutil.Eventually(t, 20*time.Second, "the daemon again", func() bool { return len(sleepsOf(t, alice, "6001")) == 1 })
	if out, code := roost("restart", "daemon"); code != 0 {
		t.Fatalf("roost restart daemon: exit %d\n%s", code, out)
	}
	testutil.Eventually(t, 20*time.Second, "one daemon after restart", func() bool {
		return len(sleepsOf(t, alice, "6001")) == 1 && len(sleepsOf(t, alice, "6002")) == 1
	})
	time.Sleep(time.Second) // a window for a second daemon to show, not a synchronisation
	if n := len(sleepsOf(t, alice, "6001")); n != 1 {
		t.Errorf("%d daemons after restart", n)
	}
}
