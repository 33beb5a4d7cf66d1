package export

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
)

// A small YAML writer: the documents are built from ordered maps and
// lists, so the bytes follow the order the exporter chose, never a map's.
// Strings are written plain only when YAML 1.1 and 1.2 both read them back
// as the same string; anything else is a JSON string, which is valid YAML.

// kv is one key of a mapping.
type kv struct {
	k string
	v any // string, int, int64, bool, obj, list; nil is left out
}

// obj is a mapping in the order written.
type obj []kv

// list is a sequence.
type list []any

// doc is one YAML document with comment lines above it.
type doc struct {
	comments []string
	body     obj
}

// render writes the document.
func (d doc) render() []byte {
	var b bytes.Buffer
	for _, c := range d.comments {
		for _, l := range strings.Split(c, "\n") {
			b.WriteString("# " + strings.Map(printable, l) + "\n")
		}
	}
	writeObj(&b, d.body, 0, "")
	return b.Bytes()
}

// printable keeps comment text on one line and free of control characters.
func printable(r rune) rune {
	if r < 0x20 || r == 0x7f {
		return ' '
	}
	return r
}

func writeObj(b *bytes.Buffer, o obj, ind int, first string) {
	n := 0
	for _, e := range o {
		if e.v == nil {
			continue
		}
		pad := strings.Repeat(" ", ind)
		if n == 0 && first != "" {
			pad = first
		}
		n++
		key := pad + scalar(e.k) + ":"
		switch v := e.v.(type) {
		case obj:
			if len(v) == 0 {
				b.WriteString(key + " {}\n")
				continue
			}
			b.WriteString(key + "\n")
			writeObj(b, v, ind+2, "")
		case list:
			if len(v) == 0 {
				b.WriteString(key + " []\n")
				continue
			}
			b.WriteString(key + "\n")
			writeList(b, v, ind)
		default:
			b.WriteString(key + " " + scalar(v) + "\n")
		}
	}
	if n == 0 && first != "" {
		b.WriteString(first + "{}\n")
	}
}

func writeList(b *bytes.Buffer, l list, ind int) {
	pad := strings.Repeat(" ", ind)
	for _, it := range l {
		switch v := it.(type) {
		case obj:
			writeObj(b, v, ind+2, pad+"- ")
		case list:
			panic("export: nested YAML lists are not written")
		default:
			b.WriteString(pad + "- " + scalar(v) + "\n")
		}
	}
}

// scalar renders a string, number or boolean.
func scalar(v any) string {
	switch v := v.(type) {
	case string:
		if plainOK(v) {
			return v
		}
		var b bytes.Buffer
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(false)
		_ = enc.Encode(v) // a string always encodes
		return strings.TrimSuffix(b.String(), "\n")
	case int:
		return strconv.Itoa(v)
	case int64:
		return strconv.FormatInt(v, 10)
	case bool:
		return strconv.FormatBool(v)
	}
	panic("export: no YAML form for this value")
}

// plainOK reports whether s can be written without quotes: a letter or '/'
// first, then letters, digits and . _ / -; not a word YAML 1.1 reads as a
// boolean or null, not a number.
func plainOK(s string) bool {
	if s == "" {
		return false
	}
	c := s[0]
	if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '/') {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("._/-", c) >= 0) {
			return false
		}
	}
	switch strings.ToLower(s) {
	case "y", "n", "yes", "no", "true", "false", "on", "off", "null":
		return false
	}
	if _, err := strconv.ParseFloat(s, 64); err == nil {
		return false
	}
	return true
}
