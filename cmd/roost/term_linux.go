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
