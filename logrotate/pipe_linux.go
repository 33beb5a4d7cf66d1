package logrotate

import (
	"io"
	"syscall"

	"golang.org/x/sys/unix"
)

// pending returns how many bytes r (a pipe) holds unread (FIONREAD, which
// Linux names TIOCINQ), or -1 when it
// cannot tell.
func pending(r io.Reader) int {
	sc, ok := r.(syscall.Conn)
	if !ok {
		return -1
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return -1
	}
	n := -1
	if err := rc.Control(func(fd uintptr) {
		if v, err := unix.IoctlGetInt(int(fd), unix.TIOCINQ); err == nil {
			n = v
		}
	}); err != nil {
		return -1
	}
	return n
}
