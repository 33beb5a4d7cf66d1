package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"time"

	"roost/supervisor/api"
)

// Upgrade in place (issue 16): `roost upgrade` re-executes the supervisor
// with N `sleep` programs; the new image reports how long they went
// without a supervisor (from the old image's freeze to the new image's
// adoption of the last one), and the bench times the whole verb, request
// to the new image serving. Every program must keep its pid.
const (
	figUpUnmanaged = "upgrade.unmanaged.%d" // programs unmanaged during the re-exec, s
	figUpWall      = "upgrade.wall.%d"      // `roost upgrade`: request → the new image serves, s
)

// upgradeReps is how many upgrades one session makes.
func (o *options) upgradeReps() int {
	if o.quick {
		return 2
	}
	return 10
}

// upgradeRuns measures the upgrade for every N of the plan.
func (b *bench) upgradeRuns(ctx context.Context) error {
	if b.roostWhy != "" {
		return nil
	}
	d := roostDaemon{bin: b.roostBin}
	for run := 1; run <= b.o.runs; run++ {
		for _, n := range b.o.ns {
			if err := b.upgradeSession(ctx, d, n); err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				b.logf("upgrade N=%d run %d failed: %v", n, run, err)
			}
		}
	}
	return nil
}

func (b *bench) upgradeSession(ctx context.Context, d roostDaemon, n int) error {
	fig := func(f string) string { return fmt.Sprintf(f, n) }
	w, err := sleepWorkload(filepath.Join(b.work, "up"+strconv.Itoa(n)), n)
	if err != nil {
		return err
	}
	r, err := launch(b.t, d, w)
	if err != nil {
		b.res.fail(fig(figUpUnmanaged), vRoost, err)
		return err
	}
	defer b.stopDaemon(r)
	if _, err := r.waitStates(ctx, b.o.startTimeout(n), allIn(w.Names, "RUNNING")); err != nil {
		b.res.fail(fig(figUpUnmanaged), vRoost, err)
		return err
	}
	pids := func() (map[string]int, error) {
		st, err := d.states(ctx, w)
		m := map[string]int{}
		for _, s := range st {
			m[s.Name] = s.PID
		}
		return m, err
	}
	before, err := pids()
	if err != nil {
		return err
	}
	var ms []string
	for range b.o.upgradeReps() {
		c, err := api.Dial(w.Sock)
		if err != nil {
			return err
		}
		t0 := time.Now()
		info, err := c.Upgrade(ctx)
		wall := time.Since(t0)
		c.Close()
		if err != nil {
			b.res.fail(fig(figUpUnmanaged), vRoost, err)
			return err
		}
		if info.PID != r.pid() || info.Programs != n {
			err := fmt.Errorf("after the upgrade: pid %d (want %d), %d programs kept (want %d)", info.PID, r.pid(), info.Programs, n)
			b.res.fail(fig(figUpUnmanaged), vRoost, err)
			return err
		}
		b.res.add(fig(figUpUnmanaged), vRoost, float64(info.Unmanaged)/1e3)
		b.res.add(fig(figUpWall), vRoost, wall.Seconds())
		ms = append(ms, fmt.Sprintf("%.1f", float64(info.Unmanaged)))
	}
	after, err := pids()
	if err != nil {
		return err
	}
	for name, pid := range before {
		if after[name] != pid {
			err := fmt.Errorf("%s: pid %d before the upgrades, %d after", name, pid, after[name])
			b.res.fail(fig(figUpUnmanaged), vRoost, err)
			return err
		}
	}
	b.logf("roost upgrade N=%d: unmanaged %v ms, every pid kept", n, ms)
	return nil
}

// upgradeRows are the report's rows for the upgrade part.
func (b *bench) upgradeRows() []row {
	var rows []row
	for _, n := range b.o.ns {
		rows = append(rows,
			row{label: fmt.Sprintf("programs unmanaged during the re-exec, %d programs", n), rightFig: fmt.Sprintf(figUpUnmanaged, n), right: vRoost, u: uMS},
			row{label: fmt.Sprintf("`roost upgrade`, request → new image serving, %d programs", n), rightFig: fmt.Sprintf(figUpWall, n), right: vRoost, u: uMS})
	}
	return rows
}
