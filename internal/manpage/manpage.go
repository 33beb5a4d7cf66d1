// Package manpage writes manual pages in roff (the man(7) macros) from a
// neutral description, so a program can generate its pages from its own
// command line: cmd/roost turns its urfave/cli commands into Pages.
package manpage

import (
	"fmt"
	"io"
	"strings"
)

// Page is one manual page.
type Page struct {
	Name     string // "roost", "roost-master", "roost.toml"
	Section  int    // 1, 5, 8
	Title    string // the NAME line's text after the dash
	Source   string // "roost 0.1.0"
	Manual   string // "User Commands", "File Formats", "System Administration"
	Synopsis []string
	Sections []Section
}

// Section is a top-level part of a page (DESCRIPTION, OPTIONS...).
type Section struct {
	Title string
	Parts []Part
}

// Part is a block in a section: Text is a paragraph (blank lines split
// paragraphs, lines starting with two spaces or a tab are kept as they
// are), Tag makes it a tagged paragraph (an option, a command), Verbatim
// keeps every line as written.
type Part struct {
	Tag      string
	Text     string
	Verbatim bool
}

// Write renders the page.
func (p Page) Write(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, ".TH %s %d \"\" %s %s\n", quote(strings.ToUpper(p.Name)), p.Section, quote(p.Source), quote(p.Manual))
	b.WriteString(".SH NAME\n")
	b.WriteString(escape(p.Name) + " \\- " + escape(p.Title) + "\n")
	if len(p.Synopsis) > 0 {
		b.WriteString(".SH SYNOPSIS\n")
		for i, s := range p.Synopsis {
			if i > 0 {
				b.WriteString(".br\n")
			}
			b.WriteString(line(s) + "\n")
		}
	}
	for _, s := range p.Sections {
		b.WriteString(".SH " + quote(strings.ToUpper(s.Title)) + "\n")
		for _, part := range s.Parts {
			writePart(&b, part)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func writePart(b *strings.Builder, part Part) {
	switch {
	case part.Verbatim:
		b.WriteString(".PP\n.nf\n")
		for _, l := range strings.Split(strings.TrimRight(part.Text, "\n"), "\n") {
			b.WriteString(line(l) + "\n")
		}
		b.WriteString(".fi\n")
		return
	case part.Tag != "":
		b.WriteString(".TP\n" + line(part.Tag) + "\n")
	default:
		b.WriteString(".PP\n")
	}
	text(b, part.Text)
}

// text writes paragraphs: blank lines split them, indented lines are
// kept as a no-fill block.
func text(b *strings.Builder, s string) {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	inBlock := false
	for i, l := range lines {
		indented := strings.HasPrefix(l, "  ") || strings.HasPrefix(l, "\t")
		switch {
		case indented && !inBlock:
			b.WriteString(".RS\n.nf\n")
			inBlock = true
		case !indented && inBlock:
			b.WriteString(".fi\n.RE\n")
			inBlock = false
		}
		switch {
		case strings.TrimSpace(l) == "":
			if !inBlock && i > 0 {
				b.WriteString(".sp\n")
			}
		case inBlock:
			b.WriteString(line(strings.TrimPrefix(strings.TrimPrefix(l, "\t"), "  ")) + "\n")
		default:
			b.WriteString(line(l) + "\n")
		}
	}
	if inBlock {
		b.WriteString(".fi\n.RE\n")
	}
}

// line escapes one output line: backslashes, hyphens, and a leading dot or
// quote that roff would read as a request.
func line(s string) string {
	s = escape(s)
	if strings.HasPrefix(s, ".") || strings.HasPrefix(s, "'") {
		s = "\\&" + s
	}
	return s
}

func escape(s string) string {
	s = strings.ReplaceAll(s, "\\", "\\e")
	s = strings.ReplaceAll(s, "-", "\\-")
	s = strings.ReplaceAll(s, "`", "\\(ga")
	return s
}

// quote makes s one macro argument.
func quote(s string) string {
	return `"` + strings.ReplaceAll(escape(s), `"`, `\(dq`) + `"`
}
