package master

import (
	"fmt"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// Unix socket upstreams. A user's [proxy:NAME] socket = FILE names a socket
// in {run_dir}/sockets/USER, a directory the master creates and gives to
// the user (mode 0711: nginx's workers reach a socket there by name, nobody
// lists it) inside {run_dir}/sockets, which only root can change, so the
// user cannot swap the directory itself. nginx connects as its worker user
// and follows symlinks, so before routing to a socket, and again every
// second while the route exists, the master checks what is there, without
// following anything: every directory from / down is a real directory (no
// symlink anywhere on the path), the ones above the user's own are root's
// and writable by nobody else, the user's directory is the user's, and the
// socket is a real socket (lstat) owned by the user, or nothing yet (its
// program is not running: nginx answers 502, as for a TCP port nobody
// holds). A symlink to another user's private socket, a FIFO or a file
// someone else made is refused.

// socketsDirName is the directory in run_dir holding each user's socket
// directory.
const socketsDirName = "sockets"

// checkUnixUpstream checks the socket at path for the user uid whose
// socket directory is userDir (see above).
func checkUnixUpstream(path, userDir string, uid int) error {
	if filepath.Clean(path) != path || filepath.Dir(path) != userDir || !filepath.IsAbs(path) {
		return fmt.Errorf("not a socket of your socket directory %s", userDir)
	}
	fd, err := unix.Open("/", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	parts := strings.Split(strings.TrimPrefix(path, "/"), "/")
	for i, name := range parts {
		var st unix.Stat_t
		if err := unix.Fstatat(fd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			unix.Close(fd)
			if i == len(parts)-1 && err == unix.ENOENT {
				return nil // nothing listens, as on a TCP port nobody holds: nginx answers 502
			}
			return fmt.Errorf("%s: %w", "/"+strings.Join(parts[:i+1], "/"), err)
		}
		at := "/" + strings.Join(parts[:i+1], "/")
		last, own := i == len(parts)-1, i == len(parts)-2
		typ := st.Mode & unix.S_IFMT
		switch {
		case typ == unix.S_IFLNK:
			unix.Close(fd)
			return fmt.Errorf("%s is a symlink: nginx would follow it; bind the socket itself there", at)
		case last && typ != unix.S_IFSOCK:
			unix.Close(fd)
			return fmt.Errorf("%s is not a socket", at)
		case last && int(st.Uid) != uid:
			unix.Close(fd)
			return fmt.Errorf("%s belongs to uid %d, not to you", at, st.Uid)
		case last:
			unix.Close(fd)
			return nil
		case typ != unix.S_IFDIR:
			unix.Close(fd)
			return fmt.Errorf("%s is not a directory", at)
		case own && int(st.Uid) != uid:
			unix.Close(fd)
			return fmt.Errorf("%s belongs to uid %d, not to you", at, st.Uid)
		case !own && (st.Uid != 0 || st.Mode&0o022 != 0 && st.Mode&unix.S_ISVTX == 0):
			unix.Close(fd)
			return fmt.Errorf("%s can be changed by someone other than root", at)
		}
		next, err := unix.Openat(fd, name, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		unix.Close(fd)
		if err != nil {
			return fmt.Errorf("%s: %w", at, err)
		}
		fd = next
	}
	unix.Close(fd)
	return fmt.Errorf("%s: empty path", path)
}
