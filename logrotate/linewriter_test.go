package logrotate

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
)

// recorder keeps every Write its LineWriter makes, separately.
type recorder struct {
	mu     sync.Mutex
	writes []string
	signal chan string // if set, gets every write
}

func (r *recorder) Write(p []byte) (int, error) {
	r.mu.Lock()
	r.writes = append(r.writes, string(p))
	r.mu.Unlock()
	if r.signal != nil {
		r.signal <- string(p)
	}
	return len(p), nil
}

func (r *recorder) all() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return strings.Join(r.writes, "")
}

func cutMarker(max int) string { return fmt.Sprintf("…[roost: line cut at %d bytes]\n", max) }

func TestLineWriterHoldsPartialLines(t *testing.T) {
	var rec recorder
	w := NewLineWriter(&rec, 0)
	steps := []struct{ in, want string }{
		{"abc", ""},
		{"def\nghi", "abcdef\n"},
		{"\n", "ghi\n"},
		{"one\ntwo\nthr", "one\ntwo\n"},
		{"ee\n", "three\n"},
		{"", ""},
		{"tail", ""},
	}
	for _, s := range steps {
		rec.writes = nil
		if n, err := w.Write([]byte(s.in)); n != len(s.in) || err != nil {
			t.Fatalf("Write(%q) = %d, %v", s.in, n, err)
		}
		if got := rec.all(); got != s.want {
			t.Errorf("after Write(%q): wrote %q, want %q", s.in, got, s.want)
		}
		if len(rec.writes) > 1 {
			t.Errorf("Write(%q) made %d writes, want at most 1", s.in, len(rec.writes))
		}
	}
	rec.writes = nil
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if got := rec.all(); got != "tail" {
		t.Errorf("Flush wrote %q, want the partial line as is", got)
	}
	rec.writes = nil
	if err := w.Flush(); err != nil || len(rec.writes) != 0 {
		t.Errorf("second Flush: %v, %q", err, rec.writes)
	}
}

func TestLineWriterCutsLongLines(t *testing.T) {
	var rec recorder
	w := NewLineWriter(&rec, 8)
	m := cutMarker(8)
	// Exactly 8 bytes is not cut; 9 is; a 20-byte line is cut twice.
	io.WriteString(w, "12345678\n123456789\n")
	io.WriteString(w, strings.Repeat("x", 20)+"\nend\n")
	want := "12345678\n" + "12345678" + m + "9\n" + "xxxxxxxx" + m + "xxxxxxxx" + m + "xxxx\n" + "end\n"
	if got := rec.all(); got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
	// A long partial line is cut before its newline arrives: the writer
	// never holds more than maxLine bytes of it.
	rec.writes = nil
	io.WriteString(w, "abcdefghijk")
	if got := rec.all(); got != "abcdefgh"+m {
		t.Errorf("partial long line: got %q", got)
	}
	io.WriteString(w, "\n")
	if got := rec.all(); got != "abcdefgh"+m+"ijk\n" {
		t.Errorf("after newline: got %q", got)
	}
}

func TestLineWriterCutKeepsUTF8Whole(t *testing.T) {
	var rec recorder
	w := NewLineWriter(&rec, 8)
	// "aaaaaa€b": € is 3 bytes at offsets 6..8; a cut at 8 would split it.
	io.WriteString(w, "aaaaaa€bbbbbbbb\n")
	m := cutMarker(8)
	want := "aaaaaa" + m + "€bbbbb" + m + "bbb\n"
	if got := rec.all(); got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
	for _, l := range strings.Split(rec.all(), "\n") {
		if !utf8.ValidString(l) {
			t.Errorf("invalid UTF-8 piece %q", l)
		}
	}
}

func TestLineWriterHugeWrite(t *testing.T) {
	var rec recorder
	w := NewLineWriter(&rec, 0)
	var in bytes.Buffer
	for i := range 200000 {
		fmt.Fprintf(&in, "line %d %s\n", i, strings.Repeat("=", i%97))
	}
	in.WriteString("no newline yet")
	w.Write(in.Bytes())
	if got, want := rec.all(), strings.TrimSuffix(in.String(), "no newline yet"); got != want {
		t.Errorf("huge write: %d bytes out, want %d", len(got), len(want))
	}
	for i, wr := range rec.writes {
		if !strings.HasSuffix(wr, "\n") {
			t.Fatalf("write %d does not end a line", i)
		}
	}
	if limit := readSize + DefaultMaxLine + len(w.marker); cap(w.buf) > limit {
		t.Errorf("buffer grew to %d, beyond its bound %d", cap(w.buf), limit)
	}
	// ~10 MB went through a buffer of ~320 KB: about one write per fill.
	if max := in.Len()/readSize + 2; len(rec.writes) > max {
		t.Errorf("%d writes for %d bytes, want at most %d", len(rec.writes), in.Len(), max)
	}
	w.Flush()
	if rec.all() != in.String() {
		t.Error("Flush lost the tail")
	}
}

func TestLineWriterManyTinyWrites(t *testing.T) {
	var rec recorder
	w := NewLineWriter(&rec, 16)
	var in bytes.Buffer
	for i := range 3000 {
		fmt.Fprintf(&in, "%d%s\n", i, strings.Repeat("x", i%40))
	}
	for _, b := range in.Bytes() {
		w.Write([]byte{b})
	}
	w.Flush()
	want := model(in.Bytes(), 16)
	if got := rec.all(); got != string(want) {
		t.Errorf("byte-at-a-time output differs from the model")
	}
	for i, wr := range rec.writes {
		if !strings.HasSuffix(wr, "\n") {
			t.Fatalf("write %d = %q does not end a line", i, wr)
		}
		if n := strings.Count(wr, "\n"); n != 1 {
			t.Fatalf("write %d holds %d lines; byte-at-a-time input completes one at a time", i, n)
		}
	}
}

// failing is a destination that always fails.
type failing struct{ writes int }

func (f *failing) Write(p []byte) (int, error) { f.writes++; return 0, errors.New("disk full") }

func TestCopyDrainsPipeWhenTheSinkFails(t *testing.T) {
	r, wait := startWriter(t, 4<<20)
	var dst failing
	err := Copy(NewLineWriter(&dst, 0), r)
	if err == nil || !strings.Contains(err.Error(), "disk full") || !strings.Contains(err.Error(), "bytes lost") {
		t.Errorf("Copy = %v, want the sink's error and the loss", err)
	}
	// The writer finished: Copy kept reading, the child never blocked.
	if err := wait(); err != nil {
		t.Errorf("writer: %v", err)
	}
	if dst.writes == 0 {
		t.Error("Copy never tried to write")
	}
}

// Flush from another goroutine while Copy waits on the pipe (the process
// exited, a grandchild holds the pipe): the partial line comes out once, and
// what follows is not lost. Run under -race.
func TestFlushDuringCopy(t *testing.T) {
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	rec := recorder{signal: make(chan string, 10)}
	w := NewLineWriter(&rec, 0)
	done := make(chan error, 1)
	go func() { done <- Copy(w, pr) }()

	pw.Write([]byte("whole\npartial"))
	if got := <-rec.signal; got != "whole\n" {
		t.Fatalf("first write %q", got)
	}
	// Copy has processed the read (the write above happens inside it) and
	// holds "partial"; it is back in Read or about to be.
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if got := <-rec.signal; got != "partial" {
		t.Fatalf("Flush wrote %q", got)
	}
	pw.Write([]byte(" more\nnext\n"))
	pw.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got, want := rec.all(), "whole\npartial more\nnext\n"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

// model is the reference LineWriter: whole input at once, line by line.
func model(in []byte, max int) []byte {
	marker := []byte(cutMarker(max))
	var out []byte
	for len(in) > 0 {
		line, rest, nl := bytes.Cut(in, []byte{'\n'})
		in = rest
		for len(line) > max {
			c := max
			for i := 0; i < utf8.UTFMax && max-i > 0; i++ {
				if utf8.RuneStart(line[max-i]) {
					c = max - i
					break
				}
			}
			out = append(out, line[:c]...)
			out = append(out, marker...)
			line = line[c:]
		}
		out = append(out, line...)
		if nl {
			out = append(out, '\n')
		}
	}
	return out
}

// FuzzLineWriter feeds arbitrary input in arbitrary chunks with an arbitrary
// (small) line limit: the output must be the model's, every write but a
// Flush must end a line, and no write may hold a line over the limit.
func FuzzLineWriter(f *testing.F) {
	f.Add([]byte("a\nbb\nccc"), []byte{1, 2, 3}, uint8(2))
	f.Add([]byte("héllo wörld\n€€€€\n"), []byte{5}, uint8(4))
	f.Add(bytes.Repeat([]byte("x"), 300), []byte{7, 200}, uint8(16))
	f.Add([]byte("\n\n\n\xff\xfe\x80\x80\x80\x80\n"), []byte{0, 1}, uint8(1))
	f.Fuzz(func(t *testing.T, in, chunks []byte, maxLine uint8) {
		max := int(maxLine%64) + 1
		var rec recorder
		w := NewLineWriter(&rec, max)
		rest := in
		for i := 0; len(rest) > 0; i++ {
			n := len(rest)
			if len(chunks) > 0 {
				n = min(int(chunks[i%len(chunks)])+1, len(rest))
			}
			if k, err := w.Write(rest[:n]); k != n || err != nil {
				t.Fatalf("Write = %d, %v", k, err)
			}
			rest = rest[n:]
		}
		marker := cutMarker(max)
		for i, wr := range rec.writes {
			if !strings.HasSuffix(wr, "\n") {
				t.Fatalf("write %d = %q does not end a line", i, wr)
			}
			for _, l := range strings.SplitAfter(wr, "\n") {
				if l = strings.TrimSuffix(strings.TrimSuffix(l, "\n"), strings.TrimSuffix(marker, "\n")); len(l) > max {
					t.Fatalf("write %d holds a %d-byte line, limit %d", i, len(l), max)
				}
			}
		}
		w.Flush()
		if diff := cmp.Diff(string(model(in, max)), rec.all()); diff != "" {
			t.Fatalf("output differs from the model (-want +got):\n%s", diff)
		}
	})
}

// TestLineWriterStartsSmall: an idle program's streams hold a small buffer;
// it grows only as output arrives, never past readSize+maxLine, and a line
// longer than the starting buffer still comes out whole.
func TestLineWriterStartsSmall(t *testing.T) {
	var rec recorder
	w := NewLineWriter(&rec, 0)
	if cap(w.buf) > initialSize+len(w.marker) {
		t.Fatalf("a new LineWriter holds %d bytes, want at most %d", cap(w.buf), initialSize+len(w.marker))
	}
	long := strings.Repeat("x", 10000) + "\n"
	for _, b := range []byte(long) {
		w.Write([]byte{b})
	}
	if got := rec.all(); got != long {
		t.Fatalf("byte-at-a-time long line: got %d bytes, want %d", len(got), len(long))
	}
	r, pw := io.Pipe()
	done := make(chan error, 1)
	go func() { done <- Copy(w, r) }()
	big := strings.Repeat("0123456789abcdef\n", 1<<14)
	pw.Write([]byte(big))
	pw.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := rec.all(); got != long+big {
		t.Fatalf("Copy lost bytes: %d, want %d", len(got), len(long+big))
	}
	if limit := readSize + DefaultMaxLine + len(w.marker); cap(w.buf) > limit {
		t.Errorf("buffer grew to %d, beyond %d", cap(w.buf), limit)
	}
}

// TestDrainAndFlushNeverSplitsALine: when a program exits, the rest of its
// last line may still be in the pipe while the LineWriter holds the first
// part (a read ended mid-line). DrainAndFlush must read the pipe empty before
// it flushes, so the line comes out whole; a plain Flush at that moment
// would write it in two pieces. The unterminated tail is flushed as it is.
func TestDrainAndFlushNeverSplitsALine(t *testing.T) {
	for range 50 {
		pr, pw, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		var rec recorder
		w := NewLineWriter(&rec, 0)
		line := strings.Repeat("x", 3000) + "\n" // longer than the first read's room
		tail := "exit without newline"
		if _, err := pw.WriteString(line + tail); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- Copy(w, pr) }()
		// The program has "exited": its output is all in the pipe, and
		// the copier may have read any part of it.
		select {
		case <-w.DrainAndFlush(pr):
		case <-time.After(10 * time.Second):
			t.Fatal("DrainAndFlush never finished")
		}
		rec.mu.Lock()
		writes := append([]string(nil), rec.writes...)
		rec.mu.Unlock()
		if strings.Join(writes, "") != line+tail {
			t.Fatalf("after drain: %q..., want the line and the tail", strings.Join(writes, "")[:40])
		}
		for _, wr := range writes[:len(writes)-1] {
			if !strings.HasSuffix(wr, "\n") {
				t.Fatalf("a write ends mid-line: %d bytes %q...", len(wr), wr[:20])
			}
		}
		// A grandchild that keeps the pipe writes on; Copy keeps reading.
		pw.WriteString("later\n")
		pw.Close()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if got := rec.all(); got != line+tail+"later\n" {
			t.Fatalf("after EOF: %d bytes, want %d", len(got), len(line+tail+"later\n"))
		}
		pr.Close()
	}
}

// TestDrainAndFlushAfterCopyEnded returns at once.
func TestDrainAndFlushAfterCopyEnded(t *testing.T) {
	var rec recorder
	w := NewLineWriter(&rec, 0)
	if err := Copy(w, strings.NewReader("a\nb")); err != nil {
		t.Fatal(err)
	}
	select {
	case <-w.DrainAndFlush(strings.NewReader("")):
	case <-time.After(5 * time.Second):
		t.Fatal("DrainAndFlush blocked after Copy ended")
	}
	if rec.all() != "a\nb" {
		t.Fatalf("got %q", rec.all())
	}
}
