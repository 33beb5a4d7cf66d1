// Package sdnotify is systemd's notification protocol (sd_notify(3)) from
// both ends: Send is the client (the master tells systemd it is ready),
// Listen the service manager's side (a user's supervisor gives its
// notify=true programs a NOTIFY_SOCKET). Messages are newline-separated
// KEY=VALUE assignments in one datagram.
package sdnotify

import (
	"fmt"
	"net"
)

// Send sends a state ("READY=1", "RELOADING=1", "STOPPING=1", …) to the
// service manager's socket addr (the value of $NOTIFY_SOCKET), as
// sd_notify does; an empty addr does nothing.
func Send(addr, state string) error {
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
