package testutil

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// Buffer is a bytes.Buffer safe for concurrent use: a process's output, a
// logger or a follower writes it while the test reads it.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p.
func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

// String returns what was written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// Eventually checks cond every 10 ms until it holds, and fails the test
// if it does not within timeout. For tests only, and only where there is no
// event to await: what roost does itself never polls.
func Eventually(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// roostBuild is one build of roost/cmd/roost.
type roostBuild struct {
	once sync.Once
	dir  string
	path string
	err  error
}

var (
	roostBin    roostBuild                 // RoostBinary's
	roostBinsMu sync.Mutex                 // guards roostBins
	roostBins   = map[string]*roostBuild{} // RoostBinaryVersion's, by version
)

// RoostBinary builds roost/cmd/roost, once per test binary, into a
// directory every user may read and run (the tests run it as other users
// too), and returns its path. run runs the build command and returns its
// combined output; nil means exec.Cmd.CombinedOutput (a test binary that
// reaps its children itself passes one that registers the build first).
// TestMain removes the build with RemoveRoostBinary.
func RoostBinary(t testing.TB, run func(*exec.Cmd) ([]byte, error)) string {
	t.Helper()
	return roostBin.build(t, run, "")
}

// RoostBinaryVersion is RoostBinary with version as the binary's version
// string (-ldflags -X main.version=VERSION), one build per version: the
// binary an upgrade test installs in place of RoostBinary's.
func RoostBinaryVersion(t testing.TB, run func(*exec.Cmd) ([]byte, error), version string) string {
	t.Helper()
	roostBinsMu.Lock()
	b := roostBins[version]
	if b == nil {
		b = &roostBuild{}
		roostBins[version] = b
	}
	roostBinsMu.Unlock()
	return b.build(t, run, version)
}

func (b *roostBuild) build(t testing.TB, run func(*exec.Cmd) ([]byte, error), version string) string {
	t.Helper()
	b.once.Do(func() {
		dir, err := os.MkdirTemp("", "roost-bin-")
		if err != nil {
			b.err = fmt.Errorf("build roost: %w", err)
			return
		}
		b.dir = dir
		if err := os.Chmod(dir, 0o755); err != nil {
			b.err = fmt.Errorf("build roost: %w", err)
			return
		}
		path := filepath.Join(dir, "roost")
		// As scripts/package builds it: static, without urfave/cli's
		// man-page generator (roost's pages come from internal/manpage).
		args := []string{"build", "-tags", "urfave_cli_no_docs", "-o", path}
		if version != "" {
			args = append(args, "-ldflags", "-X main.version="+version)
		}
		cmd := exec.Command("go", append(args, "roost/cmd/roost")...)
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if run == nil {
			run = (*exec.Cmd).CombinedOutput
		}
		if out, err := run(cmd); err != nil {
			b.err = fmt.Errorf("go build roost/cmd/roost: %w\n%s", err, out)
			return
		}
		b.path = path
	})
	if b.err != nil {
		t.Fatal(b.err)
	}
	return b.path
}

// RemoveRoostBinary removes what RoostBinary and RoostBinaryVersion
// built, if anything; TestMain calls it after the tests ran.
func RemoveRoostBinary() {
	if roostBin.dir != "" {
		os.RemoveAll(roostBin.dir)
	}
	roostBinsMu.Lock()
	defer roostBinsMu.Unlock()
	for _, b := range roostBins {
		if b.dir != "" {
			os.RemoveAll(b.dir)
		}
	}
}

// ServeApp is the small web app tests run as a supervised program: it
// listens on 127.0.0.1:$PORT, prints "listening on ADDR", serves h until a
// signal arrives on term (the caller's signal.Notify for SIGTERM), then
// finishes what is in flight, for at most 5 s.
func ServeApp(term <-chan os.Signal, h http.Handler) error {
	ln, err := net.Listen("tcp", "127.0.0.1:"+os.Getenv("PORT"))
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: h}
	go srv.Serve(ln)
	fmt.Println("listening on", ln.Addr())
	<-term
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	srv.Shutdown(ctx)
	return nil
}

// FreePort returns a TCP port on 127.0.0.1 that nobody listens on right now.
func FreePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}
