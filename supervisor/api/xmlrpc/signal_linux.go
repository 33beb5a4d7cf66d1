package xmlrpc

import (
	"fmt"
	"strconv"
	"strings"
	"syscall"

	"roost/supervisor/api"
)

// signalNames are the names Python's signal module defines on Linux, as
// supervisord looks them up (getattr(signal, "SIG" + name)): real signals,
// their aliases, and the handler and mask constants that come along
// (SIG_DFL is 0, SIG_IGN 1, ...), which supervisord accepts too.
var signalNames = map[string]int{
	"SIGABRT": 6, "SIGALRM": 14, "SIGBUS": 7, "SIGCHLD": 17, "SIGCLD": 17,
	"SIGCONT": 18, "SIGFPE": 8, "SIGHUP": 1, "SIGILL": 4, "SIGINT": 2,
	"SIGIO": 29, "SIGIOT": 6, "SIGKILL": 9, "SIGPIPE": 13, "SIGPOLL": 29,
	"SIGPROF": 27, "SIGPWR": 30, "SIGQUIT": 3, "SIGRTMAX": 64, "SIGRTMIN": 34,
	"SIGSEGV": 11, "SIGSTKFLT": 16, "SIGSTOP": 19, "SIGSYS": 31, "SIGTERM": 15,
	"SIGTRAP": 5, "SIGTSTP": 20, "SIGTTIN": 21, "SIGTTOU": 22, "SIGURG": 23,
	"SIGUSR1": 10, "SIGUSR2": 12, "SIGVTALRM": 26, "SIGWINCH": 28,
	"SIGXCPU": 24, "SIGXFSZ": 25,
	"SIG_BLOCK": 0, "SIG_DFL": 0, "SIG_IGN": 1, "SIG_SETMASK": 2, "SIG_UNBLOCK": 1,
}

// validSignal is supervisord's SIGNUMS: the values of those names. A number
// outside it (32, 33, 35-63, 65...) is refused even though the kernel has it.
func validSignal(n int) bool {
	for _, v := range signalNames {
		if v == n {
			return true
		}
	}
	return false
}

// ParseSignal reads a signal the way supervisord's signal_number does: a
// number ("9", 9), or a name with or without "SIG" in any case ("hup",
// "SIGKILL", " term "). Anything else is a BAD_SIGNAL error naming the value
// as given.
func ParseSignal(v any) (syscall.Signal, error) {
	bad := api.Errorf(api.BadSignal, "%s", pyStr(v))
	var n int
	switch v := v.(type) {
	case int:
		n = v
	case bool:
		if v {
			n = 1
		}
	case float64:
		n = int(v)
	case string:
		s := strings.TrimSpace(v)
		num, err := strconv.Atoi(s)
		if err != nil {
			name := strings.ToUpper(s)
			if !strings.HasPrefix(name, "SIG") {
				name = "SIG" + name
			}
			var ok bool
			if num, ok = signalNames[name]; !ok {
				return 0, bad
			}
		}
		n = num
	default:
		return 0, bad
	}
	if !validSignal(n) {
		return 0, bad
	}
	return syscall.Signal(n), nil
}

// pyStr renders a decoded value as Python's str() would, for fault details
// that quote what the client sent.
func pyStr(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case bool:
		if v {
			return "True"
		}
		return "False"
	case nil:
		return "None"
	case float64:
		return pyFloat(v)
	case []byte:
		return string(v)
	}
	return fmt.Sprint(v)
}
