package api

import (
	"errors"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"

	"golang.org/x/sys/unix"
)

// RunDir holds the directory the root master makes for each user's
// control socket: RunDir/USER/SocketName.
const RunDir = "/run/roost/users"

// SocketName is the control socket's file name in the per-user directories.
const SocketName = "roost.sock"

// DefaultSocket returns the current user's default control socket, the
// first of:
//
//   - /run/roost/users/$USER/roost.sock, when that directory exists (the
//     root master made it);
//   - $XDG_RUNTIME_DIR/roost/roost.sock, when XDG_RUNTIME_DIR is a directory
//     owned by the current user (systemd's per-user runtime dir);
//   - /tmp/roost-$UID/roost.sock (Listen creates the directory 0700 and
//     refuses it when someone else owns it).
//
// $USER is the effective uid's user name (its number when it has none), so
// a process that dropped privileges gets the new user's socket.
func DefaultSocket() string {
	euid := os.Geteuid()
	name := strconv.Itoa(euid)
	if u, err := user.LookupId(name); err == nil {
		name = u.Username
	}
	if dir := filepath.Join(RunDir, name); isDirOwnedBy(dir, -1) {
		return filepath.Join(dir, SocketName)
	}
	if xdg := os.Getenv("XDG_RUNTIME_DIR"); filepath.IsAbs(xdg) && isDirOwnedBy(xdg, euid) {
		return filepath.Join(xdg, "roost", SocketName)
	}
	return filepath.Join("/tmp", "roost-"+strconv.Itoa(euid), SocketName)
}

// isDirOwnedBy reports whether dir is a directory owned by uid (any owner
// when uid is -1).
func isDirOwnedBy(dir string, uid int) bool {
	var st unix.Stat_t
	if unix.Stat(dir, &st) != nil || st.Mode&unix.S_IFMT != unix.S_IFDIR {
		return false
	}
	return uid < 0 || int(st.Uid) == uid
}

// CheckSocket refuses (ErrUntrustedServer) a socket at path that someone
// other than root or one of uids made, or that sits in a directory someone
// else owns: a user can create /tmp/roost-0 before root's first `roost run`,
// or leave a socket in a project root visits. The peer's own uid is checked
// after connecting (WithServerUIDs); this names the culprit even when nobody
// listens. A missing socket is not an error here: connecting reports it.
func CheckSocket(path string, uids []int) error {
	trusted := func(uid uint32) bool { return uid == 0 || slices.Contains(uids, int(uid)) }
	var st unix.Stat_t
	if err := unix.Lstat(path, &st); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return nil
		}
		return fmt.Errorf("%s: %w", path, err)
	}
	if !trusted(st.Uid) {
		return fmt.Errorf("%w: %s was made by %s", ErrUntrustedServer, path, uidName(st.Uid))
	}
	dir := filepath.Dir(path)
	if err := unix.Stat(dir, &st); err != nil {
		return fmt.Errorf("%s: %w", dir, err)
	}
	if !trusted(st.Uid) {
		return fmt.Errorf("%w: %s is in %s, owned by %s", ErrUntrustedServer, path, dir, uidName(st.Uid))
	}
	return nil
}

// uidName names a uid for a message: "uid 1001 (bob)".
func uidName(uid uint32) string {
	s := "uid " + strconv.FormatUint(uint64(uid), 10)
	if u, err := user.LookupId(strconv.FormatUint(uint64(uid), 10)); err == nil {
		s += " (" + u.Username + ")"
	}
	return s
}
