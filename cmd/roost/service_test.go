package main

import (
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"roost/internal/testutil"
	"roost/service"
	"roost/supervisor/api"
)

// serviceUser runs commands as a test user with a home of its own (a
// temporary one, so the real home of roost-alice is left alone).
type serviceUser struct {
	acct testutil.Account
	home string
	env  []string
}

func (u serviceUser) cmd(argv ...string) *exec.Cmd {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = u.home
	cmd.Env = append([]string{"HOME=" + u.home, "USER=" + u.acct.Name, "PATH=/usr/bin:/bin"}, u.env...)
	groups := make([]uint32, 0, len(u.acct.Groups))
	for _, g := range u.acct.Groups {
		groups = append(groups, uint32(g))
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(u.acct.UID), Gid: uint32(u.acct.GID), Groups: groups}}
	return cmd
}

// run runs argv with stdin and returns its output; it fails the test when
// the exit status is not wantOK's.
func (u serviceUser) run(t *testing.T, wantOK bool, stdin string, argv ...string) string {
	t.Helper()
	cmd := u.cmd(argv...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	if (err == nil) != wantOK {
		t.Fatalf("%s as %s: %v (want success %v):\n%s", strings.Join(argv, " "), u.acct.Name, err, wantOK, out)
	}
	return string(out)
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// Issue 20: roost service add redis|postgres|mysql as roost-alice, under a
// managed supervisor with a port block as the master gives it: the URL
// `roost service info` prints answers the server's own client, a key or
// row survives `roost restart NAME` and a restart of the supervisor, dump
// and restore round-trip, roost-bob cannot connect (no password over TCP,
// no way into the socket directory), a program started after add has the
// URL in its environment, and remove keeps a final dump.
func TestServiceAddRedisPostgresMariaDB(t *testing.T) {
	alice := testutil.RequireUser(t, testutil.UserA)
	bob := testutil.RequireUser(t, testutil.UserB)
	redisCli := testutil.RequireBinary(t, "redis-cli")
	testutil.RequireBinary(t, "redis-server")
	psql := testutil.RequireBinary(t, "psql")
	mariadbCli := testutil.RequireBinary(t, "mariadb")
	testutil.Require(t, fileExists("/usr/sbin/mariadbd"), "mariadb-server (/usr/sbin/mariadbd) is installed")
	pgs, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	testutil.Require(t, len(pgs) > 0, "postgresql (initdb) is installed")
	bin := testutil.RoostBinary(t, nil)

	top := sharedTempDir(t, "roost-service-")
	home := filepath.Join(top, "alice")
	ownedDir(t, home, alice, 0o755)
	run := filepath.Join(home, "run")
	ownedDir(t, run, alice, 0o700)
	proj := filepath.Join(home, "project")
	ownedDir(t, proj, alice, 0o755)
	conf := filepath.Join(proj, "supervisord.conf")
	write(t, conf, "[program:app]\ncommand=/bin/sh -c 'env | grep _URL= > \"$HOME/app.env\"; exec sleep 1000'\nstartsecs=0\n")
	os.Chown(conf, alice.UID, alice.GID)
	sock := filepath.Join(run, "roost.sock")
	base, count := testutil.FreePort(t), 40
	if base+count > 65535 {
		base -= count
	}
	u := serviceUser{acct: alice, home: home, env: []string{"ROOST_SOCKET=" + sock}}
	startSupervisor := func() (*supervisorProc, *api.Client) {
		cmd := u.cmd(bin, "run", "--managed", "--socket", sock, "--logdir", filepath.Join(home, "log"), "-c", conf)
		cmd.Env = append(cmd.Env, "PORT="+strconv.Itoa(base), "ROOST_PORT_BASE="+strconv.Itoa(base), "ROOST_PORT_COUNT="+strconv.Itoa(count))
		p := startProc(t, cmd)
		c := dialWhenUp(t, sock, p)
		waitState(t, c, "app running", allRunning("app"))
		return p, c
	}
	sup, _ := startSupervisor()

	info := func(name string) serviceInfoJSON {
		t.Helper()
		var i serviceInfoJSON
		out := u.run(t, true, "", bin, "service", "info", name, "--json")
		if err := json.Unmarshal([]byte(out), &i); err != nil {
			t.Fatalf("roost service info %s --json: %v:\n%s", name, err, out)
		}
		return i
	}
	inBlock := func(i serviceInfoJSON) {
		t.Helper()
		if i.Port < base || i.Port >= base+count {
			t.Errorf("%s listens on %d, outside the block %d-%d", i.Name, i.Port, base, base+count-1)
		}
	}

	// ready waits until the server answers its client (RUNNING is one
	// second after the spawn; a loaded machine may need more).
	ready := func(name string) {
		t.Helper()
		s, err := service.Load(home, name)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Ready(60 * time.Second); err != nil {
			t.Fatalf("%s does not answer: %v", name, err)
		}
	}
	// keeps writes "kept", then checks it is read back after `roost
	// restart NAME`, and after a dump, breakIt and a restore.
	keeps := func(name, dumpFile string, write, breakIt func(), read func() string) {
		t.Helper()
		write()
		u.run(t, true, "", bin, "restart", name)
		ready(name)
		if got := read(); got != "kept" {
			t.Fatalf("after roost restart %s: %q", name, got)
		}
		u.run(t, true, "", bin, "service", "dump", name, dumpFile)
		breakIt()
		u.run(t, true, "", bin, "service", "restore", name, dumpFile)
		if got := read(); got != "kept" {
			t.Fatalf("%s after restore: %q", name, got)
		}
	}

	// Refused before anything is made: a bad name, an unknown type, a
	// name the user's own programs use, a service that is not there, root.
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"add", "redis", "../x"}, "is not a service name"},
		{[]string{"add", "redis", "a:b"}, "is not a service name"},
		{[]string{"add", "oracle", "db"}, "unknown type"},
		{[]string{"add", "redis", "app"}, "already runs a program \"app\""},
		{[]string{"info", "nothere"}, "no such service"},
	} {
		if out := u.run(t, false, "", append([]string{bin, "service"}, c.args...)...); !strings.Contains(out, c.want) {
			t.Errorf("roost service %s: %q, want %q", strings.Join(c.args, " "), out, c.want)
		}
	}
	if out, err := exec.Command(bin, "service", "list").CombinedOutput(); err == nil || !strings.Contains(string(out), "not as root") {
		t.Errorf("roost service list as root: %v %q", err, out)
	}
	if ents, _ := os.ReadDir(filepath.Join(home, "services")); len(ents) != 0 {
		t.Errorf("refused adds left %v in ~/services", ents)
	}

	// redis
	t0 := time.Now()
	u.run(t, true, "", bin, "service", "add", "redis", "cache")
	t.Logf("redis add: %.1fs", time.Since(t0).Seconds())
	r := info("cache")
	if r.State != "RUNNING" || r.Var != "REDIS_URL" || !strings.HasPrefix(r.URL, "redis://default:") {
		t.Fatalf("roost service info cache: %+v", r)
	}
	inBlock(r)
	redis := func(args ...string) string {
		t.Helper()
		return strings.TrimSpace(u.run(t, true, "", append([]string{redisCli, "--no-auth-warning", "-u", r.URL}, args...)...))
	}
	keeps("cache", filepath.Join(home, "cache.rdb"),
		func() {
			if got := redis("SET", "k", "kept"); got != "OK" {
				t.Fatalf("redis SET: %q", got)
			}
		},
		func() { redis("SET", "k", "changed") },
		func() string { return redis("GET", "k") })
	b := serviceUser{acct: bob, home: "/tmp"}
	if out := b.run(t, true, "", redisCli, "-h", "127.0.0.1", "-p", strconv.Itoa(r.Port), "GET", "k"); !strings.Contains(out, "NOAUTH") {
		t.Errorf("roost-bob without the password over TCP: %q, want NOAUTH", out)
	}
	if out := b.run(t, false, "", redisCli, "-s", filepath.Join(r.Socket, "redis.sock"), "GET", "k"); !strings.Contains(out, "ermission denied") {
		t.Errorf("roost-bob through the socket: %q, want permission denied", out)
	}

	// postgres
	t0 = time.Now()
	u.run(t, true, "", bin, "service", "add", "postgres", "db")
	t.Logf("postgres add: %.1fs", time.Since(t0).Seconds())
	pg := info("db")
	if pg.State != "RUNNING" || pg.Var != "DATABASE_URL" || !strings.HasPrefix(pg.URL, "postgresql://app:") {
		t.Fatalf("roost service info db: %+v", pg)
	}
	inBlock(pg)
	sql := func(q string) string {
		t.Helper()
		return strings.TrimSpace(u.run(t, true, q, psql, "-X", "-tA", "-v", "ON_ERROR_STOP=1", pg.URL))
	}
	keeps("db", filepath.Join(home, "db.dump"),
		func() { sql("CREATE TABLE t (x text); INSERT INTO t VALUES ('kept');") },
		func() { sql("DROP TABLE t") },
		func() string { return sql("SELECT x FROM t") })
	noPW := fmt.Sprintf("postgresql://app@127.0.0.1:%d/postgres", pg.Port)
	if out := b.run(t, false, "", psql, "-X", "-w", "-c", "SELECT 1", noPW); !strings.Contains(out, "password") {
		t.Errorf("roost-bob without the password over TCP: %q, want a password failure", out)
	}
	if out := b.run(t, false, "", psql, "-X", "-w", "-h", pg.Socket, "-p", strconv.Itoa(pg.Port), "-U", "app", "-c", "SELECT 1", "postgres"); !strings.Contains(out, "ermission denied") {
		t.Errorf("roost-bob through the socket: %q, want permission denied", out)
	}

	// MariaDB, as `mysql`: the second SQL database gets MY_URL.
	t0 = time.Now()
	u.run(t, true, "", bin, "service", "add", "mysql", "my")
	t.Logf("mariadb add: %.1fs", time.Since(t0).Seconds())
	my := info("my")
	if my.State != "RUNNING" || my.Var != "MY_URL" || my.Kind != "mariadb" {
		t.Fatalf("roost service info my: %+v", my)
	}
	inBlock(my)
	myURL, err := url.Parse(my.URL)
	if err != nil || myURL.Scheme != "mysql" || myURL.User == nil {
		t.Fatalf("MY_URL %q: %v", my.URL, err)
	}
	myPW, _ := myURL.User.Password()
	mysql := func(q string) string {
		t.Helper()
		cmd := u.cmd(mariadbCli, "-N", "-B", "-h", myURL.Hostname(), "-P", myURL.Port(), "-u", myURL.User.Username(), strings.TrimPrefix(myURL.Path, "/"), "-e", q)
		cmd.Env = append(cmd.Env, "MYSQL_PWD="+myPW)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("mariadb -e %q: %v:\n%s", q, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	keeps("my", filepath.Join(home, "my.sql"),
		func() { mysql("CREATE TABLE t (x text); INSERT INTO t VALUES ('kept');") },
		func() { mysql("DROP TABLE t") },
		func() string { return mysql("SELECT x FROM t") })
	if out := b.run(t, false, "", mariadbCli, "-h", "127.0.0.1", "-P", strconv.Itoa(my.Port), "-u", "app", "-e", "SELECT 1"); !strings.Contains(out, "Access denied") {
		t.Errorf("roost-bob without the password over TCP: %q, want access denied", out)
	}
	if out := b.run(t, false, "", mariadbCli, "-S", filepath.Join(my.Socket, "mysqld.sock"), "-u", "app", "-e", "SELECT 1"); !strings.Contains(out, "ermission denied") && !strings.Contains(out, "(13)") {
		t.Errorf("roost-bob through the socket: %q, want permission denied", out)
	}

	// The program restarted by add has both URLs.
	testutil.Eventually(t, 30*time.Second, "app sees REDIS_URL and DATABASE_URL", func() bool {
		data, _ := os.ReadFile(filepath.Join(home, "app.env"))
		return strings.Contains(string(data), "REDIS_URL="+r.URL+"\n") && strings.Contains(string(data), "DATABASE_URL="+pg.URL+"\n")
	})

	// A restart of the user's supervisor: the services stop cleanly with
	// it (priority: after the programs) and come back with their data.
	sup.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-sup.done:
	case <-time.After(2 * time.Minute):
		t.Fatal("the supervisor did not stop")
	}
	_, c := startSupervisor()
	waitState(t, c, "services running", allRunning("cache", "db", "my"))
	testutil.Eventually(t, 60*time.Second, "postgres answers after the supervisor's restart", func() bool {
		cmd := u.cmd(psql, "-X", "-tA", "-c", "SELECT x FROM t", pg.URL)
		out, err := cmd.CombinedOutput()
		return err == nil && strings.TrimSpace(string(out)) == "kept"
	})
	ready("cache")
	if got := redis("GET", "k"); got != "kept" {
		t.Fatalf("after the supervisor's restart: GET k = %q", got)
	}
	testutil.Eventually(t, 60*time.Second, "mariadb answers after the supervisor's restart", func() bool {
		cmd := u.cmd(mariadbCli, "-N", "-B", "-h", myURL.Hostname(), "-P", myURL.Port(), "-u", "app", "app", "-e", "SELECT x FROM t")
		cmd.Env = append(cmd.Env, "MYSQL_PWD="+myPW)
		out, err := cmd.CombinedOutput()
		return err == nil && strings.TrimSpace(string(out)) == "kept"
	})

	// remove keeps a final dump, unsets the variable, deletes the data.
	out := u.run(t, true, "", bin, "service", "remove", "cache", "--yes")
	if !strings.Contains(out, "final dump of cache in ") {
		t.Errorf("roost service remove cache: %q", out)
	}
	dumps, _ := filepath.Glob(filepath.Join(home, "services", "cache-*.dump"))
	if len(dumps) != 1 {
		t.Errorf("final dumps: %v", dumps)
	}
	if _, err := os.Stat(filepath.Join(home, "services", "cache")); !os.IsNotExist(err) {
		t.Errorf("~/services/cache after remove: %v", err)
	}
	env, _ := os.ReadFile(filepath.Join(home, ".config", "roost", "env"))
	if strings.Contains(string(env), "REDIS_URL") || !strings.Contains(string(env), "DATABASE_URL") {
		t.Errorf("variables after remove:\n%s", env)
	}
	waitState(t, c, "cache gone, db running", func(ps []api.ProcessInfo) bool {
		return !slices.ContainsFunc(ps, func(p api.ProcessInfo) bool { return p.Name == "cache" }) && allRunning("db")(ps)
	})
}

// The port of a new service: from the upper half of the master's block,
// skipping ports taken or in use; without a block, any free loopback port,
// and the note says why.
func TestServicePort(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	busy := ln.Addr().(*net.TCPAddr).Port
	base := busy - 5 // the block's upper half starts at busy
	env := map[string]string{"ROOST_PORT_BASE": strconv.Itoa(base), "ROOST_PORT_COUNT": "10"}
	p, note, err := servicePort(env, map[int]bool{busy + 1: true})
	if err != nil || p < busy+2 || p >= base+10 || !strings.Contains(note, "from your block") {
		t.Errorf("servicePort in block %d-%d (%d listening, %d taken): %d %q %v", base, base+9, busy, busy+1, p, note, err)
	}
	if _, _, err := servicePort(map[string]string{"ROOST_PORT_BASE": strconv.Itoa(busy), "ROOST_PORT_COUNT": "1"}, nil); err == nil {
		t.Error("a full block gave a port")
	}
	p, note, err = servicePort(nil, nil)
	if err != nil || p == 0 || !strings.Contains(note, "no roost master") {
		t.Errorf("servicePort without a block: %d %q %v", p, note, err)
	}
}

// Blue-green spares: a proxied numprocs=1 program's restart alternates to
// a spare port from the top of the block (config/ports.go), which a service
// must not take although nothing listens there between restarts. With a
// block of 8, web's slice is the first port and its spare the last, which
// the third service would otherwise get from the upper half.
func TestServicePortSkipsSpares(t *testing.T) {
	t.Setenv("ROOST_CONFIG_DIR", t.TempDir()) // no services file of the caller's
	base := testutil.FreePort(t)
	if base+8 > 65535 {
		base -= 8
	}
	dir := t.TempDir()
	conf := filepath.Join(dir, "supervisord.conf")
	write(t, conf, "[supervisord]\n[program:web]\ncommand=/bin/sleep 1\n[proxy:web]\nhosts = alice.example.test\n")
	env := map[string]string{"PORT": strconv.Itoa(base), "ROOST_PORT_BASE": strconv.Itoa(base), "ROOST_PORT_COUNT": "8"}
	taken := configPorts(conf, env)
	spare := base + 7
	if !taken[base] || !taken[spare] || len(taken) != 2 {
		t.Fatalf("configPorts: %v, want web's port %d and its spare %d", taken, base, spare)
	}
	for i := 0; i < 3; i++ {
		p, _, err := servicePort(env, taken)
		if err != nil {
			t.Fatalf("service %d: %v", i, err)
		}
		if p == spare || p < base+4 || p >= base+8 {
			t.Fatalf("service %d got port %d (block %d-%d, spare %d)", i, p, base, base+7, spare)
		}
		taken[p] = true
	}
	if p, _, err := servicePort(env, taken); err == nil {
		t.Errorf("a fourth service got %d: only the spare is left in the upper half", p)
	}
	// A file that does not load reserves nothing (the proxy routes still do).
	write(t, conf, "[program:web]\nstartsecs=1o\n")
	if got := configPorts(conf, env); len(got) != 0 {
		t.Errorf("configPorts of a broken file: %v", got)
	}
}
