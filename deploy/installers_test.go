package deploy

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
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

// npm's build cache: a deploy whose package.json and lock file did not
// change takes the current release's node_modules, hard-linked, instead of
// running npm ci; a changed package.json runs npm ci again (from the
// user's npm cache, ~/.npm).
func TestNodeModulesReused(t *testing.T) {
	npm := testutil.RequireBinary(t, "npm")
	l := layout(t)
	env := append(os.Environ(), "PATH="+filepath.Dir(npm)+":/usr/bin:/bin")
	pkg := `{"name": "app", "version": "1.0.0", "private": true, "dependencies": {"is-number": "7.0.0"}}` + "\n"
	src := tree(t, map[string]string{"supervisord.conf": goodConf, "package.json": pkg, "v": "1"})
	lock := exec.Command(npm, "install", "--package-lock-only", "--no-audit", "--no-fund")
	lock.Dir, lock.Env = src, append(env, "HOME="+l.Home)
	if out, err := lock.CombinedOutput(); err != nil {
		t.Fatalf("npm install --package-lock-only: %v\n%s", err, out)
	}
	deploy := func(what string) (Release, string) {
		t.Helper()
		var out bytes.Buffer
		r, err := Deploy(context.Background(), l, Source{Dir: src}, &out, Options{Env: env})
		if err != nil {
			t.Fatalf("%s: %v\n%s", what, err, out.String())
		}
		return r, out.String()
	}
	inode := func(r Release) uint64 {
		fi, err := os.Stat(filepath.Join(l.Releases, r.ID, "node_modules", "is-number", "index.js"))
		if err != nil {
			t.Fatalf("release %s: %v", r.ID, err)
		}
		return fi.Sys().(*syscall.Stat_t).Ino
	}
	r1, out := deploy("first deploy")
	if !strings.Contains(out, "-----> npm ci: npm ci (package.json and its lock file)") {
		t.Errorf("first deploy did not run npm ci:\n%s", out)
	}
	os.WriteFile(filepath.Join(src, "v"), []byte("2"), 0o644)
	r2, out := deploy("unchanged dependencies")
	if !strings.Contains(out, "unchanged since release "+r1.ID) || !strings.Contains(out, "node_modules of release "+r1.ID+" linked: nothing to install") {
		t.Errorf("unchanged dependencies: node_modules not reused:\n%s", out)
	}
	if inode(r1) != inode(r2) {
		t.Error("node_modules was not hard-linked")
	}
	os.WriteFile(filepath.Join(src, "package.json"), []byte(strings.Replace(pkg, `"private"`, `"description": "x", "private"`, 1)), 0o644)
	r3, out := deploy("changed package.json")
	if strings.Contains(out, "linked") || !strings.Contains(out, "npm ci done") {
		t.Errorf("changed package.json: npm ci did not run:\n%s", out)
	}
	if inode(r3) == inode(r2) {
		t.Error("a changed package.json shares node_modules")
	}
}
