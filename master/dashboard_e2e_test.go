package master

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"roost/audit"
	"strings"
	"testing"
	"time"

	"roost/internal/testutil"
)

// TestE2EDashboardThroughTheAdminSocket: root reaches a user's dashboard
// at /admin/v1/users/NAME/ui/ on the master's socket, and its buttons
// (CSRF token and same-origin check included) act on the user's
// supervisor.
func TestE2EDashboardThroughTheAdminSocket(t *testing.T) {
	e := newEnv(t, testutil.UserA)
	alice := e.users[0]
	e.writeProject(alice, sleepConf(1500))
	e.writeConf([]string{alice.Name}, "")
	x := startMaster(t, e)
	x.waitUser(t, alice.Name, 30*time.Second, "running its program", func(s UserStatus) bool { return running(s) && s.ProgramsRunning == 1 })

	sock := filepath.Join(e.runDir, AdminSocketName)
	hc := unixHTTPClient(sock)
	base := "http://roost" + adminPrefix + "/users/" + alice.Name + "/ui/"
	get := func(u string) (int, string) {
		resp, err := hc.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	code, page := get(base)
	m := regexp.MustCompile(`name="roost-csrf" content="([0-9a-f]+)"`).FindStringSubmatch(page)
	if code != 200 || !strings.Contains(page, `data-name="web"`) || m == nil {
		t.Fatalf("GET %s: %d\n%s", base, code, page)
	}
	if code, _ := get("http://roost" + adminPrefix + "/users/nobody-here/ui/"); code != 404 {
		t.Errorf("an unknown user's dashboard: %d", code)
	}
	pid := func() string {
		out, code := x.roost(t, "--user", alice.Name, "pid", "web")
		if code != 0 {
			t.Fatalf("roost --user %s pid web: exit %d %s", alice.Name, code, out)
		}
		return strings.TrimSpace(out)
	}
	before := pid()
	post := func(origin string) int {
		form := url.Values{"target": {"web"}, "action": {"restart"}, "csrf": {m[1]}}
		req, _ := http.NewRequest("POST", base+"action", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Accept", "application/json")
		req.Header.Set("Origin", origin)
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := post("http://evil.example"); code != 403 || pid() != before {
		t.Errorf("a cross-origin POST through the master: %d", code)
	}
	if code := post("http://roost"); code != 200 {
		t.Fatalf("a same-origin POST through the master: %d", code)
	}
	if after := pid(); after == before || after == "0" {
		t.Errorf("restart through the master: pid %s → %s", before, after)
	}
	// Root's click is in the master's audit log, and in alice's as root
	// acting through the master (front end admin), named by the form.
	data, err := os.ReadFile(filepath.Join(e.stateDir, audit.FileName))
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, en := range parseEntries(t, string(data)) {
		found = found || (en.Front == audit.FrontAdmin && en.Request == "dashboard action user "+alice.Name && en.Outcome == "ok")
	}
	if !found {
		t.Errorf("no dashboard action of root in the master's audit log:\n%s", data)
	}
	testutil.Eventually(t, 10*time.Second, "root's restart in alice's audit log", func() bool {
		out, code := x.roost(t, "--user", alice.Name, "audit", "--json", "-n", "1000")
		if code != 0 {
			return false
		}
		for _, en := range parseEntries(t, out) {
			if en.Front == audit.FrontAdmin && en.Request == "restart web" && en.UID != nil && *en.UID == 0 && en.Outcome == "ok" {
				return true
			}
		}
		return false
	})
}

// unixHTTPClient is an HTTP client whose every request goes to the unix
// socket path (the host in the URL is only a name).
func unixHTTPClient(path string) *http.Client {
	return &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", path)
	}}}
}
