package logrotate

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// waitLimit bounds every wait in these tests; it is generous because other
// tests share the machine. Nothing sleeps: waits end on events.
const waitLimit = 30 * time.Second

// collector is a follower's destination: it keeps what it gets and signals
// every write.
type collector struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	signal chan struct{}
}

func newCollector() *collector { return &collector{signal: make(chan struct{}, 1)} }

func (c *collector) Write(p []byte) (int, error) {
	c.mu.Lock()
	c.buf.Write(p)
	c.mu.Unlock()
	select {
	case c.signal <- struct{}{}:
	default:
	}
	return len(p), nil
}

func (c *collector) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.buf.String()
}

// waitFor waits until the collected bytes are want, failing at once if they
// stop being a prefix of it.
func (c *collector) waitFor(t *testing.T, want string) {
	t.Helper()
	deadline := time.After(waitLimit)
	for {
		got := c.String()
		if got == want {
			return
		}
		if !strings.HasPrefix(want, got) {
			t.Fatalf("follower got %q\nwant %q", tailStr(got), tailStr(want))
		}
		select {
		case <-c.signal:
		case <-deadline:
			t.Fatalf("follower stuck at %d bytes, want %d: %q", len(got), len(want), tailStr(got))
		}
	}
}

func tailStr(s string) string {
	if len(s) > 200 {
		return "…" + s[len(s)-200:]
	}
	return s
}

// follow starts s.Follow in a goroutine and returns its result channel.
func follow(ctx context.Context, s *Sink, tail int64, w io.Writer) <-chan error {
	done := make(chan error, 1)
	go func() { done <- s.Follow(ctx, tail, w) }()
	return done
}

func waitDone(t *testing.T, done <-chan error) error {
	t.Helper()
	select {
	case err := <-done:
		return err
	case <-time.After(waitLimit):
		t.Fatal("Follow did not return")
		return nil
	}
}

func TestFollowSeesEveryByteAcrossRotationsClearAndReopen(t *testing.T) {
	for _, backups := range []int{0, 1, 3} {
		t.Run(fmt.Sprintf("backups=%d", backups), func(t *testing.T) {
			s, path := openSink(t, 100, backups)
			var all strings.Builder
			put := func(line string) {
				all.WriteString(line)
				write(t, s, line)
			}
			put("before the follower\n")
			col := newCollector()
			// The first line reaches the follower exactly once: through its
			// tail if it registers after the write, else through its queue.
			done := follow(context.Background(), s, 1<<20, col)
			col.waitFor(t, all.String())
			for i := range 300 {
				put(fmt.Sprintf("line %d %s\n", i, strings.Repeat("*", i%37)))
				switch i {
				case 100:
					if err := s.Clear(); err != nil {
						t.Fatal(err)
					}
				case 200:
					os.Rename(path, path+"-moved")
					if err := s.Reopen(); err != nil {
						t.Fatal(err)
					}
				}
			}
			put("partial at exit") // as Flush writes it
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			if err := waitDone(t, done); !errors.Is(err, ErrClosed) {
				t.Errorf("Follow = %v, want ErrClosed", err)
			}
			if got := col.String(); got != all.String() {
				t.Errorf("follower got %d bytes, want %d:\n%s", len(got), all.Len(), tailStr(got))
			}
		})
	}
}

func TestFollowTail(t *testing.T) {
	s, _ := openSink(t, 0, 0)
	write(t, s, "hello\nworld\n")
	for _, c := range []struct {
		tail int64
		want string
	}{{0, ""}, {-5, ""}, {6, "world\n"}, {7, "\nworld\n"}, {12, "hello\nworld\n"}, {1000, "hello\nworld\n"}} {
		ctx, cancel := context.WithCancel(context.Background())
		col := newCollector()
		done := follow(ctx, s, c.tail, col)
		col.waitFor(t, c.want)
		cancel()
		if err := waitDone(t, done); err != nil {
			t.Errorf("tail %d: Follow = %v", c.tail, err)
		}
		if got := col.String(); got != c.want {
			t.Errorf("tail %d: got %q, want %q", c.tail, got, c.want)
		}
	}
}

func TestFollowReturnsPromptlyOnCancel(t *testing.T) {
	s, _ := openSink(t, 0, 0)
	ctx, cancel := context.WithCancel(context.Background())
	col := newCollector()
	write(t, s, "x\n")
	done := follow(ctx, s, 100, col)
	col.waitFor(t, "x\n") // through the tail or the queue: registered now
	start := time.Now()
	cancel()
	if err := waitDone(t, done); err != nil {
		t.Errorf("Follow = %v, want nil after cancel", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Follow took %v to return after cancel", d)
	}
	s.mu.Lock()
	n := len(s.followers)
	s.mu.Unlock()
	if n != 0 {
		t.Errorf("%d followers left registered", n)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Follow(context.Background(), 0, col); !errors.Is(err, ErrClosed) {
		t.Errorf("Follow on a closed sink = %v", err)
	}
}

// blocking is a follower destination that blocks until released.
type blocking struct {
	release chan struct{}
	entered chan struct{}
	once    sync.Once
	col     *collector
}

func (b *blocking) Write(p []byte) (int, error) {
	b.once.Do(func() { close(b.entered) })
	<-b.release
	return b.col.Write(p)
}

var skipRE = regexp.MustCompile(`\[roost: (\d+) bytes skipped: follower fell behind\]\n`)

func TestStalledFollowerNeverBlocksTheWriter(t *testing.T) {
	s, _ := openSink(t, 64<<10, 2)
	s.followCap = 64 << 10
	b := &blocking{release: make(chan struct{}), entered: make(chan struct{}), col: newCollector()}
	var all bytes.Buffer
	all.WriteString("first\n")
	write(t, s, "first\n")
	// "first" reaches the follower once, through its tail or its queue;
	// either way the follower is registered and then stuck writing it.
	done := follow(context.Background(), s, 1<<20, b)
	select {
	case <-b.entered:
	case <-time.After(waitLimit):
		t.Fatal("follower never wrote")
	}
	wrote := make(chan struct{})
	go func() {
		defer close(wrote)
		var chunk []byte
		for i := 0; all.Len() < 64*s.followCap; i++ {
			chunk = fmt.Appendf(chunk, "%08d %s\n", i, strings.Repeat("x", i%120))
			if i%100 == 99 {
				all.Write(chunk)
				if _, err := s.Write(chunk); err != nil {
					t.Error(err)
					return
				}
				chunk = chunk[:0]
			}
		}
	}()
	select {
	case <-wrote:
	case <-time.After(waitLimit):
		t.Fatal("writer blocked behind a stalled follower")
	}
	close(b.release)
	s.Close()
	if err := waitDone(t, done); !errors.Is(err, ErrClosed) {
		t.Fatalf("Follow = %v", err)
	}
	// The output is the written bytes with holes, each hole replaced by a
	// marker that says how long it is.
	got, data := b.col.String(), all.String()
	pos, holes := 0, 0
	for len(got) > 0 {
		loc := skipRE.FindStringSubmatchIndex(got)
		seg := got
		if loc != nil {
			seg = got[:loc[0]]
		}
		if !strings.HasPrefix(data[pos:], seg) {
			t.Fatalf("segment at %d is not the written bytes: %q", pos, tailStr(seg))
		}
		pos += len(seg)
		if loc == nil {
			break
		}
		n, _ := strconv.Atoi(got[loc[2]:loc[3]])
		pos += n
		holes++
		got = got[loc[1]:]
	}
	if pos != len(data) {
		t.Errorf("follower accounted for %d of %d bytes", pos, len(data))
	}
	if holes == 0 {
		t.Error("64 times followCap past a stalled follower and no skip marker")
	}
}

func TestFollowTailTruncatedWhileRead(t *testing.T) {
	s, path := openSink(t, 0, 0)
	write(t, s, "old bytes\n")
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	epoch := s.epoch.Load()
	s.epoch.Add(1) // as a backups=0 rotation does before truncating
	col := newCollector()
	if err := s.writeTail(context.Background(), f, 0, 10, epoch, col); err != nil {
		t.Fatal(err)
	}
	if got := col.String(); got != "[roost: log truncated while its tail was read]\n" {
		t.Errorf("got %q", got)
	}
}

func TestFollowFileAcrossExternalRotationAndTruncation(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "ext.log")
	os.WriteFile(filepath.Join(dir, "other.log"), nil, 0o644)
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { f.Close() }()
	f.WriteString("skipped\na1\n")
	ctx, cancel := context.WithCancel(context.Background())
	col := newCollector()
	done := make(chan error, 1)
	go func() { done <- FollowFile(ctx, path, 3, col) }()
	col.waitFor(t, "a1\n")
	f.WriteString("a2\n")
	col.waitFor(t, "a1\na2\n")
	// logrotate moves the file; the writer goes on in it until told.
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	f.WriteString("a3\n")
	col.waitFor(t, "a1\na2\na3\n")
	os.WriteFile(filepath.Join(dir, "other.log"), []byte("noise\n"), 0o644)
	f.Close()
	if f, err = os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644); err != nil {
		t.Fatal(err)
	}
	f.WriteString("b1\nb2\n")
	col.waitFor(t, "a1\na2\na3\nb1\nb2\n")
	// copytruncate: the file shrinks, following starts over at 0.
	if err := f.Truncate(0); err != nil {
		t.Fatal(err)
	}
	f.WriteString("c\n")
	col.waitFor(t, "a1\na2\na3\nb1\nb2\nc\n")
	cancel()
	if err := waitDone(t, done); err != nil {
		t.Errorf("FollowFile = %v", err)
	}
}

// FollowFile on a file another process's Sink writes: a follower that keeps
// up sees every line once across the sink's rotations.
func TestFollowFileFollowsASinkRotating(t *testing.T) {
	s, path := openSink(t, 40, 2)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	col := newCollector()
	done := make(chan error, 1)
	write(t, s, "sync\n")
	go func() { done <- FollowFile(ctx, path, 5, col) }()
	want := "sync\n"
	col.waitFor(t, want)
	for i := range 60 {
		line := fmt.Sprintf("line %d\n", i)
		write(t, s, line)
		want += line
		col.waitFor(t, want)
	}
	cancel()
	if err := waitDone(t, done); err != nil {
		t.Errorf("FollowFile = %v", err)
	}
}

func TestFollowFileMissing(t *testing.T) {
	err := FollowFile(context.Background(), filepath.Join(t.TempDir(), "none.log"), 0, newCollector())
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("FollowFile(missing) = %v, want ErrNotExist", err)
	}
}
