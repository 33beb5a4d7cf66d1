package logrotate

import (
	"io"
	"sync/atomic"
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

// A pipe whose reads keep coming back full (a program writing faster than
// one 64 KiB pipe lets the copier keep up with without parking on every
// read, busyReads full reads in a row) is enlarged to busyPipeSize: a 1 MiB pipe cut the supervisor's CPU
// per GiB logged by about a quarter here (bench/FINDINGS.md). It is best
// effort and bounded: an unprivileged user's pipes share a soft limit
// (/proc/sys/fs/pipe-user-pages-soft, 64 MiB by default) above which the
// kernel refuses to grow them and gives every new pipe of that user a
// single page, so at most maxGrownPipes pipes of this process are grown at
// once, a quarter of that limit.
const (
	busyPipeSize  = 1 << 20
	maxGrownPipes = 16
	busyReads     = 4 // full reads in a row that make a pipe busy
)

// grownPipes counts this process's enlarged pipes still being read.
var grownPipes atomic.Int32

// growPipe tries to enlarge the pipe r to busyPipeSize and reports whether
// it did; the caller calls releasePipe when it stops reading a grown pipe.
// Any failure (not a pipe, over the limit) leaves the pipe as it was.
func growPipe(r io.Reader) bool {
	sc, ok := r.(syscall.Conn)
	if !ok {
		return false
	}
	if grownPipes.Add(1) > maxGrownPipes {
		grownPipes.Add(-1)
		return false
	}
	rc, err := sc.SyscallConn()
	grown := false
	if err == nil {
		_ = rc.Control(func(fd uintptr) {
			_, err := unix.FcntlInt(fd, unix.F_SETPIPE_SZ, busyPipeSize)
			grown = err == nil
		})
	}
	if !grown {
		grownPipes.Add(-1)
	}
	return grown
}

// releasePipe gives back the place of a pipe growPipe enlarged.
func releasePipe() { grownPipes.Add(-1) }
