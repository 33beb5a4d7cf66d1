package api

import (
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
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

// ParseSignal reads a signal the way supervisord's signal_number does: a
// number, or a name with or without "SIG", in any case ("HUP", "sigusr2",
// "9"). An unknown signal is a BadSignal *Error.
func ParseSignal(s string) (syscall.Signal, error) {
	if n, err := strconv.Atoi(strings.TrimSpace(s)); err == nil {
		if n <= 0 || unix.SignalName(syscall.Signal(n)) == "" && !isRealtime(n) {
			return 0, Errorf(BadSignal, "%s", s)
		}
		return syscall.Signal(n), nil
	}
	name := strings.ToUpper(strings.TrimSpace(s))
	if !strings.HasPrefix(name, "SIG") {
		name = "SIG" + name
	}
	switch name {
	case "SIGRTMIN":
		return syscall.Signal(sigRTMin), nil
	case "SIGRTMAX":
		return syscall.Signal(sigRTMax), nil
	case "SIGIOT":
		return syscall.SIGABRT, nil
	case "SIGCLD":
		return syscall.SIGCHLD, nil
	case "SIGPOLL":
		return syscall.SIGIO, nil
	}
	if sig := unix.SignalNum(name); sig != 0 {
		return sig, nil
	}
	return 0, Errorf(BadSignal, "%s", s)
}

// Python's signal module, which supervisord consults, names SIGRTMIN and
// SIGRTMAX but none of the realtime signals between them.
const (
	sigRTMin = 34
	sigRTMax = 64
)

func isRealtime(n int) bool { return n == sigRTMin || n == sigRTMax }
