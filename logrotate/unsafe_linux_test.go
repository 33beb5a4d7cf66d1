package logrotate

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// isOpen reports whether this process has path open.
func isOpen(t *testing.T, path string) bool {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if l, err := os.Readlink(filepath.Join("/proc/self/fd", e.Name())); err == nil && l == path {
			return true
		}
	}
	return false
}

func TestSinkHoldRelease(t *testing.T) {
	path := filepath.Join(t.TempDir(), "p.log")
	s, err := NewSink(path, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Hold(); err != nil {
		t.Fatal(err)
	}
	if err := s.Hold(); err != nil { // stdout and stderr copiers of one file
		t.Fatal(err)
	}
	s.Write([]byte("one\n"))
	s.Release()
	if !isOpen(t, path) {
		t.Fatal("closed while a Hold remains")
	}
	s.Release()
	if isOpen(t, path) {
		t.Fatal("still open after the last Release")
	}
	// Clear and Reopen leave an idle sink idle.
	if err := s.Reopen(); err != nil || isOpen(t, path) {
		t.Fatalf("Reopen of an idle sink: %v, open %v", err, isOpen(t, path))
	}
	// Follow shows an idle log's tail, and leaves it closed.
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	var out bytes.Buffer
	s.Follow(ctx, 100, &out)
	if out.String() != "one\n" || isOpen(t, path) {
		t.Errorf("Follow of an idle log wrote %q, open after: %v", out.String(), isOpen(t, path))
	}
	if err := s.Clear(); err != nil || isOpen(t, path) {
		t.Fatalf("Clear of an idle sink: %v, open %v", err, isOpen(t, path))
	}
	// A Write without a Hold opens it; CloseIdle closes it.
	s.Write([]byte("two\n"))
	if !isOpen(t, path) {
		t.Fatal("Write did not open the file")
	}
	s.CloseIdle()
	if isOpen(t, path) {
		t.Fatal("CloseIdle left it open")
	}
	if b, _ := os.ReadFile(path); string(b) != "two\n" {
		t.Errorf("file holds %q", b)
	}
}

// TestOpenLogRefusesPlanted covers openLog's rules in a sticky shared
// directory (the end-to-end test with real users is in cmd/roost).
func TestOpenLogRefusesPlanted(t *testing.T) {
	shared := t.TempDir()
	if err := os.Chmod(shared, 0o1777); err != nil {
		t.Fatal(err)
	}
	victim := filepath.Join(t.TempDir(), "victim")
	os.WriteFile(victim, []byte("v\n"), 0o644)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.Symlink(victim, filepath.Join(shared, "sym.log")))
	must(syscall.Mkfifo(filepath.Join(shared, "fifo.log"), 0o666))
	must(os.WriteFile(filepath.Join(shared, "other.log"), nil, 0o666))
	must(os.Chown(filepath.Join(shared, "other.log"), 54321, 54321))
	must(os.WriteFile(filepath.Join(shared, "mine.log"), nil, 0o644))
	must(os.Link(filepath.Join(shared, "mine.log"), filepath.Join(shared, "link.log")))
	for name, want := range map[string]string{
		"sym.log":   "is a symbolic link",
		"fifo.log":  "is a FIFO, not a regular file",
		"other.log": "belongs to uid 54321",
		"link.log":  "has 2 hard links",
	} {
		for _, flag := range []int{os.O_RDWR, os.O_WRONLY} {
			f, err := openLog(filepath.Join(shared, name), flag|os.O_APPEND|os.O_CREATE|os.O_TRUNC)
			if f != nil {
				f.Close()
			}
			if !errors.Is(err, ErrUnsafeLog) || (flag == os.O_RDWR && !strings.Contains(err.Error(), want)) {
				t.Errorf("openLog(%s, %#o): %v, want ErrUnsafeLog saying %q", name, flag, err, want)
			}
		}
	}
	if b, _ := os.ReadFile(victim); string(b) != "v\n" {
		t.Errorf("the symlink's target changed: %q", b)
	}
	f, err := openLog(filepath.Join(shared, "fresh.log"), os.O_RDWR|os.O_APPEND|os.O_CREATE)
	if err != nil {
		t.Fatalf("a fresh file in the shared directory: %v", err)
	}
	f.Close()

	// In a directory only we can write to, the path is opened as it is.
	own := t.TempDir()
	must(os.Symlink(victim, filepath.Join(own, "sym.log")))
	f, err = openLog(filepath.Join(own, "sym.log"), os.O_RDWR|os.O_APPEND|os.O_CREATE)
	if err != nil {
		t.Fatalf("our own symlink in our own directory: %v", err)
	}
	f.Close()
}
