package config

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"syscall"
	"unicode"
)

// This file holds supervisord's value types (supervisor/datatypes.py), each
// accepting what Python accepts: integers via int() (surrounding whitespace,
// a sign, '_' between digits), booleans, byte sizes, octal, signals, exit
// codes, autorestart, log file names and process/group names. Where Python
// accepts nonsense (a negative umask, signal 0) roost says no.

// pyInt parses like Python's int(s) for ASCII digits.
func pyInt(s string) (int64, bool) {
	return pyIntBase(s, 10)
}

func pyIntBase(s string, base int) (int64, bool) {
	s = pyStrip(s)
	neg := false
	if s != "" && (s[0] == '+' || s[0] == '-') {
		neg = s[0] == '-'
		s = s[1:]
	}
	if base == 8 && len(s) > 2 && s[0] == '0' && (s[1] == 'o' || s[1] == 'O') {
		s = s[2:]
		if strings.HasPrefix(s, "_") {
			s = s[1:]
		}
	}
	if s == "" {
		return 0, false
	}
	var n uint64
	prevDigit := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '_' {
			if !prevDigit || i == len(s)-1 {
				return 0, false
			}
			prevDigit = false
			continue
		}
		d := int(c - '0')
		if c < '0' || c > '9' || d >= base {
			return 0, false
		}
		prevDigit = true
		n = n*uint64(base) + uint64(d)
		if n > math.MaxInt64 {
			return 0, false
		}
	}
	if neg {
		return -int64(n), true
	}
	return int64(n), true
}

// Truthy and falsy spellings (datatypes.TRUTHY_STRINGS, FALSY_STRINGS).
var (
	truthy = []string{"yes", "true", "on", "1"}
	falsy  = []string{"no", "false", "off", "0"}
)

// parseBool is datatypes.boolean.
func parseBool(s string) (bool, string) {
	l := pyLower(s)
	switch {
	case slices.Contains(truthy, l):
		return true, ""
	case slices.Contains(falsy, l):
		return false, ""
	}
	return false, fmt.Sprintf("%q is not a boolean; use true or false (also yes/no, on/off, 1/0)", s)
}

// parseByteSize is datatypes.byte_size: bytes, or a number with a KB, MB or
// GB suffix (any case, powers of 1024).
func parseByteSize(s string) (int64, string) {
	l := pyLower(s)
	mult := int64(1)
	num := l
	for _, suf := range []struct {
		s string
		m int64
	}{{"kb", 1 << 10}, {"mb", 1 << 20}, {"gb", 1 << 30}} {
		if strings.HasSuffix(l, suf.s) {
			num, mult = l[:len(l)-2], suf.m
			break
		}
	}
	n, ok := pyInt(num)
	if !ok {
		return 0, fmt.Sprintf("%q is not a byte size; write a number of bytes or a number with KB, MB or GB, e.g. 50MB", s)
	}
	if n < 0 {
		return 0, fmt.Sprintf("%q is negative; a byte size must be 0 or more", s)
	}
	if n > math.MaxInt64/mult {
		return 0, fmt.Sprintf("%q is too large", s)
	}
	return n * mult, ""
}

// parseOctal is datatypes.octal_type, limited to permission bits.
func parseOctal(s string) (int, string) {
	n, ok := pyIntBase(s, 8)
	if !ok {
		return 0, fmt.Sprintf("%q is not an octal number, e.g. 022", s)
	}
	if n < 0 || n > 0o7777 {
		return 0, fmt.Sprintf("%q is out of range: it must be between 0 and 07777", s)
	}
	return int(n), ""
}

// signalNames are the signal names Python's signal module has on Linux.
var signalNames = map[string]syscall.Signal{
	"ABRT": syscall.SIGABRT, "ALRM": syscall.SIGALRM, "BUS": syscall.SIGBUS,
	"CHLD": syscall.SIGCHLD, "CLD": syscall.SIGCHLD, "CONT": syscall.SIGCONT,
	"FPE": syscall.SIGFPE, "HUP": syscall.SIGHUP, "ILL": syscall.SIGILL,
	"INT": syscall.SIGINT, "IO": syscall.SIGIO, "IOT": syscall.SIGIOT,
	"KILL": syscall.SIGKILL, "PIPE": syscall.SIGPIPE, "POLL": syscall.SIGPOLL,
	"PROF": syscall.SIGPROF, "PWR": syscall.SIGPWR, "QUIT": syscall.SIGQUIT,
	"RTMAX": syscall.Signal(64), "RTMIN": syscall.Signal(34),
	"SEGV": syscall.SIGSEGV, "STKFLT": syscall.SIGSTKFLT, "STOP": syscall.SIGSTOP,
	"SYS": syscall.SIGSYS, "TERM": syscall.SIGTERM, "TRAP": syscall.SIGTRAP,
	"TSTP": syscall.SIGTSTP, "TTIN": syscall.SIGTTIN, "TTOU": syscall.SIGTTOU,
	"URG": syscall.SIGURG, "USR1": syscall.SIGUSR1, "USR2": syscall.SIGUSR2,
	"VTALRM": syscall.SIGVTALRM, "WINCH": syscall.SIGWINCH, "XCPU": syscall.SIGXCPU,
	"XFSZ": syscall.SIGXFSZ,
}

// ParseSignal parses a signal the way supervisord's stopsignal does: a
// number, or a name with or without "SIG" in any case ("TERM", "sigterm").
// Signal 0 and Python's non-signal SIG_* constants are refused.
func ParseSignal(s string) (syscall.Signal, error) {
	if n, ok := pyInt(s); ok {
		if (n >= 1 && n <= 31) || n == 34 || n == 64 {
			return syscall.Signal(n), nil
		}
		return 0, fmt.Errorf("%q is not a valid signal number", s)
	}
	name := strings.ToUpper(pyStrip(s))
	name = strings.TrimPrefix(name, "SIG")
	if sig, ok := signalNames[name]; ok {
		return sig, nil
	}
	return 0, fmt.Errorf("%q is not a signal name; use e.g. TERM, HUP, INT, QUIT, KILL, USR1 or USR2", s)
}

// SignalName returns the name supervisord prints for sig, without "SIG",
// e.g. "TERM" (29 is "POLL", as supervisord's signame has it), or its number
// when it has none.
func SignalName(sig syscall.Signal) string {
	best := ""
	for name, s := range signalNames {
		if s != sig {
			continue
		}
		// Linux has aliases (CLD/CHLD, POLL/IO, IOT/ABRT): keep the usual one.
		if best == "" || preferredSignalName[name] || (!preferredSignalName[best] && name < best) {
			best = name
		}
	}
	if best == "" {
		return fmt.Sprintf("%d", int(sig))
	}
	return best
}

var preferredSignalName = map[string]bool{"CHLD": true, "POLL": true, "ABRT": true}

// parseExitCodes is datatypes.list_of_exitcodes.
func parseExitCodes(s string) ([]int, string) {
	codes := []int{}
	if s == "" {
		return codes, ""
	}
	for _, part := range strings.Split(s, ",") {
		n, ok := pyInt(part)
		if !ok {
			return nil, fmt.Sprintf("%q is not a list of exit codes; write numbers separated by commas, e.g. 0,2", s)
		}
		if n < 0 || n > 255 {
			return nil, fmt.Sprintf("exit code %d in %q is out of range 0..255", n, s)
		}
		codes = append(codes, int(n))
	}
	return codes, ""
}

// parseAutorestart is datatypes.auto_restart.
func parseAutorestart(s string) (Autorestart, string) {
	l := pyLower(s)
	switch {
	case slices.Contains(truthy, l):
		return AutorestartTrue, ""
	case slices.Contains(falsy, l):
		return AutorestartFalse, ""
	case l == "unexpected":
		return AutorestartUnexpected, ""
	}
	return 0, fmt.Sprintf("%q is not a valid autorestart value; use true, false or unexpected", s)
}

// logfileKind is what datatypes.logfile_name makes of a log file value.
type logfileKind int

const (
	logPath logfileKind = iota
	logNone
	logAuto
	logSyslog
)

func logfileName(s string) logfileKind {
	switch pyLower(s) {
	case "none", "off":
		return logNone
	case "auto":
		return logAuto
	case "syslog":
		return logSyslog
	}
	return logPath
}

// checkName is datatypes.process_or_group_name: the name is stripped and
// may not contain ' ', ':' or '/'. roost also refuses an empty name, other
// whitespace and control characters.
func checkName(name string) (string, string) {
	s := pyStrip(name)
	if s == "" {
		return "", "name is empty"
	}
	for _, r := range s {
		switch {
		case r == ' ' || r == ':' || r == '/':
			return "", fmt.Sprintf("invalid name %q: it may not contain %q (nor spaces, ':' or '/')", name, r)
		case pyIsSpace(r) || unicode.IsControl(r) || r == utf8RuneError:
			return "", fmt.Sprintf("invalid name %q: it may not contain whitespace or control characters", name)
		}
	}
	return s, ""
}

const utf8RuneError = '\uFFFD'

// logLevels are supervisord's log level names (loggers.LevelsByDescription).
var logLevels = []string{"critical", "error", "warn", "info", "debug", "trace", "blather"}

// parseLogLevel is datatypes.logging_level; it returns the lower-cased name.
func parseLogLevel(s string) (string, string) {
	l := pyLower(s)
	if slices.Contains(logLevels, l) {
		return l, ""
	}
	return "", fmt.Sprintf("%q is not a log level; use one of %s", s, strings.Join(logLevels, ", "))
}
