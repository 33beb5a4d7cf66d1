package logrotate

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"testing"
)

// The test binary doubles as a scripted child process (the helper-process
// pattern): with LOGROTATE_HELPER set it plays that part instead of running
// tests.
func TestMain(m *testing.M) {
	switch os.Getenv("LOGROTATE_HELPER") {
	case "":
		os.Exit(m.Run())
	case "lines":
		n, err := strconv.ParseInt(os.Getenv("LOGROTATE_BYTES"), 10, 64)
		if err != nil {
			fmt.Fprintln(os.Stderr, "LOGROTATE_BYTES:", err)
			os.Exit(2)
		}
		if err := writeNumbered(os.Stdout, n); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	case "copy":
		// `writer | LOGROTATE_HELPER=copy LOGROTATE_OUT=file logrotate.test`
		// is Copy in the place of `cat > file`, for side-by-side timing.
		maxBytes, _ := strconv.ParseInt(os.Getenv("LOGROTATE_MAXBYTES"), 10, 64)
		backups, _ := strconv.Atoi(os.Getenv("LOGROTATE_BACKUPS"))
		s, err := OpenSink(os.Getenv("LOGROTATE_OUT"), maxBytes, backups)
		if err == nil {
			err = Copy(NewLineWriter(s, 0), os.Stdin)
		}
		if err == nil {
			err = s.Close()
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	default:
		fmt.Fprintln(os.Stderr, "unknown LOGROTATE_HELPER")
		os.Exit(2)
	}
}

// pattern is the filler of numbered lines; a line's filler is a prefix of it
// whose length depends on the line's number, so a checker can tell a whole
// line from a piece of one.
var pattern = bytes.Repeat([]byte("abcdefghijklmnopqrstuvwxyz0123456789"), 28)

// fillerLen is the filler length of line i: 0 to 999 bytes, varied.
func fillerLen(i int64) int { return int(uint64(i) * 7919 % 1000) }

// appendNumbered appends line i: "i filler\n".
func appendNumbered(b []byte, i int64) []byte {
	b = strconv.AppendInt(b, i, 10)
	b = append(b, ' ')
	b = append(b, pattern[:fillerLen(i)]...)
	return append(b, '\n')
}

// writeNumbered writes numbered lines from 0 to w until at least n bytes are
// written, in 256 KiB writes that end anywhere, mid-line included.
func writeNumbered(w io.Writer, n int64) error {
	buf := make([]byte, 0, 256<<10+512)
	var i, total int64
	for total < n {
		for len(buf) < 256<<10 && total+int64(len(buf)) < n {
			buf = appendNumbered(buf, i)
			i++
		}
		k := min(len(buf), 256<<10)
		if _, err := w.Write(buf[:k]); err != nil {
			return err
		}
		total += int64(k)
		buf = buf[:copy(buf, buf[k:])]
	}
	if len(buf) > 0 {
		_, err := w.Write(buf)
		return err
	}
	return nil
}

// lineChecker checks that data is numbered lines continuing where the last
// chunk stopped: every line whole, present once, in order.
type lineChecker struct {
	next  int64 // number of the next expected line
	lines int64
}

// check consumes data, which must be whole numbered lines.
func (c *lineChecker) check(data []byte) error {
	for len(data) > 0 {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			return fmt.Errorf("line %d: no newline (a piece of a line: %.40q)", c.next, data)
		}
		line := data[:i]
		data = data[i+1:]
		sp := bytes.IndexByte(line, ' ')
		if sp < 0 {
			return fmt.Errorf("line %d: malformed %.60q", c.next, line)
		}
		num, ok := parseDigits(line[:sp])
		if !ok || num != c.next {
			return fmt.Errorf("want line %d, got %.60q", c.next, line)
		}
		if !bytes.Equal(line[sp+1:], pattern[:fillerLen(num)]) {
			return fmt.Errorf("line %d: wrong filler %.60q", num, line)
		}
		c.next++
		c.lines++
	}
	return nil
}

// startWriter starts the test binary as a child writing at least n bytes of
// numbered lines into a pipe, and returns the pipe's read end (an *os.File,
// as the runtime gives Copy) and a function that waits for the child.
func startWriter(t testing.TB, n int64) (*os.File, func() error) {
	t.Helper()
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "LOGROTATE_HELPER=lines", "LOGROTATE_BYTES="+strconv.FormatInt(n, 10))
	cmd.Stdout = pw
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	t.Cleanup(func() { pr.Close() })
	return pr, cmd.Wait
}

// parseDigits parses a non-negative decimal number without allocating.
func parseDigits(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 18 {
		return 0, false
	}
	var n int64
	for _, d := range b {
		if d < '0' || d > '9' {
			return 0, false
		}
		n = n*10 + int64(d-'0')
	}
	return n, true
}

func errorf(format string, args ...any) error { return fmt.Errorf(format, args...) }
