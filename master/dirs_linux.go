package master

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// The master's directories. It runs as root and creates files in them, so
// each must be one only root can change: owned by root, not writable by
// group or others, and so must every directory above it (a sticky
// root-owned one such as /tmp excepted), or someone could swap a component
// for a symlink between a check and a use.

// ensureRootDir makes sure dir exists (created with mode when missing) and
// that it and every directory above it can be changed only by root. When
// traversable is set, dir must be searchable by everyone: users reach their
// sockets through it.
func ensureRootDir(dir string, mode os.FileMode, traversable bool) error {
	if err := os.MkdirAll(dir, mode); err != nil {
		return fmt.Errorf("directory %s: %w", dir, err)
	}
	real, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return fmt.Errorf("directory %s: %w", dir, err)
	}
	for p := real; ; p = filepath.Dir(p) {
		if err := checkRootOwned(p, p == real); err != nil {
			if p != real {
				return fmt.Errorf("directory %s: parent %w", dir, err)
			}
			return fmt.Errorf("directory %s: %w", dir, err)
		}
		if p == "/" {
			break
		}
	}
	if traversable {
		var st unix.Stat_t
		if err := unix.Stat(real, &st); err != nil {
			return fmt.Errorf("directory %s: %w", dir, err)
		}
		if st.Mode&0o001 == 0 {
			return fmt.Errorf("directory %s has mode %04o: users cannot reach their sockets through it; chmod 0755 it",
				dir, st.Mode&0o7777)
		}
	}
	return nil
}

// checkRootOwned checks one directory (lstat: a symlink is refused; the
// caller resolved them first). Sticky root directories are accepted as
// parents only.
func checkRootOwned(p string, last bool) error {
	var st unix.Stat_t
	if err := unix.Lstat(p, &st); err != nil {
		return fmt.Errorf("%s: %w", p, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		return fmt.Errorf("%s is not a directory", p)
	}
	if st.Uid != 0 {
		return fmt.Errorf("%s is owned by uid %d, not root: chown root it", p, st.Uid)
	}
	sticky := st.Mode&unix.S_ISVTX != 0
	if st.Mode&0o022 != 0 && (last || !sticky) {
		return fmt.Errorf("%s is writable by group or others (mode %04o): chmod go-w it", p, st.Mode&0o7777)
	}
	return nil
}

// checkRootFile refuses a file the master trusts (roost.toml) when someone
// other than root could change it.
func checkRootFile(path string) error {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if st.Uid != 0 {
		return fmt.Errorf("%s is owned by uid %d: the master trusts it, so it must belong to root", path, st.Uid)
	}
	if st.Mode&0o022 != 0 {
		return fmt.Errorf("%s is writable by group or others (mode %04o): chmod go-w it", path, st.Mode&0o7777)
	}
	return nil
}

// ensureUserDir makes usersDir/name a directory owned by uid:gid, mode
// 0700, without following a symlink at any step: usersDir is opened
// O_NOFOLLOW and name is created and opened relative to it. A directory
// left by an earlier owner of the name (another uid) is removed first, with
// what it holds, so nothing of theirs is handed over.
func ensureUserDir(usersDir, name string, uid, gid int) error {
	dfd, err := unix.Open(usersDir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("run directory %s: %w", usersDir, err)
	}
	defer unix.Close(dfd)
	path := filepath.Join(usersDir, name)
	var st unix.Stat_t
	err = unix.Fstatat(dfd, name, &st, unix.AT_SYMLINK_NOFOLLOW)
	switch {
	case errors.Is(err, unix.ENOENT):
	case err != nil:
		return fmt.Errorf("run directory %s: %w", path, err)
	case st.Mode&unix.S_IFMT != unix.S_IFDIR:
		return fmt.Errorf("run directory %s exists and is not a directory: remove it", path)
	case int(st.Uid) != uid:
		if err := os.RemoveAll(path); err != nil { // openat/unlinkat based: follows no symlink
			return fmt.Errorf("run directory %s (left by uid %d): %w", path, st.Uid, err)
		}
	}
	if err := unix.Mkdirat(dfd, name, 0o700); err != nil && !errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("run directory %s: %w", path, err)
	}
	fd, err := unix.Openat(dfd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("run directory %s: %w", path, err)
	}
	defer unix.Close(fd)
	if err := unix.Fchown(fd, uid, gid); err != nil {
		return fmt.Errorf("run directory %s: %w", path, err)
	}
	if err := unix.Fchmod(fd, 0o700); err != nil {
		return fmt.Errorf("run directory %s: %w", path, err)
	}
	return nil
}

// removeUserDir removes usersDir/name and what it holds (the socket and its
// lock), following no symlink.
func removeUserDir(usersDir, name string) error {
	err := os.RemoveAll(filepath.Join(usersDir, name))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove run directory: %w", err)
	}
	return nil
}
