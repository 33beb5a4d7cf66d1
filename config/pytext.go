package config

import (
	"strings"
	"unicode"
)

// This file holds the small pieces of Python's str behaviour that supervisord's
// parser relies on: what counts as whitespace, strip and split.

// pyIsSpace reports whether r is whitespace for Python's str.isspace (and
// for the \s of Python's re module on str patterns). It is Go's
// unicode.IsSpace plus the four ASCII separators U+001C..U+001F, which
// Python counts as whitespace and Go does not.
func pyIsSpace(r rune) bool {
	return unicode.IsSpace(r) || (r >= 0x1c && r <= 0x1f)
}

// pyStrip is Python's str.strip() with no argument.
func pyStrip(s string) string { return strings.TrimFunc(s, pyIsSpace) }

// pyRstrip is Python's str.rstrip() with no argument.
func pyRstrip(s string) string { return strings.TrimRightFunc(s, pyIsSpace) }

// pyFields is Python's str.split() with no argument.
func pyFields(s string) []string { return strings.FieldsFunc(s, pyIsSpace) }

// pyLower is Python's str.lower(), close enough for option names: the
// characters where the two differ are never part of a known option.
func pyLower(s string) string { return strings.ToLower(s) }

// splitLines splits text into lines the way Python's text-mode file
// iteration does with universal newlines: "\n", "\r\n" and a lone "\r" each
// end a line; the terminators are dropped. A final line without a
// terminator is kept; a trailing terminator does not make an empty line.
func splitLines(text string) []string {
	var lines []string
	start := 0
	for i := 0; i < len(text); i++ {
		switch text[i] {
		case '\n':
			lines = append(lines, text[start:i])
			start = i + 1
		case '\r':
			lines = append(lines, text[start:i])
			if i+1 < len(text) && text[i+1] == '\n' {
				i++
			}
			start = i + 1
		}
	}
	if start < len(text) {
		lines = append(lines, text[start:])
	}
	return lines
}
