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
