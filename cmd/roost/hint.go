package main

import (
	"path/filepath"
	"strings"

	"roost/supervisor/api"
)

// socketHint explains a missing socket: supervisorctl's bare "no such
// file" does not say whose fault it is.
func socketHint(path string) string {
	if strings.HasPrefix(filepath.Clean(path), api.RunDir+"/") {
		return "hint: the roost master made your run directory, but no supervisor of yours answers in it: " +
			"it is starting or being restarted (BACKOFF), or the master is down; root sees why in `roost admin users`"
	}
	if path == api.DefaultSocket() {
		return "hint: no roost supervisor runs for you: without a master start one with `roost run -c supervisord.conf`; " +
			"under a roost master, your user is not listed in its roost.toml, or the master is not running"
	}
	return "hint: no supervisor serves this socket: is `roost run` (or supervisord) running with this configuration?"
}
