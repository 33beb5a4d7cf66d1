package nginx

import (
	"fmt"
	"testing"
)

// benchInput is n users with two routes of three hosts each, a static
// location and two processes, under {user} patterns and a few grants.
func benchInput(n int) Input {
	in := Input{Policy: Policy{
		Listen: []string{"80"},
		Hosts:  []string{"{user}.example.test", "*.{user}.example.test"},
		Grants: map[string][]string{},
	}}
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("user%04d", i)
		in.Policy.Grants[name] = []string{name + ".com", "www." + name + ".com"}
		port := 10000 + 10*i
		in.Users = append(in.Users, User{
			Name: name, ProjectDir: "/home/" + name + "/current",
			Routes: []Route{
				{
					Section: "proxy:web", Hosts: []string{name + ".example.test", name + ".com", "www." + name + ".com"},
					Static:    []Static{{Prefix: "/static/", Dir: "static"}},
					Upstreams: []string{fmt.Sprintf("127.0.0.1:%d", port), fmt.Sprintf("127.0.0.1:%d", port+1)},
				},
				{
					Section: "proxy:api", Hosts: []string{"api." + name + ".example.test", "*.api." + name + ".example.test", "v2.api." + name + ".example.test"},
					Upstreams: []string{fmt.Sprintf("127.0.0.1:%d", port+2)},
				},
			},
		})
	}
	return in
}

func BenchmarkRender(b *testing.B) {
	for _, n := range []int{10, 100, 1000} {
		in := benchInput(n)
		b.Run(fmt.Sprintf("users=%d", n), func(b *testing.B) {
			for b.Loop() {
				if _, ws, err := Render(in); err != nil || len(ws) != 0 {
					b.Fatalf("%v %v", err, ws)
				}
			}
		})
	}
}
