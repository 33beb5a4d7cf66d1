package main

import (
	"fmt"
	"sort"
	"strings"
	"sync"
)

// The variants a figure is measured for: the two daemons, and the real
// supervisorctl talking to roost (the XML-RPC path).
const (
	vSup       = "supervisord"
	vRoost     = "roost"
	vSctlRoost = "supervisorctl→roost"
	vCeiling   = "ceiling"
	vGo        = "bare Go"
	vFloor     = "floor" // process start with no daemon involved
)

// key names one series of samples: a figure for a variant.
type key struct{ fig, variant string }

// results holds every sample the bench took, and why a series has none.
type results struct {
	mu      sync.Mutex
	samples map[key][]float64
	missing map[key]string // a series that could not be measured, and why
	failed  map[key]string // a measurement that went wrong, and how
	notes   []string       // what the bench saw that a reader should know
}

func newResults() *results {
	return &results{samples: map[key][]float64{}, missing: map[key]string{}, failed: map[key]string{}}
}

// add records one sample.
func (r *results) add(fig, variant string, v float64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	k := key{fig, variant}
	r.samples[k] = append(r.samples[k], v)
}

// unavailable records that a series cannot be measured yet, and why.
func (r *results) unavailable(fig, variant, why string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.missing[key{fig, variant}] = why
}

// fail records a measurement that went wrong. The first failure of a series
// is kept.
func (r *results) fail(fig, variant string, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	k := key{fig, variant}
	if _, ok := r.failed[k]; !ok {
		r.failed[k] = err.Error()
	}
}

// note records an observation for the report.
func (r *results) note(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.notes = append(r.notes, fmt.Sprintf(format, args...))
}

// get returns a series' summary.
func (r *results) get(fig, variant string) summary {
	r.mu.Lock()
	defer r.mu.Unlock()
	k := key{fig, variant}
	s := summarize3(r.samples[k])
	s.missing = r.missing[k]
	s.failed = r.failed[k]
	return s
}

// summary is min/median/max of a series, or why there is none.
type summary struct {
	n                int
	min, median, max float64
	missing, failed  string
}

// ok reports whether the series has numbers.
func (s summary) ok() bool { return s.n > 0 }

// summarize3 computes min, median and max; the median of an even count is
// the mean of the two middle samples.
func summarize3(xs []float64) summary {
	if len(xs) == 0 {
		return summary{}
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	m := s[len(s)/2]
	if len(s)%2 == 0 {
		m = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return summary{n: len(s), min: s[0], median: m, max: s[len(s)-1]}
}

// problems lists every series that was meant to be measured and has no
// number: failures, and series with neither samples nor a reason.
func (r *results) problems(expected []key) []string {
	var out []string
	for _, k := range expected {
		s := r.get(k.fig, k.variant)
		switch {
		case s.failed != "" && !s.ok():
			out = append(out, fmt.Sprintf("%s (%s): failed: %s", k.fig, k.variant, s.failed))
		case s.failed != "":
			out = append(out, fmt.Sprintf("%s (%s): some runs failed: %s", k.fig, k.variant, s.failed))
		case !s.ok() && s.missing == "":
			out = append(out, fmt.Sprintf("%s (%s): produced no number", k.fig, k.variant))
		}
	}
	return out
}

// unit formats values of one kind.
type unit struct {
	name  string  // shown after the number, e.g. "ms"
	scale float64 // a sample is multiplied by this before printing
	prec  int     // digits after the point; -1: three significant digits
}

// The units of the report. Samples are stored in base units: seconds,
// KiB, bytes per second, counts.
var (
	uMS      = unit{"ms", 1e3, -1}
	uS       = unit{"s", 1, -1}
	uMiB     = unit{"MiB", 1.0 / 1024, -1}
	uMiBps   = unit{"MiB/s", 1.0 / (1 << 20), 0}
	uCPUs    = unit{"CPU-s", 1, -1}
	uCPUms   = unit{"CPU-ms", 1e3, -1}
	uCount   = unit{"", 1, 0}
	uPerSec  = unit{"/s", 1, -1}
	uPercent = unit{"%", 100, -1}
)

// format renders one value.
func (u unit) format(v float64) string {
	x := v * u.scale
	var s string
	if u.prec >= 0 {
		s = fmt.Sprintf("%.*f", u.prec, x)
	} else {
		s = sig3(x)
	}
	if u.name == "" {
		return s
	}
	if strings.HasPrefix(u.name, "/") || u.name == "%" {
		return s + u.name
	}
	return s + " " + u.name
}

// sig3 prints x with three significant digits and no exponent.
func sig3(x float64) string {
	a := x
	if a < 0 {
		a = -a
	}
	switch {
	case a == 0:
		return "0"
	case a >= 100:
		return fmt.Sprintf("%.0f", x)
	case a >= 10:
		return fmt.Sprintf("%.1f", x)
	case a >= 1:
		return fmt.Sprintf("%.2f", x)
	case a >= 0.1:
		return fmt.Sprintf("%.3f", x)
	case a >= 0.01:
		return fmt.Sprintf("%.4f", x)
	case a >= 0.001:
		return fmt.Sprintf("%.5f", x)
	}
	return fmt.Sprintf("%.2g", x)
}

// ratio renders a/b as "0.12×", or "—" when either is missing or b is 0.
func ratio(a, b summary) string {
	if !a.ok() || !b.ok() || b.median == 0 {
		return "—"
	}
	r := a.median / b.median
	switch {
	case r == 0:
		return "0×"
	case r < 0.01:
		return fmt.Sprintf("%.4f× (1/%s)", r, sig3(1/r))
	case r < 1:
		return fmt.Sprintf("%.2f× (1/%s)", r, sig3(1/r))
	}
	return sig3(r) + "×"
}
