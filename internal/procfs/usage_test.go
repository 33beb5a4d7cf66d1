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
