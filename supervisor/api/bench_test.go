package api_test

import (
	"context"
	"fmt"
	"testing"

	"roost/supervisor/api"
	"roost/supervisor/api/apitest"
)

// BenchmarkRoundTrip measures one ctl request over the unix socket, peer
// check included: GET /api/v1/processes with 20 processes, as `roost status` does.
func BenchmarkRoundTrip(b *testing.B) {
	var procs []*apitest.Proc
	for i := range 20 {
		procs = append(procs, &apitest.Proc{Group: "g", Name: fmt.Sprintf("p%d", i), State: api.Running})
	}
	path, _ := serve(b, apitest.New(procs...), api.ServerOptions{})
	c, err := api.Dial(path)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Processes(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDialAndCall is a fresh connection per request, as each roost
// ctl invocation makes.
func BenchmarkDialAndCall(b *testing.B) {
	path, _ := serve(b, apitest.New(&apitest.Proc{Group: "web", Name: "web", State: api.Running}), api.ServerOptions{})
	ctx := context.Background()
	for b.Loop() {
		c, err := api.Dial(path)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := c.Version(ctx); err != nil {
			b.Fatal(err)
		}
		c.Close()
	}
}
