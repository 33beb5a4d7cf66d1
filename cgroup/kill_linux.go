package cgroup

import (
	"os"

	"golang.org/x/sys/unix"
)

func killPID(pid int) error { return unix.Kill(pid, unix.SIGKILL) }

// rmdir removes one group; a missing one is not an error.
func rmdir(dir string) error {
	if err := unix.Rmdir(dir); err != nil && err != unix.ENOENT {
		return &os.PathError{Op: "rmdir", Path: dir, Err: err}
	}
	return nil
}
