package master

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"roost/internal/testutil"
)

// startAs starts /bin/sleep as a throwaway user, registered as the
// master's child; the test kills it at its end.
func startAs(t *testing.T, a testutil.Account) *child {
	t.Helper()
	c, err := spawn(asUser(a, "/bin/sleep", "1000"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		select {
		case <-c.done: // the test waited for it
		default:
			c.signal(syscall.SIGKILL, false)
			c.wait()
		}
	})
	if err := c.identify(); err != nil {
		t.Fatal(err)
	}
	return c
}

// recordOf is the record a master would write for c, run by a.
func recordOf(a testutil.Account, c *child) supRecord {
	return supRecord{Name: a.Name, PID: c.pid, Start: c.start, UID: a.UID, ExeDev: c.exeDev, ExeIno: c.exeIno, Started: time.Now()}
}

// A record is believed only for the very process it names: pid, start
// time, every uid and the executable. A user's process never passes for
// a supervisor that ended.
func TestAdoptChecksIdentity(t *testing.T) {
	alice := testutil.RequireUser(t, testutil.UserA)
	bob := testutil.RequireUser(t, testutil.UserB)
	c := startAs(t, alice)
	real := recordOf(alice, c)

	got, err := adopt(real)
	if err != nil {
		t.Fatalf("the recorded process itself: %v", err)
	}
	if got.pid != c.pid || !got.own || got.pidfd == nil {
		t.Errorf("adopted %+v", got)
	}
	got.pidfd.Close()

	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	var st syscall.Stat_t
	if err := syscall.Stat(self, &st); err != nil {
		t.Fatal(err)
	}
	for what, rec := range map[string]supRecord{
		"another executable (alice's sleep where the record says roost)": func() supRecord {
			r := real
			r.ExeDev, r.ExeIno = uint64(st.Dev), st.Ino
			return r
		}(),
		"another start time (a reused pid)": func() supRecord { r := real; r.Start++; return r }(),
		"another uid":                       func() supRecord { r := real; r.UID = bob.UID; return r }(),
	} {
		if c, err := adopt(rec); !errors.Is(err, errNotSupervisor) {
			t.Errorf("%s: adopted %+v, err %v; want errNotSupervisor", what, c, err)
		}
	}
	if c, err := adopt(supRecord{Name: "x", PID: 1, UID: alice.UID}); err == nil {
		t.Errorf("pid 1 adopted: %+v", c)
	}

	// An ended process is gone, not "another process".
	done, err := spawn(asUser(alice, "/bin/true"))
	if err != nil {
		t.Fatal(err)
	}
	done.identify()
	dead := recordOf(alice, done)
	done.wait()
	if c, err := adopt(dead); err == nil || errors.Is(err, errNotSupervisor) {
		t.Errorf("an ended process: %+v, %v", c, err)
	}
}

// The record is root's alone: written 0600, and a file anyone else could
// have written (group or world bits, another owner, a symlink) is not
// read, so nothing it names is adopted.
func TestHandoverFileIsRootsAlone(t *testing.T) {
	alice := testutil.RequireUser(t, testutil.UserA)
	dir := t.TempDir()
	path := filepath.Join(dir, handoverName)
	h := newHandover(dir, discardLogger(), nil)
	s := &slot{name: alice.Name}
	c := startAs(t, alice)
	rec := recordOf(alice, c)
	h.note(s, &rec)
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode() != 0o600 || fi.Sys().(*syscall.Stat_t).Uid != 0 {
		t.Errorf("record: mode %v uid %d, want 0600 root", fi.Mode(), fi.Sys().(*syscall.Stat_t).Uid)
	}
	f, err := readHandover(path)
	if err != nil || len(f.Supervisors) != 1 || f.Supervisors[0].PID != c.pid || f.BootID == "" {
		t.Fatalf("read back: %+v %v", f, err)
	}

	m := &Master{log: discardLogger()}
	adoptFrom := func() map[string][]adoption {
		as := m.loadAdoptions(dir)
		reg.mu.Lock()
		reg.children[c.pid] = c // the spawn's own registration, which the adoption replaced
		reg.mu.Unlock()
		for _, list := range as {
			for _, a := range list {
				a.c.pidfd.Close()
			}
		}
		return as
	}
	for what, spoil := range map[string]func() error{
		"group-readable": func() error { return os.Chmod(path, 0o640) },
		"alice's":        func() error { return os.Chown(path, alice.UID, 0) },
		"a symlink": func() error {
			if err := os.Rename(path, path+".real"); err != nil {
				return err
			}
			return os.Symlink(path+".real", path)
		},
	} {
		if err := h.save(); err != nil {
			t.Fatal(err)
		}
		if err := spoil(); err != nil {
			t.Fatal(err)
		}
		if _, err := readHandover(path); err == nil {
			t.Errorf("%s record read", what)
		}
		if as := adoptFrom(); len(as) != 0 {
			t.Errorf("%s record: adopted %v", what, as)
		}
		os.Remove(path)
		os.Remove(path + ".real")
	}

	// Another boot's record names nothing.
	other := handoverFile{Version: handoverVersion, BootID: "another-boot", Supervisors: []supRecord{rec}}
	b, _ := json.Marshal(other)
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if as := adoptFrom(); len(as) != 0 {
		t.Errorf("another boot's record: adopted %v", as)
	}

	// The genuine record adopts.
	if err := h.save(); err != nil {
		t.Fatal(err)
	}
	if as := adoptFrom(); len(as[alice.Name]) != 1 || as[alice.Name][0].c.pid != c.pid {
		t.Errorf("genuine record: adopted %v", as)
	}

	// The recorded process, changed into another program (its start time
	// is the record's): killed, with what it started, never adopted.
	changed := rec
	changed.ExeIno++
	h.note(s, &changed)
	if as := adoptFrom(); len(as) != 0 {
		t.Errorf("a changed supervisor adopted: %v", as)
	}
	ps := c.wait()
	if ws, ok := ps.Sys().(syscall.WaitStatus); !ok || ws.Signal() != syscall.SIGKILL {
		t.Errorf("the changed supervisor: %v, want killed", ps)
	}
}

// The first render of a master that adopted supervisors waits for their
// routes, and for no longer than adoptedRoutesWait.
func TestRouterHoldsForAdoptedRoutes(t *testing.T) {
	m := &Master{log: discardLogger(), image: MasterImage{Adopted: []string{"alice", "bob"}}}
	r := newRouter(m)
	if r.holding() {
		t.Fatal("a master that adopted nothing holds")
	}
	r.holdUntil = time.Now().Add(time.Hour)
	if !r.holding() {
		t.Error("no route heard yet: not holding")
	}
	r.infos["alice"] = userRoutes{}
	if !r.holding() {
		t.Error("bob's routes not heard yet: not holding")
	}
	r.infos["bob"] = userRoutes{err: "cannot connect"} // an answer too
	if r.holding() || !r.holdUntil.IsZero() {
		t.Error("every adopted user heard: still holding")
	}
	delete(r.infos, "bob")
	r.holdUntil = time.Now().Add(-time.Second)
	if r.holding() {
		t.Error("holding past the deadline")
	}
}

// An adopted supervisor is restarted when its settings changed, or when
// the previous master was stopping it (its kill timer did not cross).
func TestAdoptionRestarts(t *testing.T) {
	sp := userSpec{Name: "alice", Args: []string{"/usr/bin/roost", "run", "--managed"}}
	other := sp
	other.Args = []string{"/usr/bin/roost", "run", "--managed", "--logdir", "/elsewhere"}
	for _, c := range []struct {
		rec  supRecord
		want bool
	}{
		{supRecord{Digest: sp.digest()}, false},
		{supRecord{Digest: other.digest()}, true},
		{supRecord{Digest: sp.digest(), Stopping: true}, true},
	} {
		if got := (adoption{rec: c.rec}).restarts(sp); got != c.want {
			t.Errorf("%+v: restarts %v, want %v", c.rec, got, c.want)
		}
	}
	if sp.digest() == other.digest() || !sp.equal(sp) || sp.equal(other) {
		t.Error("the digest does not tell the specs apart")
	}
}

// Until its slot takes it over, an adopted supervisor stays in the record
// that the other slots' changes rewrite: a master killed meanwhile loses
// none of them.
func TestHandoverKeepsPendingAdoptions(t *testing.T) {
	dir := t.TempDir()
	adopted := map[string][]adoption{"alice": {{rec: supRecord{Name: "alice", PID: 1001, UID: 1001}}}}
	h := newHandover(dir, discardLogger(), adopted)
	bob := &slot{name: "bob"}
	h.note(bob, &supRecord{Name: "bob", PID: 2002, UID: 1002})
	names := func() []string {
		f, err := readHandover(filepath.Join(dir, handoverName))
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, r := range f.Supervisors {
			out = append(out, r.Name)
		}
		return out
	}
	if got := names(); len(got) != 2 || got[0] != "alice" || got[1] != "bob" {
		t.Errorf("record %v, want alice (pending) and bob", got)
	}
	alice := &slot{name: "alice"}
	h.note(alice, &supRecord{Name: "alice", PID: 1001, UID: 1001, Spawns: 3})
	h.note(alice, nil) // it exited
	if got := names(); len(got) != 1 || got[0] != "bob" {
		t.Errorf("record %v after alice's supervisor exited, want bob alone", got)
	}
}
