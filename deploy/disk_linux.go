package deploy

import (
	"errors"
	"fmt"
	"syscall"
)

// diskFull says why a failed step probably failed when the file system
// of dir is full (or err is ENOSPC), "" otherwise. A step's tool reports
// ENOSPC in its own words and exits non-zero, so the free space is read
// too: less than a mebibyte left counts as full.
func diskFull(err error, dir string) string {
	var st syscall.Statfs_t
	if serr := syscall.Statfs(dir, &st); serr != nil {
		if errors.Is(err, syscall.ENOSPC) {
			return "the disk is full"
		}
		return ""
	}
	free := st.Bavail * uint64(st.Bsize)
	if !errors.Is(err, syscall.ENOSPC) && free >= 1<<20 {
		return ""
	}
	return fmt.Sprintf("the file system of %s is full (%d KiB free of %d KiB): the partial release is removed; "+
		"free space (roost releases lists the releases kept; lower keep_releases) or ask the administrator for more",
		dir, free>>10, (st.Blocks*uint64(st.Bsize))>>10)
}
