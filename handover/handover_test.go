package handover

import (
	"bytes"
	"encoding/json"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestEncodeTake: a state written to the memfd and inherited comes back
// whole through the environment, which Take then clears.
func TestEncodeTake(t *testing.T) {
	st := &State{From: "1.0", Generation: 3, Started: time.Unix(100, 0).UTC(), Config: json.RawMessage(`{"file":"x"}`),
		Processes: []Process{{Namespec: "web", State: 20, PID: 42, Stdin: -1, Out: [2]int{7, -1}, Partial: [2][]byte{[]byte("half"), nil}}},
		CronNext:  map[string]time.Time{"job": time.Unix(200, 0).UTC()}}
	f, err := Encode(st)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fd, err := Inherit(f)
	if err != nil {
		t.Fatal(err)
	}
	if flags, _ := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); flags&unix.FD_CLOEXEC != 0 {
		t.Errorf("fd %d still close-on-exec", fd)
	}
	dup, err := unix.Dup(fd) // Take closes what it is given
	if err != nil {
		t.Fatal(err)
	}
	// A descriptor the state names comes back close-on-exec.
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	pfd, err := Inherit(r)
	if err != nil {
		t.Fatal(err)
	}
	st.Processes[0].Out[0] = pfd
	f2, err := Encode(st)
	if err != nil {
		t.Fatal(err)
	}
	defer f2.Close()
	if dup, err = unix.Dup(int(f2.Fd())); err != nil {
		t.Fatal(err)
	}
	t.Setenv(EnvFD, strconv.Itoa(dup))
	got, err := Take()
	if err != nil {
		t.Fatal(err)
	}
	if _, set := os.LookupEnv(EnvFD); set {
		t.Error("Take left the variable set")
	}
	if got.Protocol != Protocol || got.Generation != 3 || got.Processes[0].PID != 42 ||
		string(got.Processes[0].Partial[0]) != "half" || !got.CronNext["job"].Equal(st.CronNext["job"]) || string(got.Config) != `{"file":"x"}` {
		t.Errorf("round trip: %+v", got)
	}
	if flags, _ := unix.FcntlInt(uintptr(pfd), unix.F_GETFD, 0); flags&unix.FD_CLOEXEC == 0 {
		t.Errorf("Take left fd %d inheritable", pfd)
	}
	if _, err := Take(); err != ErrNone {
		t.Errorf("second Take: %v, want ErrNone", err)
	}
}

// TestDecodeRefusesOtherProtocols: the probe of a binary speaking another
// protocol fails, so the old image keeps running.
func TestDecodeRefusesOtherProtocols(t *testing.T) {
	for _, in := range []string{`{"protocol":99}`, `not json`, ``} {
		if _, err := Decode(strings.NewReader(in)); err == nil {
			t.Errorf("Decode(%q): no error", in)
		}
		var out bytes.Buffer
		if err := Answer(strings.NewReader(in), &out, "v", nil); err == nil || out.Len() != 0 {
			t.Errorf("Answer(%q): %v, %q", in, err, out.String())
		}
	}
	var out bytes.Buffer
	if err := Answer(strings.NewReader(`{"protocol":1}`), &out, "2.0", nil); err != nil || out.String() != "roost-handover 1 2.0\n" {
		t.Errorf("Answer: %v, %q", err, out.String())
	}
	out.Reset()
	refuse := func(*State) error { return os.ErrInvalid }
	if err := Answer(strings.NewReader(`{"protocol":1}`), &out, "2.0", refuse); err == nil || out.Len() != 0 {
		t.Errorf("Answer with a failing check: %v, %q", err, out.String())
	}
}

// TestProbeFailures: a missing binary, one that exits 1, one that says
// something else: each is an error quoting what happened.
func TestProbeFailures(t *testing.T) {
	dir := t.TempDir()
	f, err := Encode(&State{})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	script := func(name, body string) string {
		p := dir + "/" + name
		if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, c := range []struct{ path, want string }{
		{dir + "/missing", "failed the handover probe"},
		{script("fails", "echo nope >&2; exit 1"), "nope"},
		{script("other", "echo hello"), "is not a roost that takes this handover"},
	} {
		if _, err := Probe(t.Context(), c.path, f); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Probe(%s): %v, want %q", c.path, err, c.want)
		}
	}
	v, err := Probe(t.Context(), script("good", "cat >/dev/null; echo roost-handover 1 7.7"), f)
	if err != nil || v != "7.7" {
		t.Errorf("a good probe: %q, %v", v, err)
	}
}
