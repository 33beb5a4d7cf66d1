package api

import (
	"strings"
	"syscall"

	"roost/config"
)

// SplitNamespec splits a supervisorctl name the way supervisord's
// split_namespec does: "web" is process web of group web, "g:web" is process
// web of group g, and "g:*" or "g:" is the whole group g (process "" and
// isGroup true).
func SplitNamespec(namespec string) (group, process string, isGroup bool) {
	g, p, ok := strings.Cut(namespec, ":")
	if !ok {
		return namespec, namespec, false
	}
	if p == "" || p == "*" {
		return g, "", true
	}
	return g, p, false
}

// MakeNamespec is supervisord's make_namespec: "name" when the group and
// process names are equal, else "group:name".
func MakeNamespec(group, process string) string {
	if group == process {
		return process
	}
	return group + ":" + process
}

// ParseSignal reads a signal the way supervisord's signal_number does (the
// same rules as stopsignal=, config.ParseSignal): a number, or a name with
// or without "SIG", in any case ("HUP", "sigusr2", "9"). An unknown signal
// is a BadSignal *Error whose detail is s, as supervisord's fault string.
func ParseSignal(s string) (syscall.Signal, error) {
	sig, err := config.ParseSignal(s)
	if err != nil {
		return 0, &Error{Code: BadSignal, Detail: s}
	}
	return sig, nil
}
