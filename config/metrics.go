package config

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
)

// DefaultMetricsListen is the address the README suggests for [metrics]
// listen (Prometheus' port registry gives roost none; 9327 is unused).
const DefaultMetricsListen = "127.0.0.1:9327"

// MasterMetrics is roost.toml's [metrics] table.
type MasterMetrics struct {
	// Listen is the TCP address (an IP literal and a port) the master
	// serves /metrics on; "" (the default) serves none.
	Listen string `json:"listen,omitempty"`
}

// ValidateMetricsListen checks [metrics] listen: "IP:PORT", the IP a
// literal (no name to resolve as root), the port 1-65535.
func ValidateMetricsListen(s string) error {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return fmt.Errorf("%q is not an address: write IP:PORT such as %q (or [::1]:9327)", s, DefaultMetricsListen)
	}
	if _, err := netip.ParseAddr(host); err != nil {
		return fmt.Errorf("%q: %q is not an IP address: write IP:PORT such as %q (a host name is not resolved)", s, host, DefaultMetricsListen)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("%q: port %q is not a number from 1 to 65535", s, port)
	}
	return nil
}
