package master

import (
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"roost/internal/testutil"
)

// Issue 20, as a real user under the real master: roost-alice's
// supervisor, started by `roost master`, runs the services she adds with
// `roost service add` (redis, postgres, MariaDB as `mysql`). Each answers
// its own client through the URL `roost service info --json` prints, from
// a port of her block that is neither a proxied program's nor its
// blue-green spare; a key or row survives `roost restart NAME`, dump and
// restore, a restart of her supervisor through the master (`roost admin
// restart`) and a restart of the master itself; roost-bob is refused (no
// password over TCP, no way into the socket directory); a program
// restarted by add sees DATABASE_URL and REDIS_URL; remove keeps a final
// dump and unsets the variable. roost.toml's config_dir and services_dir
// keep her services file, variables and data in the test's directory, so
// her real ~/.config/roost and ~/services (which other tests' supervisors
// of roost-alice read) never see them.
func TestE2EServices(t *testing.T) {
	e := newEnv(t, testutil.UserA)
	alice := e.users[0]
	bob := testutil.RequireUser(t, testutil.UserB)
	redisCli := testutil.RequireBinary(t, "redis-cli")
	testutil.RequireBinary(t, "redis-server")
	psql := testutil.RequireBinary(t, "psql")
	testutil.RequireBinary(t, "python3")
	mariadbCli := testutil.RequireBinary(t, "mariadb")
	_, err := os.Stat("/usr/sbin/mariadbd")
	testutil.Require(t, err == nil, "mariadb-server (/usr/sbin/mariadbd) is installed")
	pgs, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	testutil.Require(t, len(pgs) > 0, "postgresql (initdb) is installed")

	// Everything of the test in alice's home is under base, hers, removed
	// by newEnv's cleanup after the master has stopped.
	base := e.project
	top := filepath.Join(alice.Home, base)
	if err := os.MkdirAll(top, 0o755); err != nil {
		t.Fatal(err)
	}
	os.Chown(top, alice.UID, alice.GID)
	e.project = filepath.Join(base, "current")
	ports := freeRange(t)
	const perUser = 8
	e.writeConf([]string{alice.Name}, fmt.Sprintf("log_dir = %q\nconfig_dir = %q\nservices_dir = %q\n[ports]\nrange = \"%d-%d\"\nper_user = %d\n",
		filepath.Join(base, "log"), filepath.Join(base, "config"), filepath.Join(base, "services"), ports, ports+99, perUser))
	// app writes the URLs it was started with; web is proxied, so its
	// restarts (each add's) alternate to a spare port at the top of the
	// block, once it answers there.
	appEnv := filepath.Join(top, "app.env")
	e.writeProject(alice, fmt.Sprintf(`[program:app]
command=/bin/sh -c 'env | grep _URL= > %s; exec sleep 1000'
startsecs=0
[program:web]
command=python3 -m http.server %%(ENV_PORT)s --bind 127.0.0.1 --directory /nonexistent
startsecs=0
stdout_logfile=NONE
stderr_logfile=NONE
[proxy:web]
hosts = %s.example.test
`, appEnv, alice.Name))
	realFiles := []string{filepath.Join(alice.Home, ".config", "roost", "services.conf"), filepath.Join(alice.Home, "services", "db"),
		filepath.Join(alice.Home, "services", "cache"), filepath.Join(alice.Home, "services", "my")}
	for _, f := range realFiles {
		if _, err := os.Stat(f); err == nil {
			t.Logf("%s is there before the test (another run's?)", f)
		}
	}

	x := startMaster(t, e)
	st := x.waitUser(t, alice.Name, 60*time.Second, "running with app and web", func(s UserStatus) bool {
		return running(s) && s.ProgramsRunning == 2
	})
	if st.PortBase != ports || st.PortCount != perUser {
		t.Fatalf("alice's block %d+%d, want %d+%d", st.PortBase, st.PortCount, ports, perUser)
	}
	spare := ports + perUser - 1
	sock := filepath.Join(e.runDir, "users", alice.Name, SocketName)

	// as runs argv as alice (her real HOME; ROOST_SOCKET names her
	// supervisor's socket, which the test's run_dir holds) and fails the
	// test when its success is not wantOK.
	as := func(who testutil.Account, wantOK bool, argv ...string) string {
		t.Helper()
		cmd := asUser(who, argv[0], argv[1:]...)
		cmd.Env = append(cmd.Env, "ROOST_SOCKET="+sock)
		out, code := exitOf(t, cmd)
		if (code == 0) != wantOK {
			t.Fatalf("%s as %s: exit %d (want success %v):\n%s", strings.Join(argv, " "), who.Name, code, wantOK, out)
		}
		return out
	}
	roost := func(wantOK bool, args ...string) string {
		t.Helper()
		return as(alice, wantOK, append([]string{x.bin}, args...)...)
	}
	type info struct {
		Name, Kind, URL, Var, State string
		Port                        int
		Socket                      string `json:"socket_dir"`
		DataDir                     string `json:"data_dir"`
	}
	serviceInfo := func(name string) info {
		t.Helper()
		var i info
		out := roost(true, "service", "info", name, "--json")
		if err := json.Unmarshal([]byte(out), &i); err != nil {
			t.Fatalf("roost service info %s --json: %v:\n%s", name, err, out)
		}
		if i.State != "RUNNING" || i.Port < ports || i.Port >= ports+perUser || i.Port == spare || i.Port == ports {
			t.Errorf("%s: %+v: want RUNNING on a port of %d-%d that is neither web's %d nor its spare %d", name, i, ports, ports+perUser-1, ports, spare)
		}
		if !strings.HasPrefix(i.DataDir, filepath.Join(top, "services", name)+"/") {
			t.Errorf("%s's data in %s, want it under roost.toml's services_dir %s", name, i.DataDir, filepath.Join(top, "services"))
		}
		return i
	}

	// Refused before anything is made: a bad name, an unknown type, a name
	// her programs use, a service that is not there, root.
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"add", "redis", "../x"}, "is not a service name"},
		{[]string{"add", "oracle", "db"}, "unknown type \"oracle\": use mariadb, mysql, postgres, redis"},
		{[]string{"add", "redis", "web"}, "already runs a program \"web\""},
		{[]string{"add", "redis"}, "give TYPE NAME"},
		{[]string{"info", "nothere"}, "no such service"},
	} {
		if out := roost(false, append([]string{"service"}, c.args...)...); !strings.Contains(out, c.want) {
			t.Errorf("roost service %s: %q, want %q", strings.Join(c.args, " "), out, c.want)
		}
	}
	if out, code := x.roost(t, "service", "list"); code == 0 || !strings.Contains(out, "not as root") {
		t.Errorf("roost service list as root: exit %d %q", code, out)
	}

	// adds measures each add: the data directory's initialisation, the
	// variable, the restart of app, until the server answers its client.
	add := func(kind, name string) info {
		t.Helper()
		t0 := time.Now()
		out := roost(true, "service", "add", kind, name)
		t.Logf("roost service add %s %s: %.1fs\n%s", kind, name, time.Since(t0).Seconds(), out)
		return serviceInfo(name)
	}
	cache := add("redis", "cache")
	db := add("postgres", "db")
	my := add("mysql", "my")
	if cache.Var != "REDIS_URL" || db.Var != "DATABASE_URL" || my.Var != "MY_URL" || my.Kind != "mariadb" {
		t.Errorf("variables: %s %s %s (%s)", cache.Var, db.Var, my.Var, my.Kind)
	}
	if !strings.HasSuffix(db.URL, "/app") || !strings.HasSuffix(my.URL, "/app") {
		t.Errorf("the SQL URLs name database app: %s, %s", db.URL, my.URL)
	}
	if out := roost(true, "service", "list"); strings.Count(out, "RUNNING") != 3 {
		t.Errorf("roost service list:\n%s", out)
	}

	// Each server's own client, through the URL info printed.
	redis := func(args ...string) string {
		t.Helper()
		return strings.TrimSpace(as(alice, true, append([]string{redisCli, "--no-auth-warning", "-u", cache.URL}, args...)...))
	}
	sql := func(q string) string {
		t.Helper()
		return strings.TrimSpace(as(alice, true, psql, "-X", "-tA", "-v", "ON_ERROR_STOP=1", "-c", q, db.URL))
	}
	myURL, err := url.Parse(my.URL)
	if err != nil || myURL.Scheme != "mysql" || myURL.User == nil {
		t.Fatalf("MY_URL %q: %v", my.URL, err)
	}
	myPW, _ := myURL.User.Password()
	mysql := func(q string) (string, error) {
		cmd := asUser(alice, mariadbCli, "-N", "-B", "-h", myURL.Hostname(), "-P", myURL.Port(), "-u", myURL.User.Username(),
			strings.TrimPrefix(myURL.Path, "/"), "-e", q)
		cmd.Env = append(cmd.Env, "MYSQL_PWD="+myPW)
		out, code := exitOf(t, cmd)
		if code != 0 {
			return "", fmt.Errorf("mariadb -e %q: exit %d:\n%s", q, code, out)
		}
		return strings.TrimSpace(out), nil
	}
	mustMysql := func(q string) string {
		t.Helper()
		out, err := mysql(q)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	if got := redis("SET", "k", "kept"); got != "OK" {
		t.Fatalf("redis SET: %q", got)
	}
	sql("CREATE TABLE t (x text); INSERT INTO t VALUES ('kept')")
	mustMysql("CREATE TABLE t (x text); INSERT INTO t VALUES ('kept')")

	// kept waits until all three answer "kept" (a restarted server takes a
	// moment to take connections).
	kept := func(after string) {
		t.Helper()
		var last string
		testutil.Eventually(t, 90*time.Second, "the key and rows "+after, func() bool {
			r, err1 := runOut(alice, redisCli, "--no-auth-warning", "-u", cache.URL, "GET", "k")
			p, err2 := runOut(alice, psql, "-X", "-tA", "-c", "SELECT x FROM t", db.URL)
			m, err3 := mysql("SELECT x FROM t")
			last = fmt.Sprintf("redis %q %v, postgres %q %v, mariadb %q %v", r, err1, p, err2, m, err3)
			return r == "kept" && p == "kept" && m == "kept"
		})
		t.Logf("%s: %s", after, last)
	}

	// roost restart NAME, each; then dump, break, restore.
	for _, n := range []string{"cache", "db", "my"} {
		roost(true, "restart", n)
	}
	kept("after roost restart of each")
	for _, c := range []struct {
		name    string
		breakIt func()
	}{
		{"cache", func() { redis("SET", "k", "changed") }},
		{"db", func() { sql("DROP TABLE t") }},
		{"my", func() { mustMysql("DROP TABLE t") }},
	} {
		dump := filepath.Join(top, c.name+".dump")
		roost(true, "service", "dump", c.name, dump)
		c.breakIt()
		roost(true, "service", "restore", c.name, dump)
	}
	kept("after dump, break and restore")

	// roost-bob: no password over TCP, no way into the socket directory.
	if out := as(bob, true, redisCli, "-h", "127.0.0.1", "-p", strconv.Itoa(cache.Port), "GET", "k"); !strings.Contains(out, "NOAUTH") {
		t.Errorf("roost-bob to redis over TCP: %q, want NOAUTH", out)
	}
	if out := as(bob, false, redisCli, "-s", filepath.Join(cache.Socket, "redis.sock"), "GET", "k"); !strings.Contains(out, "ermission denied") {
		t.Errorf("roost-bob through redis's socket: %q, want permission denied", out)
	}
	if out := as(bob, false, psql, "-X", "-w", "-c", "SELECT 1", fmt.Sprintf("postgresql://app@127.0.0.1:%d/app", db.Port)); !strings.Contains(out, "password") {
		t.Errorf("roost-bob to postgres over TCP: %q, want a password failure", out)
	}
	if out := as(bob, false, psql, "-X", "-w", "-h", db.Socket, "-p", strconv.Itoa(db.Port), "-U", "app", "-c", "SELECT 1", "app"); !strings.Contains(out, "ermission denied") {
		t.Errorf("roost-bob through postgres's socket: %q, want permission denied", out)
	}
	if out := as(bob, false, mariadbCli, "-h", "127.0.0.1", "-P", strconv.Itoa(my.Port), "-u", "app", "-e", "SELECT 1"); !strings.Contains(out, "Access denied") {
		t.Errorf("roost-bob to mariadb over TCP: %q, want access denied", out)
	}
	if out := as(bob, false, mariadbCli, "-S", filepath.Join(my.Socket, "mysqld.sock"), "-u", "app", "-e", "SELECT 1"); !strings.Contains(out, "ermission denied") && !strings.Contains(out, "(13)") {
		t.Errorf("roost-bob through mariadb's socket: %q, want permission denied", out)
	}

	// app, restarted by each add, was started with the URLs.
	testutil.Eventually(t, 30*time.Second, "app sees REDIS_URL and DATABASE_URL", func() bool {
		data, _ := os.ReadFile(appEnv)
		return strings.Contains(string(data), "REDIS_URL="+cache.URL+"\n") && strings.Contains(string(data), "DATABASE_URL="+db.URL+"\n")
	})

	// Her supervisor restarted through the master: the services stop
	// cleanly after her programs and come back with their data.
	if out, code := x.roost(t, "admin", "restart", alice.Name); code != 0 {
		t.Fatalf("roost admin restart %s: exit %d\n%s", alice.Name, code, out)
	}
	st = x.waitUser(t, alice.Name, 3*time.Minute, "restarted with programs and services", func(s UserStatus) bool {
		return running(s) && s.PID != st.PID && s.ProgramsRunning == 5
	})
	kept("after roost admin restart " + alice.Name)

	// The master itself restarted, the services running.
	x.terminate(t)
	x = startMasterBin(t, e, x.bin)
	x.waitUser(t, alice.Name, 3*time.Minute, "running again under the new master", func(s UserStatus) bool {
		return running(s) && s.ProgramsRunning == 5
	})
	kept("after a restart of the master")
	roost(true, "restart", "app")
	testutil.Eventually(t, 30*time.Second, "app restarted after the master's restart sees DATABASE_URL", func() bool {
		data, _ := os.ReadFile(appEnv)
		return strings.Contains(string(data), "DATABASE_URL="+db.URL+"\n")
	})

	// remove keeps a final dump, unsets the variable, deletes the data.
	if out := roost(true, "service", "remove", "cache", "--yes"); !strings.Contains(out, "final dump of cache in ") {
		t.Errorf("roost service remove cache: %q", out)
	}
	if dumps, _ := filepath.Glob(filepath.Join(top, "services", "cache-*.dump")); len(dumps) != 1 {
		t.Errorf("final dumps: %v", dumps)
	}
	if _, err := os.Stat(filepath.Join(top, "services", "cache")); !os.IsNotExist(err) {
		t.Errorf("the data of cache after remove: %v", err)
	}
	env, _ := os.ReadFile(filepath.Join(top, "config", "env"))
	if strings.Contains(string(env), "REDIS_URL") || !strings.Contains(string(env), "DATABASE_URL") {
		t.Errorf("config_dir's env after remove:\n%s", env)
	}
	if out := roost(true, "service", "list"); strings.Contains(out, "cache") || strings.Count(out, "RUNNING") != 2 {
		t.Errorf("roost service list after remove:\n%s", out)
	}
	// roost check and roost env, from her shell, read what her supervisor
	// reads: the files in config_dir, which they learn from it.
	if out := roost(true, "check"); !strings.Contains(out, "valid: 4 process(es)") {
		t.Errorf("roost check sees app, web, db and my:\n%s", out)
	}
	if out := roost(true, "env", "list"); out != "DATABASE_URL=********\nMY_URL=********\n" {
		t.Errorf("roost env list: %q", out)
	}
	// Nothing of this in her real home.
	for _, f := range realFiles {
		if fi, err := os.Stat(f); err == nil && time.Since(fi.ModTime()) < time.Since(testStart) {
			t.Errorf("%s was written during the test: config_dir/services_dir not followed", f)
		}
	}
}

// testStart is when the test binary started.
var testStart = time.Now()

// runOut runs argv as a, returning its trimmed output and an error for a
// failed exit.
func runOut(a testutil.Account, argv ...string) (string, error) {
	out, ps, err := runRegistered(asUser(a, argv[0], argv[1:]...))
	if err == nil && !ps.Success() {
		err = fmt.Errorf("%s: %v: %s", filepath.Base(argv[0]), ps, out)
	}
	return strings.TrimSpace(string(out)), err
}
