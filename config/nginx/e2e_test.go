package nginx

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"roost/internal/testutil"
)

// startNginx runs nginx in the foreground on prefix dir, serving on ln. The
// listening socket is handed over through nginx's own inheritance mechanism
// (the NGINX environment variable, as in a binary upgrade), so it accepts
// connections before nginx starts: no port race and no readiness polling.
func startNginx(t *testing.T, dir string, ln *net.TCPListener) {
	t.Helper()
	f, err := ln.File()
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cmd := exec.Command(testutil.Nginx(t), "-p", dir, "-c", filepath.Join(dir, "nginx.conf"), "-e", filepath.Join(dir, "error.log"))
	cmd.ExtraFiles = []*os.File{f} // fd 3
	cmd.Env = append(os.Environ(), "NGINX=3;")
	out := &testutil.Buffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start nginx: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-done
			t.Errorf("nginx did not stop on SIGTERM within 15s")
		}
		if t.Failed() {
			log, _ := os.ReadFile(filepath.Join(dir, "error.log"))
			t.Logf("nginx output:\n%s\nerror.log:\n%s", out.String(), log)
		}
	})
}

// mkdirOwned creates a directory owned by a.
func mkdirOwned(t *testing.T, p string, a testutil.Account) {
	t.Helper()
	if err := os.Mkdir(p, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(p, a.UID, a.GID); err != nil {
		t.Fatal(err)
	}
}

func writeOwned(t *testing.T, p, content string, a testutil.Account) {
	t.Helper()
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(p, a.UID, a.GID); err != nil {
		t.Fatal(err)
	}
}

// symlinkOwned creates a symlink owned by a, as if a had created it.
func symlinkOwned(t *testing.T, target, p string, a testutil.Account) {
	t.Helper()
	if err := os.Symlink(target, p); err != nil {
		t.Fatal(err)
	}
	if err := os.Lchown(p, a.UID, a.GID); err != nil {
		t.Fatal(err)
	}
}

// backend is a user's program: it names itself and echoes what nginx sent.
// A request asking for a WebSocket upgrade is switched and echoed byte for byte.
func backend(name string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") == "websocket" && strings.EqualFold(r.Header.Get("Connection"), "upgrade") {
			conn, rw, err := http.NewResponseController(w).Hijack()
			if err != nil {
				return
			}
			defer conn.Close()
			fmt.Fprint(rw, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
			_ = rw.Flush()
			_, _ = io.Copy(conn, rw)
			return
		}
		fmt.Fprintf(w, "%s host=%s xff=%s proto=%s path=%s", name, r.Host,
			r.Header.Get("X-Forwarded-For"), r.Header.Get("X-Forwarded-Proto"), r.URL.Path)
	})
}

// TestServeEndToEnd runs the real nginx on a rendered configuration with two
// real users' projects and real backends: Host-based routing, wildcards,
// unknown hosts, static files and symlinks under if_not_owner, the health
// location, WebSocket upgrade over a unix socket and failover to the live
// process of a numprocs program.
func TestServeEndToEnd(t *testing.T) {
	testutil.Nginx(t)
	alice := testutil.RequireUser(t, testutil.UserA)
	bob := testutil.RequireUser(t, testutil.UserB)

	base := t.TempDir()
	for _, d := range []string{base, filepath.Dir(base)} {
		if err := os.Chmod(d, 0o755); err != nil { // nginx workers run as nobody
			t.Fatal(err)
		}
	}
	aliceProj := filepath.Join(base, "alice")
	bobProj := filepath.Join(base, "bob")
	runDir := filepath.Join(base, "run-alice")
	mkdirOwned(t, aliceProj, alice)
	mkdirOwned(t, bobProj, bob)
	mkdirOwned(t, runDir, alice)
	static := filepath.Join(aliceProj, "static")
	mkdirOwned(t, static, alice)
	writeOwned(t, filepath.Join(static, "hello.txt"), "hello from alice's static files\n", alice)
	writeOwned(t, filepath.Join(aliceProj, "supervisord.conf"), "[program:web]\n", alice)
	writeOwned(t, filepath.Join(bobProj, "secret.txt"), "bob's secret\n", bob)
	symlinkOwned(t, "hello.txt", filepath.Join(static, "same-owner"), alice)
	symlinkOwned(t, "/etc/passwd", filepath.Join(static, "passwd"), alice)
	symlinkOwned(t, filepath.Join(bobProj, "secret.txt"), filepath.Join(static, "bobs"), alice)
	symlinkOwned(t, "/etc", filepath.Join(static, "etc"), alice)
	// Projects are usually reached through a symlink (~/current ->
	// releases/N). alice's is her own; bob's points into alice's project.
	aliceCurrent := filepath.Join(base, "alice-current")
	bobCurrent := filepath.Join(base, "bob-current")
	symlinkOwned(t, aliceProj, aliceCurrent, alice)
	symlinkOwned(t, aliceProj, bobCurrent, bob)

	a0 := httptest.NewServer(backend("alice-0"))
	t.Cleanup(a0.Close)
	a1 := httptest.NewServer(backend("alice-1"))
	t.Cleanup(a1.Close)
	b0 := httptest.NewServer(backend("bob-0"))
	t.Cleanup(b0.Close)
	sock := filepath.Join(runDir, "chat.sock")
	ul, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(sock, 0o777); err != nil { // workers (nobody) connect to it
		t.Fatal(err)
	}
	chat := &http.Server{Handler: backend("chat")}
	go func() { _ = chat.Serve(ul) }()
	t.Cleanup(func() { _ = chat.Close() })

	ln, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	addr := ln.Addr().String()

	in := Input{
		Policy: Policy{Listen: []string{addr}, Hosts: []string{"{user}.example.test", "*.{user}.example.test"}},
		Users: []User{
			{Name: alice.Name, ProjectDir: aliceCurrent, RunDir: runDir, Routes: []Route{
				{
					Section: "proxy:web", Program: "web", Hosts: []string{alice.Name + ".example.test"},
					Static:     []Static{{Prefix: "/static/", Dir: "static"}},
					HealthPath: "/healthz",
					Upstreams:  []string{a0.Listener.Addr().String(), a1.Listener.Addr().String()},
				},
				{
					Section: "proxy:chat", Program: "chat", Hosts: []string{"chat." + alice.Name + ".example.test"},
					Websocket: true, Upstreams: []string{"unix:" + sock},
				},
			}},
			{Name: bob.Name, ProjectDir: bobCurrent, Routes: []Route{
				{
					Section: "proxy:web", Program: "web",
					Hosts:     []string{bob.Name + ".example.test", "*." + bob.Name + ".example.test"},
					Static:    []Static{{Prefix: "/static/", Dir: "static"}},
					Upstreams: []string{b0.Listener.Addr().String()},
				},
				{
					Section: "proxy:steal", Program: "web", Hosts: []string{alice.Name + ".example.test"},
					Upstreams: []string{b0.Listener.Addr().String()},
				},
			}},
		},
	}
	conf, ws, err := Render(in)
	if err != nil {
		t.Fatal(err)
	}
	if len(ws) != 2 || ws[0].User != bob.Name || ws[0].Section != "proxy:steal" {
		t.Fatalf("want bob's steal route refused, got:\n%s", warningLines(ws))
	}
	dir := nginxPrefix(t, conf, "user nobody nogroup;\ndaemon off;\nworker_processes 1;", "")
	if out, err := nginxT(t, dir); err != nil {
		t.Fatalf("nginx -t: %v\n%s", err, out)
	}
	startNginx(t, dir, ln)

	client := &http.Client{
		Timeout: 20 * time.Second,
		Transport: &http.Transport{
			DisableKeepAlives: true,
			DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				return (&net.Dialer{}).DialContext(ctx, "tcp", addr)
			},
		},
	}
	get := func(host, path string) (int, string) {
		t.Helper()
		req, err := http.NewRequest("GET", "http://"+host+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("GET %s%s: %v", host, path, err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	aliceHost := alice.Name + ".example.test"

	t.Run("routing", func(t *testing.T) {
		code, body := get(aliceHost, "/app")
		if code != 200 || !strings.HasPrefix(body, "alice-") ||
			!strings.Contains(body, "host="+aliceHost) || !strings.Contains(body, "xff=127.0.0.1") ||
			!strings.Contains(body, "proto=http") {
			t.Errorf("alice: %d %q", code, body)
		}
		for _, h := range []string{bob.Name + ".example.test", "deep.sub." + bob.Name + ".example.test"} {
			if code, body := get(h, "/"); code != 200 || !strings.HasPrefix(body, "bob-0 host="+h) {
				t.Errorf("%s: %d %q", h, code, body)
			}
		}
		for _, h := range []string{"unknown.example.test", aliceHost + ".evil.test", "127.0.0.1", "example.test"} {
			if code, body := get(h, "/"); code != unknownHostStatus || strings.Contains(body, "host=") {
				t.Errorf("unclaimed host %s reached a program or got %d: %q", h, code, body)
			}
		}
	})

	t.Run("static", func(t *testing.T) {
		want := "hello from alice's static files\n"
		if code, body := get(aliceHost, "/static/hello.txt"); code != 200 || body != want {
			t.Errorf("static file: %d %q", code, body)
		}
		if code, body := get(aliceHost, "/static/same-owner"); code != 200 || body != want {
			t.Errorf("symlink to alice's own file: %d %q", code, body)
		}
		// if_not_owner refuses a symlink whose target has another owner,
		// at any component: a file, a directory, or the project path.
		for _, p := range []string{"/static/passwd", "/static/bobs", "/static/etc/passwd"} {
			code, body := get(aliceHost, p)
			if code == 200 || strings.Contains(body, "root:") || strings.Contains(body, "secret") {
				t.Errorf("%s: symlink to another owner's file was served: %d %q", p, code, body)
			}
		}
		if code, body := get(bob.Name+".example.test", "/static/hello.txt"); code == 200 || strings.Contains(body, "hello") {
			t.Errorf("bob's project symlinked into alice's was served: %d %q", code, body)
		}
		if code, body := get(aliceHost, "/static/missing.txt"); code != 404 || strings.Contains(body, "host=") {
			t.Errorf("missing static file: %d %q (must not fall through to the program)", code, body)
		}
		// The alias pitfall: without trailing slashes this would read the
		// project's parent.
		if code, body := get(aliceHost, "/static../supervisord.conf"); strings.Contains(body, "[program") {
			t.Errorf("alias traversal: %d %q", code, body)
		}
	})

	t.Run("health", func(t *testing.T) {
		if code, body := get(aliceHost, "/healthz"); code != 200 || !strings.Contains(body, "path=/healthz") {
			t.Fatalf("health: %d %q", code, body)
		}
		if code, _ := get(aliceHost, "/after-health"); code != 200 {
			t.Fatalf("after health: %d", code)
		}
		// The access log line is written when the request ends, which may be
		// just after the client has the response.
		logFile := filepath.Join(dir, "access.log")
		deadline := time.Now().Add(10 * time.Second)
		var log []byte
		for {
			log, _ = os.ReadFile(logFile)
			if bytes.Contains(log, []byte("/after-health")) || time.Now().After(deadline) {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		if !bytes.Contains(log, []byte("/after-health")) || bytes.Contains(log, []byte("/healthz")) {
			t.Errorf("access log should hold /after-health and not /healthz:\n%s", log)
		}
	})

	t.Run("websocket over a unix socket", func(t *testing.T) {
		conn, err := net.DialTimeout("tcp", addr, 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		_ = conn.SetDeadline(time.Now().Add(20 * time.Second))
		fmt.Fprintf(conn, "GET /ws HTTP/1.1\r\nHost: chat.%s.example.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n", alice.Name)
		br := bufio.NewReader(conn)
		status, err := br.ReadString('\n')
		if err != nil || !strings.HasPrefix(status, "HTTP/1.1 101") {
			t.Fatalf("status %q: %v", status, err)
		}
		for {
			l, err := br.ReadString('\n')
			if err != nil {
				t.Fatal(err)
			}
			if l == "\r\n" {
				break
			}
		}
		fmt.Fprint(conn, "ping through nginx\n")
		echo, err := br.ReadString('\n')
		if err != nil || echo != "ping through nginx\n" {
			t.Fatalf("echo %q: %v", echo, err)
		}
	})

	t.Run("failover to the live process", func(t *testing.T) {
		a1.Close()
		for i := 0; i < 6; i++ {
			if code, body := get(aliceHost, "/"); code != 200 || !strings.HasPrefix(body, "alice-0") {
				t.Fatalf("request %d with one process down: %d %q", i, code, body)
			}
		}
	})
}
