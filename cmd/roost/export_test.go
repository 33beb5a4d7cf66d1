package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"roost/internal/testutil"
)

// roost export reads what roost check reads: the project, the services
// file and the roost env file of $HOME, and the cron file; it writes one
// file per object (Secrets 0600), prints warnings with file:line on
// stderr, exits 0 with warnings and 1 when the project cannot be loaded
// or exported.
func TestExportCommand(t *testing.T) {
	bin := testutil.RoostBinary(t, nil)
	dir := t.TempDir()
	write(t, filepath.Join(dir, "supervisord.conf"), "[supervisord]\n[program:web]\ncommand=/bin/sh -c 'exec web --port $PORT'\nautorestart=false\n\n[proxy:web]\nhosts = shop.example.test\nhealth_path = /up\n")
	write(t, filepath.Join(dir, "cron"), "# name: backup\n0 3 * * * /bin/true\n# name: boot\n@reboot /bin/true\n")
	write(t, filepath.Join(dir, ".config", "roost", "env"), "API_TOKEN=\"t0k3n\"\n")
	write(t, filepath.Join(dir, ".config", "roost", "services.conf"), "[program:cache]\ncommand=/bin/sleep 1000\n")

	out := filepath.Join(dir, "k8s")
	stdout, stderr, code := runRoost(t, bin, dir, "export", "kubernetes", "--image", "app:v1", "-o", out)
	if code != 0 {
		t.Fatalf("export kubernetes: exit %d\n%s%s", code, stdout, stderr)
	}
	for _, want := range []string{"supervisord.conf:2: [program:web] autorestart=false", "cron:4: cron job boot: @reboot"} {
		if !strings.Contains(stderr, "warning: "+want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	for name, mode := range map[string]os.FileMode{
		"secret-" + filepath.Base(dir) + "-roost-env.yaml": 0o600, "deployment-web.yaml": 0o644, "deployment-cache.yaml": 0o644,
		"service-web.yaml": 0o644, "ingress-web.yaml": 0o644, "cronjob-backup.yaml": 0o644,
	} {
		fi, err := os.Stat(filepath.Join(out, strings.ToLower(name)))
		if err != nil {
			t.Errorf("%v (stdout %s)", err, stdout)
			continue
		}
		if fi.Mode().Perm() != mode {
			t.Errorf("%s: mode %v, want %v", name, fi.Mode().Perm(), mode)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(out, "secret-"+strings.ToLower(filepath.Base(dir))+"-roost-env.yaml")); !strings.Contains(string(b), "API_TOKEN: t0k3n") {
		t.Errorf("the roost env Secret:\n%s", b)
	}

	// To stdout, twice: the same bytes.
	one, _, code := runRoost(t, bin, dir, "export", "systemd", "--user")
	two, _, code2 := runRoost(t, bin, dir, "export", "systemd", "--user")
	if code != 0 || code2 != 0 || one != two || !strings.Contains(one, "# file: "+filepath.Base(dir)+"-web.service") ||
		!strings.Contains(one, "OnCalendar=*-*-* 3:0:00") || !strings.Contains(one, "EnvironmentFile=-"+filepath.Join(dir, ".config", "roost", "env")) {
		t.Errorf("export systemd --user: exit %d %d, same %v:\n%s", code, code2, one == two, one)
	}

	// A broken configuration: exit 1 with its file:line.
	write(t, filepath.Join(dir, "bad.conf"), "[supervisord]\n[program:x]\ncommand=/bin/true\nstartsecs=1o\n")
	_, stderr, code = runRoost(t, bin, dir, "export", "kubernetes", "-c", "bad.conf")
	if code != 1 || !strings.Contains(stderr, "bad.conf:4") {
		t.Errorf("bad config: exit %d, stderr %s", code, stderr)
	}
	// Usage errors: exit 2.
	if _, stderr, code = runRoost(t, bin, dir, "export", "kubernetes", "--namespace", "Not_A_Label"); code != 1 || !strings.Contains(stderr, "RFC 1123") {
		t.Errorf("bad namespace: exit %d, stderr %s", code, stderr)
	}
	if _, _, code = runRoost(t, bin, dir, "export", "systemd", "extra"); code != 2 {
		t.Errorf("extra argument: exit %d, want 2", code)
	}
}
