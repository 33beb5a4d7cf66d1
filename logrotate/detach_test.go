package logrotate

import (
	"errors"
	"io"
	"os"
	"testing"
	"time"
)

// TestDetachHandsOverAtALineBoundary: Detach stops a Copy mid-line without
// writing the partial line or reading more; a second line writer seeded
// with Partial and copying the same pipe goes on, and the destination sees
// every line whole, once.
func TestDetachHandsOverAtALineBoundary(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	first := &recorder{}
	lw := NewLineWriter(first, 0)
	done := make(chan error, 1)
	go func() { done <- Copy(lw, r) }()
	io.WriteString(w, "one\ntw")
	deadline := time.Now().Add(10 * time.Second)
	for first.all() != "one\n" {
		if time.Now().After(deadline) {
			t.Fatalf("first writer has %q", first.all())
		}
		time.Sleep(5 * time.Millisecond)
	}
	ch := lw.Detach(r)
	if ch == nil {
		t.Fatal("Detach: nil channel while Copy runs")
	}
	<-ch
	io.WriteString(w, "o\nthree\n") // stays in the pipe
	if err := <-done; !errors.Is(err, ErrDetached) {
		t.Fatalf("Copy returned %v, want ErrDetached", err)
	}
	if !lw.Detached() || string(lw.Partial()) != "tw" || first.all() != "one\n" {
		t.Fatalf("detached %v, partial %q, written %q", lw.Detached(), lw.Partial(), first.all())
	}

	// The next image's side (its descriptor has no deadline).
	r.SetReadDeadline(time.Time{})
	second := &recorder{}
	next := NewLineWriter(second, 0)
	next.Write(lw.Partial())
	go func() { done <- Copy(next, r) }()
	w.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	r.Close()
	if got := first.all() + second.all(); got != "one\ntwo\nthree\n" {
		t.Errorf("lines %q, want one, two, three whole", got)
	}
}

// TestDetachThenResume: a Detach whose handover does not happen is undone
// by Resume and a new Copy of the same writer and pipe; nothing is lost.
func TestDetachThenResume(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	lw := NewLineWriter(rec, 0)
	done := make(chan error, 1)
	go func() { done <- Copy(lw, r) }()
	io.WriteString(w, "a\nb")
	<-lw.Detach(r)
	if err := <-done; !errors.Is(err, ErrDetached) {
		t.Fatalf("Copy returned %v", err)
	}
	lw.Resume(r)
	go func() { done <- Copy(lw, r) }()
	io.WriteString(w, "c\n")
	w.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	r.Close()
	if got := rec.all(); got != "a\nbc\n" {
		t.Errorf("got %q", got)
	}
	if lw.Detach(r) != nil {
		t.Error("Detach after the Copy ended: want nil")
	}
}
