package main

import (
	"os"
	"path/filepath"
	"testing"
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
