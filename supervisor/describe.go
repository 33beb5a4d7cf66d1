package supervisor

import (
	"fmt"
	"strconv"
	"syscall"
	"time"

	"roost/supervisor/api"
)

// Describe computes ProcessInfo.Description exactly as supervisord's
// rpcinterface._interpretProcessInfo does:
//
//   - RUNNING: "pid 123, uptime 0:01:02" (whole seconds of now-start, rendered
//     like Python's timedelta: "1 day, 2:03:04" past a day);
//   - FATAL, BACKOFF: the spawn error, or `unknown error (try "tail NAME")`;
//   - STOPPED, EXITED: the stop time in local time as "Nov 22 02:48 AM", or
//     "Not started" when the process never started;
//   - anything else: "".
//
// It reads only info's Name, State, PID, Start, Stop, Now and SpawnErr, so
// the XML-RPC adapter and the JSON API get the same text.
func Describe(info api.ProcessInfo) string {
	switch info.State {
	case api.Running:
		up := info.Now - info.Start
		if up < 0 {
			up = 0 // the clock was set back
		}
		return fmt.Sprintf("pid %d, uptime %s", info.PID, pyTimedelta(up))
	case api.Fatal, api.Backoff:
		if info.SpawnErr != "" {
			return info.SpawnErr
		}
		return fmt.Sprintf("unknown error (try \"tail %s\")", info.Name)
	case api.Stopped, api.Exited:
		if info.Start != 0 {
			return time.Unix(info.Stop, 0).Format("Jan 02 03:04 PM")
		}
		return "Not started"
	}
	return ""
}

// pyTimedelta renders whole seconds like str(datetime.timedelta).
func pyTimedelta(secs int64) string {
	days := secs / 86400
	rest := secs % 86400
	hms := fmt.Sprintf("%d:%02d:%02d", rest/3600, rest%3600/60, rest%60)
	switch {
	case days == 1:
		return "1 day, " + hms
	case days > 1:
		return fmt.Sprintf("%d days, %s", days, hms)
	}
	return hms
}

// signames are Python's signal module names, which supervisord prints
// ("terminated by SIGTERM"); SIGIO is "SIGPOLL" there.
var signames = map[syscall.Signal]string{
	1: "SIGHUP", 2: "SIGINT", 3: "SIGQUIT", 4: "SIGILL", 5: "SIGTRAP", 6: "SIGABRT",
	7: "SIGBUS", 8: "SIGFPE", 9: "SIGKILL", 10: "SIGUSR1", 11: "SIGSEGV", 12: "SIGUSR2",
	13: "SIGPIPE", 14: "SIGALRM", 15: "SIGTERM", 16: "SIGSTKFLT", 17: "SIGCHLD",
	18: "SIGCONT", 19: "SIGSTOP", 20: "SIGTSTP", 21: "SIGTTIN", 22: "SIGTTOU",
	23: "SIGURG", 24: "SIGXCPU", 25: "SIGXFSZ", 26: "SIGVTALRM", 27: "SIGPROF",
	28: "SIGWINCH", 29: "SIGPOLL", 30: "SIGPWR", 31: "SIGSYS", 34: "SIGRTMIN", 64: "SIGRTMAX",
}

// signame is supervisord's signame: "SIGTERM", or "signal 40".
func signame(sig syscall.Signal) string {
	if n, ok := signames[sig]; ok {
		return n
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
