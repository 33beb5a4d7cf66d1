package logrotate

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// dupFile returns a new descriptor (close-on-exec) for f's open file, so a
// follower can read the file it registered on even after the sink rotated,
// cleared or reopened it.
func dupFile(f *os.File) (*os.File, error) {
	rc, err := f.SyscallConn()
	if err != nil {
		return nil, fmt.Errorf("dup log fd: %w", err)
	}
	var nfd int
	var dupErr error
	if err := rc.Control(func(fd uintptr) {
		nfd, dupErr = unix.FcntlInt(fd, unix.F_DUPFD_CLOEXEC, 0)
	}); err != nil {
		return nil, fmt.Errorf("dup log fd: %w", err)
	}
	if dupErr != nil {
		return nil, fmt.Errorf("dup log fd: %w", dupErr)
	}
	return os.NewFile(uintptr(nfd), f.Name()), nil
}

// shiftBackups is supervisord's shift: for i = n-1 … 1, if path.i exists it
// replaces path.i+1, then path replaces path.1 (backups[i] is path.i+1). A
// missing source is skipped, as supervisord skips it. Each destination is
// unlinked before the rename, as supervisord's removeAndRename does: ext4
// (auto_da_alloc) writes a file back at once when it is renamed over another
// one, which cost a third of the capture throughput at 50 MB rotations here.
// It goes on after a failure and returns the first one.
func shiftBackups(path string, backups []string) error {
	var (
		first error
		st    unix.Stat_t
	)
	note := func(op, name string, err error) {
		if err != nil && !errors.Is(err, unix.ENOENT) && first == nil {
			first = &os.PathError{Op: op, Path: name, Err: err}
		}
	}
	for i := len(backups) - 1; i >= 0; i-- {
		src := path
		if i > 0 {
			src = backups[i-1]
		}
		if err := unix.Lstat(src, &st); err != nil {
			note("lstat", src, err)
			continue
		}
		note("unlink", backups[i], unix.Unlink(backups[i]))
		note("rename", src, unix.Rename(src, backups[i]))
	}
	return first
}
