package master

import (
	"io"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"
)

// tailBuffer keeps the last bytes written to it: the master copies a user
// supervisor's stdout and stderr into one, in memory, so an exit can be
// explained ("last error") without the master ever writing a file the user
// controls, and without the user being able to grow the master's memory.
type tailBuffer struct {
	mu   sync.Mutex
	buf  []byte // ring of len cap
	next int    // where the next byte goes
	full bool
}

// tailSize is how much of a supervisor's output the master keeps.
const tailSize = 8 << 10

func newTailBuffer(size int) *tailBuffer { return &tailBuffer{buf: make([]byte, size)} }

// Write keeps the last len(buf) bytes of everything written.
func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := len(p)
	if len(p) >= len(t.buf) {
		copy(t.buf, p[len(p)-len(t.buf):])
		t.next, t.full = 0, true
		return n, nil
	}
	for len(p) > 0 {
		c := copy(t.buf[t.next:], p)
		p = p[c:]
		t.next += c
		if t.next == len(t.buf) {
			t.next, t.full = 0, true
		}
	}
	return n, nil
}

// Bytes returns what is kept, oldest first.
func (t *tailBuffer) Bytes() []byte {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.full {
		return append([]byte(nil), t.buf[:t.next]...)
	}
	out := make([]byte, 0, len(t.buf))
	out = append(out, t.buf[t.next:]...)
	return append(out, t.buf[:t.next]...)
}

// Reset forgets everything.
func (t *tailBuffer) Reset() {
	t.mu.Lock()
	t.next, t.full = 0, false
	t.mu.Unlock()
}

// lastLines returns the last n non-empty lines kept, sanitized.
func (t *tailBuffer) lastLines(n int) string {
	lines := strings.Split(string(t.Bytes()), "\n")
	var out []string
	for i := len(lines) - 1; i >= 0 && len(out) < n; i-- {
		if l := strings.TrimSpace(sanitize(lines[i], 300)); l != "" {
			out = append(out, l)
		}
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return strings.Join(out, " | ")
}

// copyInto drains r into t until EOF or an error.
func copyInto(t *tailBuffer, r io.Reader) {
	buf := make([]byte, 4096)
	for {
		n, err := r.Read(buf)
		if n > 0 {
			t.Write(buf[:n])
		}
		if err != nil {
			return
		}
	}
}

// sanitize makes a string from a user's process safe to show on an admin's
// terminal or in a log: invalid UTF-8 and control characters (escape
// sequences included) become '?', and it is cut at max bytes.
func sanitize(s string, max int) string {
	var b strings.Builder
	for _, r := range s {
		if r == utf8.RuneError || (unicode.IsControl(r) && r != '\t') || r == '\u2028' || r == '\u2029' || unicode.Is(unicode.Bidi_Control, r) {
			r = '?'
		}
		if b.Len()+utf8.RuneLen(r) > max {
			b.WriteString("…")
			break
		}
		b.WriteRune(r)
	}
	return b.String()
}
