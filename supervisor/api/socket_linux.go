package api

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// maxSocketPath is the longest path a unix socket can bind on Linux
// (sun_path is 108 bytes with the terminating NUL).
const maxSocketPath = 107

// socket is a bound control socket and the lock that guards its path.
type socket struct {
	path string
	ln   *net.UnixListener
	lock *os.File
}

// listenSocket binds path for a server running as euid; see Server.Listen.
func listenSocket(path string, euid int) (*socket, error) {
	if path == "" {
		return nil, errors.New("listen: empty socket path")
	}
	path, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("listen %s: %w", path, err)
	}
	if len(path) > maxSocketPath {
		return nil, fmt.Errorf("listen %s: path is %d bytes, a unix socket path may have at most %d: "+
			"choose a shorter [unix_http_server] file= or --socket", path, len(path), maxSocketPath)
	}
	if err := secureDir(filepath.Dir(path), euid); err != nil {
		return nil, fmt.Errorf("listen %s: %w", path, err)
	}
	lock, err := lockPath(path, euid)
	if err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			lock.Close()
		}
	}()
	if err := removeStale(path); err != nil {
		return nil, err
	}
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("listen %s: %w", path, err)
	}
	// We remove the socket ourselves, while still holding the lock.
	ln.SetUnlinkOnClose(false)
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		os.Remove(path)
		return nil, fmt.Errorf("listen %s: %w", path, err)
	}
	ok = true
	return &socket{path: path, ln: ln, lock: lock}, nil
}

// close stops listening, removes the socket and the lock file, and then
// releases the lock. Removing the lock file is safe because lockPath
// checks, once it holds a lock, that the path still names the file it
// locked (else it starts again); it leaves no run state behind in a
// project directory (a root-owned 0600 lock there would make a later
// `cp -r` of the project fail).
func (s *socket) close() error {
	err := s.ln.Close()
	if rmErr := os.Remove(s.path); rmErr != nil && !errors.Is(rmErr, fs.ErrNotExist) && err == nil {
		err = rmErr
	}
	os.Remove(s.path + ".lock")
	s.lock.Close()
	if err != nil && !errors.Is(err, net.ErrClosed) {
		return fmt.Errorf("close %s: %w", s.path, err)
	}
	return nil
}

// secureDir makes sure the socket's directory is one only its owner can
// change: created 0700 when missing; otherwise a directory (a symlink to
// one only if the link itself belongs to euid or root) owned by euid or
// root, not writable by group or others, unless it is a root-owned sticky
// directory like /tmp (nobody can remove or rename another's files there)
// or only group-writable by euid's user private group (umask 002).
func secureDir(dir string, euid int) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("socket directory: %w", err)
	}
	var lst unix.Stat_t
	if err := unix.Lstat(dir, &lst); err != nil {
		return fmt.Errorf("socket directory %s: %w", dir, err)
	}
	if lst.Mode&unix.S_IFMT == unix.S_IFLNK && !ownedBy(lst.Uid, euid) {
		return fmt.Errorf("socket directory %s is a symlink owned by uid %d: use a directory of your own", dir, lst.Uid)
	}
	var st unix.Stat_t
	if err := unix.Stat(dir, &st); err != nil {
		return fmt.Errorf("socket directory %s: %w", dir, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		return fmt.Errorf("socket directory %s is not a directory", dir)
	}
	if !ownedBy(st.Uid, euid) {
		return fmt.Errorf("socket directory %s is owned by uid %d, not by you (uid %d): "+
			"put the socket in a directory of your own", dir, st.Uid, euid)
	}
	sticky := st.Mode&unix.S_ISVTX != 0 && st.Uid == 0
	writable := st.Mode & 0o022
	if writable == 0o020 && isPrivateGroup(int(st.Gid), euid) {
		writable = 0 // umask 002 with a user private group: only we are in it
	}
	if writable != 0 && !sticky {
		return fmt.Errorf("socket directory %s is writable by group or others (mode %04o): "+
			"chmod go-w it or put the socket elsewhere", dir, st.Mode&0o7777)
	}
	return nil
}

func ownedBy(uid uint32, euid int) bool { return int(uid) == euid || uid == 0 }

// isPrivateGroup reports whether gid is uid's user private group (Debian's
// USERGROUPS_ENAB): its primary group, named like the user.
func isPrivateGroup(gid, uid int) bool {
	u, err := user.LookupId(strconv.Itoa(uid))
	if err != nil || u.Gid != strconv.Itoa(gid) {
		return false
	}
	g, err := user.LookupGroupId(u.Gid)
	return err == nil && g.Name == u.Username
}

// lockPath opens (creating 0600) and exclusively flocks path's lock file,
// path + ".lock", and makes sure the path still names the file it locked:
// a holder removes the file before it unlocks (socket.close), so a lock
// won on a removed file is let go and the lock taken again.
func lockPath(path string, euid int) (*os.File, error) {
	for range 100 {
		f, err := lockOnce(path, euid)
		if err != nil || f != nil {
			return f, err
		}
	}
	return nil, fmt.Errorf("lock %s.lock: it keeps being replaced", path)
}

// lockOnce is one try of lockPath: a nil file and nil error mean the
// locked file was removed meanwhile.
func lockOnce(path string, euid int) (*os.File, error) {
	lockfile := path + ".lock"
	f, err := os.OpenFile(lockfile, os.O_RDWR|os.O_CREATE|syscall.O_NOFOLLOW|syscall.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("socket lock file: %w", err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock file %s: %w", lockfile, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG || !ownedBy(st.Uid, euid) {
		f.Close()
		return nil, fmt.Errorf("lock file %s is not a regular file of yours (uid %d): remove it", lockfile, st.Uid)
	}
	for {
		err = unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("another roost is running on %s (%s is locked)", path, lockfile)
		}
		return nil, fmt.Errorf("lock %s: %w", lockfile, err)
	}
	var now unix.Stat_t
	if err := unix.Lstat(lockfile, &now); err != nil || now.Dev != st.Dev || now.Ino != st.Ino {
		f.Close() // its holder removed it before unlocking: try the new one
		return nil, nil
	}
	return f, nil
}

// removeStale removes a socket nobody answers on. The caller holds the lock.
func removeStale(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("listen %s: %w", path, err)
	}
	if fi.Mode()&fs.ModeSocket == 0 {
		return fmt.Errorf("%s exists and is not a socket: remove it yourself if it is not needed", path)
	}
	c, err := net.DialTimeout("unix", path, 2*time.Second)
	if err == nil {
		c.Close()
		return fmt.Errorf("another roost is running on %s (or another server: a connect succeeded)", path)
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		return fmt.Errorf("listen %s: cannot tell whether the existing socket is in use: %w", path, err)
	}
	if err := os.Remove(path); err != nil {
		return fmt.Errorf("listen %s: remove stale socket: %w", path, err)
	}
	return nil
}

// peerOf reads the SO_PEERCRED credentials of a unix connection.
func peerOf(c net.Conn) Peer {
	if r, ok := c.(*reservedConn); ok {
		c = r.Conn
	}
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return Peer{Err: fmt.Errorf("not a unix socket connection (%T)", c)}
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return Peer{Err: err}
	}
	var cred *unix.Ucred
	var credErr error
	if err := raw.Control(func(fd uintptr) {
		cred, credErr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return Peer{Err: err}
	}
	if credErr != nil {
		return Peer{Err: fmt.Errorf("SO_PEERCRED: %w", credErr)}
	}
	return Peer{UID: int(cred.Uid), GID: int(cred.Gid), PID: int(cred.Pid)}
}
