package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestParseMasterDefaults(t *testing.T) {
	m, err := ParseMaster("roost.toml", nil)
	if err != nil {
		t.Fatal(err)
	}
	want := &Master{
		File:     "roost.toml",
		RunDir:   "/run/roost",
		StateDir: "/var/lib/roost",
		Users: MasterUsers{Project: "current", LogDir: "log", ConfigDir: ".config/roost", ServicesDir: "services", MinUID: 1000, Path: DefaultPath, Lang: "C.UTF-8",
			StopWait: 60 * time.Second},
		User:  map[string]UserOverride{},
		Ports: PortRange{First: 20000, Last: 29999, PerUser: 10},
		Proxy: MasterProxy{Listen: []string{"80"}, Output: "/etc/nginx/conf.d/roost.conf",
			TestCommand: []string{"nginx", "-t"}, ReloadCommand: []string{"nginx", "-s", "reload"},
			CommandTimeout: 30 * time.Second, ReloadInterval: 3 * time.Second, DefaultServer: true},
		TLS:    MasterTLS{Listen: []string{"443"}, Directory: DefaultACMEDirectory},
		Deploy: MasterDeploy{Branch: "main", Repo: "repo.git", KeepReleases: 5, Timeout: 10 * time.Minute},
		Pos:    map[string]Pos{},
	}
	if d := cmp.Diff(want, m); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}
}

func TestParseMasterFull(t *testing.T) {
	src := `# the issue's example, plus every key
run_dir   = "/run/roost/"
state_dir = "/var/lib/roost"
[users]
names   = ["alice", "bob"]
groups  = ["roost"]
project = "current"
min_uid = 1000
log_dir = "var/log"
path    = "/opt/bin:/usr/bin:/bin"
lang    = "en_US.UTF-8"
stopwaitsecs = 120
[user.alice]
project = "app/"
[user."bob"]
log_dir = "logs"
[ports]
range    = "20000-29999"
per_user = 10
[proxy]
enabled = false
[user.carol]
config_dir = "etc/roost/"
services_dir = "/srv/x"
`
	if _, err := ParseMaster("/etc/roost/roost.toml", []byte(src)); err == nil || !strings.Contains(err.Error(), `roost.toml:24: [user.carol] services_dir: "/srv/x" must be relative`) {
		t.Errorf("an absolute services_dir: %v", err)
	}
	src = strings.Replace(src, `"/srv/x"`, `"data/services"`, 1)
	m, err := ParseMaster("/etc/roost/roost.toml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if m.RunDir != "/run/roost" {
		t.Errorf("run_dir %q, want it cleaned", m.RunDir)
	}
	if got := m.Project("alice"); got != "app" {
		t.Errorf("alice's project %q", got)
	}
	if got := m.Project("bob"); got != "current" {
		t.Errorf("bob's project %q", got)
	}
	if got := m.LogDir("bob"); got != "logs" {
		t.Errorf("bob's log_dir %q", got)
	}
	if got := m.LogDir("alice"); got != "var/log" {
		t.Errorf("alice's log_dir %q", got)
	}
	if m.Users.StopWait != 120*time.Second || m.Users.Lang != "en_US.UTF-8" || m.Users.Path != "/opt/bin:/usr/bin:/bin" {
		t.Errorf("users: %+v", m.Users)
	}
	if got := m.PosOf("users.min_uid").String(); got != "/etc/roost/roost.toml:8" {
		t.Errorf("PosOf(users.min_uid) = %s", got)
	}
	if got := m.PosOf(`user.bob.log_dir`).String(); got != "/etc/roost/roost.toml:16" {
		t.Errorf("PosOf(user.bob.log_dir) = %s", got)
	}
	if m.Ports.Blocks() != 1000 {
		t.Errorf("blocks %d", m.Ports.Blocks())
	}
	if m.ConfigDir("carol") != "etc/roost" || m.ServicesDir("carol") != "data/services" || m.ConfigDir("bob") != ".config/roost" || m.ServicesDir("bob") != "services" {
		t.Errorf("config_dir, services_dir: carol %q %q, bob %q %q", m.ConfigDir("carol"), m.ServicesDir("carol"), m.ConfigDir("bob"), m.ServicesDir("bob"))
	}
}

// Every error names file:line and says what would be valid.
func TestParseMasterErrors(t *testing.T) {
	tests := []struct {
		name, src string
		want      []string // one substring per expected diagnostic, in order
	}{
		{"unknown top-level key", "run_dir = \"/run/roost\"\nrundir = \"/x\"\n",
			[]string{`roost.toml:2: rundir: unknown key (did you mean run_dir?)`}},
		{"unknown key in users", "[users]\nnames = []\nnmaes = [\"a\"]\n",
			[]string{`roost.toml:3: [users] nmaes: unknown key (did you mean names?)`}},
		{"unknown key in a user table", "[users]\n[user.alice]\nprojct = \"x\"\n",
			[]string{`roost.toml:3: [user.alice] projct: unknown key (did you mean project?)`}},
		{"unknown table", "[porst]\nrange = \"1-2\"\n",
			[]string{`roost.toml:1: porst: unknown key (did you mean ports?)`, `roost.toml:2: [porst] range: unknown key`}},
		{"type error", "[ports]\nper_user = \"ten\"\n",
			[]string{`roost.toml:2: [ports] per_user: incompatible types`}},
		{"syntax error", "[users\nnames = 1\n",
			[]string{`roost.toml:2: expected '.' or ']' to end table name`}},
		{"relative run_dir", "run_dir = \"run/roost\"\n",
			[]string{`roost.toml:1: run_dir: "run/roost" is not an absolute path`}},
		{"long run_dir", "run_dir = \"/" + strings.Repeat("r", 60) + "\"\n",
			[]string{`roost.toml:1: run_dir: "/rrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrr" is 61 bytes; at most 57 fit a user's socket path`}},
		{"root as state_dir", "state_dir = \"/\"\n", []string{`roost.toml:1: state_dir: "/" cannot be roost's directory`}},
		{"bad user name", "[users]\nnames = [\"alice\", \"../etc\", \"Bob\"]\n",
			[]string{`roost.toml:2: [users] names: "../etc" is not a valid user or group name`, `roost.toml:2: [users] names: "Bob" is not`}},
		{"duplicate user", "[users]\nnames = [\"a\", \"a\"]\n", []string{`"a" is listed twice`}},
		{"bad group", "[users]\ngroups = [\"a b\"]\n", []string{`roost.toml:2: [users] groups: "a b" is not a valid`}},
		{"absolute project", "[users]\nproject = \"/srv/app\"\n",
			[]string{`roost.toml:2: [users] project: "/srv/app" must be relative to the user's home`}},
		{"escaping project", "[users]\nproject = \"a/../../b\"\n", []string{`roost.toml:2: [users] project: "a/../../b" leaves the user's home`}},
		{"tilde log_dir", "[users]\nlog_dir = \"~/log\"\n", []string{`[users] log_dir: "~/log" must be relative`}},
		{"min_uid 0", "[users]\nmin_uid = 0\n", []string{`roost.toml:2: [users] min_uid: 0 is not allowed: root (uid 0) never gets a supervisor`}},
		{"relative PATH entry", "[users]\npath = \"/usr/bin:bin\"\n", []string{`[users] path: "bin": every entry must be an absolute directory`}},
		{"bad lang", "[users]\nlang = \"en US\"\n", []string{`[users] lang: "en US" is not a locale name`}},
		{"stopwaitsecs", "[users]\nstopwaitsecs = 0\n", []string{`[users] stopwaitsecs: 0 is out of range`}},
		{"user override name", "[user.\"a/b\"]\nproject = \"x\"\n", []string{`roost.toml:1: [user.a/b] "a/b" is not a valid`}},
		{"user override project", "[user.alice]\nproject = \"/x\"\n", []string{`roost.toml:2: [user.alice] project: "/x" must be relative`}},
		{"port range syntax", "[ports]\nrange = \"20000:29999\"\n", []string{`roost.toml:2: [ports] range: "20000:29999" is not a port range`}},
		{"port range privileged", "[ports]\nrange = \"80-90\"\n", []string{`[ports] range: "80-90": ports must satisfy 1024`}},
		{"port range reversed", "[ports]\nrange = \"3000-2000\"\n", []string{`ports must satisfy`}},
		{"per_user too big", "[ports]\nrange = \"20000-20004\"\nper_user = 10\n", []string{`roost.toml:3: [ports] per_user: 10 ports per user do not fit the range 20000-20004 (5 ports)`}},
		{"per_user zero", "[ports]\nper_user = 0\n", []string{`[ports] per_user: 0 is out of range`}},
		{"several at once, in line order", "[ports]\nper_user = 0\n[users]\nmin_uid = -1\n",
			[]string{`roost.toml:2:`, `roost.toml:4:`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := ParseMaster("roost.toml", []byte(tt.src))
			if err == nil {
				t.Fatalf("no error; got %+v", m)
			}
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("error %T is not a *config.Error: %v", err, err)
			}
			if m != nil {
				t.Error("a Master came back with the error")
			}
			lines := strings.Split(err.Error(), "\n")
			if len(lines) != len(ce.Diagnostics) {
				t.Errorf("%d lines for %d diagnostics", len(lines), len(ce.Diagnostics))
			}
			for i, w := range tt.want {
				if i >= len(lines) {
					t.Errorf("missing diagnostic %d %q; got:\n%s", i, w, err)
					continue
				}
				if !strings.Contains(lines[i], w) {
					t.Errorf("diagnostic %d = %q, want it to contain %q", i, lines[i], w)
				}
			}
		})
	}
}

func TestLoadMasterFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "roost.toml")
	if _, err := LoadMaster(p); err == nil || !strings.Contains(err.Error(), p+": cannot read") {
		t.Errorf("missing file: %v", err)
	}
	if err := os.WriteFile(p, []byte("[users]\nnames = [\"alice\"]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	m, err := LoadMaster(p)
	if err != nil {
		t.Fatal(err)
	}
	if m.File != p || len(m.Users.Names) != 1 {
		t.Errorf("%+v", m)
	}
	if _, err := LoadMaster(dir); err == nil {
		t.Error("a directory loaded")
	}
}

func TestTOMLKeyLines(t *testing.T) {
	src := `a = 1
multi = """
b = 2
"""
arr = [
  "c = 3",
  { d = 4 },
]
[t]
x.y = 1   # dotted
"q k" = 2
[[list]]
z = 1
`
	got := tomlKeyLines([]byte(src))
	want := map[string]int{"a": 1, "multi": 2, "arr": 5, "t": 9, "t.x.y": 10, "t.x": 10, `t."q k"`: 11, "list": 12, "list.z": 13}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}
}

func FuzzParseMaster(f *testing.F) {
	f.Add([]byte("run_dir = \"/run/roost\"\n[users]\nnames = [\"alice\"]\n[user.alice]\nproject = \"app\"\n[ports]\nrange = \"20000-29999\"\n"))
	f.Add([]byte("[ports]\nper_user = 0\n"))
	f.Add([]byte("x = '''\na = 1\n'''\n[[y]]\nz = [1,\n2]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := ParseMaster("f.toml", data)
		if err != nil {
			if m != nil {
				t.Fatal("master and error")
			}
			for _, line := range strings.Split(err.Error(), "\n") {
				if !strings.HasPrefix(line, "f.toml") {
					t.Fatalf("diagnostic without the file: %q", line)
				}
			}
			return
		}
		// What validation accepts is safe to use.
		if !filepath.IsAbs(m.RunDir) || !filepath.IsAbs(m.StateDir) || m.Users.MinUID < 1 || m.Ports.Blocks() < 1 {
			t.Fatalf("accepted %+v", m)
		}
		for _, n := range append(append([]string{}, m.Users.Names...), m.Users.Groups...) {
			if ValidateUserName(n) != nil {
				t.Fatalf("accepted name %q", n)
			}
		}
		for _, p := range []string{m.Users.Project, m.Users.LogDir, m.Users.ConfigDir, m.Users.ServicesDir} {
			if filepath.IsAbs(p) || strings.HasPrefix(p, "..") {
				t.Fatalf("accepted home path %q", p)
			}
		}
	})
}

// The example shipped for /etc/roost/roost.toml is valid and says what the
// README says.
func TestExampleRoostTOML(t *testing.T) {
	m, err := LoadMaster("../examples/roost.toml")
	if err != nil {
		t.Fatal(err)
	}
	if m.RunDir != DefaultRunDir || m.StateDir != DefaultStateDir || m.Project("alice") != "app" ||
		m.Project("bob") != "current" || m.Ports.PerUser != 10 || m.Users.StopWait != 60*time.Second {
		t.Errorf("example: %+v", m)
	}
}

func TestLoadEmpty(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "missing", "supervisord.conf")
	cfg, err := LoadEmpty(p, LoadOptions{Dir: dir, Env: []string{}})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.File != p || len(cfg.Groups) != 0 || len(cfg.Files) != 1 || cfg.Files[0] != p {
		t.Errorf("%+v", cfg)
	}
	// The same defaults as a real empty file.
	real := filepath.Join(dir, "supervisord.conf")
	os.WriteFile(real, []byte("[supervisord]\n"), 0o644)
	want, err := Load(real, LoadOptions{Dir: dir, Env: []string{}})
	if err != nil {
		t.Fatal(err)
	}
	want.File, want.Here, want.Files = cfg.File, cfg.Here, cfg.Files
	want.Supervisord.Pos = cfg.Supervisord.Pos
	if d := cmp.Diff(want, cfg); d != "" {
		t.Errorf("(-real +empty):\n%s", d)
	}
}

// The [proxy] table and [user.NAME] hosts: the example, then every
// key, then each key's errors with file:line.
func TestParseMasterProxy(t *testing.T) {
	m, err := ParseMaster("roost.toml", []byte(`[proxy]
enabled        = true
listen         = "80"
output         = "/etc/nginx/conf.d/roost.conf"
test_command   = ["nginx", "-t"]
reload_command = ["nginx", "-s", "reload"]
hosts = ["{user}.example.test", "*.{user}.example.test"]
[user.alice]
hosts = ["alice.com", "www.alice.com"]
`))
	if err != nil {
		t.Fatal(err)
	}
	want := MasterProxy{Enabled: true, Listen: []string{"80"}, Output: "/etc/nginx/conf.d/roost.conf",
		TestCommand: []string{"nginx", "-t"}, ReloadCommand: []string{"nginx", "-s", "reload"}, CommandTimeout: 30 * time.Second, ReloadInterval: 3 * time.Second,
		Hosts: []string{"{user}.example.test", "*.{user}.example.test"}, DefaultServer: true}
	if d := cmp.Diff(want, m.Proxy); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}
	if d := cmp.Diff(map[string][]string{"alice": {"alice.com", "www.alice.com"}}, m.Grants()); d != "" {
		t.Errorf("grants (-want +got):\n%s", d)
	}

	m, err = ParseMaster("roost.toml", []byte(`[proxy]
listen = ["127.0.0.1:8080", "[::1]:8080"]
command_timeout = 5
reload_interval = 10
max_body_size = "10MB"
server_names_hash_bucket_size = 128
server_names_hash_max_size = 1024
default_server = false
test_command = ["/usr/sbin/nginx", "-t", "-q"]
`))
	if err != nil {
		t.Fatal(err)
	}
	px := m.Proxy
	if px.CommandTimeout != 5*time.Second || px.ReloadInterval != 10*time.Second || px.MaxBodySize != 10<<20 || px.ServerNamesHashBucketSize != 128 ||
		px.ServerNamesHashMaxSize != 1024 || px.DefaultServer || len(px.Listen) != 2 || px.TestCommand[0] != "/usr/sbin/nginx" {
		t.Errorf("proxy: %+v", px)
	}
	if m, err := ParseMaster("roost.toml", []byte("[proxy]\nmax_body_size = 1048576\n")); err != nil || m.Proxy.MaxBodySize != 1<<20 {
		t.Errorf("max_body_size as a number: %v %+v", err, m)
	}

	for _, c := range []struct{ src, want string }{
		{"[proxy]\nlisten = 80\n", "roost.toml:2: [proxy] listen: want a string or a list of strings"},
		{"[proxy]\nlisten = [80]\n", "roost.toml:2: [proxy] listen: 80 is not a string"},
		{"[proxy]\noutput = \"conf.d/roost.conf\"\n", "roost.toml:2: [proxy] output: \"conf.d/roost.conf\" is not an absolute path"},
		{"[proxy]\ntest_command = []\n", "roost.toml:2: [proxy] test_command: empty command"},
		{"[proxy]\nreload_command = [\"sbin/nginx\"]\n", "roost.toml:2: [proxy] reload_command: \"sbin/nginx\": give the program as a name found in PATH"},
		{"[proxy]\ncommand_timeout = 0\n", "roost.toml:2: [proxy] command_timeout: 0 is out of range"},
		{"[proxy]\nreload_interval = 0\n", "roost.toml:2: [proxy] reload_interval: 0 is out of range: give seconds from 1 to 600"},
		{"[proxy]\nmax_body_size = \"ten\"\n", "roost.toml:2: [proxy] max_body_size:"},
		{"[proxy]\nhost = [\"a.test\"]\n", "roost.toml:2: [proxy] host: unknown key (did you mean hosts?)"},
		{"[user.alice]\nhost = [\"a.test\"]\n", "roost.toml:2: [user.alice] host: unknown key (did you mean hosts?)"},
	} {
		_, err := ParseMaster("roost.toml", []byte(c.src))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: got %v, want %q", c.src, err, c.want)
		}
	}
}

// A dotCloud-shaped project file (only [program:x], %(ENV_HOME)s and
// %(ENV_PORT)s) loads with the defaults of an empty [supervisord] and one
// warning naming what the real supervisord -c would say.
func TestLoadWithoutSupervisordSection(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "supervisord.conf")
	os.WriteFile(p, []byte("[program:plackup]\ndirectory=%(ENV_HOME)s/current\n"+
		"command=perl app.pl -p %(ENV_PORT)s\nautostart=true\nautorestart=true\n"+
		"stdout_logfile=%(ENV_HOME)s/log/plackup.log\nstopsignal=TERM\n"), 0o644)
	env := []string{"HOME=" + dir, "PORT=9100"}
	os.MkdirAll(filepath.Join(dir, "current"), 0o755)
	os.MkdirAll(filepath.Join(dir, "log"), 0o755)
	cfg, err := Load(p, LoadOptions{Dir: dir, Env: env})
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Warnings) != 1 || cfg.Warnings[0].Message != NoSupervisordWarning || cfg.Warnings[0].Pos.File != "supervisord.conf" {
		t.Errorf("warnings: %v", cfg.Warnings)
	}
	pr := cfg.Groups[0].Processes[0]
	if pr.Command != "perl app.pl -p 9100" || pr.Directory != filepath.Join(dir, "current") || pr.Stdout.File != filepath.Join(dir, "log", "plackup.log") {
		t.Errorf("process: %q %q %q", pr.Command, pr.Directory, pr.Stdout.File)
	}
	empty, err := LoadEmpty(p, LoadOptions{Dir: dir, Env: env})
	if err != nil {
		t.Fatal(err)
	}
	want := empty.Supervisord
	want.Pos = cfg.Supervisord.Pos
	if d := cmp.Diff(want, cfg.Supervisord); d != "" {
		t.Errorf("[supervisord] defaults (-empty section +no section):\n%s", d)
	}
}

// LoadOptions.Files: the saved copy is what loads, whatever the disk holds.
func TestLoadSavedFiles(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "supervisord.conf")
	inc := filepath.Join(dir, "conf.d", "a.conf")
	os.WriteFile(p, []byte("[program:broken]\nstartsecs=1o\n"), 0o644)
	saved := map[string][]byte{
		p:   []byte("[include]\nfiles = conf.d/*.conf\n[program:web]\ncommand=/bin/true\n"),
		inc: []byte("[program:a]\ncommand=/bin/true\n"),
	}
	if _, err := Load(p, LoadOptions{Dir: dir, Env: []string{}}); err == nil {
		t.Fatal("the file on disk should not load")
	}
	cfg, err := Load(p, LoadOptions{Dir: dir, Env: []string{}, Files: saved})
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Groups) != 2 || cfg.Group("web") == nil || cfg.Group("a") == nil || len(cfg.Files) != 2 {
		t.Errorf("groups %v files %v", cfg.Groups, cfg.Files)
	}
}
