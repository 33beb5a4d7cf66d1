package api_test

import (
	"syscall"
	"testing"

	"roost/supervisor/api"
)

func TestSplitNamespec(t *testing.T) {
	for _, tc := range []struct {
		in, group, proc string
		isGroup         bool
	}{
		{"web", "web", "web", false},
		{"grp:web", "grp", "web", false},
		{"grp:*", "grp", "", true},
		{"grp:", "grp", "", true},
		{"a:b:c", "a", "b:c", false},
	} {
		g, p, isGroup := api.SplitNamespec(tc.in)
		if g != tc.group || p != tc.proc || isGroup != tc.isGroup {
			t.Errorf("SplitNamespec(%q) = %q %q %v, want %q %q %v", tc.in, g, p, isGroup, tc.group, tc.proc, tc.isGroup)
		}
	}
	if got := api.MakeNamespec("web", "web"); got != "web" {
		t.Errorf("MakeNamespec(web, web) = %q", got)
	}
	if got := api.MakeNamespec("grp", "web"); got != "grp:web" {
		t.Errorf("MakeNamespec(grp, web) = %q", got)
	}
}

func TestParseSignal(t *testing.T) {
	for in, want := range map[string]syscall.Signal{
		"HUP": syscall.SIGHUP, "sighup": syscall.SIGHUP, " term ": syscall.SIGTERM, "9": syscall.SIGKILL,
		"SIGUSR2": syscall.SIGUSR2, "IOT": syscall.SIGABRT, "rtmin": 34, "64": 64,
	} {
		got, err := api.ParseSignal(in)
		if err != nil || got != want {
			t.Errorf("ParseSignal(%q) = %v, %v, want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "FOO", "SIG", "0", "-1", "40", "999"} {
		_, err := api.ParseSignal(in)
		if api.CodeOf(err) != api.BadSignal {
			t.Errorf("ParseSignal(%q) error = %v, want BAD_SIGNAL", in, err)
		}
	}
}
