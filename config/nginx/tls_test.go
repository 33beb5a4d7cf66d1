package nginx

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// RoutedHosts is what Render serves: hosts outside the policy, another
// user's names and contested names are never among them.
func TestRoutedHostsFollowsPolicy(t *testing.T) {
	in := Input{
		Policy: Policy{Listen: []string{"80"}, Hosts: []string{"{user}.example.test", "*.{user}.example.test"}},
		Users: []User{
			{Name: "alice", ProjectDir: "/home/alice/current", Routes: []Route{{
				Section: "proxy:web", Hosts: []string{"Alice.example.test", "bob.example.test", "evil.com", "*.alice.example.test"},
				Upstreams: []string{"127.0.0.1:8000"},
			}}},
			{Name: "bob", ProjectDir: "/home/bob/current", Routes: []Route{{
				Section: "proxy:api", Hosts: []string{"api.bob.example.test"}, Upstreams: []string{"127.0.0.1:8100"},
			}}},
		},
	}
	got, err := RoutedHosts(in)
	if err != nil {
		t.Fatal(err)
	}
	want := []Routed{
		{User: "alice", Section: "proxy:web", Hosts: []string{"*.alice.example.test", "alice.example.test"}},
		{User: "bob", Section: "proxy:api", Hosts: []string{"api.bob.example.test"}},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}
}

// The master's TLS input is validated like the policy: nothing in it can
// add a directive.
func TestTLSInputRefused(t *testing.T) {
	base := Input{Policy: Policy{Listen: []string{"80"}, Hosts: []string{"{user}.example.test"}}}
	for _, tc := range []TLS{
		{Listen: []string{"443 ssl; include /etc/passwd"}},
		{Listen: []string{"443"}, ChallengeDir: "relative/dir"},
		{Listen: []string{"443"}, ChallengeDir: "/var/lib/roost/acme\";"},
		{Certs: map[string]Cert{"a.example.test": {Chain: "/c", Key: "/k"}}},
		{Listen: []string{"443"}, Certs: map[string]Cert{"a.example.test;": {Chain: "/c", Key: "/k"}}},
		{Listen: []string{"443"}, Certs: map[string]Cert{"a.example.test": {Chain: "c.pem", Key: "/k"}}},
		{Listen: []string{"443"}, Certs: map[string]Cert{"a.example.test": {Chain: "/c", Key: "/k\"\n"}}},
		{Listen: []string{"443"}, Certs: map[string]Cert{"a.example.test": {Chain: "/c", Key: "/k", Serial: "1\nlisten 1"}}},
	} {
		in := base
		in.TLS = tc
		if _, _, err := Render(in); err == nil {
			t.Errorf("%+v: rendered, want an error", tc)
		}
	}
}
