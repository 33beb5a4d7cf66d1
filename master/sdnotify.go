package master

import (
	"fmt"
	"net"
	"os"
)

// SDNotify sends a state ("READY=1", "RELOADING=1", "STOPPING=1", …) to the
// service manager named by $NOTIFY_SOCKET, as sd_notify(3) does; without
// the variable it does nothing. It is the master's readiness signal for a
// Type=notify unit. User supervisors never see NOTIFY_SOCKET: their
// environment is an allow-list.
func SDNotify(state string) error {
	addr := os.Getenv("NOTIFY_SOCKET")
	if addr == "" {
		return nil
	}
	if addr[0] != '/' && addr[0] != '@' {
		return fmt.Errorf("sd_notify: NOTIFY_SOCKET=%q is not a unix socket path", addr)
	}
	// A leading '@' is an abstract socket; Go's net package maps it.
	conn, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: addr, Net: "unixgram"})
	if err != nil {
		return fmt.Errorf("sd_notify: %w", err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte(state)); err != nil {
		return fmt.Errorf("sd_notify: %w", err)
	}
	return nil
}
