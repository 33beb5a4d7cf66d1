package config

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// This file is supervisord's expansion: value % mapping, Python's printf-style
// formatting with a dict (PyUnicode_Format). roost supports what supervisord
// configurations use: %(name)s and %(name)d (also i and u) with flags
// "-+ #0", a width, a precision and an ignored h/l/L length modifier, and
// %% for a literal '%'. Everything Python would reject is rejected with the
// same reason; conversions Python accepts but configurations never need
// (%r, %x, %f, %c...) are rejected with a message saying what is supported.

// pyValue is an expansion value: process_num and numprocs are integers,
// everything else is a string.
type pyValue struct {
	s     string
	i     int64
	isInt bool
}

func strValue(s string) pyValue { return pyValue{s: s} }
func intValue(i int64) pyValue  { return pyValue{i: i, isInt: true} }

// expansions is the mapping a value is formatted with.
type expansions map[string]pyValue

// update copies o into e, like dict.update.
func (e expansions) update(o expansions) {
	for k, v := range o {
		e[k] = v
	}
}

// maxExpanded bounds an expanded value, and maxFormatWidth a width or
// precision, so a hostile file cannot make roost allocate without bound.
const (
	maxExpanded    = 1 << 20
	maxFormatWidth = 4096
)

// formatError is why a value could not be expanded.
type formatError struct {
	missing string // the name that is not in the mapping, or ""
	msg     string
}

func (e *formatError) Error() string { return e.msg }

// lookup finds name in layers, the last layer winning (like successive
// dict.update calls).
func lookup(layers []expansions, name string) (pyValue, bool) {
	for i := len(layers) - 1; i >= 0; i-- {
		if v, ok := layers[i][name]; ok {
			return v, true
		}
	}
	return pyValue{}, false
}

// names lists the non-ENV_ names of the layers, sorted, for error messages.
func names(layers []expansions) string {
	var ns []string
	env := false
	seen := map[string]bool{}
	for _, e := range layers {
		for k := range e {
			if strings.HasPrefix(k, "ENV_") {
				env = true
				continue
			}
			if !seen[k] {
				seen[k] = true
				ns = append(ns, k)
			}
		}
	}
	sort.Strings(ns)
	if env {
		ns = append(ns, "ENV_<NAME> for each environment variable")
	}
	return strings.Join(ns, ", ")
}

// pyFormat computes s % m, where m is the union of the layers (later
// layers win).
func pyFormat(s string, m ...expansions) (string, *formatError) {
	if !strings.Contains(s, "%") {
		return s, nil
	}
	var b strings.Builder
	i := 0
	for i < len(s) {
		j := strings.IndexByte(s[i:], '%')
		if j < 0 {
			b.WriteString(s[i:])
			break
		}
		b.WriteString(s[i : i+j])
		start := i + j // index of the '%'
		i = start + 1
		if i >= len(s) {
			return "", &formatError{msg: "incomplete format: a lone '%' at the end; write %% for a literal '%'"}
		}
		if s[i] == '%' {
			b.WriteByte('%')
			i++
			continue
		}
		var key string
		if s[i] != '(' {
			return "", &formatError{msg: fmt.Sprintf("%q at index %d has no name; write %%(name)s, or %%%% for a literal '%%'", s[start:min(len(s), start+2)], runeIndex(s, start))}
		}
		// %(key): parentheses nest, as in Python.
		depth := 1
		k := i + 1
		for k < len(s) && depth > 0 {
			switch s[k] {
			case '(':
				depth++
			case ')':
				depth--
			}
			k++
		}
		if depth > 0 {
			return "", &formatError{msg: "incomplete format key: '%(' without its ')'"}
		}
		key = s[i+1 : k-1]
		i = k
		val, ok := lookup(m, key)
		if !ok {
			if env, ok := strings.CutPrefix(key, "ENV_"); ok {
				return "", &formatError{missing: key, msg: fmt.Sprintf("%%(%s): environment variable %s is not set; set it, or define it with environment= (available names: %s)", key, env, names(m))}
			}
			return "", &formatError{missing: key, msg: fmt.Sprintf("%%(%s): %q is not available here; available names: %s", key, key, names(m))}
		}
		var flags string
		for i < len(s) && strings.IndexByte("-+ #0", s[i]) >= 0 {
			flags += s[i : i+1]
			i++
		}
		width, prec := -1, -1
		if i < len(s) && s[i] == '*' {
			return "", &formatError{msg: "'*' width needs a tuple argument; supervisord expansions cannot use it"}
		}
		var n int
		var err *formatError
		if n, i, err = readNum(s, i); err != nil {
			return "", err
		} else if n >= 0 {
			width = n
		}
		if i < len(s) && s[i] == '.' {
			i++
			if i < len(s) && s[i] == '*' {
				return "", &formatError{msg: "'*' precision needs a tuple argument; supervisord expansions cannot use it"}
			}
			if n, i, err = readNum(s, i); err != nil {
				return "", err
			}
			prec = max(n, 0)
		}
		if i < len(s) && (s[i] == 'h' || s[i] == 'l' || s[i] == 'L') {
			i++
		}
		if i >= len(s) {
			return "", &formatError{msg: "incomplete format: %(" + key + ") needs a conversion such as s or d"}
		}
		conv, size := utf8.DecodeRuneInString(s[i:])
		at := runeIndex(s, i)
		i += size
		var out string
		switch conv {
		case 's':
			str := val.s
			if val.isInt {
				str = strconv.FormatInt(val.i, 10)
			}
			if prec >= 0 && utf8.RuneCountInString(str) > prec {
				str = string([]rune(str)[:prec])
			}
			out = pad(str, width, strings.Contains(flags, "-"))
		case 'd', 'i', 'u':
			if !val.isInt {
				return "", &formatError{msg: fmt.Sprintf("%%(%s)%c needs a number, but %s is a string; use %%(%s)s", key, conv, key, key)}
			}
			out = formatInt(val.i, flags, width, prec)
		case 'r', 'a', 'c', 'o', 'x', 'X', 'e', 'E', 'f', 'F', 'g', 'G':
			return "", &formatError{msg: fmt.Sprintf("conversion '%c' at index %d is valid Python but not supported by roost; use %%(%s)s or %%(%s)d", conv, at, key, key)}
		default:
			return "", &formatError{msg: fmt.Sprintf("unsupported format character %q (0x%x) at index %d; use %%(%s)s or %%(%s)d, and %%%% for a literal '%%'", conv, conv, at, key, key)}
		}
		if b.Len()+len(out) > maxExpanded {
			return "", &formatError{msg: fmt.Sprintf("expanded value is longer than %d bytes", maxExpanded)}
		}
		b.WriteString(out)
	}
	if b.Len() > maxExpanded {
		return "", &formatError{msg: fmt.Sprintf("expanded value is longer than %d bytes", maxExpanded)}
	}
	return b.String(), nil
}

// readNum reads decimal digits at s[i:]; n is -1 when there are none.
func readNum(s string, i int) (n, next int, err *formatError) {
	n = -1
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		if n < 0 {
			n = 0
		}
		n = n*10 + int(s[i]-'0')
		if n > maxFormatWidth {
			return 0, i, &formatError{msg: fmt.Sprintf("width or precision above roost's limit of %d", maxFormatWidth)}
		}
		i++
	}
	return n, i, nil
}

// runeIndex converts a byte index into a character index, as Python reports.
func runeIndex(s string, byteIndex int) int { return utf8.RuneCountInString(s[:byteIndex]) }

// pad right-justifies s in width characters, or left-justifies it.
func pad(s string, width int, left bool) string {
	n := utf8.RuneCountInString(s)
	if width <= n {
		return s
	}
	if left {
		return s + strings.Repeat(" ", width-n)
	}
	return strings.Repeat(" ", width-n) + s
}

// formatInt formats an integer like Python's %d: the precision is a minimum
// number of digits, the sign comes from '+' or ' ', '-' left-justifies and
// '0' pads with zeros after the sign.
func formatInt(v int64, flags string, width, prec int) string {
	digits := strconv.FormatUint(absU(v), 10)
	if prec > len(digits) {
		digits = strings.Repeat("0", prec-len(digits)) + digits
	}
	sign := ""
	switch {
	case v < 0:
		sign = "-"
	case strings.Contains(flags, "+"):
		sign = "+"
	case strings.Contains(flags, " "):
		sign = " "
	}
	n := len(sign) + len(digits)
	switch {
	case width <= n:
		return sign + digits
	case strings.Contains(flags, "-"):
		return sign + digits + strings.Repeat(" ", width-n)
	case strings.Contains(flags, "0"):
		return sign + strings.Repeat("0", width-n) + digits
	default:
		return strings.Repeat(" ", width-n) + sign + digits
	}
}

func absU(v int64) uint64 {
	if v < 0 {
		return uint64(-(v + 1)) + 1
	}
	return uint64(v)
}
