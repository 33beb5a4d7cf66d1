package xmlrpc

import (
	"bytes"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// FuzzDecode feeds DecodeCall arbitrary bodies: it must not panic, what it
// accepts must be bounded by the input (values fewer than its bytes, nesting
// within MaxDepth), and what it accepts must survive encoding and decoding
// again unchanged.
func FuzzDecode(f *testing.F) {
	for _, seed := range []string{
		`<?xml version='1.0'?><methodCall><methodName>supervisor.getVersion</methodName></methodCall>`,
		`<methodCall><methodName>m</methodName><params><param><value><i4>-5</i4></value></param><param><value>x</value></param></params></methodCall>`,
		`<methodCall><methodName>system.multicall</methodName><params><param><value><array><data><value><struct><member><name>methodName</name><value><string>a.b</string></value></member><member><name>params</name><value><array><data><value><int>1</int></value></data></array></value></member></struct></value></data></array></value></param></params></methodCall>`,
		`<methodCall><methodName>m</methodName><params><param><value><double>1e300</double></value></param><param><value><base64>AAH/</base64></value></param><param><value><dateTime.iso8601>20240102T03:04:05</dateTime.iso8601></value></param><param><value><nil/></value></param><param><value><boolean>1</boolean></value></param></params></methodCall>`,
		`<methodCall><methodName>a&amp;&#13;b</methodName><params><param><value><string>&lt;&#x1F600;</string></value></param></params></methodCall>`,
		"<?xml version='1.0' encoding='iso-8859-1'?><methodCall><methodName>m\xe9</methodName></methodCall>",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := DecodeCall(bytes.NewReader(data))
		if err != nil {
			return
		}
		n, depth := measure(c.Params, 1)
		if n > len(data) || depth > MaxDepth+1 {
			t.Fatalf("%d bytes decoded to %d values nested %d deep", len(data), n, depth)
		}
		doc, err := encodeCall(c.Method, c.Params...)
		if err != nil {
			t.Fatalf("encoding what was decoded: %v", err)
		}
		again, err := DecodeCall(bytes.NewReader(doc))
		if err != nil {
			t.Fatalf("decoding what was encoded: %v\n%s", err, doc)
		}
		if d := cmp.Diff(c, again, cmpopts.EquateNaNs()); d != "" {
			t.Fatalf("changed by a round trip (-first +second):\n%s", d)
		}
	})
}

// measure counts the values in vs and how deeply they nest.
func measure(vs []any, level int) (count, depth int) {
	depth = level
	for _, v := range vs {
		count++
		var inner []any
		switch v := v.(type) {
		case []any:
			inner = v
		case Struct:
			for _, m := range v {
				inner = append(inner, m.Value)
			}
		}
		if len(inner) > 0 {
			c, d := measure(inner, level+1)
			count += c
			depth = max(depth, d)
		}
	}
	return count, depth
}
