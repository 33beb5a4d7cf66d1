package deploy

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"roost/internal/testutil"
)

// Real dependency installs that work on this network: a go.mod's module
// download (from the Go module proxy into the user's cache) and cpanm
// --installdeps of a cpanfile Debian's perl already satisfies.
func TestRealInstallers(t *testing.T) {
	goBin := testutil.RequireBinary(t, "go")
	cpanm := testutil.RequireBinary(t, "cpanm")
	l := layout(t)
	cache := t.TempDir()
	env := append(os.Environ(), "PATH="+filepath.Dir(goBin)+":"+filepath.Dir(cpanm)+":/usr/bin:/bin",
		"GOMODCACHE="+cache, "GOFLAGS=-modcacherw", "GOTOOLCHAIN=local")
	dir := tree(t, map[string]string{
		"supervisord.conf": goodConf,
		"go.mod":           "module example.test/app\n\ngo 1.22\n\nrequire github.com/robfig/cron/v3 v3.0.1\n",
		"go.sum": "github.com/robfig/cron/v3 v3.0.1 h1:WdRxkvbJztn8LMz/QEvLN5sBU+xKpSqwwUO1Pjr4qDs=\n" +
			"github.com/robfig/cron/v3 v3.0.1/go.mod h1:eQICP3HwyT7UooqI/z+Ov+PtYAWygg1TEWWzGIFLtro=\n",
		"cpanfile": "requires 'strict';\nrequires 'File::Spec', '3.0';\n",
	})
	var out bytes.Buffer
	r, err := Deploy(context.Background(), l, Source{Dir: dir}, &out, Options{Env: env})
	t.Logf("%s", out.String())
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"-----> go mod download", "go mod download done", "-----> cpanm", "cpanm done"} {
		if !strings.Contains(out.String(), w) {
			t.Errorf("output lacks %q", w)
		}
	}
	if _, err := os.Stat(filepath.Join(cache, "github.com", "robfig", "cron", "v3@v3.0.1", "cron.go")); err != nil {
		t.Errorf("the module was not downloaded: %v", err)
	}
	if currentID(l) != r.ID {
		t.Errorf("current is %q", currentID(l))
	}
}
