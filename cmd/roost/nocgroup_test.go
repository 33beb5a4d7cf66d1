package main

import (
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"roost/cgroup"
	"roost/internal/testutil"
)

const noCgroupWarning = "cgroups: none for this supervisor"

// Issue 15 point 7: an unprivileged `roost run` (no delegation: roost-alice
// on this v1 host) says once, at the start, that its programs get no
// cgroup, and still runs them; root's own run, which can make groups,
// does not say it.
func TestRunWarnsWithoutCgroups(t *testing.T) {
	alice := testutil.RequireUser(t, testutil.UserA)
	conf, sock := fdProject(t, alice, 1, "")
	p := startProc(t, roostCmd("run", "--no-watch", "-c", conf))
	c := dialWhenUp(t, sock, p)
	waitState(t, c, "p00 running", allRunning("p00"))
	out := p.out.String()
	if n := strings.Count(out, noCgroupWarning); n != 1 {
		t.Fatalf("roost run as %s: the warning %d times, want once:\n%s", alice.Name, n, out)
	}
	if !strings.Contains(out, "not writable by this user") || !strings.Contains(out, "only rlimits apply") {
		t.Errorf("the warning does not say why and what applies:\n%s", out)
	}

	rootConf, rootSock := project(t, "", "[program:p]\ncommand=/bin/sleep 300\n")
	q := startProc(t, roostCmd("run", "--no-watch", "-c", rootConf))
	waitState(t, dialWhenUp(t, rootSock, q), "p running", allRunning("p"))
	// Root may write its cgroup here (this machine, CI); where it may not
	// (a container), root's run warns too.
	if warned, can := strings.Contains(q.out.String(), noCgroupWarning), cgroup.Writable() == nil; warned == can {
		t.Errorf("root's roost run: warned %v, though root may write its cgroup: %v:\n%s", warned, can, q.out.String())
	}
}

// minprocs is supervisord's: with a hard RLIMIT_NPROC below it, an
// unprivileged roost refuses to start with supervisord's message.
func TestMinprocsRefusesToStart(t *testing.T) {
	alice := testutil.RequireUser(t, testutil.UserA)
	prlimit := testutil.RequireBinary(t, "prlimit")
	conf, _ := fdProject(t, alice, 1, "minprocs=500\n")
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(prlimit, "--nproc=300:300", exe, "run", "--no-watch", "-c", conf)
	cmd.Env = append(os.Environ(), "ROOST_TEST_AS_ROOST=1")
	p := startProc(t, cmd)
	code := p.wait(t, 60*time.Second)
	out := p.out.String()
	if code != exitUsage || !strings.Contains(out, "The minimum number of available processes required to run this program is 500") ||
		!strings.Contains(out, "will only allow you to open 300 processes") {
		t.Errorf("roost run under ulimit -u 300 with minprocs=500: exit %d, want %d and supervisord's message:\n%s", code, exitUsage, out)
	}
}
