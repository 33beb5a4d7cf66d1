package cgroup

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"roost/internal/testutil"
)

func TestRlimitsApproximation(t *testing.T) {
	got := Rlimits(Limits{MemoryMax: 64 << 20, PidsMax: 40, CPUMax: 50, CPUWeight: 10, MemoryHigh: 1 << 20})
	if len(got) != 1 || got[0].Name != "RLIMIT_DATA" || got[0].Value != 64<<20 {
		t.Errorf("Rlimits = %+v", got)
	}
	if got := Rlimits(Limits{CPUMax: 50, PidsMax: 40}); len(got) != 0 {
		t.Errorf("cpu_max and pids_max have no rlimit: %+v", got)
	}
}

// Set on a running process of the same uid, as a supervisor without
// cgroups would right after the spawn (no privilege: this machine's root
// lacks CAP_SYS_RESOURCE, so it could not for another uid): the kernel
// shows them, and an allocation past memory_max fails in the program
// (MemoryError), with no kill.
func TestSetRlimitsRealProcess(t *testing.T) {
	py := testutil.RequireBinary(t, "python3")
	cmd := exec.Command(py, "-c", `import sys
sys.stdin.readline()
try:
    b = bytearray(64 << 20)
    print("survived")
except MemoryError:
    print("MemoryError")`)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out := &testutil.Buffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() { cmd.Process.Kill() })
	if err := SetRlimits(cmd.Process.Pid, Rlimits(Limits{MemoryMax: 48 << 20})); err != nil {
		t.Fatal(err)
	}
	lim, err := os.ReadFile(fmt.Sprintf("/proc/%d/limits", cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Max data size             50331648             50331648"} {
		if !strings.Contains(string(lim), want) {
			t.Errorf("/proc/PID/limits has no %q:\n%s", want, lim)
		}
	}
	fmt.Fprintln(in, "go")
	select {
	case err := <-done:
		if err != nil || !strings.Contains(out.String(), "MemoryError") {
			t.Errorf("64 MB under a 48 MB RLIMIT_DATA: %v, %q; want a MemoryError and exit 0", err, out.String())
		}
	case <-time.After(60 * time.Second):
		t.Fatal("the program did not finish")
	}
	if err := SetRlimits(1<<30, Rlimits(Limits{MemoryMax: 1 << 20})); err == nil || !strings.Contains(err.Error(), "RLIMIT_DATA") {
		t.Errorf("SetRlimits(no such pid) = %v", err)
	}
}

func TestWritable(t *testing.T) {
	testutil.RequireRoot(t)
	if err := Writable(); err != nil {
		t.Errorf("root: Writable() = %v", err)
	}
}
