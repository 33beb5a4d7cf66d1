package master

import (
	"os"

	"roost/sdnotify"
)

// SDNotify sends a state ("READY=1", "RELOADING=1", "STOPPING=1", …) to the
// service manager named by $NOTIFY_SOCKET, as sd_notify(3) does; without
// the variable it does nothing. It is the master's readiness signal for a
// Type=notify unit. User supervisors never see NOTIFY_SOCKET: their
// environment is an allow-list.
func SDNotify(state string) error {
	return sdnotify.Send(os.Getenv("NOTIFY_SOCKET"), state)
}
