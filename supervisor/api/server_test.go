package api_test

import (
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"roost/internal/testutil"
	"roost/supervisor/api"
	"roost/supervisor/api/apitest"
)

func fakeBackend() *apitest.Backend {
	return apitest.New(
		&apitest.Proc{Group: "web", Name: "web", State: api.Running},
		&apitest.Proc{Group: "grp", Name: "a", State: api.Stopped},
		&apitest.Proc{Group: "grp", Name: "b", State: api.Running},
		&apitest.Proc{Group: "bad", Name: "bad", StartErr: api.SpawnError},
	)
}

// serve starts a server for b on a socket in a fresh directory and returns
// its path; the server stops when the test ends.
func serve(t testing.TB, b api.Backend, opts api.ServerOptions) (string, *api.Server) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "run", "roost.sock")
	return path, serveAt(t, path, b, opts)
}

func serveAt(t testing.TB, path string, b api.Backend, opts api.ServerOptions) *api.Server {
	t.Helper()
	srv := api.NewServer(b, opts)
	if err := srv.Listen(path); err != nil {
		t.Fatalf("Listen: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Serve: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("Serve did not return after cancel")
		}
	})
	return srv
}

func dial(t *testing.T, path string, opts ...api.ClientOption) *api.Client {
	t.Helper()
	c, err := api.Dial(path, opts...)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestListenModes(t *testing.T) {
	path, _ := serve(t, fakeBackend(), api.ServerOptions{})
	dir, err := os.Stat(filepath.Dir(path))
	if err != nil {
		t.Fatal(err)
	}
	if got := dir.Mode().Perm(); got != 0o700 {
		t.Errorf("socket dir mode = %o, want 700", got)
	}
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode()&os.ModeSocket == 0 {
		t.Errorf("%s is not a socket: %v", path, fi.Mode())
	}
	if got := fi.Mode().Perm(); got != 0o600 {
		t.Errorf("socket mode = %o, want 600", got)
	}
}

func TestServeRemovesSocket(t *testing.T) {
	path := filepath.Join(t.TempDir(), "roost.sock")
	b := fakeBackend()
	b.AppendLog("web", api.Stdout, "hello\n")
	srv := api.NewServer(b, api.ServerOptions{})
	if err := srv.Listen(path); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	c := dial(t, path)
	// A stream in progress must not hold Serve up.
	followDone := make(chan error, 1)
	w := &signalWriter{first: make(chan struct{})}
	go func() { followDone <- c.FollowLog(context.Background(), "web", api.Stdout, 100, w) }()
	<-w.first
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Serve: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return")
	}
	<-followDone
	if _, err := os.Lstat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("socket still there after Serve returned: %v", err)
	}
	// The path is free for the next server.
	srv2 := api.NewServer(fakeBackend(), api.ServerOptions{})
	if err := srv2.Listen(path); err != nil {
		t.Fatalf("second Listen: %v", err)
	}
	srv2.Close()
}

// signalWriter collects what it is given and closes first on the first write.
type signalWriter struct {
	once  sync.Once
	first chan struct{}
	buf   testutil.Buffer
}

func (w *signalWriter) Write(p []byte) (int, error) {
	n, err := w.buf.Write(p)
	w.once.Do(func() { close(w.first) })
	return n, err
}

func TestStaleSocketReplaced(t *testing.T) {
	path := filepath.Join(t.TempDir(), "roost.sock")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	ln.SetUnlinkOnClose(false)
	ln.Close() // the socket file stays, nobody listens: stale
	if _, err := os.Lstat(path); err != nil {
		t.Fatalf("stale socket missing: %v", err)
	}
	serveAt(t, path, fakeBackend(), api.ServerOptions{})
	c := dial(t, path)
	if _, err := c.Processes(ctxT(t)); err != nil {
		t.Fatalf("Processes on the new socket: %v", err)
	}
}

func TestLiveSocketNotStolen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "roost.sock")
	ln, err := net.Listen("unix", path) // someone else's live server, no lock
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	srv := api.NewServer(fakeBackend(), api.ServerOptions{})
	err = srv.Listen(path)
	if err == nil || !strings.Contains(err.Error(), "another roost is running on "+path) {
		t.Fatalf("Listen on a live socket: %v, want \"another roost is running on %s\"", err, path)
	}
	if _, err := os.Lstat(path); err != nil {
		t.Errorf("the live socket was removed: %v", err)
	}
}

func TestLockedSocketNotStolen(t *testing.T) {
	path, _ := serve(t, fakeBackend(), api.ServerOptions{})
	srv := api.NewServer(fakeBackend(), api.ServerOptions{})
	err := srv.Listen(path)
	if err == nil || !strings.Contains(err.Error(), "another roost is running on "+path) {
		t.Fatalf("second Listen: %v", err)
	}
	c := dial(t, path)
	if _, err := c.Processes(ctxT(t)); err != nil {
		t.Fatalf("the first server stopped answering: %v", err)
	}
}

func TestListenRefusesUnsafePlaces(t *testing.T) {
	dir := t.TempDir()
	notSock := filepath.Join(dir, "file.sock")
	os.WriteFile(notSock, []byte("x"), 0o600)

	open := filepath.Join(dir, "open")
	os.Mkdir(open, 0o700)
	os.Chmod(open, 0o777) // no sticky bit

	long := filepath.Join(dir, strings.Repeat("x", 110), "roost.sock")

	for name, tc := range map[string]struct{ path, want string }{
		"not a socket":   {notSock, "exists and is not a socket"},
		"world-writable": {filepath.Join(open, "roost.sock"), "writable by group or others"},
		"too long":       {long, "a unix socket path may have at most 107"},
	} {
		t.Run(name, func(t *testing.T) {
			err := api.NewServer(fakeBackend(), api.ServerOptions{}).Listen(tc.path)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Listen(%s) = %v, want an error containing %q", tc.path, err, tc.want)
			}
		})
	}
	if b, _ := os.ReadFile(notSock); string(b) != "x" {
		t.Errorf("the regular file was touched")
	}
}

func TestListenRefusesOthersDirectory(t *testing.T) {
	bob := testutil.RequireUser(t, testutil.UserB)
	dir := t.TempDir()
	bobs := filepath.Join(dir, "bobs")
	os.Mkdir(bobs, 0o700)
	if err := os.Chown(bobs, bob.UID, bob.GID); err != nil {
		t.Fatal(err)
	}
	err := api.NewServer(fakeBackend(), api.ServerOptions{}).Listen(filepath.Join(bobs, "roost.sock"))
	if err == nil || !strings.Contains(err.Error(), "owned by uid "+strconv.Itoa(bob.UID)) {
		t.Fatalf("Listen in bob's directory: %v", err)
	}
	// A symlink bob owns, pointing to a directory of ours, is refused too.
	ours := filepath.Join(dir, "ours")
	os.Mkdir(ours, 0o700)
	link := filepath.Join(dir, "link")
	os.Symlink(ours, link)
	if err := os.Lchown(link, bob.UID, bob.GID); err != nil {
		t.Fatal(err)
	}
	err = api.NewServer(fakeBackend(), api.ServerOptions{}).Listen(filepath.Join(link, "roost.sock"))
	if err == nil || !strings.Contains(err.Error(), "is a symlink owned by uid") {
		t.Fatalf("Listen through bob's symlink: %v", err)
	}
}

// TestPeerCredRefusesOtherUser connects as roost-bob (curl run with bob's
// uid) to a root-owned server whose socket mode would let bob in: the
// SO_PEERCRED check must answer 403 and log bob's uid and pid.
func TestPeerCredRefusesOtherUser(t *testing.T) {
	bob := testutil.RequireUser(t, testutil.UserB)
	curl := testutil.RequireBinary(t, "curl")
	dir, err := os.MkdirTemp("", "roost-peercred-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755)
	var logs testutil.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	path := filepath.Join(dir, "roost.sock")
	serveAt(t, path, fakeBackend(), api.ServerOptions{Logger: log})
	os.Chmod(path, 0o666) // only the kernel's peer check stands in bob's way now

	cmd := exec.Command(curl, "-sS", "-w", "\n%{http_code}",
		"--unix-socket", path, "http://roost/api/v1/processes")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{
		Uid: uint32(bob.UID), Gid: uint32(bob.GID)}}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("curl as bob: %v\n%s", err, stderr.String())
	}
	i := strings.LastIndexByte(string(out), '\n')
	body, code := string(out[:i+1]), string(out[i+1:])
	if code != "403" {
		t.Fatalf("bob got HTTP %s, want 403; body: %s", code, body)
	}
	if strings.Contains(body, `"web"`) {
		t.Errorf("bob saw process data: %s", body)
	}
	want := "peer_uid=" + strconv.Itoa(bob.UID)
	if !strings.Contains(logs.String(), want) || !strings.Contains(logs.String(), "peer_pid=") {
		t.Errorf("log lacks %q and peer_pid: %q", want, logs.String())
	}
	// The owner (root here) still gets in.
	c := dial(t, path)
	if _, err := c.Processes(ctxT(t)); err != nil {
		t.Fatalf("owner refused: %v", err)
	}
}

func TestBasicAuth(t *testing.T) {
	sum := sha1.Sum([]byte("s3cret"))
	for name, stored := range map[string]string{
		"plain": "s3cret",
		"sha":   "{SHA}" + hex.EncodeToString(sum[:]),
	} {
		t.Run(name, func(t *testing.T) {
			path, _ := serve(t, fakeBackend(), api.ServerOptions{Username: "user", Password: stored})
			ctx := ctxT(t)
			if _, err := dial(t, path).Processes(ctx); !errors.Is(err, api.ErrUnauthorized) {
				t.Errorf("no credentials: %v, want ErrUnauthorized", err)
			}
			if _, err := dial(t, path, api.WithBasicAuth("user", "wrong")).Processes(ctx); !errors.Is(err, api.ErrUnauthorized) {
				t.Errorf("wrong password: %v, want ErrUnauthorized", err)
			}
			if _, err := dial(t, path, api.WithBasicAuth("other", "s3cret")).Processes(ctx); !errors.Is(err, api.ErrUnauthorized) {
				t.Errorf("wrong user: %v, want ErrUnauthorized", err)
			}
			if _, err := dial(t, path, api.WithBasicAuth("user", "s3cret")).Processes(ctx); err != nil {
				t.Errorf("right credentials: %v", err)
			}
			if name == "sha" {
				// The stored hash is not itself a password.
				if _, err := dial(t, path, api.WithBasicAuth("user", stored)).Processes(ctx); !errors.Is(err, api.ErrUnauthorized) {
					t.Errorf("hash as password: %v, want ErrUnauthorized", err)
				}
			}
			// The header supervisorctl reacts to.
			resp := rawGet(t, path, "/api/v1/processes")
			if got := resp.Header.Get("WWW-Authenticate"); got != `Basic realm="default"` {
				t.Errorf("WWW-Authenticate = %q", got)
			}
		})
	}
}

// rawGet does a GET on the socket without the client's processing.
func rawGet(t *testing.T, path, urlPath string) *http.Response {
	t.Helper()
	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", path)
	}}}
	resp, err := hc.Get("http://roost" + urlPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func TestErrorJSON(t *testing.T) {
	path, _ := serve(t, fakeBackend(), api.ServerOptions{})
	for _, tc := range []struct {
		path   string
		status int
		body   string
	}{
		{"/api/v1/processes/nope", 404, `{"error":{"code":10,"name":"BAD_NAME","message":"BAD_NAME: nope"}}`},
		{"/api/v1/logs/web/stdin", 400, `{"error":{"code":3,"name":"BAD_ARGUMENTS","message":"BAD_ARGUMENTS: stream \"stdin\": want stdout or stderr"}}`},
		{"/api/v1/nothing", 404, `{"error":{"code":1,"name":"UNKNOWN_METHOD","message":"UNKNOWN_METHOD: GET /api/v1/nothing"}}`},
	} {
		resp := rawGet(t, path, tc.path)
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != tc.status || strings.TrimSpace(string(body)) != tc.body {
			t.Errorf("GET %s = %d %s, want %d %s", tc.path, resp.StatusCode, body, tc.status, tc.body)
		}
		if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("GET %s: Content-Type %q", tc.path, ct)
		}
	}
}

func TestMount(t *testing.T) {
	b := fakeBackend()
	srv := api.NewServer(b, api.ServerOptions{Username: "u", Password: "p"})
	srv.Mount("POST /RPC2", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "rpc")
	}))
	path := filepath.Join(t.TempDir(), "roost.sock")
	if err := srv.Listen(path); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	defer func() { cancel(); <-done }()
	post := func(user string) *http.Response {
		hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return net.Dial("unix", path)
		}}}
		req, _ := http.NewRequest("POST", "http://roost/RPC2", strings.NewReader("<x/>"))
		if user != "" {
			req.SetBasicAuth(user, "p")
		}
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	if resp := post(""); resp.StatusCode != 401 {
		t.Errorf("mounted handler without auth: %d, want 401", resp.StatusCode)
	}
	resp := post("u")
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || string(body) != "rpc" {
		t.Errorf("mounted handler: %d %q", resp.StatusCode, body)
	}
}

// TestListenAcceptsSharedButSafeDirs: a root-owned sticky directory (like
// /tmp) and a directory only the owner's private group may write are fine.
func TestListenAcceptsSharedButSafeDirs(t *testing.T) {
	testutil.RequireRoot(t) // a root-owned sticky dir, and root's private group "root"
	dir := t.TempDir()
	sticky := filepath.Join(dir, "sticky")
	os.Mkdir(sticky, 0o700)
	os.Chmod(sticky, 0o777|os.ModeSticky)
	serveAt(t, filepath.Join(sticky, "roost.sock"), fakeBackend(), api.ServerOptions{})

	private := filepath.Join(dir, "private")
	os.Mkdir(private, 0o700)
	os.Chmod(private, 0o770) // group root: root's private group
	serveAt(t, filepath.Join(private, "roost.sock"), fakeBackend(), api.ServerOptions{})

	testutil.RequireUser(t, testutil.UserA) // scripts/test creates roost-shared with it
	g, err := user.LookupGroup(testutil.SharedGroup)
	if err != nil {
		t.Fatal(err)
	}
	gid, _ := strconv.Atoi(g.Gid)
	group := filepath.Join(dir, "group")
	os.Mkdir(group, 0o700)
	os.Chown(group, 0, gid)
	os.Chmod(group, 0o770)
	err = api.NewServer(fakeBackend(), api.ServerOptions{}).Listen(filepath.Join(group, "roost.sock"))
	if err == nil || !strings.Contains(err.Error(), "writable by group or others") {
		t.Fatalf("Listen in a directory %s may write: %v", testutil.SharedGroup, err)
	}
}
