package master

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"roost/audit"
	"roost/internal/testutil"
)

// TestE2EAudit: one state-changing request through each front end of a
// real user's supervisor under the real master (roost's ctl, the real
// supervisorctl over the socket and over [inet_http_server]'s TCP with the
// password, a POST under /ui/ as the dashboard makes it, a note of roost
// env set, root through the master's admin socket), each found in the
// right audit log with the right caller and front end; TCP without the
// password is refused with 401, and a file whose [inet_http_server] has no
// password is refused with its file:line.
func TestE2EAudit(t *testing.T) {
	ctlBin := testutil.RequireBinary(t, "supervisorctl")
	curl := testutil.RequireBinary(t, "curl")
	e := newEnv(t, testutil.UserA)
	alice := e.users[0]
	port := testutil.FreePort(t)
	pass := fmt.Sprintf("pw-%d", port)
	conf := fmt.Sprintf("[supervisord]\n[inet_http_server]\nport=127.0.0.1:%d\nusername=alice-tcp\npassword=%s\n"+
		"[program:web]\ncommand=/bin/sleep 1000\nstartsecs=0\n", port, pass)
	e.writeProject(alice, conf)
	logDir := filepath.Join(e.project, "log") // alice's audit.log, this test's own
	e.writeConf([]string{alice.Name}, "log_dir = "+strconv.Quote(logDir)+"\n")
	x := startMaster(t, e)
	x.waitUser(t, alice.Name, 30*time.Second, "running its program", func(s UserStatus) bool { return running(s) && s.ProgramsRunning == 1 })
	sock := filepath.Join(e.runDir, "users", alice.Name, SocketName)
	tcpURL := fmt.Sprintf("http://127.0.0.1:%d", port)
	asAlice := func(name string, args ...string) string {
		t.Helper()
		cmd := asUser(alice, name, args...)
		cmd.Env = append(cmd.Env, "LANG=C.UTF-8", "XDG_CONFIG_HOME="+filepath.Join(alice.Home, e.project, ".config"))
		out, code := exitOf(t, cmd)
		if code != 0 {
			t.Errorf("%s %v as %s: exit %d\n%s", name, args, alice.Name, code, out)
		}
		return out
	}

	// 1. roost's ctl (the JSON API), as alice: roost restart is a stop and
	// a start, as supervisorctl's.
	asAlice(x.bin, "-s", sock, "restart", "web")
	asAlice(x.bin, "-s", sock, "signal", "CONT", "web")
	// 2. the real supervisorctl over the socket, as alice.
	asAlice(ctlBin, "-s", "unix://"+sock, "stop", "web")
	// 3. the real supervisorctl over TCP, with the password; without it: 401.
	asAlice(ctlBin, "-s", tcpURL, "-u", "alice-tcp", "-p", pass, "start", "web")
	resp, err := http.Post(tcpURL+"/RPC2", "text/xml", strings.NewReader(
		"<?xml version='1.0'?><methodCall><methodName>supervisor.stopProcess</methodName><params><param><value><string>web</string></value></param></params></methodCall>"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("XML-RPC over TCP without the password: %s, want 401", resp.Status)
	}
	// 4. the dashboard's restart button, as the page posts it, as alice:
	// the page's CSRF token, a same-origin Origin, the form's fields.
	page := asAlice(curl, "-sS", "--unix-socket", sock, "http://roost/ui/")
	m := regexp.MustCompile(`name="roost-csrf" content="([0-9a-f]+)"`).FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no CSRF token in the dashboard's page:\n%s", page)
	}
	asAlice(curl, "-sS", "-o", "/dev/null", "--unix-socket", sock, "-H", "Origin: http://roost",
		"--data-urlencode", "csrf="+m[1], "--data-urlencode", "target=web", "--data-urlencode", "action=restart",
		"http://roost/ui/action")
	// 5. roost env set: the change is a note through the socket.
	asAlice(x.bin, "-s", sock, "env", "set", "AUDIT_E2E=1")
	// 6. root through the master's admin socket: an upgrade in place
	// (relayed to alice's supervisor), then a restart of her supervisor.
	if out, code := x.roost(t, "admin", "upgrade", alice.Name); code != 0 {
		t.Fatalf("roost admin upgrade: exit %d\n%s", code, out)
	}
	if out, code := x.roost(t, "admin", "restart", alice.Name); code != 0 {
		t.Fatalf("roost admin restart: exit %d\n%s", code, out)
	}

	// alice reads her own log with roost audit, as alice.
	x.waitUser(t, alice.Name, 30*time.Second, "restarted", running)
	var out string
	testutil.Eventually(t, 30*time.Second, "roost audit answers after the restart", func() bool {
		cmd := asUser(alice, x.bin, "-s", sock, "audit", "--json", "-n", "100")
		var code int
		out, code = exitOf(t, cmd)
		return code == 0
	})
	type want struct {
		uid            int
		user, front    string
		request, outOK string
	}
	check := func(where string, entries []audit.Entry, wants []want) {
		t.Helper()
		for _, w := range wants {
			found := false
			for _, e := range entries {
				uid := -1
				if e.UID != nil {
					uid = *e.UID
				}
				if uid == w.uid && e.User == w.user && e.Front == w.front && e.Request == w.request && strings.Contains(e.Outcome, w.outOK) {
					found = true
				}
			}
			if !found {
				t.Errorf("%s: no line %+v in:\n%s", where, w, dumpEntries(entries))
			}
		}
	}
	check("alice's audit.log (roost audit --json)", parseEntries(t, out), []want{
		{alice.UID, alice.Name, audit.FrontCtl, "stop web", "ok"},
		{alice.UID, alice.Name, audit.FrontCtl, "start web", "ok"},
		{alice.UID, alice.Name, audit.FrontCtl, "signal CONT web", "ok"},
		{alice.UID, alice.Name, audit.FrontXMLRPC, "stop web", "ok"},
		{-1, "alice-tcp", audit.FrontXMLRPC, "start web", "ok"},
		{alice.UID, alice.Name, audit.FrontDashboard, "restart web", "ok"},
		{alice.UID, alice.Name, audit.FrontEnv, "env set AUDIT_E2E", "ok"},
		{0, "root", audit.FrontAdmin, "upgrade", "ok"},
	})
	for _, e := range parseEntries(t, out) {
		if e.Remote != "" && e.Request != "start web" {
			t.Errorf("the refused TCP request was recorded: %+v", e)
		}
	}
	// The table, as alice reads it by default.
	table := asAlice(x.bin, "-s", sock, "audit")
	if !strings.Contains(table, "FRONT") || !strings.Contains(table, "alice-tcp@tcp") {
		t.Errorf("roost audit:\n%s", table)
	}
	// The file is alice's, 0600, in her log directory.
	path := filepath.Join(alice.Home, logDir, audit.FileName)
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("%s: %v %v, want mode 0600", path, fi, err)
	}

	// The master's copy: root's, in state_dir, which alice cannot write.
	mpath := filepath.Join(e.stateDir, audit.FileName)
	data, err := os.ReadFile(mpath)
	if err != nil {
		t.Fatal(err)
	}
	check("the master's audit.log", parseEntries(t, string(data)), []want{
		{0, "root", audit.FrontAdmin, "upgrade " + alice.Name, "ok"},
		{0, "root", audit.FrontAdmin, "restart user " + alice.Name, "ok"},
	})
	if fi, err := os.Stat(mpath); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("%s: %v %v, want mode 0600", mpath, fi, err)
	}
	if out, code := exitOf(t, asUser(alice, "/bin/sh", "-c", "echo forged >> "+mpath)); code == 0 {
		t.Errorf("alice appended to the master's audit log\n%s", out)
	}

	// A file whose [inet_http_server] has no password: roost check and a
	// plain roost run refuse it, naming the file and line and the fix.
	bad := filepath.Join(alice.Home, e.project, "nopass.conf")
	if err := os.WriteFile(bad, []byte("[supervisord]\n[inet_http_server]\nport=127.0.0.1:9001\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"check", "-c", bad}, {"run", "-c", bad}} {
		out, code := exitOf(t, asUser(alice, x.bin, args...))
		if code == 0 || !strings.Contains(out, "nopass.conf:2") || !strings.Contains(out, "set username= and password=") {
			t.Errorf("roost %v: exit %d\n%s", args, code, out)
		}
	}
}

func parseEntries(t *testing.T, s string) []audit.Entry {
	t.Helper()
	var es []audit.Entry
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if !strings.HasPrefix(line, "{") {
			continue
		}
		var e audit.Entry
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Errorf("not an audit line: %q: %v", line, err)
			continue
		}
		es = append(es, e)
	}
	return es
}

func dumpEntries(es []audit.Entry) string {
	var b strings.Builder
	for _, e := range es {
		uid := -1
		if e.UID != nil {
			uid = *e.UID
		}
		fmt.Fprintf(&b, "  uid=%d user=%s front=%s request=%q outcome=%q status=%d\n", uid, e.User, e.Front, e.Request, e.Outcome, e.Status)
	}
	return b.String()
}
