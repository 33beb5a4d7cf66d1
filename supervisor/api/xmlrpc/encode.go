package xmlrpc

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"math"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// The documents below are laid out exactly as Python's xmlrpc.client.dumps
// lays them out, which is what supervisord sends.
const xmlHeader = "<?xml version='1.0'?>\n"

// EncodeResponse returns the methodResponse document carrying v.
func EncodeResponse(v any) ([]byte, error) {
	var b bytes.Buffer
	b.WriteString(xmlHeader + "<methodResponse>\n<params>\n<param>\n")
	if err := encodeValue(&b, v, 0); err != nil {
		return nil, err
	}
	b.WriteString("</param>\n</params>\n</methodResponse>\n")
	return b.Bytes(), nil
}

// EncodeFault returns the methodResponse document carrying a fault.
func EncodeFault(code int, text string) []byte {
	var b bytes.Buffer
	b.WriteString(xmlHeader + "<methodResponse>\n<fault>\n")
	// A struct of an int and a string cannot fail to encode.
	_ = encodeValue(&b, Struct{{"faultCode", code}, {"faultString", text}}, 0)
	b.WriteString("</fault>\n</methodResponse>\n")
	return b.Bytes()
}

// encodeCall returns the methodCall document for method and params (the
// tests and the fuzz target use it to speak to the handler).
func encodeCall(method string, params ...any) ([]byte, error) {
	var b bytes.Buffer
	b.WriteString(xmlHeader + "<methodCall>\n<methodName>")
	escapeText(&b, method)
	b.WriteString("</methodName>\n<params>\n")
	for _, p := range params {
		b.WriteString("<param>\n")
		if err := encodeValue(&b, p, 0); err != nil {
			return nil, err
		}
		b.WriteString("</param>\n")
	}
	b.WriteString("</params>\n</methodCall>\n")
	return b.Bytes(), nil
}

func encodeValue(b *bytes.Buffer, v any, depth int) error {
	if depth > MaxDepth {
		return fmt.Errorf("xmlrpc: cannot encode values nested deeper than %d", MaxDepth)
	}
	switch v := v.(type) {
	case nil:
		// Python writes no newline after a nil.
		b.WriteString("<value><nil/></value>")
	case bool:
		if v {
			b.WriteString("<value><boolean>1</boolean></value>\n")
		} else {
			b.WriteString("<value><boolean>0</boolean></value>\n")
		}
	case int:
		encodeInt(b, int64(v))
	case int8:
		encodeInt(b, int64(v))
	case int16:
		encodeInt(b, int64(v))
	case int32:
		encodeInt(b, int64(v))
	case int64:
		encodeInt(b, v)
	case uint8:
		encodeInt(b, int64(v))
	case uint16:
		encodeInt(b, int64(v))
	case uint32:
		encodeInt(b, int64(v))
	case float32:
		b.WriteString("<value><double>" + pyFloat(float64(v)) + "</double></value>\n")
	case float64:
		b.WriteString("<value><double>" + pyFloat(v) + "</double></value>\n")
	case string:
		b.WriteString("<value><string>")
		escapeText(b, v)
		b.WriteString("</string></value>\n")
	case []byte:
		b.WriteString("<value><base64>\n")
		encodeBase64(b, v)
		b.WriteString("</base64></value>\n")
	case time.Time:
		b.WriteString("<value><dateTime.iso8601>" + v.Format(dateTimeLayout) + "</dateTime.iso8601></value>\n")
	case Struct:
		b.WriteString("<value><struct>\n")
		for _, m := range v {
			b.WriteString("<member>\n<name>")
			escapeText(b, m.Name)
			b.WriteString("</name>\n")
			if err := encodeValue(b, m.Value, depth+1); err != nil {
				return err
			}
			b.WriteString("</member>\n")
		}
		b.WriteString("</struct></value>\n")
	case map[string]any:
		names := make([]string, 0, len(v))
		for k := range v {
			names = append(names, k)
		}
		sort.Strings(names)
		s := make(Struct, len(names))
		for i, k := range names {
			s[i] = Member{k, v[k]}
		}
		return encodeValue(b, s, depth)
	case []any:
		b.WriteString("<value><array><data>\n")
		for _, e := range v {
			if err := encodeValue(b, e, depth+1); err != nil {
				return err
			}
		}
		b.WriteString("</data></array></value>\n")
	case []string:
		return encodeValue(b, anySlice(v), depth)
	case []int:
		return encodeValue(b, anySlice(v), depth)
	case []Struct:
		return encodeValue(b, anySlice(v), depth)
	default:
		return fmt.Errorf("xmlrpc: cannot encode a %s", reflect.TypeOf(v))
	}
	return nil
}

func anySlice[T any](s []T) []any {
	out := make([]any, len(s))
	for i, e := range s {
		out[i] = e
	}
	return out
}

// encodeInt writes <int>, or <i8> outside XML-RPC's 32-bit range (where
// Python's marshaller would fail the whole response).
func encodeInt(b *bytes.Buffer, n int64) {
	if n < math.MinInt32 || n > math.MaxInt32 {
		b.WriteString("<value><i8>" + strconv.FormatInt(n, 10) + "</i8></value>\n")
		return
	}
	b.WriteString("<value><int>" + strconv.FormatInt(n, 10) + "</int></value>\n")
}

// encodeBase64 writes data as base64.encodebytes does: lines of at most 76
// characters, each ending in a newline.
func encodeBase64(b *bytes.Buffer, data []byte) {
	const perLine = 57 // input bytes per 76-character line
	for len(data) > 0 {
		n := min(len(data), perLine)
		b.WriteString(base64.StdEncoding.EncodeToString(data[:n]))
		b.WriteByte('\n')
		data = data[n:]
	}
}

// pyFloat formats f as Python's repr() does: the shortest digits that read
// back as f, fixed notation for exponents from -4 to 15 (always with a
// fractional part), scientific otherwise.
func pyFloat(f float64) string {
	switch {
	case math.IsNaN(f):
		return "nan"
	case math.IsInf(f, 1):
		return "inf"
	case math.IsInf(f, -1):
		return "-inf"
	}
	sci := strconv.FormatFloat(f, 'e', -1, 64)
	exp, _ := strconv.Atoi(sci[strings.IndexByte(sci, 'e')+1:])
	if f != 0 && (exp < -4 || exp >= 16) {
		return sci
	}
	s := strconv.FormatFloat(f, 'f', -1, 64)
	if !strings.ContainsRune(s, '.') {
		s += ".0"
	}
	return s
}

// escapeText writes s as XML character data: &, < and > escaped as Python
// escapes them, a carriage return as a character reference (so it survives
// the client's newline normalisation), and every character XML 1.0 cannot
// carry, and every byte that is not UTF-8, as U+FFFD.
func escapeText(b *bytes.Buffer, s string) {
	last := 0
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		var repl string
		switch {
		case r == '&':
			repl = "&amp;"
		case r == '<':
			repl = "&lt;"
		case r == '>':
			repl = "&gt;"
		case r == '\r':
			repl = "&#13;"
		case r == utf8.RuneError && size == 1, !isXMLChar(r):
			repl = "\uFFFD"
		default:
			i += size
			continue
		}
		b.WriteString(s[last:i])
		b.WriteString(repl)
		i += size
		last = i
	}
	b.WriteString(s[last:])
}

// isXMLChar reports whether r is a Char of XML 1.0 (its production [2]).
func isXMLChar(r rune) bool {
	return r == '\t' || r == '\n' || r == '\r' ||
		r >= 0x20 && r <= 0xD7FF ||
		r >= 0xE000 && r <= 0xFFFD ||
		r >= 0x10000 && r <= utf8.MaxRune
}
