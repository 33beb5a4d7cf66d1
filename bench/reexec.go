package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"roost/internal/procfs"
	"roost/master"
)

// `go run ./bench reexec`: what a user's site sees while the master
// re-executes itself (`roost admin reexec`, issue 16). A real roost master
// (as root) runs one user's supervisor with a python3 http.server behind
// a [proxy:web] route, served by a private nginx on loopback; a bounded
// request loop (reexecClients clients, each a new connection per request)
// runs through nginx while the master re-executes, and every request that
// does not get a 200 counts as failed (goal: 0). The time the master is
// away is from the admin request's answer to the first answer of the new
// image, as `roost admin reexec` measures it. The program's pid must be
// the same at the end. The figures replace the reexec section of
// BENCHMARKS.md, which `go run ./bench` keeps.

const (
	reexecStart   = "<!-- reexec: measured by go run ./bench reexec; go run ./bench keeps this section -->"
	reexecEnd     = "<!-- /reexec -->"
	reexecUser    = "roost-alice"
	reexecClients = 4
	// reexecMaxRequests bounds one run's request loop.
	reexecMaxRequests = 200000
	reexecProject     = "roost-bench-reexec"
)

// reexecRun is one re-exec under load.
type reexecRun struct {
	away              time.Duration
	requests, failed  int64
	firstErr          string
	restarted, doubts int
}

func runReexec(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench reexec", flag.ContinueOnError)
	fs.SetOutput(stderr)
	runs := fs.Int("runs", 5, "re-execs to measure")
	out := fs.String("out", "", "the report to update (default: BENCHMARKS.md at the repository root)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if os.Geteuid() != 0 {
		return errors.New("bench reexec: needs root (the master starts a supervisor as " + reexecUser + ")")
	}
	root, err := repoRoot()
	if err != nil {
		return err
	}
	if *out == "" {
		*out = filepath.Join(root, "BENCHMARKS.md")
	}
	u, err := user.Lookup(reexecUser)
	if err != nil {
		return fmt.Errorf("bench reexec: %w (scripts/setup-test-env creates it)", err)
	}
	work, err := os.MkdirTemp("", "roost-bench-reexec-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	os.Chmod(work, 0o755)
	bin := filepath.Join(work, "roost")
	build := exec.Command("go", buildArgs(bin)...)
	build.Dir, build.Stderr, build.Env = root, stderr, buildEnv()
	if err := build.Run(); err != nil {
		return fmt.Errorf("build roost: %w", err)
	}

	port, err := freePort()
	if err != nil {
		return err
	}
	ng, err := startBenchNginx(work)
	if err != nil {
		return err
	}
	defer ng.stop()
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	project := filepath.Join(u.HomeDir, reexecProject)
	if err := writeReexecProject(project, uid, gid); err != nil {
		return err
	}
	defer os.RemoveAll(project)
	conf := filepath.Join(work, "roost.toml")
	base := 41000 + (os.Getpid() % 50 * 100)
	toml := fmt.Sprintf(`run_dir = %q
state_dir = %q
[users]
names = [%q]
project = %q
[ports]
range = "%d-%d"
per_user = 10
[proxy]
enabled = true
listen = "127.0.0.1:%d"
output = %q
test_command = ["/usr/sbin/nginx", "-c", %q, "-t", "-q"]
reload_command = ["/usr/sbin/nginx", "-c", %q, "-s", "reload"]
hosts = ["{user}.example.test"]
`, filepath.Join(work, "run"), filepath.Join(work, "state"), reexecUser, reexecProject, base, base+99, port,
		filepath.Join(work, "nginx", "conf.d", "roost.conf"), ng.conf, ng.conf)
	if err := os.WriteFile(conf, []byte(toml), 0o644); err != nil {
		return err
	}
	mlog, err := os.Create(filepath.Join(work, "master.log"))
	if err != nil {
		return err
	}
	defer mlog.Close()
	m := exec.Command(bin, "master", "-c", conf)
	m.Stdout, m.Stderr = mlog, mlog
	m.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin"}
	if err := m.Start(); err != nil {
		return err
	}
	stopped := false
	stopMaster := func() {
		if !stopped {
			stopped = true
			m.Process.Signal(syscall.SIGTERM)
			m.Wait()
		}
	}
	defer stopMaster()
	host := reexecUser + ".example.test"
	url := fmt.Sprintf("http://127.0.0.1:%d/", port)
	if err := awaitOK(url, host, 60*time.Second); err != nil {
		log, _ := os.ReadFile(mlog.Name())
		return fmt.Errorf("the site never answered 200 through nginx: %w\nmaster log:\n%s", err, log)
	}
	progs := userPrograms(uid, "python3")
	if len(progs) != 1 {
		return fmt.Errorf("%d python3 programs of %s, want 1", len(progs), reexecUser)
	}
	admin, err := master.DialAdmin(filepath.Join(work, "run", master.AdminSocketName))
	if err != nil {
		return err
	}
	defer admin.Close()

	var results []reexecRun
	for i := 1; i <= *runs; i++ {
		r, err := reexecUnderLoad(admin, url, host)
		if err != nil {
			return fmt.Errorf("run %d: %w", i, err)
		}
		fmt.Fprintf(stderr, "reexec run %d: away %.1f ms, %d requests, %d failed %s\n", i, ms(r.away), r.requests, r.failed, r.firstErr)
		results = append(results, r)
	}
	now := userPrograms(uid, "python3")
	samePID := len(now) == 1 && now[0].PID == progs[0].PID && now[0].Start == progs[0].Start
	stopMaster()
	section := reexecSection(results, samePID, *runs)
	fmt.Fprintln(stdout, section)
	old, _ := os.ReadFile(*out)
	return writeFileAtomic(*out, replaceSection(old, reexecStart, reexecEnd, section))
}

// reexecUnderLoad runs the request loop around one re-exec.
func reexecUnderLoad(admin *master.AdminClient, url, host string) (reexecRun, error) {
	var r reexecRun
	var requests, failed atomic.Int64
	var firstErr atomic.Pointer[string]
	stop := make(chan struct{})
	var wg sync.WaitGroup
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	for range reexecClients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for requests.Load() < reexecMaxRequests {
				select {
				case <-stop:
					return
				default:
				}
				requests.Add(1)
				if err := get(client, url, host); err != nil {
					failed.Add(1)
					s := err.Error()
					firstErr.CompareAndSwap(nil, &s)
				}
			}
		}()
	}
	time.Sleep(500 * time.Millisecond) // load before the re-exec
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	im, away, err := admin.ReexecMaster(ctx)
	cancel()
	if err == nil {
		// Until the new image's first nginx install is done and after.
		time.Sleep(adoptedSettle)
	}
	close(stop)
	wg.Wait()
	if err != nil {
		return r, err
	}
	r.away, r.requests, r.failed = away, requests.Load(), failed.Load()
	r.restarted = len(im.Replaced)
	if p := firstErr.Load(); p != nil {
		r.firstErr = "(first: " + *p + ")"
	}
	return r, nil
}

// adoptedSettle covers the new image's first render and nginx reload
// (the router holds it until the adopted user's routes are in, then
// renders after its debounce).
const adoptedSettle = 3 * time.Second

func get(c *http.Client, url, host string) error {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	req.Host = host
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	return nil
}

func awaitOK(url, host string, timeout time.Duration) error {
	c := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(timeout)
	for {
		err := get(c, url, host)
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return err
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// userPrograms returns the live processes of uid with that command name.
func userPrograms(uid int, comm string) []procfs.Proc {
	ents, _ := os.ReadDir("/proc")
	var out []procfs.Proc
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		p, err := procfs.Read(pid)
		if err != nil || p.RUID != uid || p.State == 'Z' {
			continue
		}
		if b, _ := os.ReadFile("/proc/" + e.Name() + "/comm"); strings.TrimSpace(string(b)) == comm {
			out = append(out, p)
		}
	}
	return out
}

func writeReexecProject(dir string, uid, gid int) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	conf := `[program:web]
command=/usr/bin/python3 -m http.server --bind 127.0.0.1 %(ENV_PORT)s
directory=%(here)s
startsecs=0
[proxy:web]
hosts = ` + reexecUser + `.example.test
`
	f := filepath.Join(dir, "supervisord.conf")
	if err := os.WriteFile(f, []byte(conf), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "index.html"), []byte("hello\n"), 0o644); err != nil {
		return err
	}
	for _, p := range []string{dir, f, filepath.Join(dir, "index.html")} {
		if err := os.Chown(p, uid, gid); err != nil {
			return err
		}
	}
	return nil
}

// benchNginx is a private nginx on loopback whose http block includes the
// master's output directory.
type benchNginx struct {
	dir, conf string
	cmd       *exec.Cmd
}

func startBenchNginx(work string) (*benchNginx, error) {
	dir := filepath.Join(work, "nginx")
	for _, d := range []string{"conf.d", "tmp"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return nil, err
		}
	}
	n := &benchNginx{dir: dir, conf: filepath.Join(dir, "nginx.conf")}
	conf := nginxConf(dir, 2)
	if err := os.WriteFile(n.conf, []byte(conf), 0o644); err != nil {
		return nil, err
	}
	n.cmd = exec.Command("/usr/sbin/nginx", "-c", n.conf, "-g", "daemon off;")
	n.cmd.Stderr = os.Stderr
	if err := n.cmd.Start(); err != nil {
		return nil, fmt.Errorf("nginx: %w", err)
	}
	return n, nil
}

// nginxConf is a private nginx's configuration: everything it writes under
// dir, its http block including dir/conf.d, where the bench's master
// writes its file (the master renders every server, its default one too).
func nginxConf(dir string, workers int) string {
	return fmt.Sprintf(`pid %[1]s/nginx.pid;
error_log %[1]s/error.log notice;
worker_processes %[2]d;
worker_shutdown_timeout 10s;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path %[1]s/tmp/body;
    proxy_temp_path %[1]s/tmp/proxy;
    fastcgi_temp_path %[1]s/tmp/fastcgi;
    uwsgi_temp_path %[1]s/tmp/uwsgi;
    scgi_temp_path %[1]s/tmp/scgi;
    include %[1]s/conf.d/*.conf;
}
`, dir, workers)
}

func (n *benchNginx) stop() {
	n.cmd.Process.Signal(syscall.SIGQUIT)
	n.cmd.Wait()
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// reexecSection is the report's section, between its markers.
func reexecSection(rs []reexecRun, samePID bool, runs int) string {
	var aways []float64
	var reqs, fails int64
	for _, r := range rs {
		aways = append(aways, ms(r.away))
		reqs += r.requests
		fails += r.failed
	}
	sort.Float64s(aways)
	var b bytes.Buffer
	fmt.Fprintln(&b, reexecStart)
	fmt.Fprintln(&b, "## Master re-exec under load")
	fmt.Fprintln(&b)
	fmt.Fprintf(&b, "`go run ./bench reexec` (as root), on %s: a real `roost master` runs %s's supervisor, whose\n", time.Now().UTC().Format("2006-01-02 15:04 UTC"), reexecUser)
	fmt.Fprintf(&b, "python3 http.server is routed by a private nginx on loopback; %d clients loop on GET through nginx\n", reexecClients)
	fmt.Fprintf(&b, "(a new connection each) from 0.5 s before `roost admin reexec` until %v after the new image answers.\n", adoptedSettle)
	load, _ := os.ReadFile("/proc/loadavg")
	fmt.Fprintf(&b, "%d re-execs; %d CPUs, load average %s at the end (what else ran).\n\n", runs, runtime.NumCPU(), strings.Fields(string(load) + " ?")[0])
	fmt.Fprintln(&b, "| measure | min / **median** / max | goal |")
	fmt.Fprintln(&b, "|---|---|---|")
	if len(aways) > 0 {
		fmt.Fprintf(&b, "| master away (admin answer → new image answers) | %.1f / **%.1f** / %.1f ms | — |\n", aways[0], aways[len(aways)/2], aways[len(aways)-1])
	}
	met := "✔"
	if fails != 0 {
		met = "✘"
	}
	fmt.Fprintf(&b, "| requests failed through nginx | %d of %d | 0 %s |\n", fails, reqs, met)
	pid := "✔ same pid and start time"
	if !samePID {
		pid = "✘ changed"
	}
	fmt.Fprintf(&b, "| the program across every re-exec | %s | same |\n", pid)
	fmt.Fprintln(&b, reexecEnd)
	return b.String()
}
