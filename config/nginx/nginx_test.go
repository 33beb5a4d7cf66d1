package nginx

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"roost/internal/testutil"
)

// nginxPrefix writes a minimal main configuration into a fresh directory that
// includes conf (as roost.conf) in its http block, after extraHTTP. Every path
// nginx writes (pid, logs, temp files) lies inside the directory.
func nginxPrefix(t testing.TB, conf []byte, extraMain, extraHTTP string) string {
	t.Helper()
	dir := t.TempDir()
	for _, d := range []string{dir, filepath.Dir(dir)} {
		// Workers run as nobody when the test is root; they need to reach
		// the temp paths.
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	testutil.NginxMain(t, dir, extraMain, extraHTTP+"\n    include "+filepath.Join(dir, "roost.conf")+";")
	if err := os.WriteFile(filepath.Join(dir, "roost.conf"), conf, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// nginxT runs the real `nginx -t` on a prefix made by nginxPrefix.
func nginxT(t testing.TB, dir string) (string, error) {
	t.Helper()
	cmd := exec.Command(testutil.Nginx(t), "-t", "-q", "-p", dir, "-c", filepath.Join(dir, "nginx.conf"), "-e", filepath.Join(dir, "error.log"))
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// mainUser is the `user` directive for the main configuration: nginx ignores
// it (with a warning) unless it runs as root.
func mainUser() string {
	if os.Geteuid() == 0 {
		return "user nobody nogroup;"
	}
	return ""
}

// unprivileged moves listen ports below 1024 up by 18000 when the test does
// not run as root: nginx -t binds the listen addresses.
func unprivileged(in Input) Input {
	if os.Geteuid() == 0 {
		return in
	}
	listen := make([]string, len(in.Policy.Listen))
	for i, l := range in.Policy.Listen {
		host, port := "", l
		if j := strings.LastIndexByte(l, ':'); j >= 0 {
			host, port = l[:j+1], l[j+1:]
		}
		if n, err := strconv.Atoi(port); err == nil && n < 1024 {
			port = strconv.Itoa(n + 18000)
		}
		listen[i] = host + port
	}
	in.Policy.Listen = listen
	in.TLS.Listen = slices.Clone(in.TLS.Listen)
	for i, l := range in.TLS.Listen {
		if n, err := strconv.Atoi(l); err == nil && n < 1024 {
			in.TLS.Listen[i] = strconv.Itoa(n + 18000)
		}
	}
	return in
}

// withTestCerts points every certificate of in at one real self-signed
// certificate and key in a temporary directory, so nginx -t can load them.
func withTestCerts(t *testing.T, in Input) Input {
	if len(in.TLS.Certs) == 0 {
		return in
	}
	_, chain, key := testutil.LoopbackCA(t, t.TempDir())
	ct := Cert{Chain: chain, Key: key}
	certs := map[string]Cert{}
	for h := range in.TLS.Certs {
		certs[h] = ct
	}
	in.TLS.Certs = certs
	return in
}

// Every golden output passes the real nginx -t.
func TestGoldenNginxT(t *testing.T) {
	testutil.Nginx(t)
	for _, g := range loadGoldens(t) {
		t.Run(g.name, func(t *testing.T) {
			conf, _, err := Render(withTestCerts(t, unprivileged(g.in)))
			if err != nil {
				t.Fatal(err)
			}
			dir := nginxPrefix(t, conf, mainUser(), "")
			if out, err := nginxT(t, dir); err != nil {
				t.Fatalf("nginx -t: %v\n%s\n%s", err, out, conf)
			}
		})
	}
}

// The renderer's server_names_hash limit is nginx's: the longest name it
// accepts passes nginx -t, and one character more fails nginx -t when forced
// into a hand-written configuration.
func TestHashLimitMatchesNginx(t *testing.T) {
	testutil.Nginx(t)
	for _, bucket := range []int{0, 128} {
		t.Run(strconv.Itoa(bucket), func(t *testing.T) {
			limit := hashLimit(bucket)
			const suffix = ".alice.example.test"
			// host returns an n-character name made of labels of at most 40.
			host := func(n int) string {
				var labels []string
				for m := n - len(suffix); m > 0; {
					if len(labels) > 0 {
						m-- // the dot before this label
					}
					l := min(m, 40)
					if m-l == 1 {
						l-- // leave room for a dot and a character
					}
					labels = append(labels, strings.Repeat("a", l))
					m -= l
				}
				return strings.Join(labels, ".") + suffix
			}
			if len(host(limit)) != limit || len(host(limit+1)) != limit+1 {
				t.Fatalf("host(%d) has length %d", limit, len(host(limit)))
			}
			in := Input{
				Policy: Policy{Listen: []string{"8080"}, Hosts: []string{"*.{user}.example.test"}, ServerNamesHashBucketSize: bucket},
				Users: []User{{Name: "alice", ProjectDir: "/home/alice", Routes: []Route{
					{Section: "proxy:fits", Hosts: []string{host(limit)}, Upstreams: []string{"127.0.0.1:8000"}},
					{Section: "proxy:long", Hosts: []string{host(limit + 1)}, Upstreams: []string{"127.0.0.1:8001"}},
				}}},
			}
			conf, ws, err := Render(in)
			if err != nil {
				t.Fatal(err)
			}
			if len(ws) != 2 || !strings.Contains(ws[0].Message, "server_names_hash_bucket_size") {
				t.Fatalf("want the long host and its route rejected, got %v", ws)
			}
			dir := nginxPrefix(t, conf, mainUser(), "")
			if out, err := nginxT(t, dir); err != nil {
				t.Fatalf("nginx -t refuses the longest accepted name: %v\n%s", err, out)
			}
			forced := string(conf) + fmt.Sprintf("server { listen 8080; server_name %q; }\n", host(limit+1))
			dir = nginxPrefix(t, []byte(forced), mainUser(), "")
			out, err := nginxT(t, dir)
			if err == nil || !strings.Contains(out, "server_names_hash_bucket_size") {
				t.Fatalf("nginx -t accepted a name one longer than the limit (%v): %s", err, out)
			}
		})
	}
}

var reConfLine = regexp.MustCompile(`roost\.conf:(\d+)`)

// When nginx -t fails on a line of the rendered file, Blame names the user and
// section: here the main configuration already has an upstream with the name
// bob's route uses.
func TestBlameNginxError(t *testing.T) {
	testutil.Nginx(t)
	conf, _, err := Render(unprivileged(readInput(t, "testdata/basic.in.json")))
	if err != nil {
		t.Fatal(err)
	}
	dir := nginxPrefix(t, conf, mainUser(), "    upstream roost_bob_web { server 127.0.0.1:1; }\n")
	out, err := nginxT(t, dir)
	if err == nil {
		t.Fatal("nginx -t accepted a duplicate upstream")
	}
	m := reConfLine.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no roost.conf line in nginx's error: %s", out)
	}
	line, _ := strconv.Atoi(m[1])
	user, section, ok := Blame(conf, line)
	if !ok || user != "bob" || section != "proxy:web" {
		t.Fatalf("Blame(%d) = %q %q %v for %s", line, user, section, ok, out)
	}
}
