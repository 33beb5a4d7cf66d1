package supervisor

import "context"

// watch is filled in below.
func (s *Supervisor) watch(ctx context.Context) { <-ctx.Done() }
