package master

import (
	"net"
	"strings"
	"testing"
)

func TestTailBuffer(t *testing.T) {
	tb := newTailBuffer(8)
	tb.Write([]byte("abc"))
	if got := string(tb.Bytes()); got != "abc" {
		t.Errorf("%q", got)
	}
	tb.Write([]byte("defghij"))
	if got := string(tb.Bytes()); got != "cdefghij" {
		t.Errorf("%q", got)
	}
	tb.Write([]byte(strings.Repeat("x", 20) + "12345678"))
	if got := string(tb.Bytes()); got != "12345678" {
		t.Errorf("%q", got)
	}
	tb.Reset()
	if len(tb.Bytes()) != 0 {
		t.Error("not reset")
	}
}

func TestTailBufferLastLines(t *testing.T) {
	tb := newTailBuffer(tailSize)
	tb.Write([]byte("one\n\ntwo\nthree \x1b[31mred\x1b[0m\n\n"))
	if got := tb.lastLines(2); got != "two | three ?[31mred?[0m" {
		t.Errorf("%q", got)
	}
	// A user cannot grow the master's memory by printing.
	tb.Write([]byte(strings.Repeat("y", 10*tailSize)))
	if n := len(tb.Bytes()); n != tailSize {
		t.Errorf("kept %d bytes", n)
	}
}

func TestSanitize(t *testing.T) {
	for in, want := range map[string]string{
		"plain":            "plain",
		"tab\there":        "tab\there",
		"nl\nand\rcr":      "nl?and?cr",
		"bad \xff utf8":    "bad ? utf8",
		"bidi \u202e evil": "bidi ? evil",
		"ünïcödé ok":       "ünïcödé ok",
	} {
		if got := sanitize(in, 100); got != want {
			t.Errorf("sanitize(%q) = %q, want %q", in, got, want)
		}
	}
	if got := sanitize(strings.Repeat("a", 50), 10); got != strings.Repeat("a", 10)+"…" {
		t.Errorf("cut: %q", got)
	}
}

func TestSDNotify(t *testing.T) {
	dir := t.TempDir()
	sock := dir + "/notify"
	ln, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	t.Setenv("NOTIFY_SOCKET", sock)
	if err := SDNotify("READY=1"); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	n, err := ln.Read(buf)
	if err != nil || string(buf[:n]) != "READY=1" {
		t.Errorf("got %q %v", buf[:n], err)
	}
	t.Setenv("NOTIFY_SOCKET", "")
	if err := SDNotify("READY=1"); err != nil {
		t.Errorf("without NOTIFY_SOCKET: %v", err)
	}
	t.Setenv("NOTIFY_SOCKET", "relative")
	if err := SDNotify("READY=1"); err == nil {
		t.Error("relative NOTIFY_SOCKET accepted")
	}
}
