package cgroup

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// fakeGroup makes dir with the given control files, empty, as the kernel
// would offer them (the fake cgroupfs: writes never create a file).
func fakeGroup(t *testing.T, dir string, files ...string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if err := os.WriteFile(filepath.Join(dir, f), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func wantFile(t *testing.T, path, want string) {
	t.Helper()
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != want {
		t.Errorf("%s = %q, want %q", path, got, want)
	}
}

func TestV2LimitsOnFakeTree(t *testing.T) {
	root := filepath.Join(t.TempDir(), "roost")
	fakeGroup(t, root, "cgroup.subtree_control")
	os.WriteFile(filepath.Join(root, "cgroup.controllers"), []byte("cpuset cpu io memory hugetlb pids rdma misc\n"), 0o644)
	alice := filepath.Join(root, "alice")
	fakeGroup(t, alice, "memory.max", "memory.high", "memory.swap.max", "pids.max", "cpu.max", "cpu.weight", "io.weight")
	tr := &V2{Root: root}
	if err := tr.Create("alice"); err != nil {
		t.Fatal(err)
	}
	wantFile(t, filepath.Join(root, "cgroup.subtree_control"), "+memory +pids +cpu +io")
	l := Limits{MemoryMax: 256 << 20, MemoryHigh: 200 << 20, PidsMax: 64, CPUMax: 150, CPUWeight: 50, IOWeight: 200}
	if err := tr.SetLimits("alice", l); err != nil {
		t.Fatal(err)
	}
	wantFile(t, filepath.Join(alice, "memory.max"), "268435456")
	wantFile(t, filepath.Join(alice, "memory.high"), "209715200")
	wantFile(t, filepath.Join(alice, "memory.swap.max"), "0")
	wantFile(t, filepath.Join(alice, "pids.max"), "64")
	wantFile(t, filepath.Join(alice, "cpu.max"), "150000 100000")
	wantFile(t, filepath.Join(alice, "cpu.weight"), "50")
	wantFile(t, filepath.Join(alice, "io.weight"), "default 200")

	// Unset limits lift what was there: roost.toml lost its [limits].
	if err := tr.SetLimits("alice", Limits{}); err != nil {
		t.Fatal(err)
	}
	wantFile(t, filepath.Join(alice, "memory.max"), "max")
	wantFile(t, filepath.Join(alice, "pids.max"), "max")
	wantFile(t, filepath.Join(alice, "cpu.max"), "max 100000")

	// A missing controller is named; the other limits are still written.
	bob := filepath.Join(root, "bob")
	fakeGroup(t, bob, "memory.max", "cpu.max")
	err := tr.SetLimits("bob", Limits{MemoryMax: 1 << 30, PidsMax: 10})
	if err == nil || !strings.Contains(err.Error(), "no pids controller") {
		t.Fatalf("SetLimits without pids.max: %v", err)
	}
	wantFile(t, filepath.Join(bob, "memory.max"), "1073741824")
	// No limit asked where no controller is: no error (a unified host
	// whose controllers are not delegated, and roost.toml sets none).
	fakeGroup(t, filepath.Join(root, "carol"))
	if err := tr.SetLimits("carol", Limits{}); err != nil {
		t.Errorf("SetLimits of nothing without controllers: %v", err)
	}

	for _, bad := range []string{"../x", "/abs", "a/../../b", "a//b"} {
		if err := tr.SetLimits(bad, l); err == nil {
			t.Errorf("SetLimits(%q): no error", bad)
		}
		if err := tr.Create(bad); err == nil {
			t.Errorf("Create(%q): no error", bad)
		}
	}
}

func TestV2StatsOnFakeTree(t *testing.T) {
	root := t.TempDir()
	fakeGroup(t, filepath.Join(root, "alice"))
	for f, v := range map[string]string{
		"memory.current": "1048576\n", "memory.peak": "2097152\n", "pids.current": "7\n",
		"memory.events": "low 0\nhigh 0\nmax 3\noom 1\noom_kill 2\noom_group_kill 0\n",
		"cpu.stat":      "usage_usec 2500000\nuser_usec 2000000\nsystem_usec 500000\n",
	} {
		os.WriteFile(filepath.Join(root, "alice", f), []byte(v), 0o644)
	}
	s, err := (&V2{Root: root}).Stats("alice")
	if err != nil {
		t.Fatal(err)
	}
	want := Stats{MemoryCurrent: 1 << 20, MemoryPeak: 2 << 20, CPUSeconds: 2.5, Pids: 7, OOMKills: 2}
	if s != want {
		t.Fatalf("Stats = %+v, want %+v", s, want)
	}
}

func fakeV1(t *testing.T, ctls ...string) (*V1, map[string]string) {
	t.Helper()
	base := t.TempDir()
	files := map[string][]string{
		"memory":  {"memory.limit_in_bytes", "memory.memsw.limit_in_bytes", "memory.soft_limit_in_bytes", "cgroup.procs", "tasks"},
		"pids":    {"pids.max", "cgroup.procs", "tasks"},
		"cpu":     {"cpu.cfs_period_us", "cpu.cfs_quota_us", "cpu.shares", "cgroup.procs", "tasks"},
		"cpuacct": {"cgroup.procs", "tasks"},
		"freezer": {"freezer.state", "cgroup.procs", "tasks"},
		"blkio":   {"blkio.weight", "cgroup.procs", "tasks"},
	}
	tr := &V1{Roots: map[string]string{}}
	dirs := map[string]string{}
	for _, c := range ctls {
		tr.Roots[c] = filepath.Join(base, c, "roost")
		dirs[c] = filepath.Join(base, c, "roost", "alice")
		fakeGroup(t, dirs[c], files[c]...)
	}
	return tr, dirs
}

func TestV1LimitsOnFakeTree(t *testing.T) {
	tr, d := fakeV1(t, "memory", "pids", "cpu", "cpuacct", "freezer", "blkio")
	if err := tr.Create("alice"); err != nil {
		t.Fatal(err)
	}
	l := Limits{MemoryMax: 256 << 20, MemoryHigh: 200 << 20, PidsMax: 64, CPUMax: 50, CPUWeight: 200, IOWeight: 100}
	if err := tr.SetLimits("alice", l); err != nil {
		t.Fatal(err)
	}
	wantFile(t, filepath.Join(d["memory"], "memory.limit_in_bytes"), "268435456")
	wantFile(t, filepath.Join(d["memory"], "memory.memsw.limit_in_bytes"), "268435456")
	wantFile(t, filepath.Join(d["memory"], "memory.soft_limit_in_bytes"), "209715200")
	wantFile(t, filepath.Join(d["pids"], "pids.max"), "64")
	wantFile(t, filepath.Join(d["cpu"], "cpu.cfs_period_us"), "100000")
	wantFile(t, filepath.Join(d["cpu"], "cpu.cfs_quota_us"), "50000")
	wantFile(t, filepath.Join(d["cpu"], "cpu.shares"), "2048")
	wantFile(t, filepath.Join(d["blkio"], "blkio.weight"), "1000")

	if err := tr.SetLimits("alice", Limits{}); err != nil {
		t.Fatal(err)
	}
	wantFile(t, filepath.Join(d["memory"], "memory.limit_in_bytes"), "-1")
	wantFile(t, filepath.Join(d["memory"], "memory.memsw.limit_in_bytes"), "-1")
	wantFile(t, filepath.Join(d["pids"], "pids.max"), "max")
	wantFile(t, filepath.Join(d["cpu"], "cpu.cfs_quota_us"), "-1")

	if err := tr.Add("alice", 4242); err != nil {
		t.Fatal(err)
	}
	for _, c := range []string{"memory", "pids", "freezer"} {
		wantFile(t, filepath.Join(d[c], "cgroup.procs"), "4242")
	}
	if err := tr.AddThread("alice", 4243); err != nil {
		t.Fatal(err)
	}
	wantFile(t, filepath.Join(d["cpu"], "tasks"), "4243")
}

func TestV1MissingControllers(t *testing.T) {
	tr, d := fakeV1(t, "memory", "cpuacct")
	err := tr.SetLimits("alice", Limits{MemoryMax: 64 << 20, PidsMax: 32, CPUMax: 100})
	if err == nil || !strings.Contains(err.Error(), "no pids controller") || !strings.Contains(err.Error(), "no cpu controller") {
		t.Fatalf("SetLimits without pids and cpu: %v", err)
	}
	wantFile(t, filepath.Join(d["memory"], "memory.limit_in_bytes"), "67108864")
	// No limit asked where no controller is: no error.
	if err := tr.SetLimits("alice", Limits{MemoryMax: 64 << 20}); err != nil {
		t.Fatal(err)
	}
	if _, err := tr.Kill(t.Context(), "alice"); err == nil || !strings.Contains(err.Error(), "freezer") {
		t.Fatalf("Kill without a freezer: %v", err)
	}
}

func TestV1StatsOnFakeTree(t *testing.T) {
	tr, d := fakeV1(t, "memory", "pids", "cpuacct")
	os.WriteFile(filepath.Join(d["memory"], "memory.usage_in_bytes"), []byte("4096\n"), 0o644)
	os.WriteFile(filepath.Join(d["memory"], "memory.max_usage_in_bytes"), []byte("8192\n"), 0o644)
	os.WriteFile(filepath.Join(d["memory"], "memory.oom_control"), []byte("oom_kill_disable 0\nunder_oom 0\noom_kill 3\n"), 0o644)
	os.WriteFile(filepath.Join(d["pids"], "pids.current"), []byte("5\n"), 0o644)
	os.WriteFile(filepath.Join(d["cpuacct"], "cpuacct.usage"), []byte("1500000000\n"), 0o644)
	s, err := tr.Stats("alice")
	if err != nil {
		t.Fatal(err)
	}
	want := Stats{MemoryCurrent: 4096, MemoryPeak: 8192, CPUSeconds: 1.5, Pids: 5, OOMKills: 3}
	if s != want {
		t.Fatalf("Stats = %+v, want %+v", s, want)
	}
}
