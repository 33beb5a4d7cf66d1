package master

import (
	"slices"
	"testing"
	"time"

	"roost/config"
)

// The install schedule: the interval after any attempt, the backoff after
// failures (never below the interval, capped), once skipped when nginx's
// configuration changed.
func TestApplierWait(t *testing.T) {
	const iv = 3 * time.Second
	t0 := time.Unix(1_000_000, 0)
	var a applier
	if d := a.wait(t0, iv); d > 0 {
		t.Errorf("first install waits %v", d)
	}
	// A quiet nginx takes applyBurst (2) installs at once: the master's
	// first install does not hold back the first user's route.
	a.tried(t0, iv)
	if d := a.wait(t0.Add(time.Second), iv); d > 0 {
		t.Errorf("second install of a burst waits %v", d)
	}
	a.tried(t0.Add(time.Second), iv)
	// The bucket is empty now (2 - 2 + 1/3): the next has to wait 2 s.
	if d := a.wait(t0.Add(time.Second), iv); d != 2*time.Second {
		t.Errorf("after a burst: wait %v, want 2s", d)
	}
	// Over a storm: one install per interval, never more than the burst.
	at := t0.Add(3 * time.Second)
	for i := 0; i < 5; i++ {
		if d := a.wait(at, iv); d > 0 {
			t.Fatalf("storm install %d at %v waits %v", i, at.Sub(t0), d)
		}
		a.tried(at, iv)
		if d := a.wait(at, iv); d != iv {
			t.Errorf("storm install %d: next waits %v, want the interval", i, d)
		}
		at = at.Add(iv)
	}
	// A long quiet spell refills the bucket only up to the burst.
	at = at.Add(time.Hour)
	a.tried(at, iv)
	a.tried(at, iv)
	if d := a.wait(at, iv); d != iv {
		t.Errorf("after an hour and two installs: wait %v, want the interval", d)
	}
	a.held(iv)
	if a.reason != pendingRate(iv) {
		t.Errorf("held: reason %q", a.reason)
	}
	// Failures back off 1 s, 2 s, 4 s … 30 s from the last attempt, and
	// never faster than the bucket allows.
	at = at.Add(time.Hour) // a full bucket: only the backoff counts
	a.tried(at, iv)
	for n, want := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second, 30 * time.Second, 30 * time.Second} {
		a.failed(pendingReload, "nginx -s reload: exit status 1")
		if d := a.wait(at, iv); d != want {
			t.Errorf("after %d failures: wait %v, want %v", n+1, d, want)
		}
	}
	a.held(iv)
	if a.reason != pendingReload || !a.retrying() {
		t.Errorf("a held retry lost its reason: %q", a.reason)
	}
	a.tried(at, iv) // the bucket is empty: the rate decides, even in a hurry
	a.hurry = true
	if d := a.wait(at, iv); d != iv {
		t.Errorf("hurried with an empty bucket: wait %v, want the interval", d)
	}
	a.tried(at, iv)
	if a.hurry {
		t.Errorf("hurry outlived an attempt")
	}
	a.dirty = true
	a.settled()
	if a.reason != "" || a.adminErr != "" || a.failures != 0 || a.dirty || a.retrying() {
		t.Errorf("settled: %+v", a)
	}
}

func TestNginxDirsAndNotConfig(t *testing.T) {
	px := config.MasterProxy{Output: "/etc/nginx/conf.d/roost.conf", TestCommand: []string{"nginx", "-c", "/srv/nginx/main.conf", "-t"}}
	if got, want := nginxDirs(px), []string{"/etc/nginx", "/etc/nginx/conf.d", "/srv/nginx"}; !slices.Equal(got, want) {
		t.Errorf("nginxDirs: %v, want %v", got, want)
	}
	for name, want := range map[string]bool{
		"/etc/nginx/conf.d/roost.conf":             true,
		"/etc/nginx/conf.d/.roost.conf.roost-new":  true,
		"/etc/nginx/conf.d/.roost.conf.roost-prev": true,
		"/srv/nginx/error.log":                     true,
		"/srv/nginx/nginx.pid":                     true,
		"/etc/nginx/nginx.conf":                    false,
		"/etc/nginx/conf.d/other.conf":             false,
		"/etc/nginx/sites-enabled":                 false,
		"/srv/nginx/main.conf":                     false,
	} {
		if got := notConfig(px, name); got != want {
			t.Errorf("notConfig(%s) = %v, want %v", name, got, want)
		}
	}
}
