package config

import (
	"errors"
	"fmt"
	"strings"
)

// This file ports the two uses supervisord makes of Python's shlex module:
// shlex.split(command) (POSIX mode, split on whitespace) for command=, and
// the non-POSIX shlex.shlex tokenizer behind datatypes.dict_of_key_value_pairs
// for environment=. Both work on characters (runes), as Python does.

const shlexWhitespace = " \t\r\n"

// errNoClosingQuotation and errNoEscapedChar are shlex's two errors.
var (
	errNoClosingQuotation = errors.New("no closing quotation")
	errNoEscapedChar      = errors.New("no escaped character after a trailing backslash")
)

// SplitCommand splits a command line exactly like Python's shlex.split
// (posix=True, comments off), which is how supervisord turns command= into
// argv: whitespace separates words, single quotes keep everything, double
// quotes keep everything but let a backslash escape '"' and '\', and outside
// quotes a backslash escapes any character. There is no variable expansion,
// no globbing and no comment character.
func SplitCommand(s string) ([]string, error) {
	var (
		out    []string
		token  []rune
		state  = ' ' // ' ' between words, 'a' in a word, '\'' or '"' in quotes, '\\' after a backslash
		escst  rune  // the state to return to after an escape
		quoted bool
	)
	for _, c := range s {
		switch state {
		case ' ':
			switch {
			case strings.ContainsRune(shlexWhitespace, c):
				continue
			case c == '\\':
				escst, state = 'a', '\\'
			case c == '\'' || c == '"':
				state = c
			default:
				token, state = append(token, c), 'a'
			}
		case '\'', '"':
			quoted = true
			switch {
			case c == state:
				state = 'a'
			case state == '"' && c == '\\':
				escst, state = state, '\\'
			default:
				token = append(token, c)
			}
		case '\\':
			// In double quotes a backslash escapes only '"' and '\'.
			if escst == '"' && c != '"' && c != '\\' {
				token = append(token, '\\')
			}
			token, state = append(token, c), escst
		case 'a':
			switch {
			case strings.ContainsRune(shlexWhitespace, c):
				out = append(out, string(token))
				token, quoted, state = nil, false, ' '
			case c == '\'' || c == '"':
				state = c
			case c == '\\':
				escst, state = 'a', '\\'
			default:
				token = append(token, c)
			}
		}
	}
	switch state {
	case '\'', '"':
		return nil, errNoClosingQuotation
	case '\\':
		return nil, errNoEscapedChar
	case 'a':
		out = append(out, string(token))
	case ' ':
		if quoted {
			out = append(out, string(token))
		}
	}
	return out, nil
}

// envLexer is shlex.shlex(s) in non-POSIX mode with
// wordchars += '/.+-():', the tokenizer of dict_of_key_value_pairs.
type envLexer struct {
	in       []rune
	pos      int
	pushback []rune
}

func isEnvWordChar(c rune) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		c == '_' || strings.ContainsRune("/.+-():", c)
}

func (l *envLexer) read() (rune, bool) {
	if n := len(l.pushback); n > 0 {
		c := l.pushback[n-1]
		l.pushback = l.pushback[:n-1]
		return c, true
	}
	if l.pos >= len(l.in) {
		return 0, false
	}
	c := l.in[l.pos]
	l.pos++
	return c, true
}

// skipLine consumes up to and including the next newline, like
// instream.readline() after a '#'.
func (l *envLexer) skipLine() {
	for {
		c, ok := l.read()
		if !ok || c == '\n' {
			return
		}
	}
}

// next returns the next token; "" means the end (shlex's eof in non-POSIX
// mode is the empty string).
func (l *envLexer) next() (string, error) {
	var token []rune
	state := ' '
	for {
		c, ok := l.read()
		switch {
		case state == ' ':
			switch {
			case !ok:
				return "", nil
			case strings.ContainsRune(shlexWhitespace, c):
				if len(token) > 0 {
					return string(token), nil
				}
			case c == '#':
				l.skipLine()
			case isEnvWordChar(c):
				token, state = []rune{c}, 'a'
			case c == '\'' || c == '"':
				token, state = []rune{c}, c
			default:
				return string(c), nil
			}
		case state == '\'' || state == '"':
			if !ok {
				return "", errNoClosingQuotation
			}
			token = append(token, c)
			if c == state {
				return string(token), nil
			}
		default: // 'a': in a word
			switch {
			case !ok:
				return string(token), nil
			case strings.ContainsRune(shlexWhitespace, c):
				return string(token), nil
			case c == '#':
				// Non-POSIX shlex skips the rest of the line and keeps
				// building the same word after it.
				l.skipLine()
			case isEnvWordChar(c) || c == '\'' || c == '"':
				token = append(token, c)
			default:
				l.pushback = append(l.pushback, c)
				return string(token), nil
			}
		}
	}
}

// parseEnvironment is datatypes.dict_of_key_value_pairs: KEY=val pairs,
// separated by any one token (normally ','), values stripped of surrounding
// quote characters. The result keeps first-seen order with the last value,
// like a Python dict.
func parseEnvironment(s string) (Environment, error) {
	l := &envLexer{in: []rune(s)}
	var toks []string
	for {
		t, err := l.next()
		if err != nil {
			return nil, err
		}
		if t == "" {
			break
		}
		toks = append(toks, t)
		if len(toks) > maxExpanded {
			return nil, fmt.Errorf("too many tokens")
		}
	}
	var env envBuilder
	for i := 0; i < len(toks); i += 4 {
		if i+3 > len(toks) || toks[i+1] != "=" {
			return nil, fmt.Errorf("unexpected end of key/value pairs in %q; write KEY=\"value\",KEY2=\"value2\"", s)
		}
		env.set(toks[i], strings.Trim(toks[i+2], "'\""))
	}
	return env.env, nil
}

// envBuilder builds an Environment like a Python dict: setting a name
// again replaces its value in place (keeping its first position).
type envBuilder struct {
	env   Environment
	index map[string]int
}

func (b *envBuilder) set(name, value string) {
	if b.index == nil {
		b.index = map[string]int{}
	}
	if i, ok := b.index[name]; ok {
		b.env[i].Value = value
		return
	}
	b.index[name] = len(b.env)
	b.env = append(b.env, EnvVar{Name: name, Value: value})
}
