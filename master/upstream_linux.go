package master

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// Unix socket upstreams. A user's [proxy:NAME] socket = FILE names a socket
// in {run_dir}/sockets/USER, a directory the master creates and gives to
// the user (mode 0700) inside {run_dir}/sockets, which only root can
// change, so the user cannot swap the directory itself; nobody else can
// create anything in it.
//
// nginx never opens that path: it follows symlinks, and the user can
// replace their socket with one at any moment. Before routing, and again
// every second while the route exists, the master opens what is there
// without following anything: every directory from / down is a real
// directory (no symlink anywhere on the path), the ones above the user's own
// are root's and writable by nobody else, the user's directory is the
// user's, and the socket is a real socket owned by the user (fstat of the
// O_PATH|O_NOFOLLOW descriptor it then links). It then hard-links that very
// inode into {run_dir}/nginx/USER/FILE, root's directory, and nginx connects
// there: a connect reaches whoever listens on that inode, so whatever the
// user later puts at the old path, nginx keeps reaching the socket the
// master checked, or nothing (a socket bound again is a new inode: the
// next check links it, and meanwhile nginx answers 502). No socket yet (the
// program is down) is not a problem, as for a TCP port nobody holds: the
// stale link is removed and nginx answers 502. A symlink to another user's
// private socket, a FIFO or a file someone else made is refused.

// Directories in run_dir: the users' own socket directories, and root's
// copies (hard links) of the sockets nginx may reach.
const (
	socketsDirName = "sockets"
	nginxDirName   = "nginx"
)

// openUnixUpstream opens the socket at path for the user uid whose socket
// directory is userDir (see above): an O_PATH descriptor, or -1 when there
// is nothing there.
func openUnixUpstream(path, userDir string, uid int) (int, unix.Stat_t, error) {
	var st unix.Stat_t
	if filepath.Clean(path) != path || filepath.Dir(path) != userDir || !filepath.IsAbs(path) {
		return -1, st, fmt.Errorf("not a socket of your socket directory %s", userDir)
	}
	fd, err := unix.Open("/", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, st, err
	}
	parts := strings.Split(strings.TrimPrefix(path, "/"), "/")
	for i, name := range parts {
		at := "/" + strings.Join(parts[:i+1], "/")
		last, own := i == len(parts)-1, i == len(parts)-2
		next, err := unix.Openat(fd, name, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		unix.Close(fd)
		if last && errors.Is(err, unix.ENOENT) {
			return -1, st, nil
		}
		if err != nil {
			return -1, st, fmt.Errorf("%s: %w", at, err)
		}
		fd = next
		if err := unix.Fstat(fd, &st); err != nil {
			unix.Close(fd)
			return -1, st, fmt.Errorf("%s: %w", at, err)
		}
		typ := st.Mode & unix.S_IFMT
		var bad string
		switch {
		case typ == unix.S_IFLNK:
			bad = "is a symlink: nginx would follow it; bind the socket itself there"
		case last && typ != unix.S_IFSOCK:
			bad = "is not a socket"
		case (last || own) && int(st.Uid) != uid:
			bad = fmt.Sprintf("belongs to uid %d, not to you", st.Uid)
		case last:
			return fd, st, nil
		case typ != unix.S_IFDIR:
			bad = "is not a directory"
		case !own && (st.Uid != 0 || st.Mode&0o022 != 0 && st.Mode&unix.S_ISVTX == 0):
			bad = "can be changed by someone other than root"
		}
		if bad != "" {
			unix.Close(fd)
			return -1, st, fmt.Errorf("%s %s", at, bad)
		}
	}
	unix.Close(fd)
	return -1, st, fmt.Errorf("%s: empty path", path)
}

// checkUnixUpstream checks the socket at path (see above) without linking it.
func checkUnixUpstream(path, userDir string, uid int) error {
	fd, _, err := openUnixUpstream(path, userDir, uid)
	if fd >= 0 {
		unix.Close(fd)
	}
	return err
}

// linkUnixUpstream checks the user's socket at path and makes linkDir/FILE
// the same inode (see above); it returns the path nginx connects to.
func linkUnixUpstream(path, userDir, linkDir string, uid int) (string, error) {
	fd, st, err := openUnixUpstream(path, userDir, uid)
	if err != nil {
		return "", err
	}
	if fd >= 0 {
		defer unix.Close(fd)
	}
	name := filepath.Base(path)
	dfd, err := unix.Open(linkDir, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return "", fmt.Errorf("nginx's socket directory: %w", err)
	}
	defer unix.Close(dfd)
	link := filepath.Join(linkDir, name)
	var cur unix.Stat_t
	have := unix.Fstatat(dfd, name, &cur, unix.AT_SYMLINK_NOFOLLOW) == nil
	switch {
	case fd < 0 && have:
		if err := unix.Unlinkat(dfd, name, 0); err != nil && !errors.Is(err, unix.ENOENT) {
			return "", fmt.Errorf("%s: %w", link, err)
		}
		return link, nil
	case fd < 0 || have && cur.Dev == st.Dev && cur.Ino == st.Ino:
		return link, nil
	}
	tmp := "." + name + ".new"
	unix.Unlinkat(dfd, tmp, 0)
	// Root links the inode it opened and checked, not the path again.
	if err := unix.Linkat(fd, "", dfd, tmp, unix.AT_EMPTY_PATH); err != nil {
		return "", fmt.Errorf("link %s to %s: %w", path, link, err)
	}
	if err := unix.Renameat(dfd, tmp, dfd, name); err != nil {
		unix.Unlinkat(dfd, tmp, 0)
		return "", fmt.Errorf("link %s to %s: %w", path, link, err)
	}
	return link, nil
}
