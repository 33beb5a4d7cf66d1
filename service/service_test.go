package service

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"roost/config"
	"roost/deploy"
)

func TestValidateName(t *testing.T) {
	for _, n := range []string{"db", "cache-2", "a_b", strings.Repeat("a", 32)} {
		if err := ValidateName(n); err != nil {
			t.Errorf("ValidateName(%q): %v", n, err)
		}
	}
	for _, n := range []string{"", "Db", "2db", "a:b", "a b", "../x", "a/b", "x%(here)s", "a\nb", strings.Repeat("a", 33)} {
		if err := ValidateName(n); err == nil {
			t.Errorf("ValidateName(%q) accepted", n)
		}
	}
}

// A server that is not installed: the error names the Debian package, and
// nothing is left in ~/services.
func TestAddMissingServerNamesPackage(t *testing.T) {
	oldPath, oldGlob := searchPath, pgBinGlob
	t.Cleanup(func() { searchPath, pgBinGlob = oldPath, oldGlob })
	searchPath, pgBinGlob = []string{t.TempDir()}, filepath.Join(t.TempDir(), "*", "bin")
	home := t.TempDir()
	t.Setenv(DirVar, "")
	for kind, pkg := range map[string]string{"postgres": "postgresql", "mysql": "mariadb-server", "mariadb": "mariadb-server", "redis": "redis-server"} {
		_, err := Add(home, kind, "svc", 40000, "X_URL")
		if err == nil || !strings.Contains(err.Error(), "apt-get install "+pkg) {
			t.Errorf("add %s without the server: %v, want the package %s named", kind, err, pkg)
		}
	}
	if _, err := os.Stat(filepath.Join(home, "services", "svc")); !os.IsNotExist(err) {
		t.Errorf("a failed add left ~/services/svc: %v", err)
	}
	if _, err := Add(home, "oracle", "svc", 40000, "X_URL"); err == nil || !strings.Contains(err.Error(), "postgres") {
		t.Errorf("unknown type: %v", err)
	}
}

// The services file is a configuration the loader accepts, read after the
// user's own (config.LoadOptions.Extra): each service a program with a low
// priority and its server's clean stop signal.
func TestServicesFileJoinsConfiguration(t *testing.T) {
	home := t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", "")
	t.Setenv(DirVar, "")
	// Under the master, both directories are where roost.toml says.
	confDir := filepath.Join(t.TempDir(), "conf")
	t.Setenv(deploy.ConfigDirVar, confDir)
	t.Setenv(DirVar, filepath.Join(home, "svc"))
	for _, s := range []*Service{
		{Name: "db", Kind: "postgres", Port: 40001, Password: "p", Var: "DATABASE_URL"},
		{Name: "cache", Kind: "redis", Port: 40002, Password: "p", Var: "REDIS_URL"},
		{Name: "my", Kind: "mariadb", Port: 40003, Password: "p", Var: "MY_URL"},
	} {
		s.Dir = filepath.Join(Root(home), s.Name)
		if err := os.MkdirAll(s.Dir, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := s.save(); err != nil {
			t.Fatal(err)
		}
	}
	if err := WriteConf(home); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(ConfFile(home)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("services file: %v %v", fi, err)
	}
	proj := t.TempDir()
	main := filepath.Join(proj, "supervisord.conf")
	os.WriteFile(main, []byte("[supervisord]\n[program:web]\ncommand=/bin/sleep 1\n"), 0o600)
	if ConfFile(home) != filepath.Join(confDir, "services.conf") || !strings.HasPrefix(Root(home), filepath.Join(home, "svc")) {
		t.Errorf("ConfFile %s, Root %s: not where ROOST_CONFIG_DIR and ROOST_SERVICES_DIR say", ConfFile(home), Root(home))
	}
	if _, err := os.Stat(filepath.Join(home, "svc", "db", "service.json")); err != nil {
		t.Errorf("the service's file is not in ROOST_SERVICES_DIR: %v", err)
	}
	// roost check and roost doctor load with the supervisor's environment
	// (opts.Env): its ROOST_CONFIG_DIR, not this process's, finds the file.
	t.Setenv(deploy.ConfigDirVar, "")
	cfg, err := config.Load(main, WithServices(home, config.LoadOptions{Dir: proj,
		Env:   []string{"PATH=/bin", deploy.ConfigDirVar + "=" + confDir, deploy.ConfigDirVar + "=/elsewhere"},
		Extra: []string{filepath.Join(home, "missing.conf")}}))
	if err != nil {
		t.Fatalf("load with the services file: %v", err)
	}
	want := map[string]syscall.Signal{"db": syscall.SIGINT, "cache": syscall.SIGTERM, "my": syscall.SIGTERM}
	got := map[string]bool{}
	for _, g := range cfg.Groups {
		for _, p := range g.Processes {
			got[p.Name] = true
			if sig, ok := want[p.Name]; ok {
				if p.Priority != Priority || p.StopSignal != sig {
					t.Errorf("%s: priority %d stopsignal %v, want %d %s", p.Name, p.Priority, p.StopSignal, Priority, sig)
				}
			}
		}
	}
	for _, n := range []string{"web", "db", "cache", "my"} {
		if !got[n] {
			t.Errorf("program %s missing from the configuration: %v", n, got)
		}
	}
}
