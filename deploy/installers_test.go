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

// cpanm's local/: a cpanfile Debian's perl satisfies, and a module the
// project vendors (vendor/Greeting-0.01, a real ExtUtils::MakeMaker dist
// with a script) that its postinstall installs with cpanm -L local. The
// steps after it (the Procfile's release command) find the module through
// PERL5LIB and the script on PATH, as the programs will (LocalEnv).
func TestPerlLocal(t *testing.T) {
	cpanm := testutil.RequireBinary(t, "cpanm")
	testutil.RequireBinary(t, "make")
	l := layout(t)
	env := append(os.Environ(), "PATH="+filepath.Dir(cpanm)+":/usr/bin:/bin", "PERL5LIB=/nonexistent/kept")
	dir := tree(t, map[string]string{
		"cpanfile":                             "requires 'strict';\nrequires 'File::Spec', '3.0';\n",
		"vendor/Greeting-0.01/Makefile.PL":     "use ExtUtils::MakeMaker;\nWriteMakefile(NAME => 'Greeting', VERSION_FROM => 'lib/Greeting.pm', EXE_FILES => ['bin/greet']);\n",
		"vendor/Greeting-0.01/lib/Greeting.pm": "package Greeting;\nour $VERSION = '0.01';\nsub hello { 'hello from Greeting' }\n1;\n",
		"vendor/Greeting-0.01/bin/greet*":      "#!/usr/bin/perl\nuse Greeting;\nprint Greeting::hello(), \"\\n\";\n",
		"postinstall*":                         "#!/bin/sh\nset -e\ncpanm --notest -L local ./vendor/Greeting-0.01\n",
		"Procfile": "web: perl -MGreeting -e 'print Greeting::hello()'; sleep 1000\n" +
			"release: greet > greeting.txt && perl -MGreeting -e 'print Greeting::hello(), qq{\\n}' >> greeting.txt && echo \"$PERL5LIB\" >> greeting.txt\n",
	})
	var out bytes.Buffer
	r, err := Deploy(context.Background(), l, Source{Dir: dir}, &out, Options{Env: env})
	t.Logf("%s", out.String())
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"-----> cpanm: cpanm --notest --installdeps -L local . (cpanfile)", "cpanm done", "Successfully installed Greeting-0.01", "release done"} {
		if !strings.Contains(out.String(), w) {
			t.Errorf("output lacks %q", w)
		}
	}
	rel := filepath.Join(l.Releases, r.ID)
	b, err := os.ReadFile(filepath.Join(l.Current, "greeting.txt"))
	want := "hello from Greeting\nhello from Greeting\n" + filepath.Join(rel, "local", "lib", "perl5") + ":/nonexistent/kept\n"
	if err != nil || string(b) != want {
		t.Errorf("greeting.txt: %q %v, want %q", b, err, want)
	}
	// The programs' view: LocalEnv of the project (current, the symlink).
	got := LocalEnv(l.Current, func(k string) string { return map[string]string{"PATH": "/usr/bin:/bin"}[k] })
	if wantEnv := []string{"PERL5LIB=" + filepath.Join(l.Current, "local/lib/perl5"), "PATH=" + filepath.Join(l.Current, "local/bin") + ":/usr/bin:/bin"}; strings.Join(got, " ") != strings.Join(wantEnv, " ") {
		t.Errorf("LocalEnv: %q, want %q", got, wantEnv)
	}
	if got := LocalEnv(t.TempDir(), os.Getenv); got != nil {
		t.Errorf("LocalEnv of a project without local/: %q", got)
	}
}
