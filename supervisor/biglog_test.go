package supervisor

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"roost/config"
	"roost/supervisor/api"
)

// TestGiBOfNumberedLinesThroughRotation: a program writes 1 GiB of numbered
// lines as fast as it can through 1 MB rotation; every line must be found
// exactly once, whole, in order, across the rotated files.
func TestGiBOfNumberedLinesThroughRotation(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 1 GiB; skipped in -short mode")
	}
	const width = 100
	const total = 1 << 30
	const lines = total / width
	dir := t.TempDir()
	logfile := filepath.Join(dir, "big.log")
	p := prog("writer", fmt.Sprintf("numbered:%d:%d", lines, width), "sleep")
	p.StartSecs = 0
	p.Stdout = config.LogConfig{File: logfile, MaxBytes: 1 << 20, Backups: 2000}
	p.Stderr = config.LogConfig{}
	h := start(t, testConfig(t, homog(p)...))
	h.waitState(10*time.Second, 0, "writer", api.Running)

	// The writer sleeps once it has written everything; wait until the
	// files hold every byte.
	deadline := time.Now().Add(5 * time.Minute)
	for logBytes(t, logfile) < lines*width {
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d bytes arrived", logBytes(t, logfile), lines*width)
		}
		time.Sleep(100 * time.Millisecond)
	}

	files := logFiles(t, logfile)
	if len(files) < 1000 {
		t.Errorf("%d files: 1 GiB at 1 MB rotation should make more than 1000", len(files))
	}
	want := []byte("000000000000")
	n := 0
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if len(b) > 1<<20 {
			t.Errorf("%s: %d bytes, more than maxbytes", f, len(b))
		}
		if len(b) > 0 && b[len(b)-1] != '\n' {
			t.Fatalf("%s does not end with a whole line", f)
		}
		for len(b) > 0 {
			i := bytes.IndexByte(b, '\n')
			line := b[:i+1]
			b = b[i+1:]
			incDecimal(want)
			n++
			if len(line) != width || !bytes.Equal(line[:12], want) {
				t.Fatalf("%s: line %d is %q, want %s followed by %d bytes", f, n, line[:min(len(line), 40)], want, width-12)
			}
		}
	}
	if n != lines {
		t.Errorf("%d lines, want %d", n, lines)
	}
}

// logFiles lists a rotated log oldest first: name.N … name.1, name.
func logFiles(t *testing.T, path string) []string {
	t.Helper()
	matches, _ := filepath.Glob(path + ".*")
	type f struct {
		n    int
		path string
	}
	var fs []f
	for _, m := range matches {
		k, err := strconv.Atoi(strings.TrimPrefix(m, path+"."))
		if err == nil {
			fs = append(fs, f{k, m})
		}
	}
	sort.Slice(fs, func(i, j int) bool { return fs[i].n > fs[j].n })
	var out []string
	for _, x := range fs {
		out = append(out, x.path)
	}
	return append(out, path)
}

func logBytes(t *testing.T, path string) int64 {
	var sum int64
	for _, f := range logFiles(t, path) {
		if st, err := os.Stat(f); err == nil {
			sum += st.Size()
		}
	}
	return sum
}
