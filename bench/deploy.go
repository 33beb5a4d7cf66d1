package main

import (
	"context"
	"errors"
	"fmt"
	"io"
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
	"time"

	"roost/internal/testutil"
	"roost/supervisor/api"
)

// Deploy with git push (issue 14): the real master and nginx, the user
// roost-alice (scripts/setup-test-env makes her), her repository made by
// `roost deploy --init`, and `git push` as her over a local path (the
// same pre-receive hook an ssh push runs; ssh itself is not timed). Each
// push changes version.txt; the clock runs from the push's fork until
// nginx answers with the new version. Meanwhile a loop GETs the site
// through nginx every 5 ms and counts what fails.
//
// Two projects, each a node app with numprocs=1 behind [proxy:web]
// (restarted blue-green): a trivial one (server.js, version.txt), and one
// with an npm dependency and its lock file, whose pushes after the first
// leave package.json and the lock file unchanged (so the deploy takes the
// previous release's node_modules instead of running npm ci).

// Figure ids of the deploy part.
const (
	figDeployTrivial = "deploy.push.trivial" // push → new version served, s
	figDeployNpmNew  = "deploy.push.npmnew"  // the npm project's first push (npm ci), s
	figDeployNpm     = "deploy.push.npm"     // npm project, unchanged dependencies, s
	figDeployBuild   = "deploy.build.npm"    // the git push itself (build, switch, restart), unchanged dependencies, s
	figDeployReqs    = "deploy.requests"     // requests during one push
	figDeployFailed  = "deploy.failed"       // of which failed
)

// deployDir is the directory in the user's home the part works in.
const deployDir = ".roost-bench-deploy"

// deployServer is the app: its version and pid, graceful on SIGTERM.
const deployServer = `const http = require('http');
const fs = require('fs');
let dep = '';
try { dep = ' is-number=' + require('is-number')(process.env.PORT); } catch (e) {}
const version = fs.readFileSync('version.txt', 'utf8').trim();
const srv = http.createServer((req, res) => { res.end('version=' + version + dep + ' pid=' + process.pid + '\n'); });
srv.listen(Number(process.env.PORT), '127.0.0.1');
process.on('SIGTERM', () => { srv.close(() => process.exit(0)); setTimeout(() => process.exit(0), 3000).unref(); });
`

// deploySetup is what a deploy run needs, found once.
type deploySetup struct {
	nginx, git, npm, node string
	user                  testutil.Account
}

// deployPrereqs finds the tools and the user, or says why the part cannot
// run.
func (b *bench) deployPrereqs() (deploySetup, string) {
	var s deploySetup
	if os.Geteuid() != 0 {
		return s, "needs root (the master starts the user's supervisor)"
	}
	if b.roostWhy != "" {
		return s, b.roostWhy
	}
	for _, t := range []struct {
		p    *string
		name string
		fix  string
	}{{&s.nginx, "nginx", "apt-get install nginx"}, {&s.git, "git", "apt-get install git"},
		{&s.npm, "npm", "apt-get install npm"}, {&s.node, "node", "apt-get install nodejs"}} {
		*t.p = sbin(t.name)
		if _, err := os.Stat(*t.p); err != nil {
			return s, fmt.Sprintf("%s is not installed (%s)", t.name, t.fix)
		}
	}
	u, err := user.Lookup(testutil.UserA)
	if err != nil {
		return s, fmt.Sprintf("user %s does not exist (scripts/setup-test-env creates it)", testutil.UserA)
	}
	s.user.Name, s.user.Home = u.Username, u.HomeDir
	s.user.UID, _ = strconv.Atoi(u.Uid)
	s.user.GID, _ = strconv.Atoi(u.Gid)
	return s, ""
}

// deployRuns measures the deploy part; a missing prerequisite marks its
// figures unavailable, a failure fails them.
func (b *bench) deployRuns(ctx context.Context) error {
	s, why := b.deployPrereqs()
	if why != "" {
		for _, f := range b.deployFigs() {
			b.res.unavailable(f, vRoost, why)
		}
		b.logf("deploy: %s", why)
		return nil
	}
	err := b.deployRun(ctx, s)
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if err != nil {
		for _, f := range b.deployFigs() {
			b.res.fail(f, vRoost, err)
		}
		b.logf("deploy failed: %v", err)
	}
	return nil
}

// deployFigs are the part's figures.
func (b *bench) deployFigs() []string {
	return []string{figDeployTrivial, figDeployNpmNew, figDeployNpm, figDeployBuild, figDeployReqs, figDeployFailed}
}

// deployPushes is how many timed pushes each project gets.
func (b *bench) deployPushes() int {
	if b.o.quick {
		return 1
	}
	return 5
}

// deployRun starts nginx and the master and pushes the two projects.
func (b *bench) deployRun(ctx context.Context, s deploySetup) error {
	dir := filepath.Join(b.work, "deploy")
	for _, d := range []string{filepath.Join(dir, "nginx", "conf.d"), filepath.Join(dir, "nginx", "tmp")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	if err := os.Chmod(b.work, 0o755); err != nil {
		return err
	}
	home := filepath.Join(s.user.Home, deployDir)
	if err := os.RemoveAll(home); err != nil {
		return err
	}
	defer os.RemoveAll(home)
	if err := os.Mkdir(home, 0o755); err != nil {
		return err
	}
	if err := os.Chown(home, s.user.UID, s.user.GID); err != nil {
		return err
	}
	ports, err := freePorts(100)
	if err != nil {
		return err
	}
	listen := ports + 99

	// nginx, in the foreground, everything it writes under dir/nginx.
	ng := filepath.Join(dir, "nginx")
	nconf := filepath.Join(ng, "nginx.conf")
	err = os.WriteFile(nconf, []byte("user nobody nogroup;\ndaemon off;\n"+nginxConf(ng, 1)), 0o644)
	if err != nil {
		return err
	}
	nout, err := logTo(filepath.Join(ng, "nginx.out"))
	if err != nil {
		return err
	}
	defer nout.Close()
	ncmd := exec.Command(s.nginx, "-c", nconf)
	ncmd.Stdout, ncmd.Stderr, ncmd.Env = nout, nout, env()
	np, err := b.t.start(ncmd)
	if err != nil {
		return fmt.Errorf("nginx: %w", err)
	}
	defer np.stop(10 * time.Second)

	// The master: one user, [proxy] on that nginx, [deploy] on.
	runDir := filepath.Join(dir, "run")
	q := func(args ...string) string { return `["` + strings.Join(args, `", "`) + `"]` }
	toml := fmt.Sprintf(`# generated by roost's bench (deploy)
run_dir   = %q
state_dir = %q
[users]
names   = [%q]
project = %q
log_dir = %q
[ports]
range    = "%d-%d"
per_user = 10
[proxy]
enabled = true
listen = "127.0.0.1:%d"
output = %q
test_command = %s
reload_command = %s
hosts = ["{user}.example.test"]
[deploy]
enabled = true
repo = %q
keep_releases = 3
timeout = "5m"
`, runDir, filepath.Join(dir, "state"), s.user.Name, deployDir+"/current", deployDir+"/log", ports, ports+89, listen,
		filepath.Join(ng, "conf.d", "roost.conf"), q(s.nginx, "-c", nconf, "-t", "-q"), q(s.nginx, "-c", nconf, "-s", "reload"), deployDir+"/repo.git")
	conf := filepath.Join(dir, "roost.toml")
	if err := os.WriteFile(conf, []byte(toml), 0o644); err != nil {
		return err
	}
	mout, err := logTo(filepath.Join(dir, "master.out"))
	if err != nil {
		return err
	}
	defer mout.Close()
	mcmd := exec.Command(b.roostBin, "master", "-c", conf)
	mcmd.Dir, mcmd.Env, mcmd.Stdout, mcmd.Stderr = dir, env(), mout, mout
	mp, err := b.t.start(mcmd)
	if err != nil {
		return fmt.Errorf("roost master: %w", err)
	}
	defer b.stopDaemon(&running{d: roostDaemon{bin: b.roostBin}, w: &workload{Dir: dir}, p: mp, started: time.Now()})
	sock := filepath.Join(runDir, "users", s.user.Name, "roost.sock")
	if err := waitFor(ctx, time.Minute, "the user's supervisor", func() bool { return answers(ctx, sock) }); err != nil {
		return fmt.Errorf("%w (see %s)", err, filepath.Join(dir, "master.out"))
	}

	// The user's repository, and her clone.
	as := func(dir string, name string, args ...string) cmdResult {
		cmd := exec.Command(name, args...)
		cmd.Dir = dir
		cmd.Env = []string{"HOME=" + s.user.Home, "USER=" + s.user.Name, "PATH=/usr/local/bin:/usr/bin:/bin",
			"GIT_AUTHOR_NAME=bench", "GIT_AUTHOR_EMAIL=bench@example.test", "GIT_COMMITTER_NAME=bench", "GIT_COMMITTER_EMAIL=bench@example.test"}
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(s.user.UID), Gid: uint32(s.user.GID), Groups: []uint32{}}}
		return b.t.runCmd(ctx, cmd)
	}
	if r := as(home, b.roostBin, "deploy", "--init", "--master-config", conf); r.Err != nil {
		return fmt.Errorf("roost deploy --init: %w", r.Err)
	}
	work := filepath.Join(home, "work")
	if r := as(home, s.git, "init", "-q", "-b", "main", work); r.Err != nil {
		return r.Err
	}
	if r := as(work, s.git, "remote", "add", "origin", filepath.Join(home, "repo.git")); r.Err != nil {
		return r.Err
	}
	write := func(name, body string) error {
		p := filepath.Join(work, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			return err
		}
		return os.Chown(p, s.user.UID, s.user.GID)
	}
	host := s.user.Name + ".example.test"
	supConf := fmt.Sprintf("[program:web]\ndirectory=%%(ENV_HOME)s/%s/current\ncommand=%s server.js\nstartsecs=1\nstopsignal=TERM\nredirect_stderr=true\n\n[proxy:web]\nhosts = %s\n",
		deployDir, s.node, host)
	for name, body := range map[string]string{"server.js": deployServer, "supervisord.conf": supConf, ".gitignore": "node_modules/\n"} {
		if err := write(name, body); err != nil {
			return err
		}
	}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "tcp", fmt.Sprintf("127.0.0.1:%d", listen))
		}, MaxIdleConnsPerHost: 4}}
	version := 0
	// push commits a new version and pushes it; it returns the seconds
	// from the push to the new version served, the push's own seconds,
	// and the requests the loop made and saw fail meanwhile.
	push := func() (served, pushed float64, reqs, failed int, err error) {
		version++
		v := "v" + strconv.Itoa(version)
		if err := write("version.txt", v+"\n"); err != nil {
			return 0, 0, 0, 0, err
		}
		if r := as(work, s.git, "add", "-A"); r.Err != nil {
			return 0, 0, 0, 0, r.Err
		}
		if r := as(work, s.git, "commit", "-q", "-m", v); r.Err != nil {
			return 0, 0, 0, 0, r.Err
		}
		loop := startGetLoop(client, host)
		t0 := time.Now()
		r := as(work, s.git, "push", "-q", "origin", "main")
		pushed = r.Wall.Seconds()
		if r.Err != nil {
			loop.end()
			return 0, 0, 0, 0, fmt.Errorf("git push of %s: %w\n%s%s", v, r.Err, r.Stdout, r.Stderr)
		}
		err = waitFor(ctx, time.Minute, v+" through nginx", func() bool {
			body, ok := getBody(client, host)
			return ok && strings.HasPrefix(body, "version="+v+" ")
		})
		served = time.Since(t0).Seconds()
		// A second more through the new version: its first requests count.
		sleepFor(ctx, time.Second)
		reqs, failed = loop.end()
		return served, pushed, reqs, failed, err
	}

	// timed pushes n times, recording the time to served under fig (and
	// the push's own under pushFig, when not "") and the requests.
	timed := func(n int, what, fig, pushFig string) error {
		for i := 0; i < n; i++ {
			served, pushed, reqs, failed, err := push()
			if err != nil {
				return err
			}
			b.res.add(fig, vRoost, served)
			if pushFig != "" {
				b.res.add(pushFig, vRoost, pushed)
			}
			b.res.add(figDeployReqs, vRoost, float64(reqs))
			b.res.add(figDeployFailed, vRoost, float64(failed))
			b.logf("deploy: %s: served %.2f s after the push began (git push %.2f s), %d requests, %d failed", what, served, pushed, reqs, failed)
		}
		return nil
	}

	// The trivial project: a first push (not timed), then the timed ones.
	if _, _, _, _, err := push(); err != nil {
		return err
	}
	if err := timed(b.deployPushes(), "trivial project", figDeployTrivial, ""); err != nil {
		return err
	}

	if b.o.quick {
		for _, f := range []string{figDeployNpmNew, figDeployNpm, figDeployBuild} {
			b.res.unavailable(f, vRoost, "the npm project runs in the full bench only (-quick keeps CI fast)")
		}
		return nil
	}
	// The npm project: package.json and its lock file (made by npm as
	// the user, from the registry), then pushes that leave them alone.
	if err := write("package.json", `{"name": "app", "version": "1.0.0", "private": true, "dependencies": {"is-number": "7.0.0"}}`+"\n"); err != nil {
		return err
	}
	if r := as(work, s.npm, "install", "--package-lock-only", "--no-audit", "--no-fund"); r.Err != nil {
		return fmt.Errorf("npm install --package-lock-only: %w", r.Err)
	}
	if err := timed(1, "npm project, first push (npm ci)", figDeployNpmNew, ""); err != nil {
		return err
	}
	return timed(b.deployPushes(), "npm project, dependencies unchanged", figDeployNpm, figDeployBuild)
}

// getLoop GETs the site through nginx every 5 ms (at most 100000 times)
// until end, counting requests and failures (an error or a status other
// than 200).
type getLoop struct {
	stop      chan struct{}
	done      sync.WaitGroup
	mu        sync.Mutex
	reqs, bad int
}

func startGetLoop(c *http.Client, host string) *getLoop {
	l := &getLoop{stop: make(chan struct{})}
	l.done.Add(1)
	go func() {
		defer l.done.Done()
		for i := 0; i < 100000; i++ {
			select {
			case <-l.stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
			_, ok := getBody(c, host)
			l.mu.Lock()
			l.reqs++
			if !ok {
				l.bad++
			}
			l.mu.Unlock()
		}
	}()
	return l
}

// end stops the loop and returns its counts.
func (l *getLoop) end() (reqs, failed int) {
	close(l.stop)
	l.done.Wait()
	return l.reqs, l.bad
}

// getBody GETs / of host; ok is a 200 with its body read.
func getBody(c *http.Client, host string) (string, bool) {
	req, err := http.NewRequest(http.MethodGet, "http://"+host+"/", nil)
	if err != nil {
		return "", false
	}
	resp, err := c.Do(req)
	if err != nil {
		return "", false
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err == nil && resp.StatusCode == http.StatusOK
}

// waitFor polls cond every 20 ms until it holds, at most d.
func waitFor(ctx context.Context, d time.Duration, what string, cond func() bool) error {
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: not after %v", what, d)
		}
		if err := sleepFor(ctx, 20*time.Millisecond); err != nil {
			return err
		}
	}
	return nil
}

// answers reports whether a supervisor answers at sock.
func answers(ctx context.Context, sock string) bool {
	c, err := api.Dial(sock)
	if err != nil {
		return false
	}
	defer c.Close()
	_, err = c.Processes(ctx)
	return err == nil
}

// freePorts finds n consecutive free loopback ports below the ephemeral
// range.
func freePorts(n int) (int, error) {
	for base := 12000; base+n < 32000; base += n {
		ok := true
		for p := base; p < base+n && ok; p++ {
			ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
			if err != nil {
				ok = false
				break
			}
			ln.Close()
		}
		if ok {
			return base, nil
		}
	}
	return 0, errors.New("no block of free ports")
}
