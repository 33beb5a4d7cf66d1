package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A regenerated report keeps the walkthrough's section, and only it.
func TestKeepWalkthrough(t *testing.T) {
	path := filepath.Join(t.TempDir(), "BENCHMARKS.md")
	section := walkthroughStart + "\n## Time to a first app\n\n| a | b |\n" + walkthroughEnd
	if err := os.WriteFile(path, []byte("# old report\nold figures\n\n"+section+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	got := string(keepWalkthrough(path, []byte("# new report\nnew figures\n")))
	if want := "# new report\nnew figures\n\n" + section + "\n"; got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	if got := string(keepWalkthrough(filepath.Join(t.TempDir(), "none.md"), []byte("# new\n"))); got != "# new\n" {
		t.Errorf("no old file: %q", got)
	}
	os.WriteFile(path, []byte("# old, no section\n"), 0o644)
	if got := string(keepWalkthrough(path, []byte("# new\n"))); strings.Contains(got, "walkthrough") {
		t.Errorf("no section: %q", got)
	}
}

// The reexec section is replaced in place, or appended, and kept by a
// regenerated report.
func TestReexecSection(t *testing.T) {
	sec := reexecStart + "\n## Master re-exec\n" + reexecEnd + "\n"
	got := string(replaceSection([]byte("# report\n"), reexecStart, reexecEnd, sec))
	if got != "# report\n\n"+sec {
		t.Errorf("appended: %q", got)
	}
	newer := reexecStart + "\n## newer\n" + reexecEnd
	got = string(replaceSection([]byte(got+"\ntail\n"), reexecStart, reexecEnd, newer))
	if got != "# report\n\n"+newer+"\n\ntail\n" {
		t.Errorf("replaced: %q", got)
	}
	path := filepath.Join(t.TempDir(), "BENCHMARKS.md")
	os.WriteFile(path, []byte(got), 0o644)
	if kept := string(keepWalkthrough(path, []byte("# new\n"))); kept != "# new\n\n"+newer+"\n" {
		t.Errorf("kept: %q", kept)
	}
}
