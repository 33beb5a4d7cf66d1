package main

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
)

// The bench binary doubles as the workload's helper programs; these hidden
// first arguments select them.
const (
	writerArg = "__writer" // write numbered lines to stdout as fast as possible
	idleArg   = "__idle"   // a bare Go process that waits for a signal: the runtime's own idle cost
)

// Each line the writer prints is lineLen bytes: a 10-digit line number, a
// space, filler and a newline, so that any loss, reordering or split line
// is countable in the log files. 97 is prime: with 100-byte lines 50MB
// (52428800 bytes) is a whole number of both lines and 64 KiB writes, so a
// log rotated at exactly 50MB would never show a split line, by coincidence.
const (
	lineLen = 97
	digits  = 10
	// writeChunk is the writer's write size: the pipe's default capacity.
	writeChunk = 64 << 10
)

// lineFiller is what follows the number on every line.
var lineFiller = func() []byte {
	b := bytes.Repeat([]byte{'.'}, lineLen-digits)
	b[0] = ' '
	copy(b[1:], "roost-bench")
	b[len(b)-1] = '\n'
	return b
}()

// runWriter is the __writer mode: it records its start on CLOCK_MONOTONIC
// in the stamp file, then writes lines numbered 0..lines-1 to stdout.
func runWriter(args []string) error {
	fs := flag.NewFlagSet(writerArg, flag.ContinueOnError)
	lines := fs.Int64("lines", 0, "how many lines to write")
	stamp := fs.String("stamp", "", "file to write the start time (CLOCK_MONOTONIC ns) to")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *stamp != "" {
		if err := os.WriteFile(*stamp, []byte(strconv.FormatInt(monotonicNow(), 10)), 0o644); err != nil {
			return fmt.Errorf("writer: %w", err)
		}
	}
	return writeLines(os.Stdout, *lines)
}

// writeLines writes lines numbered 0..n-1 to w in writes of writeChunk
// bytes, which (like a program's stdio buffer) end in the middle of a line:
// a daemon that cuts its log at a byte count rather than a line end shows
// up as split lines.
func writeLines(w io.Writer, n int64) error {
	buf := make([]byte, 0, writeChunk+lineLen)
	var line [lineLen]byte
	copy(line[digits:], lineFiller)
	for i := range digits {
		line[i] = '0'
	}
	for i := int64(0); i < n; i++ {
		buf = append(buf, line[:]...)
		for d := digits - 1; d >= 0; d-- { // increment the decimal counter
			if line[d] != '9' {
				line[d]++
				break
			}
			line[d] = '0'
		}
		if len(buf) >= writeChunk {
			if _, err := w.Write(buf[:writeChunk]); err != nil {
				return fmt.Errorf("writer: %w", err)
			}
			buf = buf[:copy(buf, buf[writeChunk:])]
		}
	}
	if _, err := w.Write(buf); err != nil {
		return fmt.Errorf("writer: %w", err)
	}
	return nil
}

// runIdle is the __idle mode: a Go process that does nothing until SIGTERM.
func runIdle() error {
	c := make(chan os.Signal, 1)
	signal.Notify(c, syscall.SIGTERM, syscall.SIGINT)
	<-c
	return nil
}

// lineCheck is what the log files say about the writer's lines.
type lineCheck struct {
	Files   int   // log files read (the live one and its backups)
	Checked int64 // whole, well-formed lines found
	First   int64 // number of the first line kept (older ones were rotated away)
	Split   int64 // lines cut in two across a rotation
	Lost    int64 // lines missing between the first kept line and the last written
	Corrupt int64 // lines with the wrong length or content, or out of order
}

// checkLines reads base and its backups (base.N ... base.1, base) and
// counts the writer's lines 0..total-1 in them.
func checkLines(base string, total int64) (lineCheck, error) {
	files, err := logFiles(base)
	if err != nil {
		return lineCheck{}, err
	}
	c := lineCheck{First: -1}
	next := int64(-1) // the number expected on the next line
	var carry []byte  // a partial line at the end of the previous file
	for _, path := range files {
		f, err := os.Open(path)
		if err != nil {
			return c, fmt.Errorf("check lines: %w", err)
		}
		c.Files++
		r := bufio.NewReaderSize(f, 1<<20)
		first := true
		for {
			line, err := r.ReadSlice('\n')
			if errors.Is(err, bufio.ErrBufferFull) {
				c.Corrupt++ // a megabyte without a newline
				for errors.Is(err, bufio.ErrBufferFull) {
					_, err = r.ReadSlice('\n')
				}
				continue
			}
			if len(line) > 0 && line[len(line)-1] != '\n' { // EOF inside a line
				carry = append(carry[:0], line...)
				break
			}
			if err != nil && !errors.Is(err, io.EOF) {
				f.Close()
				return c, fmt.Errorf("check lines: read %s: %w", path, err)
			}
			if len(line) == 0 {
				break
			}
			if first && c.Files == 1 && isLineTail(line) {
				// The oldest kept file starts inside a line whose head
				// was rotated away with an older file: a split line.
				c.Split++
				first = false
				continue
			}
			if first && len(carry) > 0 {
				// The previous file ended inside a line: a split line.
				c.Split++
				line = append(carry, line...)
				carry = carry[:0]
				next = c.account(line, next, false)
			} else {
				next = c.account(line, next, true)
			}
			first = false
		}
		f.Close()
	}
	if len(carry) > 0 {
		c.Corrupt++ // the last file ends inside a line
	}
	if next >= 0 && next < total {
		c.Lost += total - next
	}
	if next < 0 {
		c.Lost = total
	}
	return c, nil
}

// isLineTail reports whether line is the end of one of the writer's lines
// but not a whole one.
func isLineTail(line []byte) bool {
	n := len(line)
	if n == 0 || n >= lineLen {
		return false
	}
	fill := min(n, lineLen-digits)
	if !bytes.Equal(line[n-fill:], lineFiller[len(lineFiller)-fill:]) {
		return false
	}
	for _, d := range line[:n-fill] {
		if d < '0' || d > '9' {
			return false
		}
	}
	return true
}

// account checks one line against the number expected and returns the
// number expected next. whole says the line lay within one file.
func (c *lineCheck) account(line []byte, next int64, whole bool) int64 {
	if len(line) != lineLen || !bytes.Equal(line[digits:], lineFiller) {
		c.Corrupt++
		return next
	}
	n, err := strconv.ParseInt(string(line[:digits]), 10, 64)
	if err != nil {
		c.Corrupt++
		return next
	}
	switch {
	case next < 0:
		c.First = n
	case n > next:
		c.Lost += n - next
	case n < next:
		c.Corrupt++ // repeated or out of order
		return next
	}
	if whole {
		c.Checked++
	}
	return n + 1
}

// logFiles returns base's rotated backups, oldest first, then base.
func logFiles(base string) ([]string, error) {
	matches, err := filepath.Glob(base + ".*")
	if err != nil {
		return nil, fmt.Errorf("list logs: %w", err)
	}
	type backup struct {
		path string
		n    int
	}
	var bs []backup
	for _, m := range matches {
		n, err := strconv.Atoi(strings.TrimPrefix(m, base+"."))
		if err != nil {
			return nil, fmt.Errorf("unexpected file %s beside the log %s", m, base)
		}
		bs = append(bs, backup{m, n})
	}
	sort.Slice(bs, func(i, j int) bool { return bs[i].n > bs[j].n })
	out := make([]string, 0, len(bs)+1)
	for _, b := range bs {
		out = append(out, b.path)
	}
	if fileExists(base) {
		out = append(out, base)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no log file %s", base)
	}
	return out, nil
}

// lastLineNumber returns the number of the last whole line of the log at
// base (looking into base.1 when base is empty after a rotation), or -1.
func lastLineNumber(base string) int64 {
	for _, path := range []string{base, base + ".1"} {
		f, err := os.Open(path)
		if err != nil {
			continue
		}
		st, err := f.Stat()
		if err != nil || st.Size() == 0 {
			f.Close()
			continue
		}
		off := max(st.Size()-lineLen, 0)
		buf := make([]byte, st.Size()-off)
		_, err = f.ReadAt(buf, off)
		f.Close()
		if err != nil || len(buf) != lineLen || buf[len(buf)-1] != '\n' {
			return -1
		}
		n, err := strconv.ParseInt(string(buf[:digits]), 10, 64)
		if err != nil {
			return -1
		}
		return n
	}
	return -1
}
