package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"roost/cgroup"
	"roost/internal/testutil"
)

// The per-process placement, for real: 3 sleeps each way, every figure
// recorded, and nothing left behind (processes or groups).
func TestPlaceRun(t *testing.T) {
	testutil.RequireRoot(t)
	tr, _, err := cgroup.Detect(fmt.Sprintf("roost-bench-cgtest-%d", os.Getpid()))
	testutil.Require(t, err == nil, fmt.Sprintf("cgroups: %v", err))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		tr.Kill(ctx, "")
		tr.Remove("")
	})
	b := &bench{o: &options{cgN: 3}, t: newTracker(), res: newResults(), started: time.Now(), stderr: os.Stderr}
	for _, m := range []placement{plain, bornInside, movedAfter} {
		if err := b.placeRun(t.Context(), tr, 3, m); err != nil {
			t.Fatalf("placeRun(%d): %v", m, err)
		}
		if pids, _ := tr.PIDs(""); len(pids) != 0 {
			t.Fatalf("placeRun(%d) left %v in the groups", m, pids)
		}
	}
	for _, k := range []key{{"cgroups.spawn.3", vNoCg}, {"cgroups.spawn.3", vCg}, {"cgroups.after.3", vCg}, {"cgroups.make.3", vCg}} {
		if s := b.res.get(k.fig, k.variant); !s.ok() || s.median <= 0 {
			t.Errorf("%v: %+v", k, s)
		}
	}
	b.t.mu.Lock()
	left := len(b.t.procs)
	b.t.mu.Unlock()
	if left != 0 {
		t.Errorf("%d tracked processes left", left)
	}
	var found bool
	for _, sec := range b.sections() {
		if sec.title == "8. The cost of cgroups" {
			// The kernel memory note needs the machine-wide counter to have
			// grown over 3 groups, which others' work can hide.
			found = sec.cols == [3]string{vNoCg, vCg, "with ÷ without"} && len(sec.rows) == 8 &&
				(cgText(b) == "" || strings.Contains(cgText(b), "Kernel memory per process's group"))
		}
	}
	if !found {
		t.Error("no section 8 with the cgroups columns, rows and kernel memory note")
	}
}
