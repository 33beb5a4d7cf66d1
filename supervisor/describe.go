package supervisor

import (
	"fmt"
	"roost/config"
	"strconv"
	"syscall"
)

// signame is supervisord's signame: "SIGTERM", or "signal 40" for a
// signal Python's signal module has no name for.
func signame(sig syscall.Signal) string {
	if n := config.SignalName(sig); n != strconv.Itoa(int(sig)) {
		return "SIG" + n
	}
	return "signal " + strconv.Itoa(int(sig))
}

// decodeWaitStatus is supervisord's decode_wait_status: the exit status (-1
// when killed by a signal) and the message for the log.
func decodeWaitStatus(ws syscall.WaitStatus) (int, string) {
	switch {
	case ws.Exited():
		es := ws.ExitStatus()
		return es, "exit status " + strconv.Itoa(es)
	case ws.Signaled():
		msg := "terminated by " + signame(ws.Signal())
		if ws.CoreDump() {
			msg += " (core dumped)"
		}
		return -1, msg
	}
	return -1, fmt.Sprintf("unknown termination cause 0x%04x", uint32(ws))
}
