package procfs

import (
	"os"
	"syscall"
	"testing"
)

func TestReadUsage(t *testing.T) {
	for i := 0; i < 5_000_000; i++ { // some CPU time to see
		_ = i * i
	}
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
