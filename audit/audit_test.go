package audit_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"roost/audit"
	"roost/internal/testutil"
	"roost/supervisor/api"
	"roost/supervisor/api/apitest"
	"roost/supervisor/api/xmlrpc"
)

// server is a control server as `roost run` builds it (JSON API, XML-RPC,
// the audit resources, the audit middleware) over a fake backend, plus a
// handler at /ui/ where the dashboard mounts its own, on a unix socket and
// a TCP listener.
type server struct {
	sock, tcp string
	log       *audit.Log
	path      string
}

const tcpUser, tcpPass = "admin", "s3cret"

func newServer(t *testing.T) *server {
	t.Helper()
	dir := t.TempDir()
	os.Chmod(dir, 0o755) // supervisorctl runs as root here; the socket is 0600 anyway
	l, err := audit.OpenDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	b := apitest.New(&apitest.Proc{Group: "web", Name: "web", Autostart: true, State: api.Running},
		&apitest.Proc{Group: "bad", Name: "bad", StartErr: api.SpawnError})
	srv := api.NewServer(b, api.ServerOptions{Wrap: audit.Middleware(l, audit.Options{})})
	srv.Mount("/RPC2", xmlrpc.NewHandler(b, xmlrpc.Options{}))
	audit.Mount(srv, l)
	srv.Mount("POST /ui/processes/{name}/{action}", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Origin") != "" {
			http.Error(w, "cross-origin request refused", http.StatusForbidden)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	sock := filepath.Join(dir, "s", "roost.sock")
	if err := srv.Listen(sock); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{}, 2)
	go func() { srv.Serve(ctx); done <- struct{}{} }()
	go func() { srv.ServeTCP(ctx, ln, tcpUser, tcpPass); done <- struct{}{} }()
	t.Cleanup(func() { cancel(); <-done; <-done })
	return &server{sock: sock, tcp: ln.Addr().String(), log: l, path: l.Path()}
}

// unixClient is an HTTP client over the server's socket.
func (s *server) unixClient() *http.Client {
	return &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", s.sock)
	}}, Timeout: 30 * time.Second}
}

// entries reads the audit log.
func (s *server) entries(t *testing.T) []audit.Entry {
	t.Helper()
	data, err := os.ReadFile(s.path)
	if err != nil {
		t.Fatal(err)
	}
	var es []audit.Entry
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		var e audit.Entry
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("not a JSON line: %q: %v", sc.Text(), err)
		}
		es = append(es, e)
	}
	return es
}

func supervisorctl(t *testing.T, args ...string) (string, int) {
	t.Helper()
	bin := testutil.RequireBinary(t, "supervisorctl")
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "LANG=C.UTF-8")
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); ok {
		return string(out), ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return string(out), 0
}

func uidOf(e audit.Entry) int {
	if e.UID == nil {
		return -1
	}
	return *e.UID
}

// TestFrontEnds makes one request through each front end and finds each
// line with the caller and front end, and nothing for read-only requests.
func TestFrontEnds(t *testing.T) {
	s := newServer(t)
	uid := os.Getuid()
	c, err := api.Dial(s.sock)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	// Read-only requests, through each front end: no line.
	if _, err := c.Processes(ctx); err != nil {
		t.Fatal(err)
	}
	if out, code := supervisorctl(t, "-s", "unix://"+s.sock, "status"); !strings.Contains(out, "RUNNING") {
		t.Fatalf("supervisorctl status: %d\n%s", code, out)
	}
	if _, err := c.Reread(ctx); err != nil {
		t.Fatal(err)
	}
	if es := s.entries(t); len(es) != 0 {
		t.Fatalf("read-only requests recorded: %+v", es)
	}

	// 1. ctl (roost's JSON API).
	if _, err := c.Restart(ctx, "web", true); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Signal(ctx, "web", "HUP"); err != nil {
		t.Fatal(err)
	}
	// A call on many processes of which one fails: 200, and the failure.
	if err := c.Call(ctx, http.MethodPost, "processes/all/start", nil, nil, nil); err != nil {
		t.Fatal(err)
	}
	// An escaped path is the same resource to the mux, and to the audit.
	resp0, err := s.unixClient().Post("http://roost/%52PC2", "text/xml", strings.NewReader(
		"<?xml version='1.0'?><methodCall><methodName>supervisor.signalProcess</methodName><params><param><value><string>web</string></value></param><param><value><string>USR2</string></value></param></params></methodCall>"))
	if err != nil {
		t.Fatal(err)
	}
	resp0.Body.Close()
	// 2. supervisorctl over the socket, one that fails (a fault).
	if out, code := supervisorctl(t, "-s", "unix://"+s.sock, "stop", "web"); code != 0 {
		t.Fatalf("supervisorctl stop: %d\n%s", code, out)
	}
	supervisorctl(t, "-s", "unix://"+s.sock, "start", "nosuch")
	// 3. supervisorctl over TCP, with and without the password.
	tcpURL := "http://" + s.tcp
	if out, code := supervisorctl(t, "-s", tcpURL, "-u", tcpUser, "-p", tcpPass, "start", "web"); code != 0 {
		t.Fatalf("supervisorctl over TCP: %d\n%s", code, out)
	}
	if out, code := supervisorctl(t, "-s", tcpURL, "-u", tcpUser, "-p", "wrong", "stop", "web"); code == 0 || !strings.Contains(out, "401") {
		t.Errorf("supervisorctl over TCP with a wrong password: exit %d\n%s", code, out)
	}
	resp, err := http.Post(tcpURL+"/api/v1/processes/web/stop", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("POST over TCP without auth: %s, want 401", resp.Status)
	}
	// 4. The dashboard's POST, and a refused one.
	hc := s.unixClient()
	resp, err = hc.Post("http://roost/ui/processes/web/restart", "application/x-www-form-urlencoded", strings.NewReader("csrf=x"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	req, _ := http.NewRequest(http.MethodPost, "http://roost/ui/processes/web/stop", nil)
	req.Header.Set("Origin", "http://evil.test")
	if resp, err = hc.Do(req); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	// 5. Root relaying an admin action (the master's header).
	ac, err := api.Dial(s.sock, api.WithHeader(audit.HeaderFrontEnd, audit.FrontAdmin))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ac.Stop(ctx, "web", true); err != nil {
		t.Fatal(err)
	}
	ac.Close()
	// 6. A note (roost env set), and one with a front end not allowed.
	if err := c.Call(ctx, http.MethodPost, "audit", nil, audit.Note{Front: audit.FrontEnv, Request: "env set FOO"}, nil); err != nil {
		t.Fatal(err)
	}
	if err := c.Call(ctx, http.MethodPost, "audit", nil, audit.Note{Front: audit.FrontCtl, Request: "forged"}, nil); api.CodeOf(err) != api.IncorrectParameters {
		t.Errorf("a note as ctl: %v, want INCORRECT_PARAMETERS", err)
	}

	type want struct {
		uid            int
		user, front    string
		request, outOK string // outOK: a substring of the outcome
		status         int
	}
	wants := []want{
		{uid, "", audit.FrontCtl, "restart web", "ok", 200},
		{uid, "", audit.FrontCtl, "signal HUP web", "ok", 200},
		{uid, "", audit.FrontCtl, "start all", "bad: SPAWN_ERROR", 200},
		{uid, "", audit.FrontXMLRPC, "signal USR2 web", "ok", 200},
		{uid, "", audit.FrontXMLRPC, "stop web", "ok", 200},
		{uid, "", audit.FrontXMLRPC, "start nosuch", "BAD_NAME", 200},
		{-1, tcpUser, audit.FrontXMLRPC, "start web", "ok", 200},
		{uid, "", audit.FrontDashboard, "restart web", "ok", 204},
		{uid, "", audit.FrontDashboard, "stop web", "cross-origin request refused", 403},
		{uid, "", audit.FrontAdmin, "stop web", "ok", 200},
		{uid, "", audit.FrontEnv, "env set FOO", "ok", 0},
	}
	es := s.entries(t)
	if len(es) != len(wants) {
		t.Fatalf("%d lines, want %d:\n%s", len(es), len(wants), dump(es))
	}
	for i, w := range wants {
		e := es[i]
		if uidOf(e) != w.uid || e.Front != w.front || e.Request != w.request || !strings.Contains(e.Outcome, w.outOK) || e.Status != w.status ||
			(w.user != "" && e.User != w.user) || e.Time.IsZero() {
			t.Errorf("line %d: %+v (uid %d), want %+v", i+1, e, uidOf(e), w)
		}
		if w.uid == -1 && !strings.HasPrefix(e.Remote, "127.0.0.1:") {
			t.Errorf("line %d: a TCP request without its remote address: %+v", i+1, e)
		}
		if w.uid >= 0 && e.PID <= 0 {
			t.Errorf("line %d: no caller pid: %+v", i+1, e)
		}
	}

	// roost audit reads them back: the last 2 lines, then a follow that
	// sees a new one.
	var l audit.Lines
	if err := c.Call(ctx, http.MethodGet, "audit", map[string][]string{"lines": {"2"}}, nil, &l); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(l.Data, "\n"); n != 2 || !strings.Contains(l.Data, `"env set FOO"`) {
		t.Errorf("the last 2 lines:\n%s", l.Data)
	}
	fctx, cancel := context.WithCancel(ctx)
	defer cancel()
	pr := &lineWaiter{want: `"stop web:*"`, seen: make(chan struct{})}
	followed := make(chan error, 1)
	go func() { followed <- c.Follow(fctx, "audit/follow", map[string][]string{"lines": {"0"}}, pr) }()
	testutil.Eventually(t, 30*time.Second, "the follow sees a new line", func() bool {
		c.Call(ctx, http.MethodPost, "groups/web/stop", nil, nil, nil)
		select {
		case <-pr.seen:
			return true
		default:
			return false
		}
	})
	cancel()
	if err := <-followed; err != nil {
		t.Errorf("follow: %v", err)
	}
}

// lineWaiter closes seen when what it is written contains want.
type lineWaiter struct {
	buf  bytes.Buffer
	want string
	seen chan struct{}
}

func (w *lineWaiter) Write(p []byte) (int, error) {
	w.buf.Write(p)
	if strings.Contains(w.buf.String(), w.want) {
		select {
		case <-w.seen:
		default:
			close(w.seen)
		}
	}
	return len(p), nil
}

func dump(es []audit.Entry) string {
	var b strings.Builder
	for _, e := range es {
		fmt.Fprintf(&b, "  uid %d %+v\n", uidOf(e), e)
	}
	return b.String()
}

// TestServeTCPRefusesWithoutPassword: never TCP without authentication.
func TestServeTCPRefusesWithoutPassword(t *testing.T) {
	srv := api.NewServer(apitest.New(), api.ServerOptions{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	err = srv.ServeTCP(context.Background(), ln, "admin", "")
	if err == nil || !strings.Contains(err.Error(), "without a username and password") {
		t.Errorf("ServeTCP without a password: %v", err)
	}
	if _, err := net.Dial("tcp", ln.Addr().String()); err == nil {
		t.Errorf("the listener is still open")
	}
}

// TestOpenRefusesLinks: the log is never written through a symbolic link
// or into a file that is not the caller's own with one link.
func TestOpenRefusesLinks(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "target")
	os.WriteFile(target, nil, 0o600)
	link := filepath.Join(dir, "link.log")
	os.Symlink(target, link)
	if _, err := audit.Open(link); err == nil {
		t.Errorf("opened a symbolic link")
	}
	hard := filepath.Join(dir, "hard.log")
	os.Link(target, hard)
	if _, err := audit.Open(hard); err == nil {
		t.Errorf("opened a file with two links")
	}
	l, err := audit.Open(filepath.Join(dir, "audit.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	fi, _ := os.Stat(l.Path())
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", fi.Mode().Perm())
	}
	// A request naming a control character or a huge name stays one line.
	l.Record(audit.Entry{Front: audit.FrontCtl, Request: "restart a\nb\x1b[2J" + strings.Repeat("x", 5000), Outcome: audit.OK})
	data, _ := os.ReadFile(l.Path())
	if strings.Count(string(data), "\n") != 1 || strings.Contains(string(data), `\u001b`) || len(data) > 1000 {
		t.Errorf("one line, bounded, without control characters: %q", data)
	}
}
