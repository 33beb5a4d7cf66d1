package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"roost/config"
	"roost/internal/testutil"
)

// The seed's own file, as dotCloud users wrote it (only [program:x], with
// %(ENV_HOME)s and %(ENV_PORT)s), runs under `roost run -c FILE` as a real
// user with supervisord's defaults, and `roost check` accepts it with a
// warning that the real supervisord -c would refuse it.
func TestRunSeedShapedFile(t *testing.T) {
	testutil.RequireRoot(t)
	bob := testutil.RequireUser(t, testutil.UserB)
	py := "/usr/bin/python3" // Debian's (supervisor depends on it), which every user can run
	_, err := os.Stat(py)
	testutil.Require(t, err == nil, py)
	home, err := os.MkdirTemp("", "roost-seed-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(home) })
	for _, d := range []string{home, filepath.Join(home, "current"), filepath.Join(home, "log")} {
		os.MkdirAll(d, 0o755)
		os.Chown(d, bob.UID, bob.GID)
	}
	os.WriteFile(filepath.Join(home, "current", "index.html"), []byte("hello from the seed\n"), 0o644)
	conf := filepath.Join(home, "current", "supervisord.conf")
	os.WriteFile(conf, []byte(fmt.Sprintf(`[program:plackup]
directory=%%(ENV_HOME)s/current
command=%s -m http.server --bind 127.0.0.1 %%(ENV_PORT)s
autostart=true
autorestart=true
stdout_logfile=%%(ENV_HOME)s/log/plackup.log
stderr_logfile=%%(ENV_HOME)s/log/plackup.log
stopsignal=TERM
`, py)), 0o644)
	port := testutil.FreePort(t)
	sock := filepath.Join(home, "roost.sock")
	env := []string{"HOME=" + home, "USER=" + bob.Name, "PATH=/usr/bin:/bin", fmt.Sprintf("PORT=%d", port)}
	bin := testutil.RoostBinary(t, nil)
	asBob := func(args ...string) *supervisorProc {
		cmd := exec.Command(bin, args...)
		cmd.Env, cmd.Dir = env, home
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(bob.UID), Gid: uint32(bob.GID), Groups: []uint32{}}}
		return startProc(t, cmd)
	}

	check := asBob("check", "-c", conf)
	if code := check.wait(t, 30*time.Second); code != 0 || !strings.Contains(check.out.String(), config.NoSupervisordWarning) {
		t.Errorf("roost check: exit %d\n%s", code, check.out.String())
	}

	p := asBob("run", "-c", conf, "-s", sock)
	c := dialWhenUp(t, sock, p)
	waitState(t, c, "plackup running", allRunning("plackup"))
	var body string
	testutil.Eventually(t, 30*time.Second, "the seed app answers on $PORT", func() bool {
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/index.html", port))
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		body = string(b)
		return resp.StatusCode == 200
	})
	if body != "hello from the seed\n" {
		t.Errorf("body %q", body)
	}
	testutil.Eventually(t, 30*time.Second, "the app's log in ~/log", func() bool {
		b, _ := os.ReadFile(filepath.Join(home, "log", "plackup.log"))
		return strings.Contains(string(b), "GET /index.html")
	})
	p.cmd.Process.Signal(syscall.SIGTERM)
	if code := p.wait(t, 30*time.Second); code != 0 {
		t.Errorf("roost run: exit %d\n%s", code, p.out.String())
	}
}
