package logrotate

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// expectedNumbered returns how many lines and bytes writeNumbered(n) writes.
func expectedNumbered(n int64) (lines, bytes int64) {
	for bytes < n {
		bytes += int64(len(strconv.FormatInt(lines, 10)) + 1 + fillerLen(lines) + 1)
		lines++
	}
	return lines, bytes
}

// TestPipelineGiB pipes 1 GiB of numbered lines from a real child process
// through Copy → LineWriter → Sink rotating at 1 MiB, and checks every file
// as it rotates out: each holds whole lines only, at most 1 MiB, and
// together they hold every line exactly once, in order.
func TestPipelineGiB(t *testing.T) {
	if testing.Short() {
		t.Skip("1 GiB through a pipe: skipped in -short mode")
	}
	const (
		total    = 1 << 30
		maxBytes = 1 << 20
	)
	path := filepath.Join(t.TempDir(), "app.log")
	s, err := OpenSink(path, maxBytes, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	var (
		c         lineChecker
		checked   int64
		rotations int
		failed    error
	)
	checkFile := func(name string) {
		b, err := os.ReadFile(name)
		if err != nil {
			failed = err
			return
		}
		if len(b) > maxBytes {
			failed = errorf("%s after rotation %d: %d bytes > maxBytes %d", name, rotations, len(b), maxBytes)
			return
		}
		if err := c.check(b); err != nil {
			failed = errorf("%s after rotation %d: %v", name, rotations, err)
			return
		}
		checked += int64(len(b))
	}
	s.onRotate = func() { // called with the sink locked: .1 is stable
		rotations++
		if failed == nil {
			checkFile(path + ".1")
		}
	}

	start := time.Now()
	r, wait := startWriter(t, total)
	if err := Copy(NewLineWriter(s, 0), r); err != nil {
		t.Fatal(err)
	}
	if err := wait(); err != nil {
		t.Fatal(err)
	}
	elapsed := time.Since(start)
	s.mu.Lock()
	if failed == nil {
		checkFile(path)
	}
	s.mu.Unlock()
	if failed != nil {
		t.Fatal(failed)
	}
	wantLines, wantBytes := expectedNumbered(total)
	if c.lines != wantLines || checked != wantBytes {
		t.Errorf("saw %d lines, %d bytes; the writer wrote %d lines, %d bytes", c.lines, checked, wantLines, wantBytes)
	}
	if rotations < total/maxBytes {
		t.Errorf("%d rotations for %d bytes at %d", rotations, total, maxBytes)
	}
	t.Logf("%d lines, %d bytes, %d rotations in %v", c.lines, checked, rotations, elapsed)
}
