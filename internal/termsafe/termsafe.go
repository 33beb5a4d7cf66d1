// Package termsafe keeps what a server says from driving the terminal: a
// Writer that drops control characters (C0 but newline and tab, DEL, and
// the C1 range U+0080–U+009F as UTF-8 encodes it) from everything written
// through it. A roost server is run by a user who may be hostile to whoever
// reads its answers (root, with `--user`), and an escape sequence in a
// process name, a description or a log line could otherwise set the
// terminal's title, clear it, recolour it or answer back (CSI queries).
package termsafe

import (
	"io"
	"sync"
)

// Writer strips control characters from what is written to it before
// passing it on; it is safe for concurrent use. A C1 character split across two writes is still removed.
type Writer struct {
	mu      sync.Mutex
	w       io.Writer
	pending bool // the last write ended in 0xC2, held back
	buf     []byte
}

// NewWriter returns a Writer that writes the cleaned bytes to w.
func NewWriter(w io.Writer) *Writer { return &Writer{w: w} }

// Write writes p without its control characters. It reports len(p) on
// success, as the bytes it dropped were consumed.
func (s *Writer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := len(p)
	if s.pending {
		s.pending = false
		p = append([]byte{0xc2}, p...)
	}
	out := s.buf[:0]
	out, s.pending = appendClean(out, p)
	s.buf = out
	if len(out) > 0 {
		if _, err := s.w.Write(out); err != nil {
			return 0, err
		}
	}
	return n, nil
}

// Raw returns the writer s writes to, for a caller's own escape sequences
// (a colour it chose) around text it cleaned with Append.
func (s *Writer) Raw() io.Writer { return s.w }

// Append appends p without its control characters to dst. A C2 byte at the
// end of p (half of a character) is dropped.
func Append(dst, p []byte) []byte {
	dst, _ = appendClean(dst, p)
	return dst
}

// appendClean appends p without its control characters to dst, and reports
// whether p ended in a C2 byte, which it left out.
func appendClean(dst, p []byte) ([]byte, bool) {
	for i := 0; i < len(p); i++ {
		c := p[i]
		switch {
		case c == '\n' || c == '\t':
			dst = append(dst, c)
		case c < 0x20 || c == 0x7f:
		case c == 0xc2 && i+1 == len(p):
			return dst, true
		case c == 0xc2:
			// U+0080–U+009F (C2 80–9F) are C1 controls: drop both bytes.
			// A C2 not followed by a continuation byte is invalid UTF-8:
			// drop it, so removing a control after it cannot make a C1.
			if d := p[i+1]; d >= 0xa0 && d <= 0xbf {
				dst = append(dst, c, d)
			}
			if d := p[i+1]; d >= 0x80 && d <= 0xbf {
				i++
			}
		default:
			dst = append(dst, c)
		}
	}
	return dst, false
}
