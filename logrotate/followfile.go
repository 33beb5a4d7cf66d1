package logrotate

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/fsnotify/fsnotify"
)

// FollowFile is `tail -F` for a file roost does not write itself (for one it
// writes, Sink.Follow is exact and cheaper). It writes the last tail bytes of
// path (none when tail <= 0), then what is appended, until ctx ends (it
// returns nil). It waits on inotify events for path's directory, not on a
// timer. When path is renamed away and a new file takes its place (external
// logrotate, or another process's Sink rotating), it finishes the old file
// and goes on with the new one from its start; when the file shrinks
// (truncated in place, logrotate's copytruncate), it starts over at offset 0.
// Bytes written to a file it has already left are not shown. The file must
// exist when FollowFile starts. Each call holds one inotify instance, of
// which a user has 128 (fs.inotify.max_user_instances).
func FollowFile(ctx context.Context, path string, tail int64, w io.Writer) error {
	path = filepath.Clean(path)
	watcher, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("follow %s: %w", path, err)
	}
	defer watcher.Close()
	// Watch the directory: a watch on the file itself is lost when the file
	// is renamed, and never sees its replacement.
	if err := watcher.Add(filepath.Dir(path)); err != nil {
		return fmt.Errorf("follow %s: watch directory: %w", path, err)
	}
	ft := &fileTailer{path: path, w: w, buf: make([]byte, tailChunk)}
	if ft.f, err = os.Open(path); err != nil {
		return fmt.Errorf("follow: %w", err)
	}
	defer func() { ft.f.Close() }()
	st, err := ft.f.Stat()
	if err != nil {
		return fmt.Errorf("follow: %w", err)
	}
	ft.off = st.Size()
	if tail > 0 {
		ft.off = max(0, ft.off-tail)
	}
	if err := ft.catchUp(); err != nil {
		return err
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-watcher.Events:
			if !ok {
				return nil
			}
			if ev.Name == path || strings.HasPrefix(ev.Name, path+".") {
				if err := ft.catchUp(); err != nil {
					return err
				}
			}
		case err, ok := <-watcher.Errors:
			if !ok {
				return nil
			}
			if !errors.Is(err, fsnotify.ErrEventOverflow) {
				return fmt.Errorf("follow %s: %w", path, err)
			}
			if err := ft.catchUp(); err != nil { // events were lost: look now
				return err
			}
		}
	}
}

// fileTailer is FollowFile's state: the file it reads and where.
type fileTailer struct {
	path string
	f    *os.File
	off  int64
	w    io.Writer
	buf  []byte
}

// catchUp writes what was appended to the open file, then, if path now
// names another file, switches to it and writes it from the start.
func (t *fileTailer) catchUp() error {
	for {
		if err := t.drain(); err != nil {
			return err
		}
		cur, err := t.f.Stat()
		if err != nil {
			return fmt.Errorf("follow %s: %w", t.path, err)
		}
		next, err := os.Stat(t.path)
		if err != nil || os.SameFile(cur, next) {
			return nil // gone (wait for its successor's Create) or unchanged
		}
		nf, err := os.Open(t.path)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return nil
			}
			return fmt.Errorf("follow: %w", err)
		}
		// The old file may have grown between the drain above and its
		// replacement (a rotating writer finishes it first): drain it once
		// more now that the new one is there.
		if err := t.drain(); err != nil {
			nf.Close()
			return err
		}
		t.f.Close()
		t.f, t.off = nf, 0
	}
}

// drain writes the open file from off to its end, starting over at 0 if the
// file is now shorter than off (truncated in place).
func (t *fileTailer) drain() error {
	if st, err := t.f.Stat(); err == nil && st.Size() < t.off {
		t.off = 0
	}
	for {
		n, err := t.f.ReadAt(t.buf, t.off)
		if n > 0 {
			if _, werr := t.w.Write(t.buf[:n]); werr != nil {
				return fmt.Errorf("follow %s: %w", t.path, werr)
			}
			t.off += int64(n)
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("follow %s: %w", t.path, err)
		}
	}
}
