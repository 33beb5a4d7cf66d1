package main

import (
	"context"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"roost/internal/testutil"
	"roost/master"
	"roost/supervisor/api"
	"roost/supervisor/api/apitest"
)

// Issue 13 point 3: root's ctl must not trust a socket a user made, and no
// verb prints a control character a server sent.

// evilTitle is what a hostile server puts in every string it can: it sets
// the terminal's title, clears the screen, starts a C1 CSI and rings.
const evilTitle = "\x1b]0;pwned\x07\x1b[2J\u009b31m\r\b"

// evilBackend is a supervisor that answers with escape sequences in names,
// descriptions and logs.
type evilBackend struct{ *apitest.Backend }

func (b evilBackend) AllProcessInfo() []api.ProcessInfo {
	infos := b.Backend.AllProcessInfo()
	for i := range infos {
		infos[i].Description += evilTitle
	}
	return infos
}

func (b evilBackend) ProcessInfo(name string) (api.ProcessInfo, error) {
	in, err := b.Backend.ProcessInfo(name)
	in.Description += evilTitle
	return in, err
}

func newEvilBackend() evilBackend {
	logs := map[api.Stream][]byte{
		api.Stdout: []byte("hello" + evilTitle + "\nsecond\x1b[31m line\n"),
		api.Stderr: []byte("oops" + evilTitle + "\n"),
	}
	b := apitest.New(
		&apitest.Proc{Group: "web", Name: "web", State: api.Running, PID: 4242, Autostart: true, Logs: logs},
		&apitest.Proc{Group: "x" + evilTitle, Name: "y" + evilTitle, State: api.Fatal},
	)
	b.MainLog = []byte("main" + evilTitle + "\n")
	return evilBackend{b}
}

// evilServerMain is the test binary as a hostile server (TestMain runs it
// when ROOST_TEST_EVIL_SERVER names a socket path), run as another user.
func evilServerMain(path string) int {
	srv := api.NewServer(newEvilBackend(), api.ServerOptions{})
	if err := srv.Listen(path); err != nil {
		os.Stderr.WriteString(err.Error() + "\n")
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	srv.Serve(ctx)
	return 0
}

// startEvilServer runs a hostile server as account on path (whose directory
// the caller made) and waits for its socket.
func startEvilServer(t *testing.T, account testutil.Account, path string) {
	t.Helper()
	bin := sharedTestBinary(t)
	cmd := exec.Command(bin)
	cmd.Env = []string{"ROOST_TEST_EVIL_SERVER=" + path, "PATH=/usr/bin:/bin"}
	cmd.Dir = "/"
	asUser(cmd, account)
	p := startProc(t, cmd)
	testutil.Eventually(t, 30*time.Second, "the hostile server's socket "+path, func() bool {
		select {
		case err := <-p.done:
			p.done <- err
			t.Fatalf("hostile server exited: %v\n%s", err, p.out.String())
		default:
		}
		fi, err := os.Lstat(path)
		return err == nil && fi.Mode()&os.ModeSocket != 0
	})
}

// sharedTestBinary copies this test binary where every user may run it.
func sharedTestBinary(t *testing.T) string {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := sharedTempDir(t, "roost-trust-bin-")
	in, err := os.Open(exe)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	path := filepath.Join(dir, "roost.test")
	out, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_EXCL, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// asUser makes cmd run as account (its primary group only).
func asUser(cmd *exec.Cmd, account testutil.Account) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{
		Uid: uint32(account.UID), Gid: uint32(account.GID)}}
}

// sharedTempDir makes a directory every user may enter (0755), removed
// when the test ends.
func sharedTempDir(t *testing.T, pattern string) string {
	t.Helper()
	dir, err := os.MkdirTemp("", pattern)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// ownedDir makes a directory owned by account with mode.
func ownedDir(t *testing.T, path string, account testutil.Account, mode os.FileMode) {
	t.Helper()
	if err := os.Mkdir(path, mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(path, account.UID, account.GID); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
}

// noControls fails the test when out holds a control character other than
// newline and tab.
func noControls(t *testing.T, what, out string) {
	t.Helper()
	for i, r := range out {
		if (r < 0x20 && r != '\n' && r != '\t') || (r >= 0x7f && r <= 0x9f) {
			t.Errorf("%s printed control character %U at byte %d:\n%q", what, r, i, out)
			return
		}
	}
}

// rootCtl runs `roost ARGS` as root in dir, as root's shell would, with
// nothing in the environment that chooses a socket; wrap is a command line
// the roost command line is appended to (a mount namespace), or nil.
func rootCtl(t *testing.T, dir string, wrap []string, args ...string) (string, int) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	argv := append(append(append([]string{}, wrap...), exe), args...)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Dir = dir
	cmd.Env = []string{"ROOST_TEST_AS_ROOST=1", "PATH=/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/root", "USER=root"}
	b, err := cmd.CombinedOutput()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("%v: %v", argv, err)
	}
	return string(b), code
}

// privateTmp is a wrap for rootCtl: a mount namespace where tmp is /tmp,
// and neither Debian's supervisord.conf nor a master's run directory for
// root chooses the socket, so root's ctl falls back to /tmp/roost-0.
func privateTmp(t *testing.T, tmp string) []string {
	t.Helper()
	testutil.RequireBinary(t, "unshare")
	empty := filepath.Join(tmp, "empty")
	if err := os.Mkdir(empty, 0o755); err != nil {
		t.Fatal(err)
	}
	// The test binary is under /tmp too: open it before /tmp changes.
	script := `set -e
exe=$3
exec 3<"$exe"
if [ -d /etc/supervisor ]; then mount --bind "$2" /etc/supervisor; fi
if [ -e /etc/supervisord.conf ]; then mount --bind /dev/null /etc/supervisord.conf; fi
if [ -e /run/roost/users/root ]; then mount --bind "$2" /run/roost/users; fi
mount --bind "$1" /tmp
shift 3
exec /proc/self/fd/3 "$@"`
	return []string{"unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh", tmp, empty}
}

// TestRootRefusesUserSocketAtFallback: bob makes /tmp/roost-0 before root's
// first `roost run` and serves a fake supervisor there; root's `roost
// status` and `roost stop all` must refuse it, and say why.
func TestRootRefusesUserSocketAtFallback(t *testing.T) {
	bob := testutil.RequireUser(t, testutil.UserB)
	tmp, err := os.MkdirTemp("", "roost-fake-tmp-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(tmp) })
	os.Chmod(tmp, 0o1777)
	ownedDir(t, filepath.Join(tmp, "roost-0"), bob, 0o755)
	startEvilServer(t, bob, filepath.Join(tmp, "roost-0", "roost.sock"))
	wrap := privateTmp(t, tmp)

	for _, args := range [][]string{{"status"}, {"stop", "all"}, {"maintail"}} {
		out, code := rootCtl(t, "/", wrap, args...)
		what := "root's roost " + strings.Join(args, " ")
		if code != exitPrivileges || !strings.Contains(out, "unix:///tmp/roost-0/roost.sock is served by another user: refusing") ||
			!strings.Contains(out, "("+bob.Name+")") || !strings.Contains(out, "--user NAME") {
			t.Errorf("%s at bob's /tmp/roost-0/roost.sock: exit %d, want %d and a refusal naming %s:\n%s",
				what, code, exitPrivileges, bob.Name, out)
		}
		if strings.Contains(out, "web") || strings.Contains(out, "main") {
			t.Errorf("%s printed what bob's server said:\n%q", what, out)
		}
		noControls(t, what, out)
	}
}

// TestRootRefusesUserSocketInProject: root runs `roost status` in bob's
// project, whose supervisord.conf names a socket bob serves. Root's ctl
// refuses it; with --user bob it talks to it, and prints nothing of the
// server's escape sequences.
func TestRootRefusesUserSocketInProject(t *testing.T) {
	bob := testutil.RequireUser(t, testutil.UserB)
	top := sharedTempDir(t, "roost-bob-project-")
	project := filepath.Join(top, "current")
	ownedDir(t, project, bob, 0o755)
	conf := filepath.Join(project, "supervisord.conf")
	write(t, conf, "[unix_http_server]\nfile=%(here)s/roost.sock\n\n[supervisord]\nlogfile=%(here)s/main.log\n")
	os.Chown(conf, bob.UID, bob.GID)
	sock := filepath.Join(project, "roost.sock")
	startEvilServer(t, bob, sock)

	for _, args := range [][]string{{"status"}, {"-s", sock, "status"}, {"stop", "all"}} {
		out, code := rootCtl(t, project, nil, args...)
		what := "root's roost " + strings.Join(args, " ") + " in bob's project"
		if code != exitPrivileges || !strings.Contains(out, "is served by another user: refusing") || !strings.Contains(out, "("+bob.Name+")") {
			t.Errorf("%s: exit %d, want %d and a refusal naming %s:\n%s", what, code, exitPrivileges, bob.Name, out)
		}
		noControls(t, what, out)
	}

	// Asked for bob's supervisor, root talks to it, and every verb's
	// output is free of the control characters the server sends.
	user := []string{"--user", bob.Name, "-s", sock}
	out, _ := rootCtl(t, "/", nil, append(user, "status")...)
	if !strings.Contains(out, "web") || !strings.Contains(out, "]0;pwned") || !strings.Contains(out, "pid 4242") {
		t.Errorf("root's roost --user status does not show the server's processes, cleaned:\n%q", out)
	}
	out, _ = rootCtl(t, "/", nil, append(user, "tail", "web")...)
	if !strings.Contains(out, "hello]0;pwned[2J31m") || !strings.Contains(out, "second[31m line") {
		t.Errorf("root's roost --user tail web does not show the log, cleaned:\n%q", out)
	}
	verbs := [][]string{
		{"status"}, {"status", "web"}, {"tail", "web"}, {"tail", "web", "stderr"}, {"logs", "web"},
		{"maintail"}, {"pid", "all"}, {"avail"}, {"start", "all"}, {"stop", "all"},
	}
	for _, v := range verbs {
		out, _ := rootCtl(t, "/", nil, append(append([]string{}, user...), v...)...)
		what := "root's roost --user " + bob.Name + " " + strings.Join(v, " ")
		noControls(t, what, out)
		if strings.Contains(out, "refusing") {
			t.Errorf("%s refused bob's socket:\n%s", what, out)
		}
	}
}

// TestUserRefusesOtherUsersSocket: alice's ctl pointed at bob's socket
// (through her project's file, or -s) refuses it: the rule is every user's.
func TestUserRefusesOtherUsersSocket(t *testing.T) {
	alice := testutil.RequireUser(t, testutil.UserA)
	bob := testutil.RequireUser(t, testutil.UserB)
	top := sharedTempDir(t, "roost-bob-sock-")
	dir := filepath.Join(top, "shared")
	ownedDir(t, dir, bob, 0o755)
	sock := filepath.Join(dir, "roost.sock")
	startEvilServer(t, bob, sock)
	os.Chmod(sock, 0o777) // bob invites her in

	exe := sharedTestBinary(t)
	cmd := exec.Command(exe, "-s", sock, "status")
	cmd.Env = []string{"ROOST_TEST_AS_ROOST=1", "PATH=/usr/bin:/bin", "HOME=" + alice.Home, "USER=" + alice.Name}
	cmd.Dir = "/"
	asUser(cmd, alice)
	b, err := cmd.CombinedOutput()
	out := string(b)
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != exitPrivileges || !strings.Contains(out, "refusing") ||
		!strings.Contains(out, "uid "+strconv.Itoa(bob.UID)) {
		t.Errorf("alice's roost -s bob's socket status: %v, want exit %d and a refusal:\n%s", err, exitPrivileges, out)
	}
	noControls(t, "alice's roost status", out)
}

// TestAdminRefusesUserMasterSocket: a master socket bob made (a run_dir
// he can write to) is refused by root's roost admin before any request.
func TestAdminRefusesUserMasterSocket(t *testing.T) {
	bob := testutil.RequireUser(t, testutil.UserB)
	top := sharedTempDir(t, "roost-admin-")
	runDir := filepath.Join(top, "run")
	ownedDir(t, runDir, bob, 0o755)
	toml := filepath.Join(top, "roost.toml")
	write(t, toml, "run_dir = \""+runDir+"\"\n\n[users]\nnames = [\""+bob.Name+"\"]\n")
	startEvilServer(t, bob, filepath.Join(runDir, master.AdminSocketName))
	out, code := rootCtl(t, "/", nil, "admin", "--config", toml, "users")
	if code == 0 || !strings.Contains(out, "the socket is served by an untrusted user") || !strings.Contains(out, "("+bob.Name+")") {
		t.Errorf("root's roost admin users against bob's socket: exit %d, want a refusal naming %s:\n%s", code, bob.Name, out)
	}
	noControls(t, "roost admin users", out)
}
