package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"roost/internal/testutil"
)

// roost deploy's refusals, as the real user: a host without [deploy]
// enabled, a broken [deploy], bad arguments; and roost releases with none.
func TestDeployVerbsRefuse(t *testing.T) {
	testutil.RequireRoot(t)
	alice := testutil.RequireUser(t, testutil.UserA)
	bin := testutil.RoostBinary(t, nil)
	dir := sharedTempDir(t, "roost-deploy-verbs-")
	project := filepath.Join(".roost-deploy-verbs-"+filepath.Base(dir), "current")
	t.Cleanup(func() { os.RemoveAll(filepath.Join(alice.Home, filepath.Dir(project))) })
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	off := write("off.toml", "[users]\nproject = \""+project+"\"\n")
	broken := write("broken.toml", "[deploy]\nenabled = true\nkeep_releases = 0\n")
	on := write("on.toml", "[users]\nproject = \""+project+"\"\n[deploy]\nenabled = true\n")
	run := func(args ...string) (string, int) {
		cmd := exec.Command(bin, args...)
		asUser(cmd, alice)
		cmd.Env = []string{"HOME=" + alice.Home, "USER=" + alice.Name, "PATH=/usr/bin:/bin"}
		cmd.Dir = "/"
		out, err := cmd.CombinedOutput()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return string(out), code
	}
	for _, tt := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"deploy", "--init", "--master-config", off}, 1, "deploy is not enabled on this host: the administrator sets [deploy] enabled = true in " + off},
		{[]string{"deploy", "--init", "--master-config", broken}, 1, broken + ":3: [deploy] keep_releases: 0 is out of range"},
		{[]string{"deploy", "--master-config", on}, 2, "give a DIR, --ref REF, --init or --rollback"},
		{[]string{"deploy", "--master-config", on, "/nonexistent"}, 2, `"/nonexistent" is not a directory`},
		{[]string{"deploy", "--master-config", on, "--ref", "main"}, 1, "has no commit \"main\" (git push it first)"},
		{[]string{"deploy", "--master-config", on, "--ref", "--upload-pack=x"}, 1, `"--upload-pack=x" is not a ref`},
		{[]string{"rollback", "--master-config", on, "../../etc"}, 2, `"../../etc" is not a release id`},
		{[]string{"rollback", "--master-config", on}, 1, "no previous release to roll back to"},
		{[]string{"releases", "--master-config", on}, 0, "no releases in " + filepath.Join(alice.Home, filepath.Dir(project), "releases") + " yet"},
	} {
		out, code := run(tt.args...)
		if code != tt.code || !strings.Contains(out, tt.want) {
			t.Errorf("roost %v: exit %d, want %d and %q\n%s", tt.args, code, tt.code, tt.want, out)
		}
	}
}

// roost check in a project with a Procfile and no supervisord.conf prints
// the mapping and checks it; a broken Procfile names its line.
func TestCheckProcfile(t *testing.T) {
	bin := testutil.RoostBinary(t, nil)
	dir := t.TempDir()
	check := func(procfile string) (string, int) {
		if err := os.WriteFile(filepath.Join(dir, "Procfile"), []byte(procfile), 0o644); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(bin, "check")
		cmd.Dir = dir
		cmd.Env = []string{"HOME=" + filepath.Dir(dir), "PATH=/usr/bin:/bin"}
		out, err := cmd.CombinedOutput()
		if ee, ok := err.(*exec.ExitError); ok {
			return string(out), ee.ExitCode()
		}
		return string(out), 0
	}
	out, code := check("web: python3 -m http.server $PORT\nworker: ./work --queue=%d\nrelease: ./migrate\n")
	for _, w := range []string{"roost deploy writes this one from the Procfile", "[program:web]", "[program:worker]",
		`command=/bin/sh -c "exec ./work --queue=%%d"`, "valid: 2 process(es) in 2 group(s)"} {
		if !strings.Contains(out, w) {
			t.Errorf("roost check lacks %q (exit %d):\n%s", w, code, out)
		}
	}
	if code != 0 || strings.Contains(out, "[program:release]") {
		t.Errorf("exit %d\n%s", code, out)
	}
	if out, code := check("web: a\nweb: b\n"); code != 1 || !strings.Contains(out, "Procfile:2: web is already defined at line 1") {
		t.Errorf("a broken Procfile: exit %d\n%s", code, out)
	}
}
