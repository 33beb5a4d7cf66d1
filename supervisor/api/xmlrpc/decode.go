package xmlrpc

import (
	"bufio"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// MaxDepth is how deeply values may nest in a request (an array in an
// array in ... counts one per level). Deeper requests are refused.
const MaxDepth = 100

// dateTimeLayout is the only dateTime.iso8601 form supervisord accepts
// (time.strptime(text, "%Y%m%dT%H:%M:%S")) and the one Python's client sends.
const dateTimeLayout = "20060102T15:04:05"

// DecodeCall reads one XML-RPC methodCall document from r. The error says
// what is wrong and where; the caller decides how much of r to offer
// (NewHandler caps it at Options.MaxRequestBytes).
func DecodeCall(r io.Reader) (Call, error) {
	p := &parser{d: xml.NewDecoder(r)}
	p.d.CharsetReader = charsetReader
	c, err := p.call()
	if err != nil {
		return Call{}, fmt.Errorf("xmlrpc: bad methodCall: %w", err)
	}
	return c, nil
}

// Fault is the fault a server answered instead of a value.
type Fault struct {
	Code   int
	String string
}

func (f *Fault) Error() string { return fmt.Sprintf("fault %d: %s", f.Code, f.String) }

// DecodeResponse reads one XML-RPC methodResponse document from r (what a
// client of supervisord's /RPC2 receives): its value, or its fault as a
// *Fault error. Values decode as in DecodeCall (a struct is a Struct).
func DecodeResponse(r io.Reader) (any, error) {
	p := &parser{d: xml.NewDecoder(r)}
	p.d.CharsetReader = charsetReader
	v, err := p.response()
	var f *Fault
	if err != nil && !errors.As(err, &f) {
		return nil, fmt.Errorf("xmlrpc: bad methodResponse: %w", err)
	}
	return v, err
}

// response reads <methodResponse> holding <params><param><value> or
// <fault><value><struct> with faultCode and faultString.
func (p *parser) response() (any, error) {
	if err := p.start("methodResponse"); err != nil {
		return nil, err
	}
	t, err := p.element()
	if err != nil {
		return nil, err
	}
	s, ok := t.(xml.StartElement)
	if !ok || (s.Name.Local != "params" && s.Name.Local != "fault") {
		return nil, p.errorf("expected <params> or <fault>, found %s", describe(t))
	}
	if s.Name.Local == "params" {
		if err := p.start("param"); err != nil {
			return nil, err
		}
	}
	if err := p.start("value"); err != nil {
		return nil, err
	}
	v, err := p.value()
	if err != nil {
		return nil, err
	}
	if s.Name.Local == "params" {
		if err := p.end("param"); err != nil {
			return nil, err
		}
	}
	if err := p.end(s.Name.Local); err != nil {
		return nil, err
	}
	if err := p.end("methodResponse"); err != nil {
		return nil, err
	}
	if s.Name.Local == "params" {
		return v, nil
	}
	st, _ := v.(Struct)
	code, _ := st.Get("faultCode")
	text, _ := st.Get("faultString")
	f := &Fault{}
	f.Code, _ = code.(int)
	f.String, _ = text.(string)
	return nil, f
}

type parser struct {
	d     *xml.Decoder
	depth int
}

func (p *parser) errorf(format string, args ...any) error {
	line, col := p.d.InputPos()
	return fmt.Errorf("line %d, column %d: %s", line, col, fmt.Sprintf(format, args...))
}

// token returns the next token that matters: start and end elements and
// character data. Comments and processing instructions are skipped; a
// DOCTYPE is refused (no client sends one, and it is how entity tricks
// begin).
func (p *parser) token() (xml.Token, error) {
	for {
		t, err := p.d.Token()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil, p.errorf("unexpected end of document")
			}
			return nil, err
		}
		switch t := t.(type) {
		case xml.StartElement, xml.EndElement:
			return t, nil
		case xml.CharData:
			return t, nil
		case xml.Directive:
			return nil, p.errorf("directives such as DOCTYPE are not accepted")
		}
	}
}

// element returns the next start or end element, refusing any text but
// whitespace on the way.
func (p *parser) element() (xml.Token, error) {
	for {
		t, err := p.token()
		if err != nil {
			return nil, err
		}
		if cd, ok := t.(xml.CharData); ok {
			if !isSpace(cd) {
				return nil, p.errorf("unexpected text %q", clip(cd))
			}
			continue
		}
		return t, nil
	}
}

// start expects the start of an element called name.
func (p *parser) start(name string) error {
	t, err := p.element()
	if err != nil {
		return err
	}
	s, ok := t.(xml.StartElement)
	if !ok || s.Name.Local != name {
		return p.errorf("expected <%s>, found %s", name, describe(t))
	}
	return nil
}

// end expects the end of the element called name.
func (p *parser) end(name string) error {
	t, err := p.element()
	if err != nil {
		return err
	}
	if e, ok := t.(xml.EndElement); !ok || e.Name.Local != name {
		return p.errorf("expected </%s>, found %s", name, describe(t))
	}
	return nil
}

// text reads the character data of the element just opened, up to its end.
// Nested elements are refused.
func (p *parser) text(name string) (string, error) {
	var b strings.Builder
	for {
		t, err := p.token()
		if err != nil {
			return "", err
		}
		switch t := t.(type) {
		case xml.CharData:
			b.Write(t)
		case xml.EndElement:
			return b.String(), nil
		default:
			return "", p.errorf("unexpected %s inside <%s>", describe(t), name)
		}
	}
}

func (p *parser) call() (Call, error) {
	var c Call
	if err := p.start("methodCall"); err != nil {
		return c, err
	}
	seenName, seenParams := false, false
	for {
		t, err := p.element()
		if err != nil {
			return c, err
		}
		if _, ok := t.(xml.EndElement); ok {
			break
		}
		s := t.(xml.StartElement)
		switch {
		case s.Name.Local == "methodName" && !seenName:
			seenName = true
			if c.Method, err = p.text("methodName"); err != nil {
				return c, err
			}
		case s.Name.Local == "params" && !seenParams:
			seenParams = true
			if c.Params, err = p.params(); err != nil {
				return c, err
			}
		default:
			return c, p.errorf("unexpected <%s> in <methodCall>", s.Name.Local)
		}
	}
	if !seenName {
		return c, p.errorf("no <methodName>")
	}
	// Only whitespace, comments and processing instructions may follow.
	for {
		t, err := p.d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return c, err
		}
		switch t := t.(type) {
		case xml.Comment, xml.ProcInst:
		case xml.CharData:
			if !isSpace(t) {
				return c, p.errorf("text after </methodCall>")
			}
		default:
			return c, p.errorf("%s after </methodCall>", describe(t))
		}
	}
	if c.Params == nil {
		c.Params = []any{}
	}
	return c, nil
}

func (p *parser) params() ([]any, error) {
	params := []any{}
	for {
		t, err := p.element()
		if err != nil {
			return nil, err
		}
		if _, ok := t.(xml.EndElement); ok {
			return params, nil
		}
		if s := t.(xml.StartElement); s.Name.Local != "param" {
			return nil, p.errorf("expected <param>, found <%s>", s.Name.Local)
		}
		if err := p.start("value"); err != nil {
			return nil, err
		}
		v, err := p.value()
		if err != nil {
			return nil, err
		}
		params = append(params, v)
		if err := p.end("param"); err != nil {
			return nil, err
		}
	}
}

// value reads a value whose <value> start was just read, through its end.
func (p *parser) value() (any, error) {
	p.depth++
	defer func() { p.depth-- }()
	if p.depth > MaxDepth {
		return nil, p.errorf("values nested deeper than %d", MaxDepth)
	}
	var text strings.Builder
	for {
		t, err := p.token()
		if err != nil {
			return nil, err
		}
		switch t := t.(type) {
		case xml.CharData:
			text.Write(t)
		case xml.EndElement:
			// An untyped value is a string, whitespace included.
			return text.String(), nil
		case xml.StartElement:
			if s := text.String(); !isSpace(s) {
				return nil, p.errorf("text %q beside <%s>", clip(s), t.Name.Local)
			}
			v, err := p.typed(t.Name.Local)
			if err != nil {
				return nil, err
			}
			if err := p.end("value"); err != nil {
				return nil, err
			}
			return v, nil
		}
	}
}

// typed reads the typed value whose start element (called name) was just
// read, through its end.
func (p *parser) typed(name string) (any, error) {
	switch name {
	case "array":
		return p.array()
	case "struct":
		return p.structure()
	}
	s, err := p.text(name)
	if err != nil {
		return nil, err
	}
	switch name {
	case "string":
		return s, nil
	case "int", "i4", "i8":
		n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
		if err != nil || n != int64(int(n)) {
			return nil, p.errorf("bad <%s> %q", name, clip(s))
		}
		return int(n), nil
	case "boolean":
		switch strings.TrimSpace(s) {
		case "1", "true":
			return true, nil
		case "0", "false":
			return false, nil
		}
		return nil, p.errorf("bad <boolean> %q", clip(s))
	case "double":
		f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
		if err != nil && !errors.Is(err, strconv.ErrRange) {
			return nil, p.errorf("bad <double> %q", clip(s))
		}
		return f, nil
	case "dateTime.iso8601":
		t, err := time.Parse(dateTimeLayout, strings.TrimSpace(s))
		if err != nil {
			return nil, p.errorf("bad <dateTime.iso8601> %q (want YYYYMMDDTHH:MM:SS)", clip(s))
		}
		return t, nil
	case "base64":
		b, err := base64.StdEncoding.DecodeString(stripSpace(s))
		if err != nil {
			return nil, p.errorf("bad <base64>: %v", err)
		}
		return b, nil
	case "nil":
		if !isSpace(s) {
			return nil, p.errorf("text inside <nil/>")
		}
		return nil, nil
	}
	return nil, p.errorf("unknown value type <%s>", name)
}

func (p *parser) array() (any, error) {
	if err := p.start("data"); err != nil {
		return nil, err
	}
	vs := []any{}
	for {
		t, err := p.element()
		if err != nil {
			return nil, err
		}
		if _, ok := t.(xml.EndElement); ok {
			break
		}
		if s := t.(xml.StartElement); s.Name.Local != "value" {
			return nil, p.errorf("expected <value> in <data>, found <%s>", s.Name.Local)
		}
		v, err := p.value()
		if err != nil {
			return nil, err
		}
		vs = append(vs, v)
	}
	if err := p.end("array"); err != nil {
		return nil, err
	}
	return vs, nil
}

func (p *parser) structure() (any, error) {
	st := Struct{}
	for {
		t, err := p.element()
		if err != nil {
			return nil, err
		}
		if _, ok := t.(xml.EndElement); ok {
			return st, nil
		}
		if s := t.(xml.StartElement); s.Name.Local != "member" {
			return nil, p.errorf("expected <member> in <struct>, found <%s>", s.Name.Local)
		}
		if err := p.start("name"); err != nil {
			return nil, err
		}
		name, err := p.text("name")
		if err != nil {
			return nil, err
		}
		if err := p.start("value"); err != nil {
			return nil, err
		}
		v, err := p.value()
		if err != nil {
			return nil, err
		}
		if err := p.end("member"); err != nil {
			return nil, err
		}
		st = append(st, Member{Name: name, Value: v})
	}
}

// charsetReader lets requests declare the encodings clients use besides
// UTF-8 (which encoding/xml handles itself).
func charsetReader(label string, input io.Reader) (io.Reader, error) {
	switch strings.ToLower(label) {
	case "us-ascii", "ascii":
		return input, nil
	case "iso-8859-1", "latin-1", "latin1", "iso8859-1":
		return &latin1Reader{r: bufio.NewReader(input)}, nil
	}
	return nil, fmt.Errorf("unsupported encoding %q (send UTF-8)", label)
}

// latin1Reader turns ISO-8859-1 into UTF-8.
type latin1Reader struct {
	r       *bufio.Reader
	pending []byte
}

func (l *latin1Reader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		if len(l.pending) > 0 {
			c := copy(p[n:], l.pending)
			l.pending = l.pending[c:]
			n += c
			continue
		}
		b, err := l.r.ReadByte()
		if err != nil {
			if n > 0 {
				return n, nil
			}
			return 0, err
		}
		if b < utf8.RuneSelf {
			p[n] = b
			n++
			continue
		}
		l.pending = utf8.AppendRune(l.pending[:0], rune(b))
	}
	return n, nil
}

func isSpace[T ~string | ~[]byte](b T) bool {
	for i := 0; i < len(b); i++ {
		c := b[i]
		if c != ' ' && c != '\t' && c != '\n' && c != '\r' {
			return false
		}
	}
	return true
}

func stripSpace(s string) string {
	return strings.Map(func(r rune) rune {
		if r == ' ' || r == '\t' || r == '\n' || r == '\r' {
			return -1
		}
		return r
	}, s)
}

// clip shortens text quoted in an error.
func clip[T ~string | ~[]byte](b T) string {
	if len(b) > 40 {
		return string(b[:40]) + "..."
	}
	return string(b)
}

func describe(t xml.Token) string {
	switch t := t.(type) {
	case xml.StartElement:
		return "<" + t.Name.Local + ">"
	case xml.EndElement:
		return "</" + t.Name.Local + ">"
	case xml.CharData:
		return fmt.Sprintf("text %q", clip(t))
	}
	return fmt.Sprintf("%T", t)
}
