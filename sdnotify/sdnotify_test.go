package sdnotify

import (
	"os"
	"path/filepath"
	"testing"
)

// TestListenRecv: a message arrives with the sender's pid and uid as the
// kernel tells them, and its assignments parsed; the socket is 0600 and
// gone after Close.
func TestListenRecv(t *testing.T) {
	path := filepath.Join(t.TempDir(), "notify.sock")
	s, err := Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(path); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("socket mode: %v %v", st.Mode(), err)
	}
	if err := Send(path, "READY=1\nSTATUS=up 3\nWATCHDOG=1\nMAINPID=1\nnonsense"); err != nil {
		t.Fatal(err)
	}
	m, err := s.Recv()
	if err != nil {
		t.Fatal(err)
	}
	want := Message{PID: os.Getpid(), UID: os.Getuid(), Ready: true, Watchdog: "1", Status: "up 3"}
	if m != want {
		t.Errorf("got %+v, want %+v", m, want)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("socket left after Close: %v", err)
	}
	if _, err := s.Recv(); err == nil {
		t.Error("Recv after Close")
	}
	if err := Send("relative", "READY=1"); err == nil {
		t.Error("a relative NOTIFY_SOCKET accepted")
	}
}
