package procfs

import (
	"context"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"
)

func TestReadSelf(t *testing.T) {
	p, err := Read(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if p.PID != os.Getpid() || p.PPID != os.Getppid() || p.RUID != os.Getuid() || p.EUID != os.Geteuid() || p.Start == 0 {
		t.Errorf("%+v", p)
	}
	if _, err := Read(-1); err == nil {
		t.Error("pid -1 read")
	}
}

// A tree of two levels is found with its branch; Kill ends it and
// AwaitExits returns once every process has exited; a stale identity is
// never killed.
func TestDescendantsKillAwait(t *testing.T) {
	cmd := exec.Command("/bin/sh", "-c", "sleep 100 & sleep 100 & wait")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	var ds []Proc
	deadline := time.Now().Add(10 * time.Second)
	for {
		var err error
		if ds, err = Descendants(os.Getpid(), nil); err != nil {
			t.Fatal(err)
		}
		if len(ds) >= 3 || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if len(ds) != 3 || ds[0].PID != cmd.Process.Pid && ds[1].PID != cmd.Process.Pid && ds[2].PID != cmd.Process.Pid {
		t.Fatalf("found %+v, want the shell and its two sleeps", ds)
	}
	// skip leaves out a whole subtree.
	if got, _ := Descendants(os.Getpid(), func(p Proc) bool { return p.PID == cmd.Process.Pid }); len(got) != 0 {
		t.Errorf("skipped the shell, still found %+v", got)
	}
	stale := ds[0]
	stale.Start++
	if fd, err := Kill(stale, syscall.SIGKILL); fd != -1 || err != nil {
		t.Errorf("a stale identity was signalled: fd %d err %v", fd, err)
	}
	var fds []int
	for _, d := range ds {
		fd, err := Kill(d, syscall.SIGKILL)
		if err != nil || fd < 0 {
			t.Fatalf("kill %d: fd %d err %v", d.PID, fd, err)
		}
		fds = append(fds, fd)
	}
	defer CloseAll(fds)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := AwaitExits(ctx, fds); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
}

func TestAwaitExitsDeadline(t *testing.T) {
	cmd := exec.Command("/bin/sleep", "100")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	p, err := Read(cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	fd, err := Kill(p, 0) // signal 0: nothing happens, but a pidfd comes back
	if err != nil || fd < 0 {
		t.Fatal(fd, err)
	}
	defer CloseAll([]int{fd})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := AwaitExits(ctx, []int{fd}); err == nil {
		t.Error("a live process counted as exited")
	}
}
