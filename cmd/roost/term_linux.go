package main

import (
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// isTerminal reports whether w (or the writer a termsafe.Writer writes to)
// is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := rawWriter(w).(*os.File)
	if !ok {
		return false
	}
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// rawWriter returns the writer under a termsafe.Writer (w itself when it is
// not one), for output that carries our own escape sequences.
func rawWriter(w io.Writer) io.Writer {
	if r, ok := w.(interface{ Raw() io.Writer }); ok {
		return r.Raw()
	}
	return w
}

// termSize returns the rows and columns of the terminal w writes to; ok is
// false when w is not a terminal.
func termSize(w io.Writer) (rows, cols int, ok bool) {
	f, isFile := rawWriter(w).(*os.File)
	if !isFile {
		return 0, 0, false
	}
	ws, err := unix.IoctlGetWinsize(int(f.Fd()), unix.TIOCGWINSZ)
	if err != nil || ws.Col == 0 {
		return 0, 0, false
	}
	return int(ws.Row), int(ws.Col), true
}

// keysMode turns off line buffering and echo on the terminal f, so single
// key presses can be read (Ctrl-C still sends SIGINT), and returns the
// function that puts the terminal back.
func keysMode(f *os.File) (restore func(), err error) {
	fd := int(f.Fd())
	old, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return nil, err
	}
	t := *old
	t.Lflag &^= unix.ICANON | unix.ECHO
	t.Cc[unix.VMIN], t.Cc[unix.VTIME] = 1, 0
	if err := unix.IoctlSetTermios(fd, unix.TCSETS, &t); err != nil {
		return nil, err
	}
	return func() { _ = unix.IoctlSetTermios(fd, unix.TCSETS, old) }, nil
}
