package metrics

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

// roost writes the Prometheus text format (version 0.0.4) itself rather
// than linking client_golang into the one roost binary: that library's
// package init (its default registry, procfs, protobuf descriptors) costs
// every roost command about a millisecond and the binary 3.7 MB
// (BENCHMARKS.md, "Metrics"). The tests check the output with
// client_golang's linter and parser and with promtool.

// valueType is a family's Prometheus type.
type valueType int

const (
	counter valueType = iota
	gauge
)

func (t valueType) String() string {
	if t == counter {
		return "counter"
	}
	return "gauge"
}

// metricDesc is one metric family: name, help, type and label names.
type metricDesc struct {
	typ    valueType
	name   string
	help   string
	labels []string
}

// series is one sample of a family: label values in the family's order.
type series struct {
	lv []string
	v  float64
}

// exposition gathers samples by family, in the order families first
// appear, and writes them in the text format.
type exposition struct {
	order []*metricDesc
	by    map[*metricDesc][]series
}

// add records one sample; lv are the values of d's labels, in order (a
// sample with another count is a bug, left out: the tests find it missing).
func (e *exposition) add(d *metricDesc, v float64, lv ...string) {
	if len(lv) != len(d.labels) {
		return
	}
	if e.by == nil {
		e.by = map[*metricDesc][]series{}
	}
	if _, ok := e.by[d]; !ok {
		e.order = append(e.order, d)
	}
	e.by[d] = append(e.by[d], series{lv: lv, v: v})
}

// write appends the exposition to b.
func (e *exposition) write(b *bytes.Buffer) {
	for _, d := range e.order {
		fmt.Fprintf(b, "# HELP %s %s\n# TYPE %s %s\n", d.name, helpEscaper.Replace(d.help), d.name, d.typ)
		for _, s := range e.by[d] {
			b.WriteString(d.name)
			if len(d.labels) > 0 {
				b.WriteByte('{')
				for i, l := range d.labels {
					if i > 0 {
						b.WriteByte(',')
					}
					b.WriteString(l)
					b.WriteString(`="`)
					b.WriteString(valueEscaper.Replace(strings.ToValidUTF8(s.lv[i], "\uFFFD")))
					b.WriteByte('"')
				}
				b.WriteByte('}')
			}
			b.WriteByte(' ')
			b.WriteString(strconv.FormatFloat(s.v, 'g', -1, 64))
			b.WriteByte('\n')
		}
	}
}

var (
	helpEscaper  = strings.NewReplacer(`\`, `\\`, "\n", `\n`)
	valueEscaper = strings.NewReplacer(`\`, `\\`, "\n", `\n`, `"`, `\"`)
)

// serveExposition answers a scrape with what collect gathers.
func serveExposition(w http.ResponseWriter, collect func(*exposition)) {
	var e exposition
	collect(&e)
	var b bytes.Buffer
	e.write(&b)
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	w.Write(b.Bytes())
}

// sample is one parsed line of a text exposition.
type sample struct {
	name   string
	typ    string      // its family's "# TYPE" ("" when none)
	labels [][2]string // name, value; in the order written
	v      float64
}

var errSyntax = errors.New("not the Prometheus text format")

// parseExposition reads a text exposition strictly: comment lines are
// skipped, every other line must be NAME{LABELS} VALUE (no timestamp).
// Its input is untrusted (a user's supervisor); the caller bounds its size.
func parseExposition(body []byte) ([]sample, error) {
	var out []sample
	types := map[string]string{}
	for n, line := range strings.Split(string(body), "\n") {
		if rest, ok := strings.CutPrefix(line, "# TYPE "); ok {
			if name, typ, ok := strings.Cut(rest, " "); ok {
				types[name] = typ
			}
			continue
		}
		if line == "" || line[0] == '#' {
			continue
		}
		s, err := parseLine(line)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", n+1, err)
		}
		s.typ = types[s.name]
		out = append(out, s)
	}
	return out, nil
}

func parseLine(line string) (sample, error) {
	var s sample
	i := 0
	for i < len(line) && isNameByte(line[i], i == 0, true) {
		i++
	}
	if i == 0 {
		return s, errSyntax
	}
	s.name, line = line[:i], line[i:]
	if strings.HasPrefix(line, "{") {
		line = line[1:]
		for !strings.HasPrefix(line, "}") {
			j := 0
			for j < len(line) && isNameByte(line[j], j == 0, false) {
				j++
			}
			if j == 0 || !strings.HasPrefix(line[j:], `="`) {
				return s, errSyntax
			}
			name := line[:j]
			line = line[j+2:]
			var v strings.Builder
			for {
				if line == "" {
					return s, errSyntax
				}
				c := line[0]
				line = line[1:]
				if c == '"' {
					break
				}
				if c == '\\' {
					if line == "" {
						return s, errSyntax
					}
					switch line[0] {
					case '\\':
						c = '\\'
					case '"':
						c = '"'
					case 'n':
						c = '\n'
					default:
						return s, errSyntax
					}
					line = line[1:]
				}
				v.WriteByte(c)
			}
			s.labels = append(s.labels, [2]string{name, v.String()})
			if strings.HasPrefix(line, ",") {
				line = line[1:]
			} else if !strings.HasPrefix(line, "}") {
				return s, errSyntax
			}
		}
		line = line[1:]
	}
	val, ok := strings.CutPrefix(line, " ")
	if !ok || strings.ContainsAny(val, " \t") {
		return s, errSyntax
	}
	v, err := strconv.ParseFloat(val, 64)
	if err != nil {
		return s, errSyntax
	}
	s.v = v
	return s, nil
}

// isNameByte says whether c may be in a metric name (colons too) or a
// label name, first or later.
func isNameByte(c byte, first, metric bool) bool {
	return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		(!first && c >= '0' && c <= '9') || (metric && c == ':')
}
