package master

import (
	"context"
	"os"
	"syscall"

	"roost/internal/procfs"
)

// killLeftovers kills every descendant of the master that runs as uid
// (real or effective) and does not descend from a child the master still
// runs (a live supervisor), or every such descendant at all when uid is -1.
// It repeats until none is left, since a killed process's children are
// reparented to the master in turn, or until ctx ends. Kills go through
// pidfds after checking each process is still the one scanned, so a reused
// pid is never hit; the wait for the deaths is a poll on the pidfds. It
// returns how many processes it killed.
func killLeftovers(ctx context.Context, uid int) (int, error) {
	self := os.Getpid()
	killed := 0
	for {
		live := registeredPIDs()
		ds, err := procfs.Descendants(self, func(p procfs.Proc) bool { return p.PPID == self && live[p.PID] })
		if err != nil {
			return killed, err
		}
		var fds []int
		for _, d := range ds {
			if uid >= 0 && d.RUID != uid && d.EUID != uid {
				continue
			}
			fd, err := procfs.Kill(d, syscall.SIGKILL)
			if err != nil {
				procfs.CloseAll(fds)
				return killed, err
			}
			if fd >= 0 {
				fds = append(fds, fd)
				killed++
			}
		}
		if len(fds) == 0 {
			return killed, nil
		}
		err = procfs.AwaitExits(ctx, fds)
		procfs.CloseAll(fds)
		if err != nil {
			return killed, err
		}
	}
}
