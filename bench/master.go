package main

import (
	"context"
	"fmt"
)

// masterRuns measures the per-user cost under `roost master`: its RSS, each
// user supervisor's RSS and the time until every user's programs run.
// supervisord has no counterpart (one supervisord per user would be the
// comparison), so these rows are roost-only.
func (b *bench) masterRuns(ctx context.Context) error {
	for _, u := range b.o.users {
		for _, f := range []string{figMasterRSS, figUserRSS, figUsersUp} {
			fig := fmt.Sprintf(f, u)
			why := b.masterWhy
			if why == "" {
				why = "not measured yet: `roost master` exists but the bench does not drive it yet"
			}
			b.res.unavailable(fig, vRoost, why)
		}
	}
	return ctx.Err()
}
