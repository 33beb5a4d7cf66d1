package xmlrpc

import (
	"fmt"
	"strconv"
	"syscall"

	"roost/supervisor/api"
)

// ParseSignal reads a signalProcess argument the way supervisord's
// signal_number does: Python's int() of the value first (9, "9", True, 15.7),
// else a name with or without "SIG" in any case ("hup", "SIGKILL"). The
// names and numbers are api.ParseSignal's, which refuses signal 0 and
// Python's SIG_DFL/SIG_IGN/SIG_BLOCK constants that supervisord lets through
// (sending "signal 0" to a program is never what a caller means). Anything
// else is a BAD_SIGNAL error naming the value as given.
func ParseSignal(v any) (syscall.Signal, error) {
	var s string
	switch v := v.(type) {
	case int:
		s = strconv.Itoa(v)
	case bool:
		s = "0"
		if v {
			s = "1"
		}
	case float64:
		s = strconv.Itoa(int(v))
	case string:
		s = v
	default:
		return 0, api.Errorf(api.BadSignal, "%s", pyStr(v))
	}
	sig, err := api.ParseSignal(s)
	if err != nil {
		return 0, api.Errorf(api.BadSignal, "%s", pyStr(v))
	}
	return sig, nil
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
