package config

import (
	"bytes"
	"strings"
	"unicode/utf8"
)

// This file is the INI reader: a port of Python 3's
// configparser.RawConfigParser._read as supervisord configures it
// (UnhosedConfigParser: inline_comment_prefixes=(';','#'), strict=False,
// empty_lines_in_values=True), plus the line numbers ConfigParser forgets.
//
// The rules, each verified against the real parser:
//   - a line whose stripped text starts with ';' or '#' is a comment;
//   - ';' or '#' starts an inline comment only at the start of the line or
//     after whitespace, and quotes do not protect it;
//   - "key = value" or "key: value", the first '=' or ':' wins; the key is
//     stripped and lower-cased, the value stripped;
//   - a line indented deeper than its key line continues the value; the
//     parts are joined with "\n", blank lines inside are kept, comment lines
//     dropped, trailing blank lines removed;
//   - a section seen twice (in one file or across includes) is merged and a
//     key seen twice keeps the last value; [DEFAULT] keys appear in every
//     section; section names are case-sensitive.
//
// Where supervisord silently misreads a line (a section header with text
// after the ']', a '[' line without one, a header indented into a value),
// roost reports an error instead.

// valueLine is one physical line of a value.
type valueLine struct {
	text string
	line int
}

// iniValue is one key's value in a section, with where it came from.
type iniValue struct {
	text  string      // the value as ConfigParser stores it
	pos   Pos         // the line where the key starts
	lines []valueLine // the value's lines: the key line, then continuations
	// prev is the assignment this one replaced (a repeated key or a merged
	// section). supervisord only sees the last; roost's [proxy:x] static
	// reads them all.
	prev *iniValue
	// comment is set when an inline comment was cut from one of its lines.
	comment bool
	// fromDefault is set when the value is a [DEFAULT] key copied into the
	// section (by the %(here)s pass, as ConfigParser.set does).
	fromDefault bool
}

// all returns every assignment of the key, oldest first.
func (v *iniValue) all() []*iniValue {
	var out []*iniValue
	for x := v; x != nil; x = x.prev {
		out = append(out, x)
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out
}

// iniSection is one section, merged over every header of the same name.
type iniSection struct {
	skip    bool // a section the parser does not keep (iniParser.keep)
	name    string
	pos     Pos // the first header
	headers []Pos
	keys    map[string]*iniValue
	order   []string // keys in first-seen order
}

func newSection(name string, pos Pos) *iniSection {
	return &iniSection{name: name, pos: pos, keys: map[string]*iniValue{}}
}

func (s *iniSection) set(key string, v *iniValue) {
	if old, ok := s.keys[key]; ok {
		v.prev = old
	} else {
		s.order = append(s.order, key)
	}
	s.keys[key] = v
}

// iniParser holds every section read so far, across the main file and its
// includes, like one RawConfigParser that read several files.
type iniParser struct {
	sections map[string]*iniSection
	order    []string // section names in first-seen order (ConfigParser.sections())
	defaults *iniSection
	// sectionFile maps a section to the file that first defined it, like
	// UnhosedConfigParser.section_to_file.
	sectionFile map[string]string
	// knownKey says whether key is an option of the section; the reader uses
	// it to warn about option lines swallowed by a continuation.
	knownKey func(section, key string) bool
	// keep, when set, says which sections to store; the lines of the others
	// are still read (they end values and sections) but not kept, which is
	// all a reader of a few sections needs of a large file.
	keep func(section string) bool
}

func newParser() *iniParser {
	return &iniParser{
		sections:    map[string]*iniSection{},
		defaults:    newSection("DEFAULT", Pos{}),
		sectionFile: map[string]string{},
	}
}

// has reports whether the section exists (ConfigParser.has_section).
func (p *iniParser) has(section string) bool {
	_, ok := p.sections[section]
	return ok
}

// get returns the key's value in the section, falling back to [DEFAULT]
// (ConfigParser.get), or nil.
func (p *iniParser) get(section, key string) *iniValue {
	if s, ok := p.sections[section]; ok {
		if v, ok := s.keys[key]; ok {
			return v
		}
	}
	if v, ok := p.defaults.keys[key]; ok {
		return v
	}
	return nil
}

// keys returns the section's keys including [DEFAULT]'s, defaults first
// (the order of ConfigParser.items).
func (p *iniParser) keys(section string) []string {
	s := p.sections[section]
	var out []string
	seen := map[string]bool{}
	for _, k := range p.defaults.order {
		out = append(out, k)
		seen[k] = true
	}
	if s != nil {
		for _, k := range s.order {
			if !seen[k] {
				out = append(out, k)
			}
		}
	}
	return out
}

// maxDefaultCopies bounds how many [DEFAULT] values expandHere copies into
// sections (sections times [DEFAULT] keys using %(here)s).
const maxDefaultCopies = 100000

// expandHere replaces "%(here)s" textually in every value of every section
// (and in the [DEFAULT] values each section sees, which are then copied into
// the section), like UnhosedConfigParser.expand_here. It returns false when
// that would copy more than maxDefaultCopies values.
func (p *iniParser) expandHere(here string) bool {
	const h = "%(here)s"
	var defaults []string // [DEFAULT] keys holding %(here)s
	isDefault := map[string]bool{}
	for _, k := range p.defaults.order {
		if strings.Contains(p.defaults.keys[k].text, h) {
			defaults = append(defaults, k)
			isDefault[k] = true
		}
	}
	if len(defaults)*len(p.order) > maxDefaultCopies {
		return false
	}
	for _, name := range p.order {
		s := p.sections[name]
		keys := append([]string(nil), defaults...)
		for _, k := range s.order {
			if !isDefault[k] {
				keys = append(keys, k)
			}
		}
		for _, k := range keys {
			v, own := s.keys[k]
			if !own {
				v = p.defaults.keys[k]
			}
			if !strings.Contains(v.text, h) {
				continue
			}
			nv := *v
			nv.text = strings.ReplaceAll(v.text, h, here)
			nv.lines = make([]valueLine, len(v.lines))
			for i, l := range v.lines {
				nv.lines[i] = valueLine{strings.ReplaceAll(l.text, h, here), l.line}
			}
			if own {
				// Earlier assignments still holding %(here)s came from the
				// same file: replace them too.
				var prev *iniValue
				for _, x := range v.all()[:len(v.all())-1] {
					c := *x
					c.text = strings.ReplaceAll(x.text, h, here)
					c.prev = prev
					prev = &c
				}
				nv.prev = prev
				s.keys[k] = &nv
			} else {
				nv.fromDefault = true
				nv.prev = nil
				s.set(k, &nv)
			}
		}
	}
	return true
}

// maxFileSize bounds one configuration file; real ones are a few KB.
const maxFileSize = 4 << 20

// parse reads one file's text into the parser. file is the path shown in
// diagnostics. It returns false when the file had errors (reported to d);
// like ConfigParser, the keys of a file with errors are still merged, but
// the caller stops.
func (p *iniParser) parse(file string, data []byte, d *diagList) bool {
	nerr := len(d.errs)
	if len(data) > maxFileSize {
		d.errorf(Pos{File: file}, "", "", "file is %d bytes, more than roost's limit of %d for a configuration file", len(data), maxFileSize)
		return false
	}
	if bytes.HasPrefix(data, []byte("\xef\xbb\xbf")) {
		d.errorf(Pos{File: file, Line: 1}, "", "", "file starts with a UTF-8 byte order mark, which supervisord cannot parse; save it as UTF-8 without a BOM")
		return false
	}
	text := string(data)
	lines := splitLines(text)
	for i, line := range lines {
		if !utf8.ValidString(line) {
			d.errorf(Pos{File: file, Line: i + 1}, "", "", "line is not valid UTF-8; supervisord reads configuration files as UTF-8")
			return false
		}
		if strings.IndexByte(line, 0) >= 0 {
			d.errorf(Pos{File: file, Line: i + 1}, "", "", "line contains a NUL byte")
			return false
		}
	}

	var (
		cur         *iniSection // nil before the first header
		optname     string      // the option continuation lines extend; "" for none
		indentLevel = 0
		pending     []*iniValue // values of this file still to join
	)
	flush := func() {
		for _, v := range pending {
			texts := make([]string, len(v.lines))
			for i, l := range v.lines {
				texts[i] = l.text
			}
			v.text = pyRstrip(strings.Join(texts, "\n"))
			// Blank lines kept inside the value are not lines of their own.
			kept := v.lines[:0]
			for _, l := range v.lines {
				if l.text != "" {
					kept = append(kept, l)
				}
			}
			v.lines = kept
		}
	}
	var curVal *iniValue
	for i, line := range lines {
		lineno := i + 1
		pos := Pos{File: file, Line: lineno}
		cs := commentStart(line)
		value := line
		if cs >= 0 {
			value = line[:cs]
		}
		value = pyStrip(value)
		if value == "" {
			// empty_lines_in_values: a blank line (not a comment) inside a
			// value is part of it.
			if cs < 0 && cur != nil && optname != "" && curVal != nil {
				curVal.lines = append(curVal.lines, valueLine{"", lineno})
			}
			continue
		}
		indent := indentOf(line)
		if cur != nil && optname != "" && indent > indentLevel {
			// A continuation line.
			if h, _, ok := matchHeader(value); ok {
				d.errorf(pos, cur.name, optname, "indented section header [%s] is read as part of %s's value; remove the indentation", h, optname)
			} else if k, _, ok := splitOption(value); ok && optname != "environment" && p.knownKey != nil && p.knownKey(cur.name, pyLower(k)) {
				d.warnf(pos, cur.name, optname, "indented line %q is read as part of %s's value, not as option %s; remove the indentation if it is an option", value, optname, pyLower(k))
			}
			if curVal != nil {
				curVal.lines = append(curVal.lines, valueLine{value, lineno})
				curVal.comment = curVal.comment || cs > 0
			}
			continue
		}
		indentLevel = indent
		if strings.HasPrefix(value, "[") {
			h, rest, ok := matchHeader(value)
			switch {
			case !ok && value == "[]":
				d.errorf(pos, "", "", "empty section name []")
				continue
			case !ok:
				d.errorf(pos, "", "", "malformed section header %q: missing ']' (supervisord would read this line as an option)", value)
				continue
			case rest != "":
				d.errorf(pos, h, "", "text %q after the section header; put comments after a space and ';' or '#'", rest)
				continue
			}
			optname, curVal = "", nil
			if h == "DEFAULT" {
				cur = p.defaults
				if cur.pos.File == "" {
					cur.pos = pos
				}
				cur.headers = append(cur.headers, pos)
				continue
			}
			s, ok := p.sections[h]
			if !ok && p.keep != nil && !p.keep(h) {
				cur = &iniSection{skip: true, name: h, pos: pos}
				continue
			}
			if !ok {
				s = newSection(h, pos)
				p.sections[h] = s
				p.order = append(p.order, h)
				p.sectionFile[h] = file
			}
			s.headers = append(s.headers, pos)
			cur = s
			continue
		}
		if cur == nil {
			d.errorf(pos, "", "", "%q comes before any [section] header; add a header such as [supervisord] above it", value)
			flush()
			return false
		}
		k, v, ok := splitOption(value)
		if !ok {
			d.errorf(pos, cur.name, "", "%q is not an option line; write key = value (or key: value)", value)
			continue
		}
		if k == "" {
			d.errorf(pos, cur.name, "", "option line %q has no name before the '=' or ':'", value)
			optname, curVal = "", nil
			continue
		}
		optname = pyLower(k)
		if cur.skip {
			curVal = nil
			continue
		}
		curVal = &iniValue{pos: pos, lines: []valueLine{{v, lineno}}, comment: cs > 0}
		cur.set(optname, curVal)
		pending = append(pending, curVal)
	}
	flush()
	return len(d.errs) == nerr
}

// commentStart returns the index where a comment starts in line, or -1.
// It reproduces configparser's loop exactly, including its quirk: prefixes
// are searched in rounds, and the loop stops at the first round that finds
// any comment, so "k=a;b ;c #d" keeps " ;c" (the '#' is found in the same
// round as the non-comment ';').
func commentStart(line string) int {
	const none = int(^uint(0) >> 1)
	cs := none
	type cand struct {
		prefix byte
		index  int
	}
	active := []cand{{';', -1}, {'#', -1}}
	for cs == none && len(active) > 0 {
		var next []cand
		for _, c := range active {
			from := c.index + 1
			if from > len(line) {
				continue
			}
			j := strings.IndexByte(line[from:], c.prefix)
			if j < 0 {
				continue
			}
			idx := from + j
			next = append(next, cand{c.prefix, idx})
			if idx == 0 {
				cs = min(cs, idx)
			} else if r, _ := utf8.DecodeLastRuneInString(line[:idx]); pyIsSpace(r) {
				cs = min(cs, idx)
			}
		}
		active = next
	}
	t := pyStrip(line)
	if strings.HasPrefix(t, "#") || strings.HasPrefix(t, ";") {
		cs = 0
	}
	if cs == none {
		return -1
	}
	return cs
}

// indentOf counts the whitespace characters (runes) before the first
// non-whitespace one.
func indentOf(line string) int {
	n := 0
	for _, r := range line {
		if !pyIsSpace(r) {
			break
		}
		n++
	}
	return n
}

// matchHeader matches configparser's SECTCRE, r"\[(?P<header>.+)\]", at the
// start of a stripped line: the header runs to the last ']' and must not be
// empty. rest is what follows the ']' (configparser ignores it).
func matchHeader(value string) (header, rest string, ok bool) {
	if !strings.HasPrefix(value, "[") {
		return "", "", false
	}
	j := strings.LastIndexByte(value, ']')
	if j < 2 {
		return "", "", false
	}
	return value[1:j], value[j+1:], true
}

// splitOption matches configparser's OPTCRE on a stripped line: the name is
// everything before the first '=' or ':', right-stripped; the value the rest,
// stripped.
func splitOption(value string) (key, val string, ok bool) {
	i := strings.IndexAny(value, "=:")
	if i < 0 {
		return "", "", false
	}
	return pyRstrip(value[:i]), pyStrip(value[i+1:]), true
}
