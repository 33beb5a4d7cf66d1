package main

import (
	"bytes"
	"os"
)

// BENCHMARKS.md also holds the time to a first app, which
// scripts/walkthrough measures (it installs the .deb, so it is no part of
// this bench). Its section lies between these markers, and a regenerated
// report keeps it as it was.
const (
	walkthroughStart = "<!-- walkthrough: measured by scripts/walkthrough; go run ./bench keeps this section -->"
	walkthroughEnd   = "<!-- /walkthrough -->"
)

// keepWalkthrough appends the walkthrough section of the file at path, if
// it has one, to the new report.
func keepWalkthrough(path string, report []byte) []byte {
	old, err := os.ReadFile(path)
	if err != nil {
		return report
	}
	i := bytes.Index(old, []byte(walkthroughStart))
	j := bytes.Index(old, []byte(walkthroughEnd))
	if i < 0 || j < i {
		return report
	}
	out := append(bytes.TrimRight(report, "\n"), "\n\n"...)
	out = append(out, old[i:j+len(walkthroughEnd)]...)
	return append(out, '\n')
}
