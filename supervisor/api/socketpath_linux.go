package api

import (
	"os"
	"os/user"
	"path/filepath"
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
