package logrotate

import (
	"errors"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strconv"

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

// ErrUnsafeLog is returned when a log path in a directory others can write
// to names something a supervisor must not write into: a symbolic link, a
// non-regular file, a file another user owns or one with several links.
var ErrUnsafeLog = errors.New("unsafe log file")

// openLog opens a log file at path with flag (O_TRUNC is applied only once
// the file is known to be ours). supervisord opens whatever the path names;
// roost is stricter, as the kernel's protected_symlinks, protected_fifos and
// protected_regular would be if they were on, and more:
//
//   - in a directory only root or we can write to (~/log, /dev for
//     /dev/stdout), the path is opened as it is: what is there was put there
//     by us or by root;
//   - anywhere else (/tmp, another user's directory) the last component is
//     opened with O_NOFOLLOW and must be a regular file of ours (our
//     effective uid) with one link.
func openLog(path string, flag int) (*os.File, error) {
	trunc := flag&os.O_TRUNC != 0
	flag &^= os.O_TRUNC
	euid := os.Geteuid()
	trusted := trustedDir(filepath.Dir(path), euid)
	if !trusted {
		flag |= unix.O_NOFOLLOW | unix.O_NONBLOCK // a FIFO must not block the open
	}
	f, err := os.OpenFile(path, flag, 0o666)
	if err != nil {
		if errors.Is(err, unix.ELOOP) {
			return nil, fmt.Errorf("%w: %s is a symbolic link in %s, a directory others can write to: "+
				"refusing to follow it (someone may have planted it; remove it, or log to a directory of your own)",
				ErrUnsafeLog, path, filepath.Dir(path))
		}
		if errors.Is(err, unix.ENXIO) && !trusted {
			return nil, fmt.Errorf("%w: %s is a FIFO or a device in %s, a directory others can write to: "+
				"refusing to write into it (remove it, or log to a directory of your own)", ErrUnsafeLog, path, filepath.Dir(path))
		}
		return nil, err
	}
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		f.Close()
		return nil, err
	}
	refuse := func(why string) (*os.File, error) {
		f.Close()
		return nil, fmt.Errorf("%w: %s %s: refusing to write into it (remove it, or log to a directory of your own)",
			ErrUnsafeLog, path, why)
	}
	regular := st.Mode&unix.S_IFMT == unix.S_IFREG
	switch {
	case !regular && !trusted:
		return refuse("is " + fileKind(st.Mode) + ", not a regular file, in " + filepath.Dir(path) + ", a directory others can write to")
	case regular && int(st.Uid) != euid && !trusted:
		return refuse("belongs to " + uidName(st.Uid) + ", not to you")
	case regular && st.Nlink > 1 && !trusted:
		return refuse(fmt.Sprintf("has %d hard links (another name may be someone else's file)", st.Nlink))
	}
	if !trusted {
		if err := unix.SetNonblock(int(f.Fd()), false); err != nil {
			f.Close()
			return nil, err
		}
	}
	if trunc && regular {
		if err := f.Truncate(0); err != nil {
			f.Close()
			return nil, err
		}
	}
	return f, nil
}

// trustedDir reports whether dir is a directory that only root and uid can
// write to: owned by one of them, without group or other write permission.
func trustedDir(dir string, uid int) bool {
	var st unix.Stat_t
	if unix.Stat(dir, &st) != nil || st.Mode&unix.S_IFMT != unix.S_IFDIR {
		return false
	}
	return (st.Uid == 0 || int(st.Uid) == uid) && st.Mode&0o022 == 0
}

// fileKind names a file type for a message.
func fileKind(mode uint32) string {
	switch mode & unix.S_IFMT {
	case unix.S_IFIFO:
		return "a FIFO"
	case unix.S_IFCHR:
		return "a character device"
	case unix.S_IFBLK:
		return "a block device"
	case unix.S_IFSOCK:
		return "a socket"
	case unix.S_IFDIR:
		return "a directory"
	case unix.S_IFLNK:
		return "a symbolic link"
	}
	return "not a regular file"
}

// uidName names a uid for a message: "uid 1001 (bob)".
func uidName(uid uint32) string {
	s := "uid " + strconv.FormatUint(uint64(uid), 10)
	if u, err := user.LookupId(strconv.FormatUint(uint64(uid), 10)); err == nil {
		s += " (" + u.Username + ")"
	}
	return s
}
