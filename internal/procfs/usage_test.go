package procfs

import (
	"os"
	"syscall"
	"testing"
)

func TestReadUsage(t *testing.T) {
	u, err := ReadUsage(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if u.PGID != syscall.Getpgrp() || u.Threads < 1 || u.RSSPages <= 0 {
		t.Errorf("ReadUsage(self) = %+v, pgid want %d", u, syscall.Getpgrp())
	}
	if _, err := ReadUsage(-1); err == nil {
		t.Error("ReadUsage(-1): no error")
	}
}

func TestPeakRSS(t *testing.T) {
	u, err := ReadUsage(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	peak, err := PeakRSS(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	// The peak is never below what is resident now (in pages, read first).
	if peak < u.RSSPages*int64(os.Getpagesize())/2 || peak <= 0 {
		t.Errorf("PeakRSS(self) = %d, RSS %d pages", peak, u.RSSPages)
	}
	if _, err := PeakRSS(-1); err == nil {
		t.Error("PeakRSS(-1): no error")
	}
}
