package testutil

import (
	"bytes"
	"os/exec"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// CheckMetrics checks a Prometheus text exposition with Debian's
// `promtool check metrics` (required: the prometheus package) and
// client_golang's linter, failing the test on any problem, and returns it
// parsed. run runs promtool and returns its combined output, as
// RoostBinary's (nil: exec.Cmd.CombinedOutput).
func CheckMetrics(t testing.TB, body []byte, run func(*exec.Cmd) ([]byte, error)) map[string]*dto.MetricFamily {
	t.Helper()
	promtool := RequireBinary(t, "promtool")
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = bytes.NewReader(body)
	if run == nil {
		run = (*exec.Cmd).CombinedOutput
	}
	if out, err := run(cmd); err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}
	problems, err := promlint.New(bytes.NewReader(body)).Lint()
	if err != nil {
		t.Fatalf("promlint: %v", err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("parse the exposition: %v", err)
	}
	return fams
}

// MetricValue returns the value of the series of family name whose labels
// include labels ("k=v" pairs), and whether there is exactly one.
func MetricValue(fams map[string]*dto.MetricFamily, name string, labels ...string) (float64, bool) {
	mf := fams[name]
	if mf == nil {
		return 0, false
	}
	var v float64
	n := 0
	for _, m := range mf.GetMetric() {
		have := map[string]string{}
		for _, l := range m.GetLabel() {
			have[l.GetName()] = l.GetValue()
		}
		ok := true
		for _, kv := range labels {
			k, val, _ := strings.Cut(kv, "=")
			if have[k] != val {
				ok = false
			}
		}
		if !ok {
			continue
		}
		n++
		switch {
		case m.Counter != nil:
			v = m.GetCounter().GetValue()
		case m.Gauge != nil:
			v = m.GetGauge().GetValue()
		case m.Untyped != nil:
			v = m.GetUntyped().GetValue()
		}
	}
	return v, n == 1
}
