package termsafe

import (
	"bytes"
	"testing"
)

func TestWriter(t *testing.T) {
	cases := []struct {
		name   string
		writes []string
		want   string
	}{
		{"plain", []string{"web RUNNING pid 1\n"}, "web RUNNING pid 1\n"},
		{"tab and newline kept", []string{"a\tb\nc\n"}, "a\tb\nc\n"},
		{"CSI colour", []string{"\x1b[31mred\x1b[0m\n"}, "[31mred[0m\n"},
		{"OSC title", []string{"\x1b]0;pwned\x07x"}, "]0;pwnedx"},
		{"CR BS DEL", []string{"a\rb\bc\x7fd"}, "abcd"},
		{"C1 CSI", []string{"a\u009b31mb"}, "a31mb"},
		{"C1 split", []string{"a\xc2", "\x9bb"}, "ab"},
		{"C2 split not C1", []string{"caf\xc2", "\xa0!"}, "caf\u00a0!"},
		{"UTF-8 kept", []string{"é — ☃\n"}, "é — ☃\n"},
		{"NUL", []string{"a\x00b"}, "ab"},
	}
	for _, tc := range cases {
		var b bytes.Buffer
		w := NewWriter(&b)
		for _, s := range tc.writes {
			n, err := w.Write([]byte(s))
			if err != nil || n != len(s) {
				t.Fatalf("%s: Write(%q) = %d, %v", tc.name, s, n, err)
			}
		}
		if b.String() != tc.want {
			t.Errorf("%s: got %q, want %q", tc.name, b.String(), tc.want)
		}
	}
}

func FuzzWriter(f *testing.F) {
	f.Add([]byte("\x1b[2J\xc2\x9b\n\t"), 3)
	f.Fuzz(func(t *testing.T, p []byte, cut int) {
		var b bytes.Buffer
		w := NewWriter(&b)
		if cut < 0 || cut > len(p) {
			cut = len(p)
		}
		w.Write(p[:cut])
		w.Write(p[cut:])
		out := b.Bytes()
		for i, c := range out {
			if (c < 0x20 && c != '\n' && c != '\t') || c == 0x7f {
				t.Fatalf("control byte %#x at %d in %q", c, i, out)
			}
			if c == 0xc2 && i+1 < len(out) && out[i+1] >= 0x80 && out[i+1] <= 0x9f {
				t.Fatalf("C1 character at %d in %q", i, out)
			}
		}
	})
}
