package xmlrpc

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"roost/internal/testutil"
	"roost/supervisor/api"
)

// python is the interpreter that has supervisor's Python package (the one on
// PATH may not).
const python = "/usr/bin/python3"

// runPython runs a Python script with stdin and returns its stdout.
func runPython(t *testing.T, script string, stdin []byte, args ...string) []byte {
	t.Helper()
	testutil.RequireBinary(t, python)
	cmd := exec.Command(python, append([]string{"-c", script}, args...)...)
	cmd.Stdin = bytes.NewReader(stdin)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("python: %v\n%s", err, stderr.Bytes())
	}
	return out
}

// TestEncodeMatchesPython checks the encoder against Python's
// xmlrpc.client.dumps, which is what supervisord sends, byte for byte.
func TestEncodeMatchesPython(t *testing.T) {
	bin := make([]byte, 200)
	for i := range bin {
		bin[i] = byte(i * 7)
	}
	cases := []struct {
		v  any
		py string
	}{
		{"3.0", `"3.0"`},
		{"", `""`},
		{`a&<>"'b`, `"a&<>\"'b"`},
		{"é ü 日本 🎉", `"é ü 日本 🎉"`},
		{"tab\there\nnewline\n", `"tab\there\nnewline\n"`},
		{0, `0`}, {1, `1`}, {-1, `-1`},
		{math.MaxInt32, `2**31-1`}, {math.MinInt32, `-2**31`},
		{int64(7), `7`}, {int32(-7), `-7`},
		{true, `True`}, {false, `False`},
		{0.0, `0.0`}, {math.Copysign(0, -1), `-0.0`}, {1.0, `1.0`}, {1.5, `1.5`}, {0.1, `0.1`},
		{1e15, `1e15`}, {1e16, `1e16`}, {123456789012345680.0, `123456789012345680.0`},
		{1.5e-5, `1.5e-5`}, {0.0001, `0.0001`}, {5e-324, `5e-324`},
		{math.MaxFloat64, `1.7976931348623157e308`}, {math.Pi, `3.141592653589793`},
		{math.Inf(1), `float("inf")`}, {math.Inf(-1), `float("-inf")`}, {math.NaN(), `float("nan")`},
		{float32(0.5), `0.5`},
		{[]byte{}, `x.Binary(b"")`}, {[]byte{0, 1, 2, 255}, `x.Binary(b"\x00\x01\x02\xff")`},
		{bin, `x.Binary(bytes((i*7)%256 for i in range(200)))`},
		{time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC), `datetime.datetime(2024, 1, 2, 3, 4, 5)`},
		{time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC), `datetime.datetime(1, 1, 1)`},
		{nil, `None`},
		{[]any{}, `[]`},
		{Struct{}, `{}`},
		{[]any{1, "a", []any{true, nil, 2}, Struct{{"k", nil}, {"z", []any{}}}}, `[1, "a", [True, None, 2], {"k": None, "z": []}]`},
		{Struct{{"b", 1}, {"a&<", "v"}}, `{"b": 1, "a&<": "v"}`},
		{map[string]any{"b": 1, "a": 2}, `{"a": 2, "b": 1}`},
		{[]string{"x", "y"}, `["x", "y"]`},
		{[]int{0}, `[0]`},
		{processInfoStruct(api.ProcessInfo{Name: "web", Group: "web", Start: 1, Now: 5, State: api.Running, PID: 42, StdoutLogfile: "/l/o", StderrLogfile: "/l/e"}),
			`{"name": "web", "group": "web", "start": 1, "stop": 0, "now": 5, "state": 20, "statename": "RUNNING", "spawnerr": "", "exitstatus": 0, "logfile": "/l/o", "stdout_logfile": "/l/o", "stderr_logfile": "/l/e", "pid": 42, "description": "pid 42, uptime 0:00:04"}`},
	}
	var exprs []string
	for _, c := range cases {
		exprs = append(exprs, c.py)
	}
	in, _ := json.Marshal(exprs)
	out := runPython(t, `
import json, sys, datetime, xmlrpc.client as x
print(json.dumps([x.dumps((eval(e),), methodresponse=True, allow_none=True) for e in json.load(sys.stdin)]
                 + [x.dumps(x.Fault(10, "BAD_NAME: a&<>"))]))
`, in)
	var want []string
	if err := json.Unmarshal(out, &want); err != nil {
		t.Fatal(err)
	}
	for i, c := range cases {
		got, err := EncodeResponse(c.v)
		if err != nil {
			t.Errorf("EncodeResponse(%#v): %v", c.v, err)
			continue
		}
		if string(got) != want[i] {
			t.Errorf("EncodeResponse(%s):\n%s", c.py, cmp.Diff(want[i], string(got)))
		}
	}
	if got := EncodeFault(10, "BAD_NAME: a&<>"); string(got) != want[len(cases)] {
		t.Errorf("EncodeFault:\n%s", cmp.Diff(want[len(cases)], string(got)))
	}
}

// TestFloatsMatchPythonRepr checks pyFloat on random doubles.
func TestFloatsMatchPythonRepr(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var fs []float64
	var hexes []string
	for len(fs) < 2000 {
		var f float64
		switch len(fs) % 3 {
		case 0:
			f = math.Float64frombits(r.Uint64())
		case 1:
			f = r.NormFloat64() * math.Pow(10, float64(r.IntN(40)-20))
		default:
			f = math.Round(r.Float64()*1e6) / math.Pow(10, float64(r.IntN(8)))
		}
		if math.IsNaN(f) || math.IsInf(f, 0) {
			continue
		}
		fs = append(fs, f)
		hexes = append(hexes, strconv.FormatFloat(f, 'x', -1, 64))
	}
	in, _ := json.Marshal(hexes)
	out := runPython(t, `
import json, sys
print(json.dumps([repr(float.fromhex(h)) for h in json.load(sys.stdin)]))
`, in)
	var want []string
	if err := json.Unmarshal(out, &want); err != nil {
		t.Fatal(err)
	}
	bad := 0
	for i, f := range fs {
		if got := pyFloat(f); got != want[i] && bad < 10 {
			bad++
			t.Errorf("pyFloat(%s) = %s, Python says %s", hexes[i], got, want[i])
		}
	}
}

// TestEscape covers the deliberate differences from supervisord: characters
// XML cannot carry become U+FFFD, a carriage return a character reference.
func TestEscape(t *testing.T) {
	for in, want := range map[string]string{
		"\x1b[31mred\x1b[0m":      "\uFFFD[31mred\uFFFD[0m",
		"a\x00b\x07c\x7fd":        "a\uFFFDb\uFFFDc\x7fd",
		"line\r\n":                "line&#13;\n",
		"bad \xff\xfe utf8":       "bad \uFFFD\uFFFD utf8",
		"\uFFFE\uFFFF":            "\uFFFD\uFFFD",
		"\xed\xa0\x80":            "\uFFFD\uFFFD\uFFFD", // an encoded surrogate
		"ok \u2603 \U0001F600 \t": "ok \u2603 \U0001F600 \t",
		"<&>":                     "&lt;&amp;&gt;",
	} {
		var b bytes.Buffer
		escapeText(&b, in)
		if b.String() != want {
			t.Errorf("escapeText(%q) = %q, want %q", in, b.String(), want)
		}
	}
}

func TestDecodeCall(t *testing.T) {
	cases := []struct {
		name, doc string
		want      Call
	}{
		{"no params", `<?xml version='1.0'?><methodCall><methodName>supervisor.getVersion</methodName></methodCall>`,
			Call{"supervisor.getVersion", []any{}}},
		{"empty params", `<methodCall><methodName>m</methodName><params></params></methodCall>`, Call{"m", []any{}}},
		{"scalars", `<methodCall><methodName>m</methodName><params>
			<param><value><i4>-5</i4></value></param>
			<param><value><int> 2147483647 </int></value></param>
			<param><value><i8>9000000000</i8></value></param>
			<param><value><boolean>1</boolean></value></param>
			<param><value><boolean>0</boolean></value></param>
			<param><value><string>a &amp; b &lt;c&gt; &#13;&#x1F600;</string></value></param>
			<param><value>untyped  </value></param>
			<param><value></value></param>
			<param><value><string/></value></param>
			<param><value><double>-1.5e3</double></value></param>
			<param><value><dateTime.iso8601>20240102T03:04:05</dateTime.iso8601></value></param>
			<param><value><base64>
AAH/
</base64></value></param>
			<param><value><nil/></value></param>
			<param><value><ex:nil xmlns:ex="http://ws.apache.org/xmlrpc/namespaces/extensions"/></value></param>
		</params></methodCall>`,
			Call{"m", []any{-5, 2147483647, 9000000000, true, false, "a & b <c> \r\U0001F600", "untyped  ", "", "", -1500.0,
				time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC), []byte{0, 1, 255}, nil, nil}}},
		{"nested", `<methodCall><methodName>system.multicall</methodName><params><param><value><array><data>
			<value><struct><member><name>methodName</name><value><string>a.b</string></value></member>
			<member><name>params</name><value><array><data><value><int>1</int></value></data></array></value></member></struct></value>
			<value><struct></struct></value>
			<value><array><data></data></array></value>
		</data></array></value></param></params></methodCall>`,
			Call{"system.multicall", []any{[]any{
				Struct{{"methodName", "a.b"}, {"params", []any{1}}},
				Struct{},
				[]any{},
			}}}},
		{"comments and latin-1", "<?xml version='1.0' encoding='iso-8859-1'?><!-- c --><methodCall><methodName>m</methodName><params><param><value>caf\xe9</value></param></params></methodCall><!-- end -->\n",
			Call{"m", []any{"café"}}},
	}
	for _, c := range cases {
		got, err := DecodeCall(strings.NewReader(c.doc))
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if d := cmp.Diff(c.want, got); d != "" {
			t.Errorf("%s: (-want +got)\n%s", c.name, d)
		}
	}
}

func TestDecodeCallRefuses(t *testing.T) {
	deep := "<methodCall><methodName>m</methodName><params><param>" +
		strings.Repeat("<value><array><data>", MaxDepth+1) + strings.Repeat("</data></array></value>", MaxDepth+1) +
		"</param></params></methodCall>"
	for _, c := range []struct{ doc, want string }{
		{``, "unexpected end"},
		{`garbage`, `unexpected text "garbage"`},
		{`<methodResponse/>`, "expected <methodCall>"},
		{`<methodCall></methodCall>`, "no <methodName>"},
		{`<methodCall><methodName>m</methodName><methodName>n</methodName></methodCall>`, "unexpected <methodName>"},
		{`<methodCall><methodName>m</methodName></methodCall><x/>`, "after </methodCall>"},
		{`<methodCall><methodName>m</methodName><params><param><value><int>1.5</int></value></param></params></methodCall>`, "bad <int>"},
		{`<methodCall><methodName>m</methodName><params><param><value><int>99999999999999999999</int></value></param></params></methodCall>`, "bad <int>"},
		{`<methodCall><methodName>m</methodName><params><param><value><boolean>yes</boolean></value></param></params></methodCall>`, "bad <boolean>"},
		{`<methodCall><methodName>m</methodName><params><param><value><double>x</double></value></param></params></methodCall>`, "bad <double>"},
		{`<methodCall><methodName>m</methodName><params><param><value><dateTime.iso8601>2024-01-02</dateTime.iso8601></value></param></params></methodCall>`, "bad <dateTime.iso8601>"},
		{`<methodCall><methodName>m</methodName><params><param><value><base64>!!</base64></value></param></params></methodCall>`, "bad <base64>"},
		{`<methodCall><methodName>m</methodName><params><param><value><float>1</float></value></param></params></methodCall>`, "unknown value type <float>"},
		{`<methodCall><methodName>m</methodName><params><param><value>x<string>y</string></value></param></params></methodCall>`, "beside <string>"},
		{`<methodCall><methodName>m</methodName><params><param><value><string><b/></string></value></param></params></methodCall>`, "inside <string>"},
		{`<methodCall><methodName>m</methodName><params><param><value><struct><member><name>a</name></member></struct></value></param></params></methodCall>`, "expected <value>"},
		{`<methodCall><methodName>m</methodName><params><param><value><array><value/></array></value></param></params></methodCall>`, "expected <data>"},
		{`<methodCall><methodName>m</methodName><params><param><value><nil>x</nil></value></param></params></methodCall>`, "text inside <nil/>"},
		{"<methodCall><methodName>m</methodName><params><param><value>\x1b</value></param></params></methodCall>", "illegal character"},
		{`<!DOCTYPE x [<!ENTITY a "b">]><methodCall><methodName>&a;</methodName></methodCall>`, "DOCTYPE"},
		{`<methodCall><methodName>&a;</methodName></methodCall>`, "invalid character entity"},
		{`<?xml version='1.0' encoding='ebcdic'?><methodCall/>`, "unsupported encoding"},
		{`<methodCall><methodName>m</methodName><params><param><value><string>x</value></param></params></methodCall>`, "element <string> closed by </value>"},
		{deep, "nested deeper than 100"},
	} {
		_, err := DecodeCall(strings.NewReader(c.doc))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("DecodeCall(%.60q) = %v, want an error containing %q", c.doc, err, c.want)
		}
	}
}

// TestEncodeDecodeRoundTrip checks that what the encoder writes, the decoder
// reads back unchanged (strings limited to what XML can carry).
func TestEncodeDecodeRoundTrip(t *testing.T) {
	params := []any{
		"", "x\r\ny\tz <&> \"' é 🎉", 0, -1, math.MaxInt32, math.MinInt32, 1 << 40, true, false, 1.5, -0.0, 1e300,
		[]byte{}, []byte("\x00\xff"), time.Date(2026, 11, 22, 23, 59, 59, 0, time.UTC), nil,
		[]any{}, Struct{}, []any{[]any{[]any{Struct{{"a", []any{nil, 1}}, {"a", "dup"}}}}},
	}
	doc, err := encodeCall("test.echo", params...)
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeCall(bytes.NewReader(doc))
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(Call{"test.echo", params}, got); d != "" {
		t.Errorf("(-sent +read)\n%s", d)
	}
}

// TestDecodeHostileBounded checks that a large request costs memory
// proportional to its size, whatever its shape (the handler caps the size).
func TestDecodeHostileBounded(t *testing.T) {
	wrap := func(inner string) []byte {
		return []byte("<methodCall><methodName>m</methodName><params><param><value><array><data>" +
			inner + "</data></array></value></param></params></methodCall>")
	}
	fill := func(unit string) string {
		return strings.Repeat(unit, (1<<20)/len(unit))
	}
	for name, doc := range map[string][]byte{
		"tiny values":  wrap(fill("<value/>")),
		"empty arrays": wrap(fill("<value><array><data/></array></value>")),
		"members":      wrap("<value><struct>" + fill("<member><name/><value/></member>") + "</struct></value>"),
		"base64":       wrap("<value><base64>" + fill("AAAA") + "</base64></value>"),
		"char refs":    wrap("<value>" + fill("&#x1F600;") + "</value>"),
	} {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		_, err := DecodeCall(bytes.NewReader(doc))
		runtime.ReadMemStats(&after)
		if err != nil {
			t.Errorf("%s: %v", name, err)
		}
		// encoding/xml allocates per token: a document of empty values
		// allocates (mostly garbage) about 35 times its size; 50 times is
		// the bound.
		if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 50*uint64(len(doc)) {
			t.Errorf("%s: decoding %d bytes allocated %d", name, len(doc), alloc)
		}
	}
}

func TestDecodeResponse(t *testing.T) {
	// Captured from supervisord 4.2.5's getAllProcessInfo (abridged).
	resp := `<?xml version='1.0'?>
<methodResponse>
<params>
<param>
<value><array><data>
<value><struct>
<member>
<name>description</name>
<value><string>pid 15542, uptime 0:00:01</string></value>
</member>
<member>
<name>pid</name>
<value><int>15542</int></value>
</member>
<member>
<name>statename</name>
<value><string>RUNNING</string></value>
</member>
<member>
<name>name</name>
<value><string>web_01</string></value>
</member>
<member>
<name>group</name>
<value><string>web</string></value>
</member>
<member>
<name>spawnerr</name>
<value><string></string></value>
</member>
</struct></value>
</data></array></value>
</param>
</params>
</methodResponse>`
	v, err := DecodeResponse(strings.NewReader(resp))
	if err != nil {
		t.Fatal(err)
	}
	arr, _ := v.([]any)
	if len(arr) != 1 {
		t.Fatalf("decoded %#v", v)
	}
	m, _ := arr[0].(Struct)
	get := func(name string) any { v, _ := m.Get(name); return v }
	if get("pid") != 15542 || get("statename") != "RUNNING" || get("spawnerr") != "" || get("name") != "web_01" {
		t.Errorf("decoded %#v", m)
	}
	fault := `<?xml version='1.0'?><methodResponse><fault><value><struct>
<member><name>faultCode</name><value><int>10</int></value></member>
<member><name>faultString</name><value><string>BAD_NAME: x</string></value></member>
</struct></value></fault></methodResponse>`
	_, err = DecodeResponse(strings.NewReader(fault))
	var f *Fault
	if !errors.As(err, &f) || f.Code != 10 || f.String != "BAD_NAME: x" {
		t.Errorf("fault: err = %v", err)
	}
	if v, err := DecodeResponse(strings.NewReader(`<methodResponse><params><param><value>bare</value></param></params></methodResponse>`)); err != nil || v != "bare" {
		t.Errorf("untyped value = %v, %v", v, err)
	}
	// What roost's own encoder answers decodes back.
	enc, err := EncodeResponse([]any{"a<&>", 7, true, Struct{{Name: "k", Value: 1.5}}})
	if err != nil {
		t.Fatal(err)
	}
	if v, err := DecodeResponse(bytes.NewReader(enc)); err != nil || fmt.Sprint(v) != fmt.Sprint([]any{"a<&>", 7, true, Struct{{Name: "k", Value: 1.5}}}) {
		t.Errorf("round trip = %#v, %v", v, err)
	}
	if _, err := DecodeResponse(bytes.NewReader(EncodeFault(70, "SPAWN_ERROR: web"))); !errors.As(err, &f) || f.Code != 70 || f.String != "SPAWN_ERROR: web" {
		t.Errorf("fault round trip: %v", err)
	}
	// Anything else is an error that says where.
	for _, bad := range []string{
		`<methodResponse></methodResponse>`,
		`<methodResponse><params><param><value><int>x</int></value></param></params></methodResponse>`,
		`<methodResponse><params><param><value>1</value></param></params>`,
	} {
		if _, err := DecodeResponse(strings.NewReader(bad)); err == nil || errors.As(err, &f) || !strings.Contains(err.Error(), "bad methodResponse") {
			t.Errorf("DecodeResponse(%q) = %v", bad, err)
		}
	}
}
