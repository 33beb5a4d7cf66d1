package audit

import (
	"os"
	"syscall"
)

const oNoFollow = syscall.O_NOFOLLOW

// checkOwn refuses anything but a regular file of the effective uid with
// one link (a hard link to someone else's file would pass the uid test
// only if it were ours anyway; one link keeps the name honest).
func checkOwn(f *os.File) error {
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok || !fi.Mode().IsRegular() || int(st.Uid) != os.Geteuid() || st.Nlink != 1 {
		return errNotOwn
	}
	return nil
}
