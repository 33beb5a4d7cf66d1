package main

import (
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"syscall"
	"testing"

	"roost/internal/testutil"
)

// A managed supervisor moves supervisord's working-directory defaults to
// the log and run directories, keeps what the file sets, and runs with no
// programs while the file does not exist.
func TestManagedLoad(t *testing.T) {
	home := t.TempDir()
	logDir := filepath.Join(home, "log")
	sock := filepath.Join(t.TempDir(), "roost.sock")
	if _, err := managedSetup(sock, logDir); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(logDir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("log dir: %v %v", fi, err)
	}
	conf := filepath.Join(home, "current", "supervisord.conf")
	load := managedLoad(conf, home, logDir, sock)

	cfg, err := load()
	if err != nil {
		t.Fatal(err)
	}
	sv := cfg.Supervisord
	if len(cfg.Groups) != 0 || sv.Logfile != filepath.Join(logDir, "roost.log") || sv.Childlogdir != logDir ||
		sv.Pidfile != filepath.Join(filepath.Dir(sock), "roost.pid") {
		t.Errorf("missing file: %+v", sv)
	}

	os.MkdirAll(filepath.Dir(conf), 0o755)
	os.MkdirAll(filepath.Join(home, "mylogs"), 0o755)
	os.WriteFile(conf, []byte("[supervisord]\nlogfile=%(here)s/../mylogs/s.log\n[program:web]\ncommand=/bin/sleep 1\n"), 0o644)
	cfg, err = load()
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Groups) != 1 || cfg.Supervisord.Logfile != filepath.Join(home, "mylogs", "s.log") || cfg.Supervisord.Childlogdir != logDir {
		t.Errorf("explicit logfile: %+v", cfg.Supervisord)
	}

	os.WriteFile(conf, []byte("[program:web]\n"), 0o644)
	if _, err := load(); err == nil {
		t.Error("an invalid file loaded")
	}
	if _, err := managedSetup("", logDir); err == nil {
		t.Error("--managed without --socket accepted")
	}
	if _, err := managedSetup(sock, "relative/log"); err == nil {
		t.Error("a relative --logdir accepted")
	}
}

// A managed supervisor's programs get the project's cpanm local/: PERL5LIB
// and local/bin first on PATH, through the project's path (~/current, a
// symlink to a release), so a program finds a module and a script the
// release installed there. It runs as roost-bob, as under the master (a
// supervisor running as root gives programs the passwd entry's
// environment, not its own).
func TestManagedPerlLocal(t *testing.T) {
	perl := testutil.RequireBinary(t, "perl")
	bob := testutil.RequireUser(t, testutil.UserB)
	bin := testutil.RoostBinary(t, nil)
	home, err := os.MkdirTemp("", "roost-perl-local-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(home) })
	rel := filepath.Join(home, "releases", "r1")
	write(t, filepath.Join(rel, "local", "lib", "perl5", "Greeting.pm"), "package Greeting;\nsub hello { 'hello from Greeting' }\n1;\n")
	write(t, filepath.Join(rel, "local", "bin", "greet"), "#!/bin/sh\necho greet found\n")
	os.Chmod(filepath.Join(rel, "local", "bin", "greet"), 0o755)
	if err := os.Symlink("releases/r1", filepath.Join(home, "current")); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(home, "current", "supervisord.conf")
	write(t, conf, fmt.Sprintf("[program:web]\ncommand=/bin/sh -c 'greet; %s -MGreeting -e \"print Greeting::hello(), qq{\\\\n}\"; echo \"$PERL5LIB\"; exec sleep 1000'\nstdout_logfile=%s\nstartsecs=0\n", perl, filepath.Join(home, "web.out")))
	filepath.WalkDir(home, func(p string, d fs.DirEntry, err error) error {
		if err == nil {
			os.Lchown(p, bob.UID, bob.GID)
		}
		return nil
	})
	os.Chmod(home, 0o755)
	sock := filepath.Join(home, "run", "roost.sock")
	cmd := exec.Command(bin, "run", "--managed", "--socket", sock, "--logdir", filepath.Join(home, "log"), "-c", conf)
	cmd.Dir = home
	cmd.Env = []string{"HOME=" + home, "USER=" + bob.Name, "PATH=/usr/bin:/bin", "PERL5LIB=/nonexistent/kept"}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(bob.UID), Gid: uint32(bob.GID), Groups: []uint32{}}}
	p := startProc(t, cmd)
	dialWhenUp(t, sock, p)
	want := "greet found\nhello from Greeting\n" + filepath.Join(home, "current", "local", "lib", "perl5") + ":/nonexistent/kept\n"
	waitFileHas(t, filepath.Join(home, "web.out"), regexp.MustCompile("^"+regexp.QuoteMeta(want)+"$"))
}
