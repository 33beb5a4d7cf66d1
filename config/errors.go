package config

import (
	"errors"
	"fmt"
	"sort"
	"strings"
)

// Error is returned by Load when a configuration cannot be used. It carries
// every error found, each with its file:line, section and key.
type Error struct {
	Diagnostics []Diagnostic
}

// Error lists the diagnostics one per line as "file:line: [section] key: message".
func (e *Error) Error() string {
	lines := make([]string, len(e.Diagnostics))
	for i, d := range e.Diagnostics {
		lines[i] = d.String()
	}
	return strings.Join(lines, "\n")
}

// diagList collects errors and warnings while a configuration is loaded.
type diagList struct {
	errs  []Diagnostic
	warns []Diagnostic
	seen  map[string]bool // drops repeats, e.g. one bad key seen by every process of a numprocs program
}

func (d *diagList) add(list *[]Diagnostic, pos Pos, section, key, format string, args []any) {
	diag := Diagnostic{Pos: pos, Section: section, Key: key, Message: fmt.Sprintf(format, args...)}
	if d.seen == nil {
		d.seen = map[string]bool{}
	}
	id := fmt.Sprintf("%p|%s", list, diag.String())
	if d.seen[id] {
		return
	}
	d.seen[id] = true
	*list = append(*list, diag)
}

// errorf records an error.
func (d *diagList) errorf(pos Pos, section, key, format string, args ...any) {
	d.add(&d.errs, pos, section, key, format, args)
}

// warnf records a warning.
func (d *diagList) warnf(pos Pos, section, key, format string, args ...any) {
	d.add(&d.warns, pos, section, key, format, args)
}

// sortDiagnostics orders diagnostics by file (in the order the files were
// read), then line, keeping the discovery order otherwise.
func sortDiagnostics(ds []Diagnostic, files []string) {
	rank := map[string]int{}
	for i, f := range files {
		if _, ok := rank[f]; !ok {
			rank[f] = i
		}
	}
	sort.SliceStable(ds, func(i, j int) bool {
		ri, ok := rank[ds[i].Pos.File]
		if !ok {
			ri = len(files)
		}
		rj, ok := rank[ds[j].Pos.File]
		if !ok {
			rj = len(files)
		}
		if ri != rj {
			return ri < rj
		}
		return ds[i].Pos.Line < ds[j].Pos.Line
	})
}

// didYouMean returns " (did you mean X?)" for the candidate closest to
// word, or "" when none is close.
func didYouMean(word string, candidates []string) string {
	best, bestD := "", 1<<30
	for _, c := range candidates {
		d := editDistance(word, c)
		if d < bestD || (d == bestD && c < best) {
			best, bestD = c, d
		}
	}
	limit := 2
	if len(word) <= 4 {
		limit = 1
	}
	if best == "" || bestD > limit {
		// A key that contains a candidate (or the reverse) is a near miss
		// too: "stdout_log" for "stdout_logfile".
		for _, c := range candidates {
			if len(word) >= 4 && (strings.HasPrefix(c, word) || strings.HasPrefix(word, c)) {
				return fmt.Sprintf(" (did you mean %s?)", c)
			}
		}
		return ""
	}
	return fmt.Sprintf(" (did you mean %s?)", best)
}

// editDistance is the optimal string alignment distance (Levenshtein plus
// adjacent transpositions) between a and b, by bytes.
func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 1 << 20
	}
	prev2 := make([]int, len(b)+1)
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(b)]
}

// ErrorLines returns the lines of a load error: each file:line problem of
// an *Error, else the error's own non-empty lines.
func ErrorLines(err error) []string {
	var cerr *Error
	if errors.As(err, &cerr) && len(cerr.Diagnostics) > 0 {
		out := make([]string, 0, len(cerr.Diagnostics))
		for _, d := range cerr.Diagnostics {
			out = append(out, d.String())
		}
		return out
	}
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(err.Error()), "\n") {
		if l != "" {
			lines = append(lines, l)
		}
	}
	return lines
}
