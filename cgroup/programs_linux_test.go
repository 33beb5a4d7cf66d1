package cgroup

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"roost/internal/testutil"
)

func TestProgramGroup(t *testing.T) {
	for name, want := range map[string]string{
		"web":        "web",
		"web_00":     "web_00",
		"a-b":        "a-b",
		"tasks":      "x.7461736b73",
		"memory.max": "x.6d656d6f72792e6d6178",
		"..":         "x.2e2e",
		".cron":      "x.2e63726f6e",
		"-x":         "x.2d78",
		"été":        "x." + fmt.Sprintf("%x", "été"),
	} {
		if got := ProgramGroup(name); got != want {
			t.Errorf("ProgramGroup(%q) = %q, want %q", name, got, want)
		}
	}
}

// A process that is not in a supervisor leaf beside a programs group of
// its own (this test; a plain `roost run`) has no programs group.
func TestOpenProgramsNotDelegated(t *testing.T) {
	if _, err := OpenPrograms(); !errors.Is(err, ErrNotDelegated) {
		t.Fatalf("OpenPrograms = %v, want ErrNotDelegated", err)
	}
}

// programsProbe is the test binary as a user's supervisor, born in the
// supervisor leaf of a tree made as the master makes it: it opens its
// programs group (v1: the mounted controllers; v2: the unified
// hierarchy), starts a double-forking script in a group of its own, and
// kills that group, as the user. It prints "ok N" on success.
func programsProbe(mode string) int {
	bufio.NewReader(os.Stdin).ReadString('\n') // placed by the test
	var p *Programs
	var err error
	if mode == "v2" {
		var mnt string
		if mnt, err = Mount(); err == nil {
			p, err = openV2Programs(mnt)
		}
	} else {
		p, err = OpenPrograms()
	}
	if err != nil {
		fmt.Println("open:", err)
		return 1
	}
	if err := p.Prepare("web", Limits{}); err != nil {
		fmt.Println("prepare:", err)
		return 1
	}
	cmd := exec.Command("/bin/sh", "-c", doubleFork)
	if err := p.Start("web", cmd); err != nil {
		fmt.Println("start:", err)
		return 1
	}
	go cmd.Wait()
	var pids []int
	for deadline := time.Now().Add(20 * time.Second); len(pids) != 3; time.Sleep(20 * time.Millisecond) {
		if pids, err = p.tree.PIDs("web"); err != nil || time.Now().After(deadline) {
			fmt.Println("the script's 3 processes in web:", pids, err)
			return 1
		}
	}
	if slices.Contains(pids, os.Getpid()) || !slices.Contains(pids, cmd.Process.Pid) {
		fmt.Println("web holds", pids, "; the probe is", os.Getpid(), "its child", cmd.Process.Pid)
		return 1
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	n, err := p.Kill(ctx, "web")
	if left, _ := p.tree.PIDs("web"); err != nil || len(left) != 0 {
		fmt.Println("kill:", n, err, "left:", left)
		return 1
	}
	// A restart is born in the group it killed, and lives (not so after
	// a cgroup.kill on this kernel: TestV2KillThenCloneInto).
	again := exec.Command("/bin/sh", "-c", "exit 7")
	if err := p.Start("web", again); err != nil {
		fmt.Println("start again:", err)
		return 1
	}
	if err := again.Wait(); again.ProcessState == nil || again.ProcessState.ExitCode() != 7 {
		fmt.Println("a process born in web after its kill:", err)
		return 1
	}
	if _, err := p.Kill(ctx, ""); err == nil {
		fmt.Println("Kill of the programs group itself was allowed")
		return 1
	}
	fmt.Println("ok", n)
	return 0
}

// The supervisor's side of per-program groups, as the user, in a tree
// delegated as the master delegates it: v1 (the thread move) on this
// host's controllers, v2 (CLONE_INTO_CGROUP, whose common-ancestor check
// needs the user group's cgroup.procs) on the unified hierarchy.
func TestProgramsDelegatedAsUser(t *testing.T) {
	alice := testutil.RequireUser(t, "roost-alice")
	dir, err := os.MkdirTemp("", "roost-cgtest-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755)
	exe := filepath.Join(dir, "probe")
	if err := copyExe(os.Args[0], exe); err != nil {
		t.Fatal(err)
	}
	for _, mode := range []string{"v1", "v2"} {
		t.Run(mode, func(t *testing.T) {
			var tr Tree
			if mode == "v1" {
				tr = realTree(t)
				testutil.Require(t, tr.Mode() == "v1", "cgroup v1 controllers (a hybrid host)")
			} else {
				tr = unifiedTree(t, "progs", "alice")
			}
			for _, g := range []string{"alice/" + SupervisorLeaf, "alice/" + ProgramsGroup} {
				if err := tr.Create(g); err != nil {
					t.Fatal(err)
				}
			}
			if err := tr.Delegate("alice/"+ProgramsGroup, alice.UID, alice.GID); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(exe, "programs-probe", mode)
			cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(alice.UID), Gid: uint32(alice.GID)}}
			if v2, ok := tr.(*V2); ok {
				if err := v2.DelegateProcs("alice", alice.UID, alice.GID); err != nil {
					t.Fatal(err)
				}
				f, err := (&Group{Path: filepath.Join(v2.Root, "alice", SupervisorLeaf)}).Open()
				if err != nil {
					t.Fatal(err)
				}
				defer f.Close()
				cmd.SysProcAttr.UseCgroupFD, cmd.SysProcAttr.CgroupFD = true, int(f.Fd())
			}
			in, err := cmd.StdinPipe()
			if err != nil {
				t.Fatal(err)
			}
			var out strings.Builder
			cmd.Stdout, cmd.Stderr = &out, &out
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			if mode == "v1" {
				if err := tr.Add("alice/"+SupervisorLeaf, cmd.Process.Pid); err != nil {
					cmd.Process.Kill()
					t.Fatal(err)
				}
			}
			io.WriteString(in, "go\n")
			err = cmd.Wait()
			if err != nil || !strings.HasPrefix(out.String(), "ok ") {
				t.Fatalf("the probe as roost-alice: %v\n%s", err, out.String())
			}
			t.Logf("%s: %s", mode, strings.TrimSpace(out.String()))
		})
	}
}

func copyExe(from, to string) error {
	data, err := os.ReadFile(from)
	if err != nil {
		return err
	}
	return os.WriteFile(to, data, 0o755)
}
