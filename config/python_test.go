package config

import (
	"bytes"
	"encoding/json"
	"os/exec"
	"reflect"
	"testing"

	"roost/internal/testutil"
)

// These tests run the same inputs through roost's ports and through Python
// itself (the Debian /usr/bin/python3 that runs supervisord), and require the
// same answers: shlex.split, supervisord's dict_of_key_value_pairs,
// %-formatting, configparser's comment and option rules, fnmatch, int().

// python runs script with the JSON-encoded input on stdin and decodes its
// JSON output into out.
func python(t *testing.T, script string, in, out any) {
	t.Helper()
	py := testutil.RequireBinary(t, "/usr/bin/python3")
	data, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(py, "-c", script)
	cmd.Stdin = bytes.NewReader(data)
	cmd.Dir = t.TempDir() // not a directory with a module shadowing the stdlib
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	res, err := cmd.Output()
	if err != nil {
		t.Fatalf("python: %v\n%s", err, stderr.String())
	}
	if err := json.Unmarshal(res, out); err != nil {
		t.Fatalf("python output: %v\n%s", err, res)
	}
}

type pyResult struct {
	Value any    `json:"value"`
	Err   string `json:"err"`
}

func TestSplitCommandMatchesPython(t *testing.T) {
	inputs := []string{
		`/bin/echo a b`, `  lead and trail  `, `'single $x'`, `"double \" \\ \$ \a"`,
		`back\ slash`, `'' ""`, `mixed"quo"'tes'`, `a\\b`, `"tab	in"`, `\'x\'`,
		"multi\nline\targs", `"unclosed`, `'unclosed`, `trailing\`, `"esc at end\`,
		`a"b c"d`, `#not a comment`, `x # y`, `"a'b"`, `'a"b'`, `\"`, `""`, `''`,
		`café "naïve ü"`, `a  ` + "\r\n" + `b`, `"\\\""`, `\\`, `\a\b`, `"$HOME"`, `'it''s'`,
		`ab\` + "\n" + `cd`, `"x\` + "\n" + `y"`,
	}
	var want []pyResult
	python(t, `
import json, shlex, sys
out = []
for s in json.load(sys.stdin):
    try: out.append({"value": shlex.split(s), "err": ""})
    except ValueError as e: out.append({"value": None, "err": str(e)})
print(json.dumps(out))`, inputs, &want)
	for i, s := range inputs {
		got, err := SplitCommand(s)
		if (err != nil) != (want[i].Err != "") {
			t.Errorf("%q: roost err %v, python err %q", s, err, want[i].Err)
			continue
		}
		if err != nil {
			continue
		}
		if !reflect.DeepEqual(anySlice(got), want[i].Value) && !(len(got) == 0 && len(want[i].Value.([]any)) == 0) {
			t.Errorf("%q: roost %q, python %v", s, got, want[i].Value)
		}
	}
}

func anySlice(s []string) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}

func TestParseEnvironmentMatchesPython(t *testing.T) {
	inputs := []string{
		`A="1",B="x y"`, `HOME="/home/u",PATH="/usr/bin:/bin",QUOTED="a,b"`, `A=1`, `A = 1 , B = 2`,
		`SINGLE='it is'`, `E=""`, `URL=http://h:80/p?q=1`, `SEMI=a;B=2,AGAIN=1,AGAIN=2`,
		`DOLLAR=$HOME`, `X=1,UNI=café`, `A="x`, `A=1,B`, `A=1,,B=2`, `=1`, `A=x#c,B=2`,
		"A=x#c\nB=2,C=3", `A="a"b,C=1`, `A=x"y,z"`, `"Q"=1`, ``, `  `, `A=1 B=2`,
		`A='a,b',B="c'd"`, "A=1,\nB=2", `PCT=100%`, `A=-1.5:2,B=(x)`, `A=1,B=2,`, `A=*`,
	}
	testutil.RequireBinary(t, "supervisord") // the supervisor package python imports
	var want []pyResult
	python(t, `
import json, sys
sys.path.insert(0, "/usr/lib/python3/dist-packages")
from supervisor.datatypes import dict_of_key_value_pairs
out = []
for s in json.load(sys.stdin):
    try: out.append({"value": [[k, v] for k, v in dict_of_key_value_pairs(s).items()], "err": ""})
    except ValueError as e: out.append({"value": None, "err": str(e)})
print(json.dumps(out))`, inputs, &want)
	for i, s := range inputs {
		got, err := parseEnvironment(s)
		if (err != nil) != (want[i].Err != "") {
			t.Errorf("%q: roost err %v, python err %q", s, err, want[i].Err)
			continue
		}
		if err != nil {
			continue
		}
		gotPairs := []any{}
		for _, kv := range got {
			gotPairs = append(gotPairs, []any{kv.Name, kv.Value})
		}
		if !reflect.DeepEqual(gotPairs, want[i].Value) {
			t.Errorf("%q: roost %v, python %v", s, gotPairs, want[i].Value)
		}
	}
}

func TestPyFormatMatchesPython(t *testing.T) {
	m := expansions{"s": strValue("hello"), "e": strValue(""), "n": intValue(7), "neg": intValue(-42), "u": strValue("naïve")}
	inputs := []string{
		"plain", "%(s)s", "%(n)d", "%(n)02d", "%(n)03d|%(n)-4d|%(n)+d|%(n) d", "%(neg)05d", "%(neg)+5d",
		"%(s).3s", "%(s)8s|%(s)-8s|", "%(s)08s", "%(n).4d", "%(n)6.3d", "%(n)-6.3d|", "%(n)i %(n)u",
		"%(n)s", "%(n)ld %(n)hd %(n)Ld", "100%%", "%%(s)s", "%(u)3.2s", "%(e)s|", "%(n)#d",
		"%(missing)s", "%(s)d", "%(s)q", "trailing %", "%(s", "%(s)", "%(n)5", "%(a(b)c)s",
		"%(n)lld", "%(s)-+ #0s",
	}
	var want []pyResult
	python(t, `
import json, sys
m = {"s": "hello", "e": "", "n": 7, "neg": -42, "u": "naïve", "a(b)c": "nested"}
out = []
for s in json.load(sys.stdin):
    try: out.append({"value": s % m, "err": ""})
    except (KeyError, ValueError, TypeError) as e: out.append({"value": None, "err": type(e).__name__ + ": " + str(e)})
print(json.dumps(out))`, inputs, &want)
	m["a(b)c"] = strValue("nested")
	for i, s := range inputs {
		got, err := pyFormat(s, m)
		if (err != nil) != (want[i].Err != "") {
			t.Errorf("%q: roost %q err %v, python %v err %q", s, got, err, want[i].Value, want[i].Err)
			continue
		}
		if err == nil && got != want[i].Value {
			t.Errorf("%q: roost %q, python %q", s, got, want[i].Value)
		}
	}
	// What Python accepts but roost refuses, on purpose: conversions no
	// supervisord configuration needs, and the whole-dict "%s".
	for _, s := range []string{"%(n)x", "%(s)r", "%(n)c", "%s", "%(n)f"} {
		if _, err := pyFormat(s, m); err == nil {
			t.Errorf("%q: roost accepts it; it should refuse with a hint", s)
		}
	}
}

func TestReaderMatchesConfigParser(t *testing.T) {
	// Each input is one file; compare section -> key -> value.
	inputs := []string{
		"[a]\nk=a;b ;c #d\nj=x#y ;z\nm=[x]\nn=v # c\no=v; c\np=\"q ;r\"\n",
		"[a]\nKey : Value\nx=1=2\ny:2=3\n  z  =  spaced  \n",
		"[a]\ncmd=/bin/sleep\n    1000\n    ; comment\n  # other\nnext=1\n",
		"[a]\nk=first\n\n  second\n\n\nother=x\n",
		"[a]\nk=1\n[b]\nk=2\n[a]\nk=3\nl=4\n",
		"[DEFAULT]\nd=1\n[a]\nk=1\n[DEFAULT]\ne=2\n",
		"# c\n; c\n[a]\n  indented=1\n  more=2\n",
		"[a]\nk=v\r\nw=x\r\n",
		"[a]\nk=\n  cont\n",
		"[a] \nk=1\n",
		"[a]junk\nk=1\n",
		"[a\nk=1\n",
		"[sp ace]\nk= v \u00a0\n",
		"[a]\nk\u3000=\u3000v\n",
		"[a]\nk=v\x1c\n",
		"[a]\n\tk=1\n\t\tc=2\n",
		"[a]\nk=1\n[]\nm=2\n",
		"[a]\nk;x=1\nj #=2\n",
	}
	var want []map[string]any
	python(t, `
import json, sys, configparser
out = []
for s in json.load(sys.stdin):
    p = configparser.RawConfigParser(inline_comment_prefixes=(";", "#"), strict=False)
    try:
        p.read_string(s)
        out.append({sec: dict(p.items(sec)) for sec in p.sections()})
    except configparser.Error as e:
        out.append({"error": str(e).splitlines()[0]})
print(json.dumps(out))`, inputs, &want)
	for i, s := range inputs {
		p := newParser()
		var d diagList
		ok := p.parse("f", []byte(s), &d)
		got := map[string]any{}
		for _, sec := range p.order {
			kv := map[string]any{}
			for _, k := range p.keys(sec) {
				kv[k] = p.get(sec, k).text
			}
			got[sec] = kv
		}
		if _, pyErr := want[i]["error"]; pyErr {
			if ok {
				t.Errorf("%q: configparser fails (%v), roost accepts it", s, want[i]["error"])
			}
			continue
		}
		if !ok {
			// roost refuses malformed headers configparser swallows.
			if len(d.errs) == 0 {
				t.Errorf("%q: parse failed without an error", s)
			}
			t.Logf("%q: roost refuses what configparser accepts: %s", s, d.errs[0])
			continue
		}
		if !reflect.DeepEqual(got, want[i]) {
			t.Errorf("%q:\nroost  %v\npython %v", s, got, want[i])
		}
	}
}

func TestIntAndFnmatchMatchPython(t *testing.T) {
	ints := []string{"12", " 12 ", "+5", "-0", "1_000", "1__0", "_1", "1_", "007", "0x10", "", " ", "1.5", "9223372036854775807", "\u00a07"}
	type pat struct{ Name, Pattern string }
	pats := []pat{
		{"a.conf", "*.conf"}, {".a.conf", "*.conf"}, {"a.conf", "?.conf"}, {"ab.conf", "?.conf"},
		{"a.conf", "[ab]*"}, {"c.conf", "[ab]*"}, {"c.conf", "[!ab]*"}, {"]x", "[]]x"}, {"[x", "[x"},
		{"b", "[a-c]"}, {"d", "[a-c]"}, {"-", "[a-]"}, {"a\\b", "a\\b"}, {"x", "[!]"}, {"!", "[!]]"},
		{"abc", "a*c*"}, {"abcbd", "a*b?d"}, {"b", "[z-a]"}, {"é.conf", "?.conf"},
	}
	var want struct {
		Ints []any  `json:"ints"`
		Pats []bool `json:"pats"`
	}
	python(t, `
import json, sys, fnmatch
d = json.load(sys.stdin)
ints = []
for s in d["ints"]:
    try: ints.append(int(s))
    except ValueError: ints.append(None)
print(json.dumps({"ints": ints, "pats": [fnmatch.fnmatchcase(p["Name"], p["Pattern"]) for p in d["pats"]]}))`,
		map[string]any{"ints": ints, "pats": pats}, &want)
	for i, s := range ints {
		n, ok := pyInt(s)
		if want.Ints[i] == nil {
			if ok {
				t.Errorf("int(%q): python refuses, roost gives %d", s, n)
			}
			continue
		}
		if !ok || float64(n) != want.Ints[i].(float64) {
			t.Errorf("int(%q): roost %d %v, python %v", s, n, ok, want.Ints[i])
		}
	}
	for i, p := range pats {
		if got := fnmatch(p.Name, p.Pattern); got != want.Pats[i] {
			t.Errorf("fnmatch(%q, %q): roost %v, python %v", p.Name, p.Pattern, got, want.Pats[i])
		}
	}
}
