package dashboard_test

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"roost/internal/testutil"
	"roost/supervisor/api"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testutil.RemoveRoostBinary()
	os.Exit(code)
}

// evilName is a program name the page must show as text.
const evilName = "<script>alert(1)<script>"

// confHeader starts every test project: the socket and the main log in
// its directory.
const confHeader = `[unix_http_server]
file=%(here)s/roost.sock

[supervisord]
logfile=%(here)s/main.log
`

const browserConf = confHeader + `
[program:web]
command=/bin/sh -c 'i=0; while :; do i=$((i+1)); echo "<script>alert(2)</script> tick $i"; sleep 0.3; done'
stdout_logfile=%(here)s/web.log
startsecs=1

[program:` + evilName + `]
command=/bin/sleep 1000

[program:worker]
command=/bin/sleep 1000
process_name=%(program_name)s_%(process_num)d
numprocs=2
`

// artifacts is where screenshots go: $ROOST_TEST_ARTIFACTS, else a
// temporary directory.
func artifacts(t *testing.T) string {
	dir := os.Getenv("ROOST_TEST_ARTIFACTS")
	if dir == "" {
		return t.TempDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// startRoost runs `roost run` on a supervisord.conf of body in dir until
// the test ends, and returns a client of its socket once its n processes
// run, and the supervisor's pid.
func startRoost(t *testing.T, bin, dir, body string, n int) (*api.Client, int) {
	t.Helper()
	conf := filepath.Join(dir, "supervisord.conf")
	if err := os.WriteFile(conf, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	var out testutil.Buffer
	cmd := exec.Command(bin, "run", "-c", conf)
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(60 * time.Second):
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
			t.Errorf("roost run did not stop on SIGTERM:\n%s", out.String())
		}
	})
	var c *api.Client
	testutil.Eventually(t, 60*time.Second, "the supervisor's socket", func() bool {
		select {
		case <-done:
			t.Fatalf("roost run exited:\n%s", out.String())
		default:
		}
		var err error
		c, err = api.Dial(filepath.Join(dir, "roost.sock"))
		return err == nil
	})
	t.Cleanup(func() { c.Close() })
	testutil.Eventually(t, 60*time.Second, "every process to run", func() bool {
		ps, err := c.Processes(context.Background())
		if err != nil || len(ps) != n {
			return false
		}
		for _, p := range ps {
			if p.State != api.Running {
				return false
			}
		}
		return true
	})
	return c, cmd.Process.Pid
}

// startUI runs `roost ui --local --json` and returns the URL it prints.
func startUI(t *testing.T, bin, sock string) string {
	t.Helper()
	cmd := exec.Command(bin, "-s", sock, "ui", "--local", "--json")
	cmd.Env = append(os.Environ(), "SSH_CONNECTION=")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr testutil.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGINT)
		cmd.Wait()
		if t.Failed() {
			t.Logf("roost ui's stderr:\n%s", stderr.String())
		}
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("roost ui printed nothing: %v\n%s", err, stderr.String())
	}
	var v struct{ URL string }
	if err := json.Unmarshal([]byte(line), &v); err != nil || !regexp.MustCompile(`^http://127\.0\.0\.1:\d+/[0-9a-f]{48}/ui/$`).MatchString(v.URL) {
		t.Fatalf("roost ui --json: %q (%v)", line, err)
	}
	return v.URL
}

// TestDashboardInChromium drives the dashboard of a real supervisor, through
// `roost ui`'s forwarder, in Debian's headless chromium.
func TestDashboardInChromium(t *testing.T) {
	chromium := testutil.RequireBinary(t, "chromium")
	bin := testutil.RoostBinary(t, nil)
	dir := t.TempDir()
	cron := "# name: tick\n@every 1s echo tick\n"
	if err := os.WriteFile(filepath.Join(dir, "cron"), []byte(cron), 0o644); err != nil {
		t.Fatal(err)
	}
	c, _ := startRoost(t, bin, dir, browserConf, 4)
	sock := filepath.Join(dir, "roost.sock")
	pageURL := startUI(t, bin, sock)
	// pageURL is origin + "/" + token + "/ui/".
	prefix := strings.TrimSuffix(pageURL, "/ui/")
	origin := prefix[:strings.LastIndex(prefix, "/")]
	token := prefix[len(origin)+1:]

	// Without the token as the path's first segment, the forwarder
	// answers nothing but 403, and never sets a cookie.
	for _, u := range []string{origin + "/", origin + "/ui/", origin + "/ui/state", origin + "/ui/?token=" + token,
		origin + "/" + strings.Repeat("0", len(token)) + "/ui/", origin + "/ui/" + token + "/ui/"} {
		resp, err := http.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		body := readAll(t, resp)
		if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "open the URL `roost ui` printed") || len(resp.Cookies()) != 0 {
			t.Errorf("GET %s without the token: %s %q %v, want 403", u, resp.Status, body, resp.Cookies())
		}
	}
	// With it, the token alone leads to the page.
	resp, err := http.Get(prefix)
	if err != nil {
		t.Fatal(err)
	}
	if body := readAll(t, resp); resp.StatusCode != 200 || resp.Request.URL.String() != pageURL || !strings.Contains(body, "roost-csrf") ||
		len(resp.Cookies()) != 0 || resp.Header.Get("Referrer-Policy") != "same-origin" {
		t.Errorf("GET %s: %s at %s, cookies %v, Referrer-Policy %q", prefix, resp.Status, resp.Request.URL, resp.Cookies(), resp.Header.Get("Referrer-Policy"))
	}

	b := newBrowser(t, chromium)
	run, eval, shot, waitFor := b.run, b.eval, b.shot, b.waitFor

	// The page lists every process, live.
	run("open the URL", chromedp.Navigate(pageURL), chromedp.WaitVisible(chromedp.CSS(`tr[data-name="web"]`)))
	waitFor("the live stream", `document.getElementById("live").textContent === "live" ? "yes" : ""`)
	names := eval(`Array.from(document.querySelectorAll("#procs td.name")).map(e => e.textContent).join("|")`)
	if names != "web|worker_0|worker_1|"+evilName && !strings.Contains(names, evilName) {
		t.Errorf("names on the page: %q", names)
	}
	for _, n := range []string{"web", "worker_0", "worker_1", evilName} {
		if !strings.Contains("|"+names+"|", "|"+n+"|") {
			t.Errorf("the page does not list %q: %q", n, names)
		}
	}
	// The hostile name is text: one script element (app.js), no alert.
	if n := eval(`String(document.querySelectorAll("script").length)`); n != "1" {
		t.Errorf("%s script elements on the page, want 1 (app.js)", n)
	}
	// Everything the page names or loaded is under /TOKEN/ui/: its URLs
	// are relative, and nothing is external (a Referer could carry the
	// token there).
	urls := eval(`[...document.querySelectorAll("[href],[src],[action]").values()]
		.map(e => new URL(e.getAttribute("href") || e.getAttribute("src") || e.getAttribute("action"), document.baseURI).href)
		.concat(performance.getEntriesByType("resource").map(e => e.name)).join("\n")`)
	for _, u := range strings.Split(urls, "\n") {
		// The browser's own favicon request gets the forwarder's 403.
		if !strings.HasPrefix(u, pageURL) && u != origin+"/favicon.ico" {
			t.Errorf("the page names or loaded %q, outside %s", u, pageURL)
		}
	}
	if !strings.Contains(urls, pageURL+"app.js") || !strings.Contains(urls, pageURL+"action") {
		t.Errorf("the page's URLs %q lack app.js or action under %s", urls, pageURL)
	}
	shot("dashboard.png")

	// Restart changes the pid shown and the real one.
	before, err := c.Process(context.Background(), "web")
	if err != nil {
		t.Fatal(err)
	}
	pidShown := func() string {
		return eval(`document.querySelector('tr[data-name="web"] td.pid').textContent`)
	}
	if got := pidShown(); got != strconv.Itoa(before.PID) {
		t.Fatalf("pid shown %q, the API says %d", got, before.PID)
	}
	run("click restart", chromedp.Click(chromedp.CSS(`tr[data-name="web"] button[value="restart"]`)))
	var after api.ProcessInfo
	testutil.Eventually(t, 60*time.Second, "web to run again with a new pid, shown on the page", func() bool {
		after, err = c.Process(context.Background(), "web")
		return err == nil && after.State == api.Running && after.PID != before.PID && pidShown() == strconv.Itoa(after.PID)
	})
	if _, err := os.Stat("/proc/" + strconv.Itoa(before.PID)); err == nil {
		t.Errorf("the old pid %d still exists", before.PID)
	}
	waitFor("the restart's outcome", `document.getElementById("msg").textContent === "restart web: ok" ? "yes" : ""`)

	// The log view shows the tail and follows new lines, as text.
	run("open the log", chromedp.Click(chromedp.CSS(`tr[data-name="web"] button.log`)))
	waitFor("log lines", `document.getElementById("log").textContent.includes("<script>alert(2)</script> tick") ? "yes" : ""`)
	ticks := func() int {
		m := regexp.MustCompile(`tick (\d+)\n`).FindAllStringSubmatch(eval(`document.getElementById("log").textContent`), -1)
		if len(m) == 0 {
			return 0
		}
		n, _ := strconv.Atoi(m[len(m)-1][1])
		return n
	}
	first := ticks()
	testutil.Eventually(t, 60*time.Second, "the log view to follow new lines", func() bool { return ticks() >= first+3 })
	if n := eval(`String(document.querySelectorAll("#log *").length)`); n != "0" {
		t.Errorf("the log view holds %s elements: a log line became HTML", n)
	}
	shot("dashboard-log.png")

	// The cron job, with its next run and its last run's exit status
	// (the table follows the event stream: the restarts below refresh it).
	run("restart all", chromedp.Click(chromedp.CSS(`header button[value="restart"]`)))
	waitFor("restart all's outcome", `document.getElementById("msg").textContent === "restart all: ok" ? "yes" : ""`)
	cronRow := eval(`Array.from(document.querySelectorAll("#crontab tbody td")).map(e => e.textContent).join("|")`)
	if !regexp.MustCompile(`^tick\|@every 1s\|\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\|\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\|(0|running)\|\d+$`).MatchString(cronRow) {
		t.Errorf("the cron row: %q", cronRow)
	}
	if after2, _ := c.Process(context.Background(), "web"); after2.PID == after.PID {
		t.Errorf("restart all left web's pid %d", after.PID)
	}

	// Phone width: still readable (the table becomes cards).
	run("phone viewport", chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile))
	shot("dashboard-phone.png")

	if n := b.alerted.Load(); n != 0 {
		t.Errorf("%d JavaScript dialogs opened: a name or log line ran as script", n)
	}

	// A cross-origin POST to the right URL with the right token is
	// refused, on the forwarder and on the socket itself; a same-origin
	// one works. No cookie is involved: the client has no jar.
	hc := &http.Client{}
	resp, err = hc.Get(pageURL)
	if err != nil {
		t.Fatal(err)
	}
	body := readAll(t, resp)
	m := regexp.MustCompile(`name="roost-csrf" content="([0-9a-f]+)"`).FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no CSRF token in the page:\n%s", body)
	}
	post := func(origin, token string) int {
		form := url.Values{"target": {"worker:*"}, "action": {"restart"}, "csrf": {token}}
		req, _ := http.NewRequest("POST", prefix+"/ui/action", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Accept", "application/json")
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	w0, _ := c.Process(context.Background(), "worker:worker_0")
	for _, tc := range []struct {
		origin, token string
		want          int
	}{
		{"http://evil.example", m[1], 403},
		{"http://127.0.0.1:1", m[1], 403},
		{"", m[1], 403},
		{origin, "", 403},
		{origin, strings.Repeat("0", len(m[1])), 403},
	} {
		if got := post(tc.origin, tc.token); got != tc.want {
			t.Errorf("POST with Origin %q token %q: %d, want %d", tc.origin, tc.token, got, tc.want)
		}
	}
	if w, _ := c.Process(context.Background(), "worker:worker_0"); w.PID != w0.PID {
		t.Errorf("a refused POST restarted worker_0 (pid %d → %d)", w0.PID, w.PID)
	}
	if got := post(origin, m[1]); got != 200 {
		t.Errorf("same-origin POST with the token: %d", got)
	}
	if w, _ := c.Process(context.Background(), "worker:worker_0"); w.PID == w0.PID {
		t.Errorf("the accepted POST did not restart worker_0 (pid %d)", w.PID)
	}
}

// browser is one headless chromium for a test, closed when it ends.
type browser struct {
	t     *testing.T
	ctx   context.Context // bounded: every step of the test must end
	shots string
	// alerted counts the JavaScript dialogs opened (a name or a log line
	// that ran as script would open one); each is closed.
	alerted atomic.Int32
}

func newBrowser(t *testing.T, chromium string) *browser {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.WindowSize(1200, 900), chromedp.Flag("disable-dev-shm-usage", true))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelAlloc)
	bctx, cancelCtx := chromedp.NewContext(actx)
	t.Cleanup(cancelCtx)
	b := &browser{t: t, shots: artifacts(t)}
	dialogs := chromedp.Events(bctx, page.JavascriptDialogOpening)
	if err := chromedp.Do(bctx); err != nil { // starts the browser
		t.Fatalf("start chromium: %v", err)
	}
	go func() {
		for _, err := range dialogs {
			if err != nil {
				return
			}
			b.alerted.Add(1)
			chromedp.Call(bctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: true})
		}
	}()
	ctx, cancel := context.WithTimeout(bctx, 3*time.Minute)
	t.Cleanup(cancel)
	b.ctx = ctx
	return b
}

func (b *browser) run(what string, acts ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, acts...); err != nil {
		b.t.Fatalf("%s: %v", what, err)
	}
}

func (b *browser) eval(js string) string {
	b.t.Helper()
	s, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](js))
	if err != nil {
		b.t.Fatalf("evaluate %s: %v", js, err)
	}
	return s
}

// shot saves a screenshot of the whole page as name in the artifacts.
func (b *browser) shot(name string) {
	b.t.Helper()
	png, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Fatalf("screenshot: %v", err)
	}
	p := filepath.Join(b.shots, name)
	if err := os.WriteFile(p, png, 0o644); err != nil {
		b.t.Fatal(err)
	}
	b.t.Logf("screenshot: %s", p)
}

// waitFor waits until js evaluates to "yes".
func (b *browser) waitFor(what, js string) {
	b.t.Helper()
	testutil.Eventually(b.t, 60*time.Second, what, func() bool { return b.eval(js) == "yes" })
}

// inetConf serves [inet_http_server] on 127.0.0.1:PORT with a password
// besides the socket. (That a TCP listener without one is refused when
// the file is read is tested in config's TestValidationErrors ("inet without
// password"), and master's TestE2EAudit.)
const inetConf = confHeader + `
[inet_http_server]
port=127.0.0.1:PORT
username=u
password=p

[program:web]
command=/bin/sleep 1000

[program:other]
command=/bin/sleep 1000
`

// TestDashboardOverInetHTTPServer: the dashboard on [inet_http_server]'s
// TCP listener, in chromium: without the password a 401 and no process;
// with it the page, and a restart (its Origin is the listener's
// host:port, the same origin).
func TestDashboardOverInetHTTPServer(t *testing.T) {
	chromium := testutil.RequireBinary(t, "chromium")
	bin := testutil.RoostBinary(t, nil)
	dir := t.TempDir()
	port := testutil.FreePort(t)
	c, _ := startRoost(t, bin, dir, strings.Replace(inetConf, "PORT", strconv.Itoa(port), 1), 2)
	origin := "http://127.0.0.1:" + strconv.Itoa(port)
	pageURL := origin + "/ui/"

	// Plain HTTP: no credentials or wrong ones, 401 and nothing listed.
	for _, auth := range [][2]string{{}, {"u", "wrong"}, {"x", "p"}} {
		req, _ := http.NewRequest("GET", pageURL, nil)
		if auth[0] != "" {
			req.SetBasicAuth(auth[0], auth[1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		if body := readAll(t, resp); resp.StatusCode != http.StatusUnauthorized || strings.Contains(body, "data-name") || strings.Contains(body, "roost-csrf") {
			t.Errorf("GET %s as %q: %s\n%s", pageURL, auth, resp.Status, body)
		}
	}

	b := newBrowser(t, chromium)
	// The browser without credentials: the page's request gets 401
	// (headless chromium asks nobody for a password: it gives up on the
	// load with ERR_INVALID_AUTH_CREDENTIALS), and no process is shown.
	var mu sync.Mutex
	pageReqs, statuses := map[network.RequestID]bool{}, map[network.RequestID]int64{}
	lctx, stopListen := context.WithCancel(b.ctx)
	defer stopListen()
	if err := chromedp.Listen(lctx, func(ev any) {
		mu.Lock()
		defer mu.Unlock()
		switch ev := ev.(type) {
		case *network.EventRequestWillBeSent:
			if ev.Request.URL == pageURL {
				pageReqs[ev.RequestID] = true
			}
		case *network.EventResponseReceivedExtraInfo:
			statuses[ev.RequestID] = ev.StatusCode
		}
	}); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(b.ctx, chromedp.Navigate(pageURL)); err != nil && !strings.Contains(err.Error(), "ERR_INVALID_AUTH_CREDENTIALS") {
		t.Fatalf("open %s without credentials: %v", pageURL, err)
	}
	testutil.Eventually(t, 30*time.Second, "the page's request and its status", func() bool {
		mu.Lock()
		defer mu.Unlock()
		for id := range pageReqs {
			if statuses[id] != 0 {
				return true
			}
		}
		return false
	})
	mu.Lock()
	for id := range pageReqs {
		if code := statuses[id]; code != 0 && code != http.StatusUnauthorized {
			t.Errorf("chromium without credentials: the page's request got %d, want 401", code)
		}
	}
	mu.Unlock()
	stopListen()
	if n := b.eval(`String(document.querySelectorAll("tr[data-name]").length)`); n != "0" {
		t.Errorf("without credentials the page lists %s processes", n)
	}
	if text := b.eval(`document.body ? document.body.innerText : ""`); strings.Contains(text, "web") || strings.Contains(text, "other") {
		t.Errorf("without credentials the page shows %q", text)
	}
	b.shot("dashboard-inet-401.png")

	// With them (on every request of the page: its script, its event
	// stream, its POSTs): the page, live, and a restart that works.
	cred := base64.StdEncoding.EncodeToString([]byte("u:p"))
	if _, err := chromedp.Call(b.ctx, network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{Headers: network.Headers{"Authorization": "Basic " + cred}}); err != nil {
		t.Fatal(err)
	}
	resp, err := chromedp.Run(b.ctx, chromedp.NavigateResponse(pageURL))
	if err != nil {
		t.Fatalf("open %s: %v", pageURL, err)
	}
	if resp.Status != http.StatusOK {
		t.Fatalf("chromium with credentials: %d %s", resp.Status, resp.StatusText)
	}
	b.run("the process list", chromedp.WaitVisible(chromedp.CSS(`tr[data-name="web"]`)))
	b.waitFor("the live stream", `document.getElementById("live").textContent === "live" ? "yes" : ""`)
	if names := b.eval(`Array.from(document.querySelectorAll("#procs td.name")).map(e => e.textContent).sort().join("|")`); names != "other|web" {
		t.Errorf("names on the page: %q", names)
	}
	before, err := c.Process(context.Background(), "web")
	if err != nil {
		t.Fatal(err)
	}
	b.run("click restart", chromedp.Click(chromedp.CSS(`tr[data-name="web"] button[value="restart"]`)))
	b.waitFor("the restart's outcome", `document.getElementById("msg").textContent === "restart web: ok" ? "yes" : ""`)
	testutil.Eventually(t, 60*time.Second, "web to run again with a new pid, shown on the page", func() bool {
		after, err := c.Process(context.Background(), "web")
		return err == nil && after.State == api.Running && after.PID != before.PID &&
			b.eval(`document.querySelector('tr[data-name="web"] td.pid').textContent`) == strconv.Itoa(after.PID)
	})
	b.shot("dashboard-inet.png")

	// The same POST from another origin, with the password and the
	// page's token, is refused.
	req, _ := http.NewRequest("GET", pageURL, nil)
	req.SetBasicAuth("u", "p")
	r, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`name="roost-csrf" content="([0-9a-f]+)"`).FindStringSubmatch(readAll(t, r))
	if m == nil {
		t.Fatal("no CSRF token in the page over TCP")
	}
	mid, _ := c.Process(context.Background(), "web")
	for _, o := range []string{"http://evil.example", "http://localhost:" + strconv.Itoa(port), origin} {
		form := url.Values{"target": {"web"}, "action": {"restart"}, "csrf": {m[1]}}
		req, _ := http.NewRequest("POST", pageURL+"action", strings.NewReader(form.Encode()))
		req.SetBasicAuth("u", "p")
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Accept", "application/json")
		req.Header.Set("Origin", o)
		r, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		r.Body.Close()
		if want := map[bool]int{true: 200, false: 403}[o == origin]; r.StatusCode != want {
			t.Errorf("POST over TCP with Origin %s: %d, want %d", o, r.StatusCode, want)
		}
		if o != origin {
			if w, _ := c.Process(context.Background(), "web"); w.PID != mid.PID {
				t.Errorf("a POST with Origin %s restarted web", o)
			}
		}
	}
	if n := b.alerted.Load(); n != 0 {
		t.Errorf("%d JavaScript dialogs opened", n)
	}
}

func readAll(t *testing.T, resp *http.Response) string {
	t.Helper()
	defer resp.Body.Close()
	var b strings.Builder
	buf := make([]byte, 32<<10)
	for {
		n, err := resp.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			break
		}
	}
	return b.String()
}

const bigConf = confHeader + `
[program:big]
command=/bin/sh -c 'i=0; while :; do i=$((i+1)); echo "big $i"; sleep 0.3; done'
stdout_logfile=%(here)s/big.log
stdout_logfile_maxbytes=0
startsecs=1
`

// TestUIOverSSHAndAGigabyteLog: over ssh, roost ui prints the ssh -L line
// for the real socket; the log view of a 1 GB log starts at its end and
// follows it, without the supervisor reading the file.
func TestUIOverSSHAndAGigabyteLog(t *testing.T) {
	bin := testutil.RoostBinary(t, nil)
	dir := t.TempDir()
	big := filepath.Join(dir, "big.log")
	if err := os.WriteFile(big, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(big, 1<<30); err != nil { // sparse: costs no disk
		t.Fatal(err)
	}
	_, pid := startRoost(t, bin, dir, bigConf, 1)
	sock := filepath.Join(dir, "roost.sock")

	// Over ssh: the line and the URL, for the socket the supervisor uses.
	ui := exec.Command(bin, "-s", sock, "ui", "--json")
	ui.Env = append(os.Environ(), "SSH_CONNECTION=192.0.2.1 50000 198.51.100.7 22")
	b, err := ui.Output()
	var v struct{ URL, SSH string }
	if err != nil || json.Unmarshal(b, &v) != nil {
		t.Fatalf("roost ui --json over ssh: %v %q", err, b)
	}
	if v.URL != "http://localhost:8080/ui/" || v.SSH != "ssh -N -L 8080:"+sock+" root@198.51.100.7" {
		t.Errorf("roost ui over ssh: %+v", v)
	}

	// The log view, straight on the socket (as ssh -L reaches it).
	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", sock)
	}}}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	var resp *http.Response
	testutil.Eventually(t, 60*time.Second, "big to log its first line", func() bool {
		st, err := os.Stat(big)
		return err == nil && st.Size() > 1<<30
	})
	req, _ := http.NewRequestWithContext(ctx, "GET", "http://roost/ui/log?name=big&lines=5", nil)
	if resp, err = hc.Do(req); err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET /ui/log: %s", resp.Status)
	}
	rd := bufio.NewReader(resp.Body)
	first, last := 0, 0
	for last < first+3 || first == 0 {
		line, err := rd.ReadString('\n')
		if err != nil {
			t.Fatalf("log stream after big %d..%d: %v", first, last, err)
		}
		if line == "\n" {
			continue
		}
		n, err := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(line, "data: big ")))
		if !strings.HasPrefix(line, "data: big ") || err != nil {
			t.Fatalf("unexpected log event line %q (a NUL of the sparse start, or a cut line?)", line)
		}
		if first == 0 {
			first = n
		}
		last = n
	}
	// The supervisor never held the gigabyte.
	status, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	m := regexp.MustCompile(`VmHWM:\s+(\d+) kB`).FindSubmatch(status)
	if m == nil {
		t.Fatalf("no VmHWM in /proc/PID/status:\n%s", status)
	}
	if kb, _ := strconv.Atoi(string(m[1])); kb > 200<<10 {
		t.Errorf("roost run's peak RSS is %d kB after following a 1 GB log", kb)
	}
}
