package metrics

import (
	"bytes"
	"math"
	"testing"

	"roost/internal/testutil"
)

// What roost writes, client_golang's parser, its linter and promtool
// read; and roost's own strict parser reads it back, escapes and all.
func TestExpositionRoundTrip(t *testing.T) {
	d := &metricDesc{typ: counter, name: "roost_test_total", help: "A help\nwith \\ in it.", labels: []string{"program", "stream"}}
	g := &metricDesc{typ: gauge, name: "roost_test_bytes", help: "Bytes."}
	var e exposition
	odd := "we\"b\\x\ny"
	e.add(d, 3, odd, "stdout")
	e.add(d, 1e21, "api", "\xff")
	e.add(g, math.Inf(1))
	var b bytes.Buffer
	e.write(&b)
	fams := testutil.CheckMetrics(t, b.Bytes(), nil)
	if v, ok := testutil.MetricValue(fams, "roost_test_total", "program="+odd); !ok || v != 3 {
		t.Errorf("client_golang read %v for %q:\n%s", v, odd, b.String())
	}
	got, err := parseExposition(b.Bytes())
	if err != nil {
		t.Fatalf("%v\n%s", err, b.String())
	}
	if len(got) != 3 || got[0].labels[0][1] != odd || got[0].typ != "counter" || got[1].v != 1e21 ||
		got[1].labels[1][1] != "\uFFFD" || !math.IsInf(got[2].v, 1) || got[2].typ != "gauge" {
		t.Errorf("parsed back: %+v", got)
	}
}

func TestParseExpositionRefuses(t *testing.T) {
	for _, in := range []string{
		"roost_x{a=\"1\"} 1 1700000000", // a timestamp
		"roost_x{a=1} 1",
		"roost_x{a=\"1} 1",
		"roost_x{a=\"\\t\"} 1",
		"roost_x 1 ",
		"roost_x one",
		"{a=\"1\"} 1",
		"1roost 1",
		"roost_x{a=\"1\"b=\"2\"} 1",
	} {
		if s, err := parseExposition([]byte(in)); err == nil {
			t.Errorf("%q parsed: %+v", in, s)
		}
	}
}

func FuzzParseExposition(f *testing.F) {
	f.Add([]byte("# TYPE roost_x counter\nroost_x{a=\"b\\\"c\",d=\"\"} 1.5\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		ss, err := parseExposition(in)
		if err != nil {
			return
		}
		// What parses writes and parses again the same.
		var e exposition
		descs := map[string]*metricDesc{}
		for _, s := range ss {
			if !utf8Clean(s) {
				return
			}
			names := make([]string, len(s.labels))
			lv := make([]string, len(s.labels))
			for i, l := range s.labels {
				names[i], lv[i] = l[0], l[1]
			}
			key := s.name + "|" + joinNames(names)
			d := descs[key]
			if d == nil {
				d = &metricDesc{typ: gauge, name: s.name, help: "h", labels: names}
				descs[key] = d
			}
			e.add(d, s.v, lv...)
		}
		var b bytes.Buffer
		e.write(&b)
		again, err := parseExposition(b.Bytes())
		if err != nil || len(again) != len(ss) {
			t.Fatalf("written %q, parsed again: %v, %d samples of %d", b.String(), err, len(again), len(ss))
		}
	})
}

func utf8Clean(s sample) bool {
	for _, l := range s.labels {
		if !bytes.Equal([]byte(l[1]), bytes.ToValidUTF8([]byte(l[1]), []byte("\uFFFD"))) {
			return false
		}
	}
	return true
}

func joinNames(ns []string) string {
	var b bytes.Buffer
	for _, n := range ns {
		b.WriteString(n)
		b.WriteByte(',')
	}
	return b.String()
}
