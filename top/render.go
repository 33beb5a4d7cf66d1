package top

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// MinWidth is the narrowest table Render draws; a narrower terminal gets
// its lines cut.
const MinWidth = 20

// column is one column of the table: its title, width (the name's is
// computed), alignment and cell.
type column struct {
	title string
	width int
	left  bool
	cell  func(Row) string
}

var (
	colName     = column{title: "NAME", left: true, cell: func(r Row) string { return r.Name }}
	colState    = column{title: "STATE", width: 8, left: true, cell: func(r Row) string { return r.State }}
	colCPU      = column{title: "CPU%", width: 6, cell: func(r Row) string { return percent(r.CPUPercent) }}
	colMem      = column{title: "MEM", width: 7, cell: func(r Row) string { return bytesOrDash(r.Memory, r.PID) }}
	colPeak     = column{title: "PEAK", width: 7, cell: func(r Row) string { return bytesOrDash(r.MemoryPeak, r.PID) }}
	colPids     = column{title: "PIDS", width: 5, cell: func(r Row) string { return countOrDash(r.Pids, r.PID) }}
	colRestarts = column{title: "RESTARTS", width: 8, cell: func(r Row) string { return fmt.Sprint(r.Restarts) }}
	colUptime   = column{title: "UPTIME", width: 7, cell: func(r Row) string { return Uptime(r.Uptime) }}
)

// dropOrder is which columns go first when the terminal is narrow: the
// name, state and CPU stay.
var dropOrder = []*column{&colPeak, &colRestarts, &colPids, &colUptime, &colMem}

// Render draws f as lines of at most width runes each (at least MinWidth)
// and at most height lines (0: no limit): a summary line (with note at
// its end, e.g. "q quits"), the column titles, a row per program. When
// the terminal is narrow, columns are left out (PEAK first, then
// RESTARTS, PIDS, UPTIME, MEM) and long names are cut with "…"; when it
// is short, the last line says how many rows are not shown.
func Render(f Frame, width, height int, note string) []string {
	width = max(width, MinWidth)
	cols := []*column{&colName, &colState, &colCPU, &colMem, &colPeak, &colPids, &colRestarts, &colUptime}
	nameW := len(colName.title)
	for _, r := range f.Rows {
		nameW = max(nameW, utf8.RuneCountInString(r.Name))
	}
	const gap = 2
	fixed := func() int {
		n := 0
		for _, c := range cols[1:] {
			n += gap + c.width
		}
		return n
	}
	// Narrow: leave columns out until a name of up to 12 fits beside them.
	for _, d := range dropOrder {
		if fixed()+min(nameW, 12) <= width {
			break
		}
		cols = removeCol(cols, d)
	}
	nameW = max(min(nameW, width-fixed()), 4)

	lines := []string{cut(summary(f)+note, width)}
	var b strings.Builder
	line := func(cell func(c *column) string) string {
		b.Reset()
		for i, c := range cols {
			w := c.width
			if c == &colName {
				w = nameW
			}
			if i > 0 {
				b.WriteString(strings.Repeat(" ", gap))
			}
			s := cut(cell(c), w)
			pad := strings.Repeat(" ", w-utf8.RuneCountInString(s))
			if c.left {
				b.WriteString(s + pad)
			} else {
				b.WriteString(pad + s)
			}
		}
		return cut(strings.TrimRight(b.String(), " "), width)
	}
	lines = append(lines, line(func(c *column) string { return c.title }))
	rows := f.Rows
	more := 0
	if height > 0 && len(lines)+len(rows) > height {
		shown := max(height-len(lines)-1, 0)
		more = len(rows) - shown
		rows = rows[:shown]
	}
	for _, r := range rows {
		lines = append(lines, line(func(c *column) string { return c.cell(r) }))
	}
	if more > 0 {
		lines = append(lines, cut(fmt.Sprintf("… %d more (a taller terminal, or --sort cpu|mem)", more), width))
	}
	if height > 0 && len(lines) > height {
		lines = lines[:height]
	}
	return lines
}

func removeCol(cols []*column, d *column) []*column {
	out := cols[:0:0]
	for _, c := range cols {
		if c != d {
			out = append(out, c)
		}
	}
	return out
}

// summary is the first line: programs, how many run, their CPU and memory.
func summary(f Frame) string {
	running, mem := 0, int64(0)
	cpu, cpuKnown := 0.0, false
	for _, r := range f.Rows {
		if r.State == "RUNNING" {
			running++
		}
		mem += r.Memory
		if r.CPUPercent >= 0 {
			cpu, cpuKnown = cpu+r.CPUPercent, true
		}
	}
	s := fmt.Sprintf("%s  %d programs, %d running", f.At.Format("15:04:05"), len(f.Rows), running)
	if cpuKnown {
		s += "  CPU " + percent(cpu) + "%"
	}
	return s + "  MEM " + Bytes(mem) + "  "
}

// cut shortens s to at most w runes, ending with "…" when it cut.
func cut(s string, w int) string {
	if utf8.RuneCountInString(s) <= w {
		return s
	}
	if w <= 0 {
		return ""
	}
	r := []rune(s)
	return string(r[:w-1]) + "…"
}

func percent(p float64) string {
	if p < 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f", p)
}

func bytesOrDash(n int64, pid int) string {
	if pid <= 0 {
		return "-"
	}
	return Bytes(n)
}

func countOrDash(n, pid int) string {
	if pid <= 0 {
		return "-"
	}
	return fmt.Sprint(n)
}

// Bytes writes a size in at most 6 characters: "0", "512K", "12.3M",
// "1.2G".
func Bytes(n int64) string {
	switch {
	case n < 1<<10:
		return fmt.Sprint(n)
	case n < 1<<20:
		return fmt.Sprintf("%dK", n>>10)
	case n < 100<<20:
		return fmt.Sprintf("%.1fM", float64(n)/(1<<20))
	case n < 1<<30:
		return fmt.Sprintf("%dM", n>>20)
	case n < 100<<30:
		return fmt.Sprintf("%.1fG", float64(n)/(1<<30))
	}
	return fmt.Sprintf("%dG", n>>30)
}

// Uptime writes seconds in at most 6 characters: "-" for 0, "45s",
// "12m05s", "3h04m", "2d03h", "412d".
func Uptime(s int64) string {
	switch {
	case s <= 0:
		return "-"
	case s < 60:
		return fmt.Sprintf("%ds", s)
	case s < 3600:
		return fmt.Sprintf("%dm%02ds", s/60, s%60)
	case s < 86400:
		return fmt.Sprintf("%dh%02dm", s/3600, s%3600/60)
	case s < 100*86400:
		return fmt.Sprintf("%dd%02dh", s/86400, s%86400/3600)
	}
	return fmt.Sprintf("%dd", s/86400)
}
