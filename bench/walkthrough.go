package main

import (
	"bytes"
	"os"
)

// BENCHMARKS.md also holds figures that other commands measure: the time
// to a first app (scripts/walkthrough installs the .deb, so it is no part
// of this bench), the master's re-exec under load (`go run ./bench
// reexec`, as root, reexec.go) and the hand-written before/after notes of
// a performance change (two `go run ./bench -only …` runs). Each lies
// between its markers, and a regenerated report keeps them as they were.
const (
	walkthroughStart = "<!-- walkthrough: measured by scripts/walkthrough; go run ./bench keeps this section -->"
	walkthroughEnd   = "<!-- /walkthrough -->"
	beforeAfterStart = "<!-- before-after: two runs of go run ./bench -only, by hand; go run ./bench keeps this section -->"
	beforeAfterEnd   = "<!-- /before-after -->"
)

// keptSections are the marker pairs a regenerated report keeps.
var keptSections = [][2]string{{walkthroughStart, walkthroughEnd}, {reexecStart, reexecEnd}, {beforeAfterStart, beforeAfterEnd}}

// keepWalkthrough appends the kept sections of the file at path, those it
// has, to the new report.
func keepWalkthrough(path string, report []byte) []byte {
	old, err := os.ReadFile(path)
	if err != nil {
		return report
	}
	out := report
	for _, m := range keptSections {
		if sec := markedSection(old, m[0], m[1]); sec != nil {
			out = append(bytes.TrimRight(out, "\n"), "\n\n"...)
			out = append(out, sec...)
			out = append(out, '\n')
		}
	}
	return out
}

// markedSection returns doc's text from start to end (markers included), or nil.
func markedSection(doc []byte, start, end string) []byte {
	i := bytes.Index(doc, []byte(start))
	j := bytes.Index(doc, []byte(end))
	if i < 0 || j < i {
		return nil
	}
	return doc[i : j+len(end)]
}

// replaceSection puts sec (markers included) in place of doc's section
// between start and end, or appends it.
func replaceSection(doc []byte, start, end, sec string) []byte {
	sec = string(bytes.TrimRight([]byte(sec), "\n"))
	if old := markedSection(doc, start, end); old != nil {
		i := bytes.Index(doc, old)
		out := append([]byte(nil), doc[:i]...)
		out = append(out, sec...)
		return append(out, doc[i+len(old):]...)
	}
	out := append(bytes.TrimRight(doc, "\n"), "\n\n"...)
	return append(append(out, sec...), '\n')
}
