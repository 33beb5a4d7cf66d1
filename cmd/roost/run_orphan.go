package main

import (
	"os"
	"os/signal"
	"syscall"
)

// surviveMasterLoss keeps a managed supervisor alive when the master that
// reads its stdout and stderr is gone (killed, or between two images while
// it re-executes): a write there then fails with EPIPE instead of killing
// the process with SIGPIPE (Go's rule for descriptors 1 and 2 when SIGPIPE
// is not notified). Notify, not Ignore: an ignored SIGPIPE would be
// inherited by every program the supervisor starts.
func surviveMasterLoss() {
	signal.Notify(make(chan os.Signal, 1), syscall.SIGPIPE)
}
