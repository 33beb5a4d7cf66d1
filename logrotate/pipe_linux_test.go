package logrotate

import (
	"bytes"
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

func pipeSize(t *testing.T, f *os.File) int {
	t.Helper()
	n, err := unix.FcntlInt(f.Fd(), unix.F_GETPIPE_SZ, 0)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestGrowPipeIsBoundedAndBestEffort(t *testing.T) {
	if growPipe(bytes.NewReader(nil)) {
		t.Fatal("growPipe grew a reader that is no pipe")
	}
	var rs []*os.File
	for i := 0; i < maxGrownPipes+1; i++ {
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		defer w.Close()
		rs = append(rs, r)
	}
	before := pipeSize(t, rs[0])
	for i, r := range rs[:maxGrownPipes] {
		if !growPipe(r) {
			t.Fatalf("pipe %d not grown", i)
		}
		if got := pipeSize(t, r); got != busyPipeSize {
			t.Fatalf("pipe %d: size %d after growPipe, want %d", i, got, busyPipeSize)
		}
	}
	last := rs[maxGrownPipes]
	if growPipe(last) {
		t.Fatalf("pipe %d grown beyond the bound of %d", maxGrownPipes, maxGrownPipes)
	}
	if got := pipeSize(t, last); got != before {
		t.Fatalf("a refused pipe changed size: %d, want %d", got, before)
	}
	releasePipe()
	if !growPipe(last) {
		t.Fatal("a released place was not reused")
	}
	for range maxGrownPipes {
		releasePipe()
	}
	if n := grownPipes.Load(); n != 0 {
		t.Fatalf("grownPipes = %d after releasing all", n)
	}
}

// A writer that keeps its pipe full gets it enlarged while Copy reads it,
// and gives the place back at EOF; every byte arrives.
func TestCopyGrowsABusyPipe(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	before := pipeSize(t, r)
	var out bytes.Buffer
	lw := NewLineWriter(&out, 64<<10)
	line := append(bytes.Repeat([]byte("x"), 99), '\n')
	chunk := bytes.Repeat(line, 1<<10) // 100 KiB a write: more than a default pipe holds
	const writes = 64
	done := make(chan error, 1)
	go func() {
		for range writes {
			if _, err := w.Write(chunk); err != nil {
				done <- err
				return
			}
		}
		done <- w.Close()
	}()
	if err := Copy(lw, r); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if out.Len() != writes*len(chunk) {
		t.Fatalf("copied %d bytes, want %d", out.Len(), writes*len(chunk))
	}
	if got := pipeSize(t, r); got != busyPipeSize {
		t.Errorf("pipe size %d after a busy copy, want %d (it was %d)", got, busyPipeSize, before)
	}
	if n := grownPipes.Load(); n != 0 {
		t.Fatalf("grownPipes = %d after EOF, want 0", n)
	}
}
