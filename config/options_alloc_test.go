package config

import "testing"

// TestOptionLookupAllocatesNothing: loading a config looks an option up
// for every key of every section (about 60,000 times for 1000 programs),
// so a lookup must not allocate; it once copied the option list each time,
// and the garbage was half the supervisor's CPU while it started 1000
// programs.
func TestOptionLookupAllocatesNothing(t *testing.T) {
	for _, kind := range []string{secProgram, secEventListener, secFCGIProgram, secSupervisord, secProxy} {
		allocs := testing.AllocsPerRun(100, func() {
			lookupOpt(kind, "stdout_logfile")
			lookupOpt(kind, "no_such_option")
			optionNames(kind)
		})
		if allocs != 0 {
			t.Errorf("%s: %.0f allocations per lookup", kind, allocs)
		}
	}
	if _, ok := lookupOpt(secProgram, "healthcheck"); !ok {
		t.Error("healthcheck (a roost extension) is not a [program:x] option")
	}
	if _, ok := lookupOpt(secSupervisord, "healthcheck"); ok {
		t.Error("healthcheck is a [supervisord] option")
	}
}
