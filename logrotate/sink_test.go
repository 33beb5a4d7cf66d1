package logrotate

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// files returns the contents of path and every path.N that exists, keyed
// "" for path and ".N" for the backups; missing names are absent.
func files(t *testing.T, path string) map[string]string {
	t.Helper()
	got := map[string]string{}
	matches, err := filepath.Glob(path + "*")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range matches {
		b, err := os.ReadFile(m)
		if err != nil {
			t.Fatal(err)
		}
		got[strings.TrimPrefix(m, path)] = string(b)
	}
	return got
}

func openSink(t *testing.T, maxBytes int64, backups int) (*Sink, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "app.log")
	s, err := OpenSink(path, maxBytes, backups)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, path
}

func write(t *testing.T, s *Sink, chunks ...string) {
	t.Helper()
	for _, c := range chunks {
		n, err := s.Write([]byte(c))
		if err != nil || n != len(c) {
			t.Fatalf("Write(%q) = %d, %v", c, n, err)
		}
	}
}

func wantFiles(t *testing.T, path string, want map[string]string) {
	t.Helper()
	if diff := cmp.Diff(want, files(t, path)); diff != "" {
		t.Errorf("files (-want +got):\n%s", diff)
	}
}

func TestSinkNeverRotatesWithMaxBytesZero(t *testing.T) {
	s, path := openSink(t, 0, 3)
	var all strings.Builder
	for i := range 2000 {
		line := fmt.Sprintf("line %d\n", i)
		all.WriteString(line)
		write(t, s, line)
	}
	wantFiles(t, path, map[string]string{"": all.String()})
	if got := s.Size(); got != int64(all.Len()) {
		t.Errorf("Size() = %d, want %d", got, all.Len())
	}
}

// Byte-level walk through supervisord's rotation with the line rule: limit
// 10 bytes, 2 backups.
func TestSinkRotationShiftsBackups(t *testing.T) {
	s, path := openSink(t, 10, 2)

	write(t, s, "aaaa\n") // 5
	wantFiles(t, path, map[string]string{"": "aaaa\n"})

	write(t, s, "bbbb\n") // 10 = maxBytes: rotates right after, like supervisord
	wantFiles(t, path, map[string]string{"": "", ".1": "aaaa\nbbbb\n"})

	write(t, s, "cc\n")      // 3
	write(t, s, "dddddd\n")  // 3+7 = 10: rotates
	write(t, s, "eeeeeee\n") // 8
	wantFiles(t, path, map[string]string{"": "eeeeeee\n", ".1": "cc\ndddddd\n", ".2": "aaaa\nbbbb\n"})

	// 8+3 > 10: the whole line starts a new file; the oldest backup goes.
	write(t, s, "ff\n")
	wantFiles(t, path, map[string]string{"": "ff\n", ".1": "eeeeeee\n", ".2": "cc\ndddddd\n"})
	if s.Size() != 3 {
		t.Errorf("Size() = %d, want 3", s.Size())
	}
}

func TestSinkSplitsOneWriteAtNewlines(t *testing.T) {
	s, path := openSink(t, 10, 5)
	// One write, many lines: cut at the last newline that fits each file.
	write(t, s, "1234\n5678\n9\nabcdefgh\nij\nkl\n")
	wantFiles(t, path, map[string]string{
		".3": "1234\n5678\n", // exactly 10: rotated
		".2": "9\n",          // 2+9 > 10
		".1": "abcdefgh\n",   // 9+3 > 10
		"":   "ij\nkl\n",
	})
}

func TestSinkLongLineGetsAFileOfItsOwn(t *testing.T) {
	s, path := openSink(t, 10, 5)
	write(t, s, "ab\n")
	long := strings.Repeat("x", 25) + "\n"
	write(t, s, long+"cd\n")
	wantFiles(t, path, map[string]string{
		".2": "ab\n", // rotated before the long line, under maxBytes
		".1": long,   // alone, over maxBytes, then rotated
		"":   "cd\n",
	})
	// A trailing partial line (Flush at exit) counts as a line.
	write(t, s, strings.Repeat("y", 12))
	wantFiles(t, path, map[string]string{
		".4": "ab\n", ".3": long, ".2": "cd\n", ".1": strings.Repeat("y", 12), "": "",
	})
}

func TestSinkBackupsZeroTruncatesInPlace(t *testing.T) {
	s, path := openSink(t, 10, 0)
	write(t, s, "aaaa\n")
	before, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	write(t, s, "bbbb\n") // reaches 10: truncated
	wantFiles(t, path, map[string]string{"": ""})
	write(t, s, "cccccc\n", "dd\n", "eeee\n")
	wantFiles(t, path, map[string]string{"": "eeee\n"})
	after, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if !os.SameFile(before, after) {
		t.Error("backups=0 replaced the file; supervisord truncates it in place")
	}
}

// An external logrotate moved the file and the sink is still writing to it;
// a backups=0 rotation must then truncate the path, not the moved file.
func TestSinkBackupsZeroLeavesMovedFileAlone(t *testing.T) {
	s, path := openSink(t, 10, 0)
	write(t, s, "aaaa\n")
	if err := os.Rename(path, path+"-moved"); err != nil {
		t.Fatal(err)
	}
	write(t, s, "bbbb\n") // into the moved file, which reaches 10
	write(t, s, "cc\n")
	wantFiles(t, path, map[string]string{"": "cc\n", "-moved": "aaaa\nbbbb\n"})
}

func TestSinkAppendsToExistingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "app.log")
	if err := os.WriteFile(path, []byte("old 1\nold 2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := OpenSink(path, 20, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.Size() != 12 {
		t.Errorf("Size() = %d, want the existing 12", s.Size())
	}
	write(t, s, "new 1\n") // 18
	wantFiles(t, path, map[string]string{"": "old 1\nold 2\nnew 1\n"})
	write(t, s, "new 2\n") // 24 > 20: rotate first
	wantFiles(t, path, map[string]string{".1": "old 1\nold 2\nnew 1\n", "": "new 2\n"})

	// A file already over the limit is rotated before the first write.
	s.Close()
	if err := os.WriteFile(path, []byte(strings.Repeat("z\n", 15)), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err = OpenSink(path, 20, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	write(t, s, "x\n")
	wantFiles(t, path, map[string]string{".1": strings.Repeat("z\n", 15), "": "x\n"})
}

func TestSinkNewFileMode(t *testing.T) {
	_, path := openSink(t, 0, 0)
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	want := fs.FileMode(0o666) &^ umask(t)
	if st.Mode().Perm() != want {
		t.Errorf("mode %v, want %v (0666 minus umask, as supervisord)", st.Mode().Perm(), want)
	}
}

// umask reads the process umask from /proc without changing it.
func umask(t *testing.T) fs.FileMode {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "Umask:"); ok {
			m, err := strconv.ParseUint(strings.TrimSpace(v), 8, 32)
			if err != nil {
				t.Fatal(err)
			}
			return fs.FileMode(m)
		}
	}
	t.Fatal("no Umask in /proc/self/status")
	return 0
}

func TestSinkReopenAfterExternalRename(t *testing.T) {
	s, path := openSink(t, 0, 0)
	write(t, s, "before\n")
	if err := os.Rename(path, path+"-2026"); err != nil { // logrotate's move
		t.Fatal(err)
	}
	write(t, s, "between\n") // still the moved file, as supervisord until USR2
	if err := s.Reopen(); err != nil {
		t.Fatal(err)
	}
	write(t, s, "after\n")
	wantFiles(t, path, map[string]string{"": "after\n", "-2026": "before\nbetween\n"})
	if s.Size() != 6 {
		t.Errorf("Size() = %d, want 6", s.Size())
	}
}

func TestSinkRotationSurvivesMissingFiles(t *testing.T) {
	s, path := openSink(t, 6, 3)
	write(t, s, "aaaaa\n", "bbbbb\n", "ccccc\n") // .3 .2 .1
	wantFiles(t, path, map[string]string{"": "", ".1": "ccccc\n", ".2": "bbbbb\n", ".3": "aaaaa\n"})
	// A cleanup script removes a middle backup and the live file.
	if err := os.Remove(path + ".2"); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	// Into the unlinked file; the rotation skips the missing .2 (keeping .3)
	// and the missing live file, as supervisord does.
	write(t, s, "ddddd\n")
	wantFiles(t, path, map[string]string{"": "", ".2": "ccccc\n", ".3": "aaaaa\n"})
	write(t, s, "eeeee\n")
	wantFiles(t, path, map[string]string{"": "", ".1": "eeeee\n", ".3": "ccccc\n"})
}

func TestSinkClearLikeSupervisord(t *testing.T) {
	s, path := openSink(t, 6, 2)
	write(t, s, "aaaaa\n", "bb\n")
	if err := s.Clear(); err != nil {
		t.Fatal(err)
	}
	// supervisord's clearProcessLogs removes and reopens the live file and
	// leaves the backups (dispatchers.py removelogs → FileHandler.remove).
	wantFiles(t, path, map[string]string{"": "", ".1": "aaaaa\n"})
	if s.Size() != 0 {
		t.Errorf("Size() = %d after Clear", s.Size())
	}
	write(t, s, "cc\n")
	wantFiles(t, path, map[string]string{"": "cc\n", ".1": "aaaaa\n"})
	// Clear works when the file is already gone.
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if err := s.Clear(); err != nil {
		t.Fatal(err)
	}
	wantFiles(t, path, map[string]string{"": "", ".1": "aaaaa\n"})
}

func TestSinkSetLimits(t *testing.T) {
	s, path := openSink(t, 0, 0)
	write(t, s, "aaaaa\n", "bbbbb\n")
	s.SetLimits(8, 1) // already over: the next line rotates first
	write(t, s, "cc\n")
	wantFiles(t, path, map[string]string{"": "cc\n", ".1": "aaaaa\nbbbbb\n"})
	s.SetLimits(8, 3)
	write(t, s, "dd\n", "eeeee\n") // 3+3 fits, +6 does not
	wantFiles(t, path, map[string]string{"": "eeeee\n", ".1": "cc\ndd\n", ".2": "aaaaa\nbbbbb\n"})
	s.SetLimits(0, 3)
	write(t, s, strings.Repeat("f", 20)+"\n")
	if got := files(t, path)[""]; got != "eeeee\n"+strings.Repeat("f", 20)+"\n" {
		t.Errorf("after SetLimits(0, 3): %q", got)
	}
}

func TestSinkClosed(t *testing.T) {
	s, _ := openSink(t, 0, 0)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := s.Write([]byte("x\n")); !errors.Is(err, ErrClosed) {
		t.Errorf("Write after Close: %v, want ErrClosed", err)
	}
	if err := s.Reopen(); !errors.Is(err, ErrClosed) {
		t.Errorf("Reopen after Close: %v, want ErrClosed", err)
	}
	if err := s.Clear(); !errors.Is(err, ErrClosed) {
		t.Errorf("Clear after Close: %v, want ErrClosed", err)
	}
}

func TestOpenSinkErrors(t *testing.T) {
	if _, err := OpenSink("", 0, 0); err == nil {
		t.Error("empty path: no error")
	}
	dir := t.TempDir()
	if _, err := OpenSink(filepath.Join(dir, "missing", "app.log"), 0, 0); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing directory: %v", err)
	}
	if _, err := OpenSink(dir, 0, 0); err == nil || !strings.Contains(err.Error(), dir) {
		t.Errorf("directory: %v, want an error naming it", err)
	}
}

// stdout and stderr of a redirect_stderr program write one sink from two
// goroutines: lines interleave whole, every file keeps the limit.
func TestSinkConcurrentWritersKeepLinesWhole(t *testing.T) {
	const maxBytes = 4096
	s, path := openSink(t, maxBytes, 100)
	var wg sync.WaitGroup
	for g := range 2 {
		wg.Go(func() {
			lw := NewLineWriter(s, 0)
			for i := range 3000 {
				fmt.Fprintf(lw, "g%d line %d %s\n", g, i, strings.Repeat("-", i%50))
			}
			lw.Flush()
		})
	}
	wg.Wait()
	next := [2]int{}
	for i := 100; i >= 0; i-- {
		name := path
		if i > 0 {
			name = fmt.Sprintf("%s.%d", path, i)
		}
		b, err := os.ReadFile(name)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if len(b) > maxBytes {
			t.Errorf("%s: %d bytes > %d", name, len(b), maxBytes)
		}
		if len(b) > 0 && b[len(b)-1] != '\n' {
			t.Errorf("%s ends mid-line", name)
		}
		for _, l := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
			if l == "" {
				continue
			}
			f := strings.SplitN(l, " ", 4) // g0 line N ----
			if len(f) != 4 || (f[0] != "g0" && f[0] != "g1") || f[1] != "line" {
				t.Fatalf("%s: bad line %q", name, l)
			}
			g := int(f[0][1] - '0')
			n, err := strconv.Atoi(f[2])
			if err != nil || n != next[g] || f[3] != strings.Repeat("-", n%50) {
				t.Fatalf("%s: line %q, want g%d line %d", name, l, g, next[g])
			}
			next[g]++
		}
	}
	if next != [2]int{3000, 3000} {
		t.Errorf("lines seen %v, want 3000 each", next)
	}
}

func TestSinkWritesSpecialFilesWithoutRotating(t *testing.T) {
	s, path := openSink(t, 10, 2)
	s.Close()
	os.Remove(path)
	mkfifo(t, path)
	s, err := OpenSink(path, 10, 2) // O_RDWR: does not wait for a reader
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	write(t, s, "0123456789\n", "abcdefghij\n")
	st, err := os.Lstat(path)
	if err != nil || st.Mode()&fs.ModeNamedPipe == 0 {
		t.Fatalf("the FIFO was replaced: %v %v", st, err)
	}
	if _, err := os.Stat(path + ".1"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a FIFO was rotated: %v", err)
	}
	r, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	buf := make([]byte, 64)
	n, _ := r.Read(buf)
	if got := string(buf[:n]); got != "0123456789\nabcdefghij\n" {
		t.Errorf("FIFO got %q", got)
	}
	if err := s.Clear(); err != nil {
		t.Errorf("Clear on a FIFO: %v", err)
	}
	if _, err := os.Lstat(path); err != nil {
		t.Errorf("Clear removed the FIFO: %v", err)
	}
}

func TestSinkWritePartialLineThenMore(t *testing.T) {
	// Whatever bytes arrive are kept in order even when the writer does not
	// respect lines (a slog handler always does; this is the safety net).
	s, path := openSink(t, 8, 3)
	write(t, s, "abc", "def", "gh\n", "ijklmnopq", "\n")
	got := files(t, path)
	var all bytes.Buffer
	for i := 3; i >= 1; i-- {
		all.WriteString(got["."+strconv.Itoa(i)])
	}
	all.WriteString(got[""])
	if all.String() != "abcdefgh\nijklmnopq\n" {
		t.Errorf("bytes out of order: %q (%v)", all.String(), got)
	}
}

// When the renames of a rotation fail (here path.1 is a non-empty
// directory, which even root cannot replace), the sink writes on into the
// same file instead of losing lines or looping.
func TestSinkWritesOnWhenRotationFails(t *testing.T) {
	s, path := openSink(t, 10, 1)
	if err := os.MkdirAll(filepath.Join(path+".1", "x"), 0o755); err != nil {
		t.Fatal(err)
	}
	write(t, s, "aaaaaaaa\n", "bbbbbbbb\n", "cccccccc\n")
	if got, _ := os.ReadFile(path); string(got) != "aaaaaaaa\nbbbbbbbb\ncccccccc\n" {
		t.Errorf("live file %q", got)
	}
	os.RemoveAll(path + ".1") // fixed: rotation works again
	write(t, s, "dd\n")
	wantFiles(t, path, map[string]string{"": "dd\n", ".1": "aaaaaaaa\nbbbbbbbb\ncccccccc\n"})
}
