package cgroup

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"roost/internal/testutil"
)

// The test binary re-executed as "bind-probe ADDR..." tries to listen on
// each address and prints "ok" or the errno's name per line: the process
// is born in the group under test, as the master's supervisors are.
func TestMain(m *testing.M) {
	if len(os.Args) == 3 && os.Args[1] == "programs-probe" {
		os.Exit(programsProbe(os.Args[2]))
	}
	if len(os.Args) == 3 && os.Args[1] == "leaf-probe" {
		os.Exit(leafProbe(os.Args[2]))
	}
	if len(os.Args) > 2 && os.Args[1] == "bind-probe" {
		for _, a := range os.Args[2:] {
			l, err := net.Listen("tcp", a)
			switch {
			case err == nil:
				l.Close()
				fmt.Println(a, "ok")
			case errors.Is(err, syscall.EPERM):
				fmt.Println(a, "EPERM")
			default:
				fmt.Println(a, err)
			}
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// requireBindFilter requires root and a kernel that loads the filter: under
// CI=true this machine's kernel must (cgroup v2 and BPF are both there).
func requireBindFilter(t *testing.T) string {
	t.Helper()
	testutil.RequireRoot(t)
	mnt, err := Mount()
	testutil.Require(t, err == nil, fmt.Sprintf("a cgroup v2 mount: %v", err))
	err = BindFilterSupported()
	testutil.Require(t, err == nil, fmt.Sprintf("a kernel that loads cgroup/bind4 programs: %v", err))
	return mnt
}

// freeBase finds n consecutive ports from a free one the kernel picked.
func freeBase(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	p := l.Addr().(*net.TCPAddr).Port
	return min(p, 65535-100)
}

func TestBindFilterRefusesOtherBlocks(t *testing.T) {
	mnt := requireBindFilter(t)
	g, err := Create(filepath.Join(mnt, fmt.Sprintf("roost-cgroup-test-%d", os.Getpid())))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := g.Remove(); err != nil {
			t.Error(err)
		}
	})
	base := freeBase(t)
	f := BindFilter{Managed: Ports{base, base + 59}, Own: Ports{base + 20, base + 39}}
	if err := g.AttachBindFilter(f); err != nil {
		t.Fatal(err)
	}
	// Attaching again replaces the filter (a restarted master does).
	if err := g.AttachBindFilter(f); err != nil {
		t.Fatalf("attach again: %v", err)
	}
	at := func(host string, port int) string { return net.JoinHostPort(host, strconv.Itoa(port)) }
	want := map[string]string{
		at("127.0.0.1", base+20): "ok",    // own block
		at("127.0.0.1", base+39): "ok",    // own block, last port
		at("127.0.0.1", base):    "EPERM", // another block
		at("127.0.0.1", base+19): "EPERM",
		at("127.0.0.1", base+40): "EPERM",
		at("0.0.0.0", base+59):   "EPERM", // wildcard bind too
		at("::1", base+1):        "EPERM", // and IPv6
		at("::", base+25):        "ok",
		at("127.0.0.1", 0):       "ok", // the kernel picks
	}
	if base+60 <= 65535 {
		want[at("127.0.0.1", base+60)] = "ok" // outside roost's range
	}
	var args []string
	for a := range want {
		args = append(args, a)
	}
	dir, err := g.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer dir.Close()
	cmd := exec.Command(os.Args[0], append([]string{"bind-probe"}, args...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: int(dir.Fd())}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("probe: %v\n%s", err, out)
	}
	got := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		a, res, _ := strings.Cut(l, " ")
		got[a] = res
	}
	for a, w := range want {
		if strings.HasPrefix(a, "[::") && strings.Contains(got[a], "address family not supported") {
			continue // a kernel without IPv6
		}
		if w == "ok" && strings.Contains(got[a], "address already in use") {
			continue // another process's port: the filter let the bind through to the kernel's own check
		}
		if got[a] != w {
			t.Errorf("bind %s in the group: got %q, want %q", a, got[a], w)
		}
	}
	// The test process itself is outside the group: not filtered.
	l, err := net.Listen("tcp", at("127.0.0.1", base))
	if err != nil && !errors.Is(err, syscall.EADDRINUSE) {
		t.Fatalf("outside the group: %v", err)
	}
	if l != nil {
		l.Close()
	}
	pids, err := g.PIDs()
	if err != nil || len(pids) != 0 {
		t.Fatalf("PIDs after the probe exited: %v %v", pids, err)
	}
}

func TestAddPIDAndRefusals(t *testing.T) {
	mnt := requireBindFilter(t)
	g, err := Create(filepath.Join(mnt, fmt.Sprintf("roost-cgroup-test-add-%d", os.Getpid())))
	if err != nil {
		t.Fatal(err)
	}
	defer g.Remove()
	cmd := exec.Command("sleep", "60")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	defer cmd.Process.Kill()
	if err := g.AddPID(cmd.Process.Pid); err != nil {
		t.Fatal(err)
	}
	pids, err := g.PIDs()
	if err != nil || len(pids) != 1 || pids[0] != cmd.Process.Pid {
		t.Fatalf("PIDs: %v %v, want [%d]", pids, err, cmd.Process.Pid)
	}
	if err := g.Remove(); err == nil {
		t.Fatal("Remove with a process inside: no error")
	}
	if err := g.AttachBindFilter(BindFilter{Managed: Ports{2000, 1000}, Own: Ports{1, 2}}); err == nil {
		t.Fatal("an empty managed range: no error")
	}
	if _, err := Create("/tmp/roost-not-a-cgroup/x"); err == nil {
		t.Fatal("Create outside cgroup2: no error")
	}
	if _, err := os.Stat("/tmp/roost-not-a-cgroup"); err == nil {
		t.Fatal("Create outside cgroup2 made a directory")
	}
	if _, err := Create("relative/x"); err == nil {
		t.Fatal("Create of a relative path: no error")
	}
}
