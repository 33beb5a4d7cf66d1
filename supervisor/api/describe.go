package api

import (
	"fmt"
	"time"
)

// Describe returns the description supervisord gives a process
// (rpcinterface._interpretProcessInfo), which supervisorctl status prints:
// "pid 42, uptime 1 day, 2:03:04" when RUNNING; the spawn error, or
// `unknown error (try "tail NAME")`, when FATAL or BACKOFF; the local time of
// the last stop ("Nov 22 03:04 PM") or "Not started" when STOPPED or
// EXITED; "" otherwise. It reads State, Start, Stop, Now, PID, SpawnErr and
// Name.
func Describe(p ProcessInfo) string {
	switch p.State {
	case Running:
		up := max(p.Now-p.Start, 0)
		return fmt.Sprintf("pid %d, uptime %s", p.PID, pyTimedelta(up))
	case Fatal, Backoff:
		if p.SpawnErr != "" {
			return p.SpawnErr
		}
		return fmt.Sprintf("unknown error (try \"tail %s\")", p.Name)
	case Stopped, Exited:
		if p.Start == 0 {
			return "Not started"
		}
		return time.Unix(p.Stop, 0).Local().Format("Jan 02 03:04 PM")
	}
	return ""
}

// pyTimedelta formats whole seconds as Python's str(timedelta):
// "0:00:05", "1 day, 2:03:04", "3 days, 0:00:00".
func pyTimedelta(secs int64) string {
	days, rest := secs/86400, secs%86400
	hms := fmt.Sprintf("%d:%02d:%02d", rest/3600, rest%3600/60, rest%60)
	switch days {
	case 0:
		return hms
	case 1:
		return "1 day, " + hms
	}
	return fmt.Sprintf("%d days, %s", days, hms)
}
