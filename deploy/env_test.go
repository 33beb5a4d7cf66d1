package deploy

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestEnvFile(t *testing.T) {
	for _, k := range []string{"", "1A", "A-B", "A B", "PORT", "ROOST_PORT_BASE", "SUPERVISOR_ENABLED", "HOME", strings.Repeat("A", 129)} {
		if ValidateEnvKey(k) == nil {
			t.Errorf("%q accepted", k)
		}
	}
	for _, k := range []string{"A", "_x", "DATABASE_URL", "a1"} {
		if err := ValidateEnvKey(k); err != nil {
			t.Errorf("%q: %v", k, err)
		}
	}
	p := filepath.Join(t.TempDir(), "roost", "env")
	if vars, err := ReadEnv(p); err != nil || vars != nil {
		t.Fatalf("missing file: %v %v", vars, err)
	}
	odd := "line1\nline2 \"quoted\" =\x01 ü"
	vars := SetEnv(SetEnv(nil, "B", &odd), "A", new(string))
	vars = SetEnv(vars, "C", &odd)
	vars = SetEnv(vars, "C", nil)
	if err := WriteEnv(p, vars); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("mode: %v %v", fi, err)
	}
	got, err := ReadEnv(p)
	if err != nil || len(got) != 2 || got[0] != (EnvVar{"A", ""}) || got[1] != (EnvVar{"B", odd}) {
		t.Errorf("read back %q %v", got, err)
	}
	os.WriteFile(p, []byte("A=\"x\"\nPORT=\"1\"\n"), 0o600)
	if _, err := ReadEnv(p); err == nil || !strings.Contains(err.Error(), p+":2:") {
		t.Errorf("a bad line: %v", err)
	}
}

// The build gets the user's variables; the pusher's output never shows a
// value roost did not print on the build's behalf.
func TestBuildGetsEnv(t *testing.T) {
	t.Setenv("XDG_CONFIG_HOME", "")
	t.Setenv(ConfigDirVar, "")
	l := layout(t)
	secret := "s3cret value"
	if err := WriteEnv(EnvFile(l.Home), SetEnv(nil, "APP_SECRET", &secret)); err != nil {
		t.Fatal(err)
	}
	_, out, err := deployDir(t, l, tree(t, map[string]string{"supervisord.conf": goodConf,
		"postinstall*": "#!/bin/sh\ntest \"$APP_SECRET\" = 's3cret value' && echo secret seen\n"}))
	if err != nil || !strings.Contains(out, "secret seen") || strings.Contains(out, secret) {
		t.Errorf("%v\n%s", err, out)
	}
}

// The directory of the user's roost files: the master's ROOST_CONFIG_DIR
// first (absolute only), then XDG_CONFIG_HOME, then ~/.config/roost.
func TestConfigDir(t *testing.T) {
	for _, c := range []struct {
		env  map[string]string
		want string
	}{
		{nil, "/home/a/.config/roost"},
		{map[string]string{"XDG_CONFIG_HOME": "/x"}, "/x/roost"},
		{map[string]string{"XDG_CONFIG_HOME": "rel"}, "/home/a/.config/roost"},
		{map[string]string{ConfigDirVar: "/m/c/", "XDG_CONFIG_HOME": "/x"}, "/m/c"},
		{map[string]string{ConfigDirVar: "rel", "XDG_CONFIG_HOME": "/x"}, "/x/roost"},
	} {
		if got := ConfigDir("/home/a", func(k string) string { return c.env[k] }); got != c.want {
			t.Errorf("ConfigDir with %v: %q, want %q", c.env, got, c.want)
		}
	}
}
