package master

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"roost/internal/testutil"
)

// A unix upstream is routed only when it is a real socket of the user, in
// the user's socket directory, with no symlink anywhere on its path.
func TestCheckUnixUpstream(t *testing.T) {
	alice := testutil.RequireUser(t, testutil.UserA)
	bob := testutil.RequireUser(t, testutil.UserB)
	dir := t.TempDir()
	sockets := filepath.Join(dir, socketsDirName)
	own := filepath.Join(sockets, alice.Name)
	for _, d := range []string{sockets, own, filepath.Join(own, "sub")} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	os.Chown(own, alice.UID, alice.GID)
	sock := func(path string, a testutil.Account) {
		l, err := net.Listen("unix", path)
		if err != nil {
			t.Fatal(err)
		}
		l.(*net.UnixListener).SetUnlinkOnClose(false)
		t.Cleanup(func() { l.Close() })
		os.Lchown(path, a.UID, a.GID)
	}
	sock(filepath.Join(own, "good.sock"), alice)
	sock(filepath.Join(own, "bobs.sock"), bob)
	sock(filepath.Join(own, "sub", "deep.sock"), alice)
	if err := os.Symlink(filepath.Join(own, "good.sock"), filepath.Join(own, "link.sock")); err != nil {
		t.Fatal(err)
	}
	os.Lchown(filepath.Join(own, "link.sock"), alice.UID, alice.GID)
	if err := syscall.Mkfifo(filepath.Join(own, "fifo.sock"), 0o666); err != nil {
		t.Fatal(err)
	}
	os.Lchown(filepath.Join(own, "fifo.sock"), alice.UID, alice.GID)
	// A directory of alice's reached through a symlink in a root directory.
	swapped := filepath.Join(dir, "swapped")
	if err := os.Symlink(sockets, swapped); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		path, dir, want string
	}{
		{filepath.Join(own, "good.sock"), own, ""},
		{filepath.Join(own, "link.sock"), own, "is a symlink"},
		{filepath.Join(own, "fifo.sock"), own, "is not a socket"},
		{filepath.Join(own, "bobs.sock"), own, "belongs to uid"},
		{filepath.Join(own, "none.sock"), own, ""}, // not listening yet: nginx says 502
		{filepath.Join(own, "sub", "deep.sock"), own, "not a socket of your socket directory"},
		{own + "/../" + alice.Name + "/good.sock", own, "not a socket of your socket directory"},
		{filepath.Join(swapped, alice.Name, "good.sock"), filepath.Join(swapped, alice.Name), "is a symlink"},
	} {
		err := checkUnixUpstream(tc.path, tc.dir, alice.UID)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v", tc.path, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: got %v, want an error with %q", tc.path, err, tc.want)
		}
	}
	// The user's directory must be the user's, and the ones above it root's.
	if err := checkUnixUpstream(filepath.Join(own, "good.sock"), own, bob.UID); err == nil || !strings.Contains(err.Error(), "belongs to uid") {
		t.Errorf("alice's directory accepted for bob: %v", err)
	}
	os.Chmod(sockets, 0o775)
	if err := checkUnixUpstream(filepath.Join(own, "good.sock"), own, alice.UID); err == nil || !strings.Contains(err.Error(), "someone other than root") {
		t.Errorf("a group-writable parent: %v", err)
	}
}

// nginx connects to root's hard link of the inode the master checked: what
// the user puts at the path later is never reached.
func TestLinkUnixUpstream(t *testing.T) {
	alice := testutil.RequireUser(t, testutil.UserA)
	dir := t.TempDir()
	own := filepath.Join(dir, socketsDirName, alice.Name)
	links := filepath.Join(dir, nginxDirName, alice.Name)
	for _, d := range []string{own, links} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	os.Chown(own, alice.UID, alice.GID)
	path := filepath.Join(own, "api.sock")
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	os.Lchown(path, alice.UID, alice.GID)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Write([]byte("checked"))
			c.Close()
		}
	}()
	link, err := linkUnixUpstream(path, own, links, alice.UID)
	if err != nil || link != filepath.Join(links, "api.sock") {
		t.Fatalf("link: %q %v", link, err)
	}
	read := func() string {
		c, err := net.Dial("unix", link)
		if err != nil {
			return err.Error()
		}
		defer c.Close()
		b := make([]byte, 16)
		n, _ := c.Read(b)
		return string(b[:n])
	}
	if got := read(); got != "checked" {
		t.Fatalf("through the link: %q", got)
	}
	// The user swaps the socket for a symlink to someone else's: refused,
	// and the link still reaches the socket that was checked.
	other := filepath.Join(dir, "other.sock")
	ol, err := net.Listen("unix", other)
	if err != nil {
		t.Fatal(err)
	}
	defer ol.Close()
	os.Rename(path, path+".old")
	os.Symlink(other, path)
	os.Lchown(path, alice.UID, alice.GID)
	if _, err := linkUnixUpstream(path, own, links, alice.UID); err == nil || !strings.Contains(err.Error(), "is a symlink") {
		t.Fatalf("a swapped socket: %v", err)
	}
	if got := read(); got != "checked" {
		t.Fatalf("after the swap: %q", got)
	}
	// Nothing there: the stale link goes (nginx answers 502).
	os.Remove(path)
	if got, err := linkUnixUpstream(path, own, links, alice.UID); err != nil || got != link {
		t.Fatalf("no socket: %q %v", got, err)
	}
	if _, err := os.Lstat(link); err == nil {
		t.Fatal("the stale link stayed")
	}
}
