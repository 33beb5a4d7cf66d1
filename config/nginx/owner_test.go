package nginx

import (
	"slices"
	"testing"
)

// "*." stands for one or more whole labels; a wildcard claim is allowed only
// when the pattern covers every name it matches.
func TestPatternCovers(t *testing.T) {
	tests := []struct {
		pattern, claim string
		covers         bool
	}{
		{"alice.example.test", "alice.example.test", true},
		{"alice.example.test", "www.alice.example.test", false},
		{"alice.example.test", "*.alice.example.test", false},
		{"*.alice.example.test", "www.alice.example.test", true},
		{"*.alice.example.test", "a.b.alice.example.test", true},
		{"*.alice.example.test", "alice.example.test", false},
		{"*.alice.example.test", "xalice.example.test", false},
		{"*.alice.example.test", "*.alice.example.test", true},
		{"*.alice.example.test", "*.api.alice.example.test", true},
		{"*.alice.example.test", "*.example.test", false},
		{"*.example.test", "*.xexample.test", false},
	}
	for _, tc := range tests {
		p := newPattern(tc.pattern, own, tc.pattern)
		c := newPattern(tc.claim, noRight, tc.claim)
		if got := p.covers(c); got != tc.covers {
			t.Errorf("%s covers %s = %v, want %v", tc.pattern, tc.claim, got, tc.covers)
		}
	}
}

func TestPatternOverlaps(t *testing.T) {
	tests := []struct {
		a, b     string
		overlaps bool
	}{
		{"a.t", "a.t", true},
		{"a.t", "b.t", false},
		{"*.t", "a.t", true},
		{"*.a.t", "a.t", false},
		{"*.a.t", "x.a.t", true},
		{"*.a.t", "*.b.t", false},
		{"*.t", "*.a.t", true},
		{"*.a.t", "*.a.t", true},
		{"*.a.t", "*.xa.t", false},
		{"*.a.t", "x.xa.t", false},
	}
	for _, tc := range tests {
		a, b := newPattern(tc.a, own, tc.a), newPattern(tc.b, own, tc.b)
		if got := a.overlaps(b); got != tc.overlaps {
			t.Errorf("%s overlaps %s = %v, want %v", tc.a, tc.b, got, tc.overlaps)
		}
		if got := b.overlaps(a); got != tc.overlaps {
			t.Errorf("%s overlaps %s = %v, want %v (symmetry)", tc.b, tc.a, got, tc.overlaps)
		}
	}
}

// {user} is replaced by the user name only when it is a DNS label.
func TestNamespace(t *testing.T) {
	pol, err := compilePolicy(Policy{
		Listen: []string{"80"},
		Hosts:  []string{"{user}.example.test", "*.{user}.example.test", "{user}-app.example.test", "*.shared.test"},
		Grants: map[string][]string{"alice": {"alice.com"}, "Bob": {"bob.com"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	names := func(user string) []string {
		var s []string
		for _, p := range pol.namespace(user) {
			s = append(s, p.right.String()+":"+p.String())
		}
		return s
	}
	tests := map[string][]string{
		"alice": {"granted:alice.com", "own:alice.example.test", "own:*.alice.example.test", "own:alice-app.example.test", "shared:*.shared.test"},
		"Bob":   {"granted:bob.com", "shared:*.shared.test"},
		"a_b":   {"shared:*.shared.test"},
		"x-":    {"shared:*.shared.test"},
	}
	for user, want := range tests {
		if got := names(user); !slices.Equal(got, want) {
			t.Errorf("namespace(%s) = %v, want %v", user, got, want)
		}
	}
}
