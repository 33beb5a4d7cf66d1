package logrotate

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
)

// defaultFollowCap is how far (in bytes) a follower may lag behind the writer
// before the sink drops what it cannot hold for it and the follower writes a
// skip marker instead. 1 MiB is a second of a very chatty program, and a
// bounded cost per `tail -f` client.
const defaultFollowCap = 1 << 20

// tailChunk is the read size for the initial tail of a Follow.
const tailChunk = 64 << 10

// follower is one Follow call's queue. All fields are guarded by the sink's
// mu except notify, which only carries wake-ups.
type follower struct {
	notify  chan struct{} // capacity 1: "there is something new"
	pending []byte        // bytes written since the follower last took them
	dropped int64         // bytes dropped after pending, since it filled up
	closed  bool          // the sink was closed
}

// wake signals the follower without ever blocking the writer.
func (f *follower) wake() {
	select {
	case f.notify <- struct{}{}:
	default:
	}
}

// feedLocked hands bytes just written to the file to every follower. It never
// blocks: a follower that has followCap bytes pending gets nothing more until
// it drains them, and is told how much it missed.
func (s *Sink) feedLocked(p []byte) {
	if len(p) == 0 {
		return
	}
	for f := range s.followers {
		if f.dropped == 0 && len(f.pending)+len(p) <= s.followCap {
			f.pending = append(f.pending, p...)
		} else {
			f.dropped += int64(len(p))
		}
		f.wake()
	}
}

// Follow writes the last tail bytes of the live file to w (none when tail <=
// 0), then every byte written to the sink afterwards, until ctx ends (it
// returns nil) or the sink is closed (ErrClosed, after the last bytes). It
// keeps going across rotation, Reopen and Clear: it follows the sink, not a
// file, so a follower that keeps up gets every byte exactly once, the new file
// after a rotation starting from its first byte.
//
// It waits for the sink's writes, never on a timer, and the writer never
// waits for it: when a follower falls more than 1 MiB behind, the sink drops
// further bytes for it until it catches up, and Follow writes
// "[roost: N bytes skipped: follower fell behind]" on a line of its own where
// they were. Follow cannot interrupt a w.Write that blocks; give it a w whose
// writes end with ctx (e.g. an HTTP response whose client went away).
func (s *Sink) Follow(ctx context.Context, tail int64, w io.Writer) error {
	f := &follower{notify: make(chan struct{}, 1)}
	var (
		tf       *os.File
		tailErr  error
		epoch    uint64
		from, to int64
	)
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return fmt.Errorf("follow log %s: %w", s.path, ErrClosed)
	}
	idle := false
	if tail > 0 && s.f == nil && s.openLocked(false) == nil {
		idle = true // a program that is not running: its tail is still shown
	}
	if tail > 0 && s.f != nil && s.readable && s.regular && s.size > 0 {
		to = s.size
		from = max(0, to-tail)
		epoch = s.epoch.Load()
		tf, tailErr = dupFile(s.f)
	}
	if idle {
		s.closeIdleLocked()
	}
	if s.followers == nil {
		s.followers = make(map[*follower]struct{})
	}
	s.followers[f] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.followers, f)
		s.mu.Unlock()
	}()
	if tailErr != nil {
		return fmt.Errorf("follow log %s: %w", s.path, tailErr)
	}
	if tf != nil {
		err := s.writeTail(ctx, tf, from, to, epoch, w)
		tf.Close()
		if err != nil || ctx.Err() != nil {
			return err
		}
	}

	var buf []byte
	lineStart := true // the last byte written to w ended a line
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-f.notify:
		}
		s.mu.Lock()
		buf, f.pending = f.pending, buf[:0]
		dropped, closed := f.dropped, f.closed
		f.dropped = 0
		s.mu.Unlock()
		if len(buf) > 0 {
			if _, err := w.Write(buf); err != nil {
				return fmt.Errorf("follow log %s: %w", s.path, err)
			}
			lineStart = buf[len(buf)-1] == '\n'
		}
		if dropped > 0 {
			nl := "\n"
			if lineStart {
				nl = ""
			}
			if _, err := fmt.Fprintf(w, "%s[roost: %d bytes skipped: follower fell behind]\n", nl, dropped); err != nil {
				return fmt.Errorf("follow log %s: %w", s.path, err)
			}
			lineStart = true
		}
		if closed {
			return fmt.Errorf("follow log %s: %w", s.path, ErrClosed)
		}
	}
}

// writeTail copies bytes [from, to) of the file the follower registered on to
// w. If the sink truncated that file in place meanwhile (a backups=0
// rotation), the bytes read may be newer ones the follower will also get
// from its queue, so it stops with a marker instead.
func (s *Sink) writeTail(ctx context.Context, tf *os.File, from, to int64, epoch uint64, w io.Writer) error {
	buf := make([]byte, min(to-from, tailChunk))
	for from < to && ctx.Err() == nil {
		n, err := tf.ReadAt(buf[:min(int64(len(buf)), to-from)], from)
		if s.epoch.Load() != epoch {
			_, err := io.WriteString(w, "[roost: log truncated while its tail was read]\n")
			return err
		}
		if n > 0 {
			if _, err := w.Write(buf[:n]); err != nil {
				return fmt.Errorf("follow log %s: %w", s.path, err)
			}
			from += int64(n)
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil // truncated by someone else: nothing more to show
			}
			return fmt.Errorf("follow log %s: read tail: %w", s.path, err)
		}
	}
	return nil
}
