package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"roost/internal/testutil"
	"roost/supervisor/api"
)

// Issue 13 point 5: a program's log in a shared sticky directory (/tmp)
// must not follow another user's symlink, write into their FIFO or append
// to their file.

// plantedDir is a /tmp-like directory (root's, 1777) in which bob has
// planted, before alice's supervisor starts: a symlink to alice's own
// .profile, a FIFO he reads, and a file of his that anyone may write.
// It returns the directory and the victim file.
func plantedDir(t *testing.T, alice, bob testutil.Account) (top, shared, profile string) {
	t.Helper()
	top = sharedTempDir(t, "roost-planted-")
	shared = filepath.Join(top, "tmp")
	if err := os.Mkdir(shared, 0o755); err != nil {
		t.Fatal(err)
	}
	os.Chmod(shared, 0o1777)
	home := filepath.Join(top, "alice")
	ownedDir(t, home, alice, 0o755)
	profile = filepath.Join(home, ".profile")
	write(t, profile, "# alice's profile\n")
	os.Chown(profile, alice.UID, alice.GID)

	// What bob plants, as bob (the owner matters).
	script := `set -e
cd "$1"
ln -s "$2" sym.log
ln -s "$2" main.log
mkfifo -m 0666 fifo.log
printf 'bob was here\n' > bob.log
chmod 0666 bob.log`
	cmd := exec.Command("/bin/sh", "-c", script, "sh", shared, profile)
	asUser(cmd, bob)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("planting as bob: %v\n%s", err, out)
	}
	return top, shared, profile
}

// TestLogRefusesPlantedFiles: alice's programs log to bob's symlink, FIFO
// and file in a sticky shared directory: each is refused with a clear
// spawn error in status and in the main log, nothing reaches bob or
// alice's .profile, and a program logging to a fresh file there runs.
func TestLogRefusesPlantedFiles(t *testing.T) {
	alice := testutil.RequireUser(t, testutil.UserA)
	bob := testutil.RequireUser(t, testutil.UserB)
	top, shared, profile := plantedDir(t, alice, bob)

	// bob reads his FIFO (non-blocking), to see what reaches him.
	fifo, err := os.OpenFile(filepath.Join(shared, "fifo.log"), os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer fifo.Close()

	project := filepath.Join(top, "project")
	ownedDir(t, project, alice, 0o755)
	conf := filepath.Join(project, "supervisord.conf")
	prog := func(name, log string) string {
		return "[program:" + name + "]\ncommand=/bin/sh -c 'echo secret-" + name + "; exec sleep 1000'\n" +
			"stdout_logfile=" + filepath.Join(shared, log) + "\nstartretries=1\nstartsecs=0\n\n"
	}
	write(t, conf, "[unix_http_server]\nfile=%(here)s/roost.sock\n\n[supervisord]\nuser="+alice.Name+
		"\nlogfile=%(here)s/main.log\nchildlogdir=%(here)s\n\n"+prog("sym", "sym.log")+prog("fifo", "fifo.log")+prog("bobs", "bob.log")+prog("fresh", "fresh.log"))
	os.Chown(conf, alice.UID, alice.GID)

	p := startProc(t, roostCmd("run", "--no-watch", "-c", conf))
	c := dialWhenUp(t, filepath.Join(project, "roost.sock"), p)
	infos := waitState(t, c, "sym, fifo and bobs FATAL, fresh RUNNING", func(infos []api.ProcessInfo) bool {
		want := map[string]api.State{"sym": api.Fatal, "fifo": api.Fatal, "bobs": api.Fatal, "fresh": api.Running}
		for _, in := range infos {
			if want[in.Name] != in.State {
				return false
			}
		}
		return len(infos) == 4
	})
	wantErr := map[string]string{
		"sym":  "sym.log is a symbolic link in " + shared + ", a directory others can write to: refusing to follow it",
		"fifo": "fifo.log is a FIFO, not a regular file, in " + shared,
		"bobs": "bob.log belongs to uid " + strconv.Itoa(bob.UID) + " (" + bob.Name + "), not to you",
	}
	mainLog, _ := os.ReadFile(filepath.Join(project, "main.log"))
	for _, in := range infos {
		w, ok := wantErr[in.Name]
		if !ok {
			continue
		}
		if !strings.Contains(in.SpawnErr, w) || !strings.Contains(in.Description, w) {
			t.Errorf("%s: spawnerr %q, description %q; want them to say %q", in.Name, in.SpawnErr, in.Description, w)
		}
		if !strings.Contains(string(mainLog), w) {
			t.Errorf("the main log does not say %q:\n%s", w, mainLog)
		}
	}
	out, _, _ := roost(t, "--user", alice.Name, "-s", filepath.Join(project, "roost.sock"), "status", "sym")
	if !strings.Contains(out, "refusing to follow it") {
		t.Errorf("roost status sym does not say why:\n%s", out)
	}

	if b, _ := os.ReadFile(profile); string(b) != "# alice's profile\n" {
		t.Errorf("alice's .profile was written through bob's symlink:\n%q", b)
	}
	if b, _ := os.ReadFile(filepath.Join(shared, "bob.log")); string(b) != "bob was here\n" {
		t.Errorf("bob's file was written into:\n%q", b)
	}
	buf := make([]byte, 4096)
	if n, _ := fifo.Read(buf); n > 0 {
		t.Errorf("bob's FIFO received alice's output: %q", buf[:n])
	}
	testutil.Eventually(t, 30*time.Second, "fresh.log holds fresh's output", func() bool {
		b, _ := os.ReadFile(filepath.Join(shared, "fresh.log"))
		return strings.Contains(string(b), "secret-fresh")
	})
	if fi, err := os.Stat(filepath.Join(shared, "fresh.log")); err == nil && int(fi.Sys().(*syscall.Stat_t).Uid) != alice.UID {
		t.Errorf("fresh.log is not alice's")
	}
}

// TestMainLogRefusesPlantedSymlink: a main log named in the shared
// directory, where bob planted a symlink, stops the supervisor at start
// with the reason, and leaves the target alone.
func TestMainLogRefusesPlantedSymlink(t *testing.T) {
	alice := testutil.RequireUser(t, testutil.UserA)
	bob := testutil.RequireUser(t, testutil.UserB)
	top, shared, profile := plantedDir(t, alice, bob)
	project := filepath.Join(top, "project")
	ownedDir(t, project, alice, 0o755)
	conf := filepath.Join(project, "supervisord.conf")
	write(t, conf, "[unix_http_server]\nfile=%(here)s/roost.sock\n\n[supervisord]\nuser="+alice.Name+
		"\nlogfile="+filepath.Join(shared, "main.log")+"\nchildlogdir=%(here)s\n\n[program:a]\ncommand=sleep 1000\n")
	os.Chown(conf, alice.UID, alice.GID)
	p := startProc(t, roostCmd("run", "--no-watch", "-c", conf))
	code := p.wait(t, 60*time.Second)
	out := p.out.String()
	if code == 0 || !strings.Contains(out, "main.log is a symbolic link in "+shared) {
		t.Errorf("roost run with a planted main log: exit %d, want an error naming it:\n%s", code, out)
	}
	if b, _ := os.ReadFile(profile); string(b) != "# alice's profile\n" {
		t.Errorf("alice's .profile was written through bob's symlink:\n%q", b)
	}
}
