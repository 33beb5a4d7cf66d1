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
	a.tried(t0)
	if d := a.wait(t0.Add(time.Second), iv); d != 2*time.Second {
		t.Errorf("after an install: wait %v, want 2s", d)
	}
	a.held(iv)
	if a.reason != pendingRate(iv) {
		t.Errorf("held: reason %q", a.reason)
	}
	for n, want := range []time.Duration{iv, iv, 4 * time.Second, 8 * time.Second, 16 * time.Second, 30 * time.Second, 30 * time.Second} {
		a.failed(pendingReload, "nginx -s reload: exit status 1")
		if d := a.wait(t0, iv); d != want {
			t.Errorf("after %d failures: wait %v, want %v", n+1, d, want)
		}
	}
	a.held(iv)
	if a.reason != pendingReload || !a.retrying() {
		t.Errorf("a held retry lost its reason: %q", a.reason)
	}
	a.hurry = true
	if d := a.wait(t0, iv); d != iv {
		t.Errorf("hurried: wait %v, want the interval", d)
	}
	a.tried(t0)
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
