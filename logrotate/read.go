package logrotate

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
)

// The errors ReadFile returns, named after the supervisord faults the
// control plane turns them into (BAD_ARGUMENTS 3, FAILED 30). Test with
// errors.Is.
var (
	ErrBadArguments = errors.New("bad arguments")
	ErrFailed       = errors.New("failed")
)

// argLimit bounds offsets and lengths so that the arithmetic below cannot
// overflow where Python's integers do not; XML-RPC carries only 32-bit ints.
const argLimit = math.MaxInt64 / 4

func clampArg(v int64) int64 { return max(-argLimit, min(v, argLimit)) }

// ReadFile is supervisord's readFile (supervisor/options.py), behind
// readLog and readProcessStdoutLog: offset >= 0 reads length bytes from
// offset (to the end when length is 0; a negative length is ErrBadArguments);
// offset < 0 reads the last -offset bytes, and then length must be 0
// (ErrBadArguments otherwise). A file that cannot be opened or read is
// ErrFailed, which supervisord checks first.
func ReadFile(path string, offset, length int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read log: %w: %w", ErrFailed, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("read log: %w: %w", ErrFailed, err)
	}
	if st.IsDir() {
		return nil, fmt.Errorf("read log %s: %w: is a directory", path, ErrFailed)
	}
	offset, length = clampArg(offset), clampArg(length)
	var from, n int64
	switch {
	case offset < 0:
		if length != 0 {
			return nil, fmt.Errorf("read log %s: %w: offset %d < 0 needs length 0, not %d", path, ErrBadArguments, offset, length)
		}
		from, n = max(st.Size()+offset, 0), -offset
	case length < 0:
		return nil, fmt.Errorf("read log %s: %w: length %d < 0", path, ErrBadArguments, length)
	case length == 0:
		from, n = offset, math.MaxInt64-offset // to the end
	default:
		from, n = offset, length
	}
	data, err := readRange(f, st.Size(), from, n)
	if err != nil {
		return nil, fmt.Errorf("read log %s: %w: %w", path, ErrFailed, err)
	}
	return data, nil
}

// readRange reads up to n bytes at from, stopping at EOF. size (the file's
// size when stat'ed) only sizes the buffer.
func readRange(f *os.File, size, from, n int64) ([]byte, error) {
	var b bytes.Buffer
	if want := min(n, size-from); want > 0 {
		b.Grow(int(min(want, math.MaxInt32)) + 1)
	}
	_, err := b.ReadFrom(io.NewSectionReader(f, from, n))
	return b.Bytes(), err
}

// TailFile is supervisord's tailFile (supervisor/options.py), behind
// tailProcessStdoutLog: it returns up to length bytes ending at the end of
// the file, starting no earlier than offset, the file's size as the new
// offset, and overflow set when the file had grown beyond offset+length so
// that bytes were skipped. A file that cannot be read gives no bytes, the
// offset unchanged and no overflow, as supervisord gives.
func TailFile(path string, offset, length int64) (data []byte, newOffset int64, overflow bool) {
	f, err := os.Open(path)
	if err != nil {
		return []byte{}, offset, false
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil || st.IsDir() {
		return []byte{}, offset, false
	}
	sz := st.Size()
	off, n := clampArg(offset), clampArg(length)
	if sz > off+n {
		overflow = true
		off = sz - 1
	}
	if off+n > sz {
		if off > sz-1 {
			n = 0
		}
		off = sz - n
	}
	off, n = max(off, 0), max(n, 0)
	if n == 0 {
		return []byte{}, sz, overflow
	}
	data, err = readRange(f, sz, off, n)
	if err != nil {
		return []byte{}, off, false // supervisord returns the offset it got to
	}
	return data, sz, overflow
}
