package master

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"roost/internal/testutil"
	"roost/supervisor/api"
)

// Deploy with git push (issue 14), with real parts: a private sshd (the
// Debian openssh-server) on a loopback port with its own host key and
// config, roost-alice's key authorized by the test, real `git push` over
// ssh into her repository made by `roost deploy --init`, the real master
// running her supervisor, a real nginx on loopback serving her node app
// (numprocs=2), and npm ci installing its one dependency from the registry (a committed
// package-lock.json).

// sshServer is one private sshd for a test.
type sshServer struct {
	port int
	key  string // the client's private key
	proc *child
	log  *tailBuffer
}

// startSSHD runs /usr/sbin/sshd -D on 127.0.0.1 with a config, host key
// and authorized_keys (for user only) in dir.
func startSSHD(t *testing.T, dir, user string) *sshServer {
	t.Helper()
	sshd := "/usr/sbin/sshd"
	_, err := os.Stat(sshd)
	testutil.Require(t, err == nil, "sshd (apt install openssh-server; scripts/setup-test-env does)")
	keygen := testutil.RequireBinary(t, "ssh-keygen")
	os.MkdirAll(dir, 0o755)
	for _, k := range []string{"host", "client"} {
		if out, code := exitOf(t, exec.Command(keygen, "-q", "-t", "ed25519", "-N", "", "-C", "roost-test", "-f", filepath.Join(dir, k))); code != 0 {
			t.Fatalf("ssh-keygen: exit %d\n%s", code, out)
		}
	}
	pub, err := os.ReadFile(filepath.Join(dir, "client.pub"))
	if err != nil {
		t.Fatal(err)
	}
	// authorized_keys made by the test, outside the user's home, removed
	// with dir.
	if err := os.WriteFile(filepath.Join(dir, "authorized_keys"), pub, 0o644); err != nil {
		t.Fatal(err)
	}
	// sshd's privilege separation directory, which the ssh service would make.
	os.MkdirAll("/run/sshd", 0o755)
	s := &sshServer{port: testutil.FreePort(t), key: filepath.Join(dir, "client"), log: newTailBuffer(1 << 16)}
	conf := fmt.Sprintf(`Port %d
ListenAddress 127.0.0.1
HostKey %s
PidFile %s
AuthorizedKeysFile %s
AllowUsers %s
StrictModes no
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
PermitRootLogin no
UsePAM yes
LogLevel VERBOSE
`, s.port, filepath.Join(dir, "host"), filepath.Join(dir, "sshd.pid"), filepath.Join(dir, "authorized_keys"), user)
	cf := filepath.Join(dir, "sshd_config")
	if err := os.WriteFile(cf, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, code := exitOf(t, exec.Command(sshd, "-t", "-f", cf)); code != 0 {
		t.Fatalf("sshd -t: exit %d\n%s", code, out)
	}
	c := spawnLogged(t, exec.Command(sshd, "-D", "-e", "-f", cf), s.log, nil)
	s.proc = c
	t.Cleanup(func() {
		c.signal(syscall.SIGTERM, false)
		c.wait()
		if t.Failed() {
			t.Logf("sshd log:\n%s", s.log.Bytes())
		}
	})
	testutil.Eventually(t, 20*time.Second, "sshd to listen", func() bool {
		conn, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", s.port))
		if err == nil {
			conn.Close()
		}
		return err == nil
	})
	return s
}

// gitSSH is GIT_SSH_COMMAND for this server.
func (s *sshServer) gitSSH() string {
	return fmt.Sprintf("ssh -i %s -p %d -o IdentitiesOnly=yes -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR",
		s.key, s.port)
}

// deployApp is a node app: it serves its version.txt and whether its npm
// dependency (is-number) loaded, and on SIGTERM finishes what is in flight.
const deployApp = `const http = require('http');
const fs = require('fs');
const isNumber = require('is-number');
const version = fs.readFileSync('version.txt', 'utf8').trim();
if (version === 'crash') { console.error('crashing on purpose'); process.exit(3); }
const srv = http.createServer((req, res) => {
  res.end('version=' + version + ' is-number=' + isNumber(process.env.PORT) + ' pid=' + process.pid + ' greeting=' + (process.env.GREETING || '') + '\n');
});
srv.listen(Number(process.env.PORT), '127.0.0.1', () => console.log('listening on', process.env.PORT));
process.on('SIGTERM', () => { srv.close(() => process.exit(0)); setTimeout(() => process.exit(0), 3000).unref(); });
`

func deployConf(project, host string) string {
	return fmt.Sprintf(`[program:web]
directory=%%(ENV_HOME)s/%s
command=/usr/bin/node server.js
numprocs=2
process_name=%%(program_name)s_%%(process_num)d
startsecs=1
stopsignal=TERM
redirect_stderr=true

[proxy:web]
hosts = %s
`, project, host)
}

// servedLoop is a bounded loop of GETs through nginx, counting what
// failed (an error or a status other than 200) and the versions served.
type servedLoop struct {
	stop     chan struct{}
	done     chan struct{}
	mu       sync.Mutex
	ok, fail int
	errs     []string
	versions map[string]int
}

// startServedLoop GETs http://host/ through c every 5 ms, at most 20000
// times, until finish.
func startServedLoop(c *http.Client, host string) *servedLoop {
	l := &servedLoop{stop: make(chan struct{}), done: make(chan struct{}), versions: map[string]int{}}
	go func() {
		defer close(l.done)
		for i := 0; i < 20000; i++ { // bounded
			select {
			case <-l.stop:
				return
			default:
			}
			code, body, err := get(c, host, "/")
			l.mu.Lock()
			if err != nil || code != 200 {
				l.fail++
				if len(l.errs) < 5 {
					l.errs = append(l.errs, fmt.Sprintf("%s: %d %v %.40q", time.Now().Format("15:04:05.000"), code, err, body))
				}
			} else {
				l.ok++
				l.versions[strings.Fields(body)[0]]++
			}
			l.mu.Unlock()
			time.Sleep(5 * time.Millisecond)
		}
	}()
	return l
}

// finish stops the loop and fails the test if a request failed (or too
// few were answered to mean anything).
func (l *servedLoop) finish(t *testing.T, what string) {
	t.Helper()
	close(l.stop)
	<-l.done
	t.Logf("%s: %d requests answered, %d failed, versions %v", what, l.ok, l.fail, l.versions)
	if l.fail != 0 || l.ok < 10 {
		t.Errorf("%s: %d failed requests of %d: %v", what, l.fail, l.ok+l.fail, l.errs)
	}
}

// deployMaster starts nginx and the master for e's first user with
// [deploy] on: the project, its releases, repository and logs all under
// base, one directory of the home unique to the test (removed by newEnv's
// cleanup).
func deployMaster(t *testing.T, e *env) (base string, n *testNginx, x *e2e) {
	t.Helper()
	base = e.project
	e.project = filepath.Join(base, "current")
	ports := freeRange(t)
	n = startNginx(t, filepath.Join(e.dir, "nginx"), ports+99)
	e.writeConf([]string{e.users[0].Name}, fmt.Sprintf("log_dir = %q\nconfig_dir = %q\n%s[deploy]\nenabled = true\nrepo = %q\nkeep_releases = 3\ntimeout = \"5m\"\n",
		filepath.Join(base, "log"), filepath.Join(base, "config"), n.proxyConf(ports, nil, ""), filepath.Join(base, "repo.git")))
	return base, n, startMaster(t, e)
}

// dashboardReleases checks user's dashboard, read through the master's
// admin socket: release id of commit is current and commit prev is the
// previous one, in /ui/state and on the page.
func dashboardReleases(t *testing.T, e *env, user, id, commit, prev string) {
	t.Helper()
	sock := filepath.Join(e.runDir, AdminSocketName)
	hc := unixHTTPClient(sock)
	get := func(path string) string {
		t.Helper()
		resp, err := hc.Get("http://roost" + adminPrefix + "/users/" + user + "/ui/" + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			t.Fatalf("GET %s's /ui/%s: %s\n%s", user, path, resp.Status, b)
		}
		return string(b)
	}
	var st struct {
		Releases      []struct{ ID, Commit, State string }
		ReleasesError string `json:"releases_error"`
	}
	body := get("state")
	if err := json.Unmarshal([]byte(body), &st); err != nil {
		t.Fatalf("%s's /ui/state: %v\n%s", user, err, body)
	}
	states := map[string]string{}
	for _, r := range st.Releases {
		states[r.Commit] = r.State
		if r.ID == id && (r.Commit != commit || r.State != "current") {
			t.Errorf("the dashboard shows release %s as %+v, want commit %s current", id, r, commit)
		}
	}
	if states[commit] != "current" || states[prev] != "previous" || st.ReleasesError != "" || !strings.Contains(body, `"id":"`+id+`"`) {
		t.Errorf("%s's dashboard releases, want %s (%s) current and %s previous: %+v", user, id, commit, prev, st)
	}
	page := get("")
	if !strings.Contains(page, `<section id="releases">`) || !strings.Contains(page, `<td data-label="id">`+id+`</td>`) || !strings.Contains(page, commit) {
		t.Errorf("%s's dashboard page does not list release %s (%s):\n%s", user, id, commit, page)
	}
}

func TestE2EDeployGitPush(t *testing.T) {
	e := newEnv(t, testutil.UserA)
	alice := e.users[0]
	git := testutil.RequireBinary(t, "git")
	testutil.RequireBinary(t, "npm")
	_, err := os.Stat("/usr/bin/node")
	testutil.Require(t, err == nil, "node (npm's)")
	npmCache := filepath.Join(alice.Home, ".npm")
	if _, err := os.Stat(npmCache); os.IsNotExist(err) {
		t.Cleanup(func() { os.RemoveAll(npmCache) })
	}
	base, n, x := deployMaster(t, e)
	host := alice.Name + ".example.test"
	ssh := startSSHD(t, filepath.Join(e.dir, "ssh"), alice.Name)
	repo := filepath.Join(alice.Home, base, "repo.git")
	c := n.client(8)

	// roost deploy --init, as alice, twice: idempotent.
	for i := 0; i < 2; i++ {
		out, code := exitOf(t, asUser(alice, x.bin, "deploy", "--init", "--master-config", e.conf))
		if code != 0 || !strings.Contains(out, "repo.git") {
			t.Fatalf("roost deploy --init: exit %d\n%s", code, out)
		}
	}
	// Never as root.
	if out, code := x.roost(t, "deploy", "--init"); code == 0 || !strings.Contains(out, "never as root") {
		t.Errorf("roost deploy as root: exit %d\n%s", code, out)
	}

	work := filepath.Join(e.dir, "work")
	os.MkdirAll(work, 0o755)
	run := func(args ...string) (string, int) {
		t.Helper()
		cmd := exec.Command(git, args...)
		cmd.Dir = work
		cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=" + e.dir, "GIT_SSH_COMMAND=" + ssh.gitSSH(),
			"GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.test", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.test"}
		return exitOf(t, cmd)
	}
	must := func(args ...string) string {
		t.Helper()
		out, code := run(args...)
		if code != 0 {
			t.Fatalf("git %v: exit %d\n%s", args, code, out)
		}
		return out
	}
	write := func(name, body string, mode os.FileMode) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(work, name), []byte(body), mode); err != nil {
			t.Fatal(err)
		}
	}
	commit := func(msg string) string {
		must("add", "-A")
		must("commit", "-q", "-m", msg)
		return strings.TrimSpace(must("rev-parse", "HEAD"))
	}
	remote := fmt.Sprintf("%s@127.0.0.1:%s", alice.Name, filepath.Join(base, "repo.git"))
	must("init", "-q", "-b", "main")
	must("remote", "add", "roost", remote)
	write("server.js", deployApp, 0o644)
	write("package.json", `{"name": "app", "version": "1.0.0", "private": true, "dependencies": {"is-number": "7.0.0"}}`+"\n", 0o644)
	write(".gitignore", "node_modules/\n", 0o644)
	write("supervisord.conf", deployConf(e.project, host), 0o644)
	write("version.txt", "v1\n", 0o644)
	write("postinstall", "#!/bin/sh\nset -e\necho postinstall in $(pwd) as $(id -un)\ntest -d node_modules/is-number\n", 0o755)
	// A lock file, as a project commits it: the deploy runs npm ci.
	lock := exec.Command("npm", "install", "--package-lock-only", "--no-audit", "--no-fund")
	lock.Dir, lock.Env = work, []string{"PATH=/usr/bin:/bin", "HOME=" + e.dir}
	if out, code := exitOf(t, lock); code != 0 {
		t.Fatalf("npm install --package-lock-only: exit %d\n%s", code, out)
	}
	v1 := commit("v1")

	// The first push: built, switched, served through nginx.
	start := time.Now()
	out, code := run("push", "roost", "main")
	t.Logf("first push (%v):\n%s", time.Since(start).Round(time.Millisecond), out)
	if code != 0 {
		t.Fatalf("first push: exit %d", code)
	}
	for _, w := range []string{"remote: -----> npm ci: npm ci (package.json and its lock file)", "remote: -----> postinstall", "remote: postinstall in " + filepath.Join(alice.Home, base, "releases"), " as " + alice.Name,
		"remote: -----> check", "remote: -----> deployed"} {
		if !strings.Contains(out, w) {
			t.Errorf("first push's output lacks %q", w)
		}
	}
	waitGet(t, c, host, "/", "v1 through nginx", func(code int, body string) bool {
		return code == 200 && strings.HasPrefix(body, "version=v1 is-number=true ")
	})
	t.Logf("v1 served %v after the push began", time.Since(start).Round(time.Millisecond))

	// A request loop through every later push: no request may fail.
	startLoop := func() *servedLoop { return startServedLoop(c, host) }
	finish := func(l *servedLoop, what string) { t.Helper(); l.finish(t, what) }

	// The second push changes what is served with zero failed requests.
	write("version.txt", "v2\n", 0o644)
	v2 := commit("v2")
	l := startLoop()
	start = time.Now()
	out, code = run("push", "roost", "main")
	if code != 0 {
		t.Fatalf("second push: exit %d\n%s", code, out)
	}
	// Its dependencies did not change: the first release's node_modules,
	// hard-linked, instead of npm ci.
	if !strings.Contains(out, "linked: nothing to install") {
		t.Errorf("second push did not reuse node_modules:\n%s", out)
	}
	waitGet(t, c, host, "/", "v2 through nginx", func(code int, body string) bool {
		return code == 200 && strings.HasPrefix(body, "version=v2 is-number=true ")
	})
	t.Logf("v2 served %v after the push began", time.Since(start).Round(time.Millisecond))
	time.Sleep(time.Second) // let the loop see the new release for a while
	finish(l, "second push")

	// Alice's dashboard lists the release the push reported, current,
	// and the first one as previous: root reads it through the master's
	// admin socket, the page and its state.
	m := regexp.MustCompile(`-----> deployed (\S+) in `).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("second push's output names no release:\n%s", out)
	}
	dashboardReleases(t, e, alice.Name, m[1], v2, v1)

	refOf := func(ref string) string {
		out, _ := exitOf(t, exec.Command(git, "--git-dir="+repo, "rev-parse", "--verify", "--quiet", ref))
		return strings.TrimSpace(out)
	}
	rejected := func(what string, wants ...string) {
		t.Helper()
		l := startLoop()
		out, code := run("push", "roost", "main")
		finish(l, what)
		t.Logf("%s:\n%s", what, out)
		if code == 0 {
			t.Errorf("%s: the push was accepted", what)
		}
		for _, w := range append(wants, "pre-receive hook declined", "what runs are untouched") {
			if !strings.Contains(out, w) {
				t.Errorf("%s: the pusher's output lacks %q", what, w)
			}
		}
		if got := refOf("refs/heads/main"); got != v2 {
			t.Errorf("%s: main moved to %s", what, got)
		}
		if _, body, _ := get(c, host, "/"); !strings.HasPrefix(body, "version=v2 ") {
			t.Errorf("%s: now serving %q", what, body)
		}
		must("reset", "-q", "--hard", v2)
	}

	// A failing postinstall rejects the push, shows its output, keeps v2.
	write("postinstall", "#!/bin/sh\necho migrating the database\necho 'migration 7 failed: no such table' >&2\nexit 4\n", 0o755)
	commit("failing postinstall")
	rejected("a failing postinstall", "remote: migrating the database", "migration 7 failed: no such table", "exit status 4")

	// A broken supervisord.conf is rejected with file:line.
	write("supervisord.conf", deployConf(e.project, host)+"[program:worker]\ncommand=/bin/sleep 100\nautorestart=sometimes\n", 0o644)
	commit("broken supervisord.conf")
	rejected("a broken supervisord.conf", "supervisord.conf:14", "autorestart")

	// Another branch is stored, not deployed.
	must("checkout", "-q", "-b", "feature")
	write("version.txt", "feature\n", 0o644)
	feature := commit("feature")
	out, code = run("push", "roost", "feature")
	if code != 0 || !strings.Contains(out, "refs/heads/feature stored, not deployed") {
		t.Errorf("push of another branch: exit %d\n%s", code, out)
	}
	if refOf("refs/heads/feature") != feature {
		t.Error("the feature branch was not stored")
	}
	if _, body, _ := get(c, host, "/"); !strings.HasPrefix(body, "version=v2 ") {
		t.Errorf("after the feature push: serving %q", body)
	}

	// roost releases: v2 current, v1 previous, the two failed ones failed.
	out, code = exitOf(t, asUser(alice, x.bin, "releases", "--json", "--master-config", e.conf))
	var rels []struct{ ID, Commit, State, Error string }
	if code != 0 || json.Unmarshal([]byte(out), &rels) != nil {
		t.Fatalf("roost releases --json: exit %d\n%s", code, out)
	}
	states := map[string]string{}
	failed := 0
	for _, r := range rels {
		if r.State == "failed" {
			failed++
		} else {
			states[r.Commit] = r.State
		}
	}
	if states[v2] != "current" || states[v1] != "previous" || failed != 2 {
		t.Errorf("releases: %+v", rels)
	}
	out, _ = exitOf(t, asUser(alice, x.bin, "releases", "--master-config", e.conf))
	t.Logf("roost releases:\n%s", out)

	// roost rollback, with zero failed requests: v1 again.
	l = startLoop()
	out, code = exitOf(t, asUser(alice, x.bin, "rollback", "--master-config", e.conf))
	if code != 0 {
		t.Fatalf("roost rollback: exit %d\n%s", code, out)
	}
	waitGet(t, c, host, "/", "v1 after the rollback", func(code int, body string) bool {
		return code == 200 && strings.HasPrefix(body, "version=v1 is-number=true ")
	})
	finish(l, "rollback")
	must("checkout", "-q", "main")
	must("reset", "-q", "--hard", v2)

	// A release whose programs do not come up: the switch is undone, the
	// previous release serves again (no failed request), the push is
	// refused.
	write("version.txt", "crash\n", 0o644)
	commit("crashes at start")
	l = startLoop()
	out, code = run("push", "roost", "main")
	finish(l, "a release that does not start")
	t.Logf("a release that does not start:\n%s", out)
	if code == 0 || !strings.Contains(out, "restart on the new release failed") || !strings.Contains(out, "the push is refused") {
		t.Errorf("a release that does not start: exit %d\n%s", code, out)
	}
	if _, body, _ := get(c, host, "/"); !strings.HasPrefix(body, "version=v1 ") {
		t.Errorf("after a release that does not start: serving %q", body)
	}
	if got := refOf("refs/heads/main"); got != v2 {
		t.Errorf("main moved to %s", got)
	}
	must("reset", "-q", "--hard", v2)

	// Two pushes at once to main from two clones: one is deployed, the
	// other refused (by the hook, having waited, or by git), and what is
	// served is what main holds.
	work2 := filepath.Join(e.dir, "work2")
	must("clone", "-q", remote, work2)
	write("version.txt", "v3a\n", 0o644)
	v3a := commit("v3a")
	os.WriteFile(filepath.Join(work2, "version.txt"), []byte("v3b\n"), 0o644)
	must("-C", work2, "commit", "-q", "-am", "v3b")
	v3b := strings.TrimSpace(must("-C", work2, "rev-parse", "HEAD"))
	var wg sync.WaitGroup
	outs, codes := make([]string, 2), make([]int, 2)
	for i, dir := range []string{work, work2} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cmd := exec.Command(git, "-C", dir, "push", remote, "main")
			cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=" + e.dir, "GIT_SSH_COMMAND=" + ssh.gitSSH()}
			out, ps, err := runRegistered(cmd)
			outs[i], codes[i] = string(out), 2
			if err == nil {
				codes[i] = min(ps.ExitCode(), 1)
			}
		}()
	}
	wg.Wait()
	t.Logf("two pushes at once:\n%s\n---\n%s", outs[0], outs[1])
	won := map[bool]string{true: v3a, false: v3b}[codes[0] == 0]
	if codes[0]+codes[1] != 1 || refOf("refs/heads/main") != won {
		t.Errorf("two pushes at once: exits %v, main %s (v3a %s, v3b %s)", codes, refOf("refs/heads/main"), v3a, v3b)
	}
	wantVersion := map[string]string{v3a: "v3a", v3b: "v3b"}[won]
	waitGet(t, c, host, "/", "the pushed version that won", func(code int, body string) bool {
		return code == 200 && strings.HasPrefix(body, "version="+wantVersion+" ")
	})

	// A push over a local path, as alice on the host.
	clone := filepath.Join(alice.Home, base, "clone")
	aliceGit := func(args ...string) string {
		t.Helper()
		out, code := exitOf(t, asUser(alice, git, append([]string{"-c", "user.name=alice", "-c", "user.email=alice@example.test"}, args...)...))
		if code != 0 {
			t.Fatalf("git %v as alice: exit %d\n%s", args, code, out)
		}
		return out
	}
	aliceGit("clone", "-q", repo, clone)
	writeOwnedFile(t, alice, filepath.Join(clone, "version.txt"), "v4\n")
	aliceGit("-C", clone, "commit", "-q", "-am", "v4")
	if out := aliceGit("-C", clone, "push", "origin", "main"); !strings.Contains(out, "-----> deployed") {
		t.Errorf("a push over a local path:\n%s", out)
	}
	waitGet(t, c, host, "/", "v4 pushed over a local path", func(code int, body string) bool {
		return code == 200 && strings.HasPrefix(body, "version=v4 is-number=true ")
	})

	// roost exec: a one-off command in the current release, with the PORT
	// the programs get.
	sock := filepath.Join(e.runDir, "users", alice.Name, SocketName)
	st := x.users(t)[alice.Name]
	out, code = exitOf(t, asUser(alice, x.bin, "exec", "-s", sock, "--", "sh", "-c", "cat version.txt; echo port=$PORT"))
	if want := fmt.Sprintf("v4\nport=%d\n", st.PortBase); code != 0 || out != want {
		t.Errorf("roost exec: exit %d, %q, want %q", code, out, want)
	}

	// roost env set reaches the programs, restarted one at a time: no
	// request fails; the file is alice's, 0600, in roost.toml's config_dir
	// (the test's directory, not her real ~/.config); list masks the value.
	envFile := filepath.Join(alice.Home, base, "config", "env")
	l = startLoop()
	out, code = exitOf(t, asUser(alice, x.bin, "-s", sock, "env", "set", "GREETING=hello world"))
	if code != 0 || strings.Contains(out, "hello") {
		t.Errorf("roost env set: exit %d\n%s", code, out)
	}
	waitGet(t, c, host, "/", "GREETING in the programs", func(code int, body string) bool {
		return code == 200 && strings.HasSuffix(body, " greeting=hello world\n")
	})
	finish(l, "roost env set")
	if fi, err := os.Stat(envFile); err != nil || fi.Mode().Perm() != 0o600 || fi.Sys().(*syscall.Stat_t).Uid != uint32(alice.UID) {
		t.Errorf("the env file: %v %v", fi, err)
	}
	if out, code := exitOf(t, asUser(alice, x.bin, "-s", sock, "env", "list")); code != 0 || out != "GREETING=********\n" {
		t.Errorf("roost env list: exit %d %q", code, out)
	}
	if out, code := exitOf(t, asUser(alice, x.bin, "-s", sock, "env", "set", "PORT=1")); code == 0 || !strings.Contains(out, "PORT is set by roost") {
		t.Errorf("roost env set PORT: exit %d\n%s", code, out)
	}
}

// bgApp is deployApp without a dependency: it serves its version.txt and
// the PORT it listens on, and on SIGTERM finishes what is in flight.
const bgApp = `const http = require('http');
const fs = require('fs');
const version = fs.readFileSync('version.txt', 'utf8').trim();
if (version === 'crash') { console.error('crashing on purpose'); process.exit(3); }
const srv = http.createServer((req, res) => { res.end('version=' + version + ' port=' + process.env.PORT + ' pid=' + process.pid + '\n'); });
srv.listen(Number(process.env.PORT), '127.0.0.1');
process.on('SIGTERM', () => { srv.close(() => process.exit(0)); setTimeout(() => process.exit(0), 3000).unref(); });
`

// Blue-green restarts through the real master and nginx: a numprocs=1
// program behind a proxy, deployed with `roost deploy DIR` as alice,
// restarted by a second deploy, by `roost restart --rolling` and by a
// rollback, each with a request loop through nginx that must see no
// failure. Each restart moves the program between its port and its spare
// (the top of alice's block), which the route follows.
func TestE2EBlueGreenDeploy(t *testing.T) {
	e := newEnv(t, testutil.UserA)
	alice := e.users[0]
	_, err := os.Stat("/usr/bin/node")
	testutil.Require(t, err == nil, "node (apt install nodejs)")
	base, n, x := deployMaster(t, e)
	host := alice.Name + ".example.test"
	c := n.client(8)
	st := x.waitUser(t, alice.Name, 30*time.Second, "alice's supervisor", func(u UserStatus) bool { return u.PortBase > 0 })
	first, spare := st.PortBase, st.PortBase+st.PortCount-1
	sock := filepath.Join(e.runDir, "users", alice.Name, SocketName)

	// The test's directory in alice's home is hers, as her home is.
	if err := os.MkdirAll(filepath.Join(alice.Home, base), 0o755); err != nil {
		t.Fatal(err)
	}
	os.Chown(filepath.Join(alice.Home, base), alice.UID, alice.GID)
	src := filepath.Join(alice.Home, base, "src")
	conf := fmt.Sprintf(`[program:web]
directory=%%(ENV_HOME)s/%s
command=/usr/bin/node server.js
startsecs=1
stopsignal=TERM
redirect_stderr=true

[proxy:web]
hosts = %s
`, e.project, host)
	writeOwnedFile(t, alice, filepath.Join(src, "server.js"), bgApp)
	writeOwnedFile(t, alice, filepath.Join(src, "supervisord.conf"), conf)
	deployCode := func(v string) (string, int) {
		t.Helper()
		writeOwnedFile(t, alice, filepath.Join(src, "version.txt"), v+"\n")
		return exitOf(t, asUser(alice, x.bin, "deploy", "--master-config", e.conf, src))
	}
	deployV := func(v string) string {
		t.Helper()
		out, code := deployCode(v)
		if code != 0 {
			t.Fatalf("roost deploy %s: exit %d\n%s", v, code, out)
		}
		return out
	}
	servedOn := func(what, version string, port int) {
		t.Helper()
		want := fmt.Sprintf("version=%s port=%d ", version, port)
		waitGet(t, c, host, "/", what, func(code int, body string) bool { return code == 200 && strings.HasPrefix(body, want) })
		x.waitProxy(t, alice.Name, what+": one upstream", func(i api.ProxyInfo) bool {
			return len(i.Routes) == 1 && strings.Join(i.Routes[0].Upstreams, " ") == fmt.Sprintf("127.0.0.1:%d", port)
		})
	}

	deployV("v1")
	servedOn("v1", "v1", first)

	l := startServedLoop(c, host)
	out := deployV("v2")
	servedOn("v2 on the spare port", "v2", spare)
	l.finish(t, "a deploy (blue-green)")
	t.Logf("second deploy:\n%s", out)

	l = startServedLoop(c, host)
	if out, code := exitOf(t, asUser(alice, x.bin, "-s", sock, "restart", "--rolling", "web")); code != 0 {
		t.Fatalf("roost restart --rolling web: exit %d\n%s", code, out)
	}
	servedOn("v2 back on the first port", "v2", first)
	l.finish(t, "roost restart --rolling (blue-green)")

	// A plain `roost restart web` takes the same path.
	l = startServedLoop(c, host)
	if out, code := exitOf(t, asUser(alice, x.bin, "-s", sock, "restart", "web")); code != 0 || !strings.Contains(out, "web: restarted") {
		t.Fatalf("roost restart web: exit %d\n%s", code, out)
	}
	servedOn("v2 on the spare port again", "v2", spare)
	l.finish(t, "roost restart (blue-green)")
	l = startServedLoop(c, host)
	if out, code := exitOf(t, asUser(alice, x.bin, "-s", sock, "restart", "web")); code != 0 {
		t.Fatalf("roost restart web: exit %d\n%s", code, out)
	}
	servedOn("v2 back on the first port", "v2", first)
	l.finish(t, "roost restart (blue-green), back")

	l = startServedLoop(c, host)
	if out, code := exitOf(t, asUser(alice, x.bin, "rollback", "--master-config", e.conf)); code != 0 {
		t.Fatalf("roost rollback: exit %d\n%s", code, out)
	}
	servedOn("v1 after the rollback", "v1", spare)
	l.finish(t, "a rollback (blue-green)")

	// A release whose process never comes up: the new process is
	// stopped, the old one serves on (no request fails), the symlink goes
	// back and the deploy fails; the restart on the previous release moves
	// v1 to the other port, blue-green too.
	l = startServedLoop(c, host)
	out, code := deployCode("crash")
	servedOn("v1 after a release that does not start", "v1", first)
	l.finish(t, "a release that does not start (blue-green)")
	if code == 0 || !strings.Contains(out, "restart on the new release failed") {
		t.Errorf("a release that does not start: exit %d\n%s", code, out)
	}

	logb, _ := os.ReadFile(filepath.Join(alice.Home, base, "log", "roost.log"))
	if got := strings.Count(string(logb), "blue-green restart of web done"); got < 3 || !strings.Contains(string(logb), "blue-green restart of web abandoned") || t.Failed() {
		t.Errorf("%d blue-green restarts in alice's log, want 3 and one abandoned:\n%s", got, logb)
	}
}
