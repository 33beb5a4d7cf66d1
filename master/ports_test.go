package master

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"roost/config"
)

func TestPortsStableAcrossRestartsAndEdits(t *testing.T) {
	dir := t.TempDir()
	rng := config.PortRange{First: 20000, Last: 20049, PerUser: 10} // 5 blocks
	pt, err := loadPorts(dir)
	if err != nil {
		t.Fatal(err)
	}
	got, errs, changed := pt.assign(rng, []string{"alice", "bob"})
	if len(errs) != 0 || !changed {
		t.Fatalf("errs %v changed %v", errs, changed)
	}
	want := map[string]Block{"alice": {20000, 10}, "bob": {20010, 10}}
	if d := cmp.Diff(want, got); d != "" {
		t.Fatalf("(-want +got):\n%s", d)
	}
	if err := pt.save(); err != nil {
		t.Fatal(err)
	}

	// A restart reads the same blocks; listing users in another order, or
	// adding one before them, changes nothing for them.
	pt, err = loadPorts(dir)
	if err != nil {
		t.Fatal(err)
	}
	got, errs, changed = pt.assign(rng, []string{"carol", "bob", "alice"})
	if len(errs) != 0 || !changed {
		t.Fatalf("errs %v changed %v", errs, changed)
	}
	want = map[string]Block{"alice": {20000, 10}, "bob": {20010, 10}, "carol": {20020, 10}}
	if d := cmp.Diff(want, got); d != "" {
		t.Fatalf("(-want +got):\n%s", d)
	}
	if _, _, changed = pt.assign(rng, []string{"alice", "bob", "carol"}); changed {
		t.Error("same users again: changed")
	}

	// bob leaves: his block stays reserved for him while there is room;
	// dave gets a fresh one, and bob comes back to his own.
	got, _, _ = pt.assign(rng, []string{"alice", "carol", "dave"})
	if got["dave"] != (Block{20030, 10}) {
		t.Errorf("dave got %v, want 20030 (bob's 20010 stays reserved)", got["dave"])
	}
	got, _, _ = pt.assign(rng, []string{"alice", "carol", "dave", "bob"})
	if got["bob"] != (Block{20010, 10}) {
		t.Errorf("bob came back to %v, want his 20010", got["bob"])
	}
}

func TestPortsFullRange(t *testing.T) {
	pt, err := loadPorts(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	rng := config.PortRange{First: 20000, Last: 20029, PerUser: 10} // 3 blocks
	got, errs, _ := pt.assign(rng, []string{"a", "b", "c", "d", "e"})
	if len(got) != 3 || len(errs) != 2 {
		t.Fatalf("got %v errs %v, want 3 blocks and 2 errors", got, errs)
	}
	for _, u := range []string{"d", "e"} {
		if !errors.Is(errs[u], ErrPortsFull) {
			t.Errorf("%s: %v, want ErrPortsFull", u, errs[u])
		}
	}
	// The listed users keep theirs; an unlisted user's block is taken only
	// when nothing else is free.
	got, errs, _ = pt.assign(rng, []string{"a", "c", "d"})
	if len(errs) != 0 || got["d"] != (Block{20010, 10}) || got["a"] != (Block{20000, 10}) || got["c"] != (Block{20020, 10}) {
		t.Fatalf("got %v errs %v: d should reclaim b's block", got, errs)
	}
	if _, ok := pt.blocks["b"]; ok {
		t.Error("b's reclaimed block is still recorded for b")
	}
}

func TestPortsRangeChange(t *testing.T) {
	pt, err := loadPorts(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	pt.assign(config.PortRange{First: 20000, Last: 29999, PerUser: 10}, []string{"a", "b"})
	// A new range that still holds a's block keeps it; b's falls outside
	// and is reassigned inside the new range.
	got, errs, changed := pt.assign(config.PortRange{First: 20000, Last: 20009, PerUser: 10}, []string{"a"})
	if !(len(errs) == 0 && got["a"] == Block{20000, 10}) || changed {
		t.Errorf("got %v errs %v changed %v", got, errs, changed)
	}
	got, _, changed = pt.assign(config.PortRange{First: 30000, Last: 30099, PerUser: 20}, []string{"a", "b"})
	if got["a"] != (Block{30000, 20}) || got["b"] != (Block{30020, 20}) || !changed {
		t.Errorf("after a range and size change: %v", got)
	}
}

func TestPortsFileCorruptOrForeign(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, PortsFile)
	os.WriteFile(p, []byte("{not json"), 0o644)
	if _, err := loadPorts(dir); err == nil {
		t.Error("corrupt ports.json: no error")
	}
	os.WriteFile(p, []byte(`{"version": 1, "blocks": {"ok": {"base": 20000, "count": 10}, "../x": {"base": 1, "count": 1}, "neg": {"base": -5, "count": 10}}}`), 0o644)
	pt, err := loadPorts(dir)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(map[string]Block{"ok": {20000, 10}}, pt.blocks); d != "" {
		t.Errorf("invalid entries kept (-want +got):\n%s", d)
	}
	os.WriteFile(p, []byte(`{"version": 7, "blocks": {}}`), 0o644)
	if _, err := loadPorts(dir); err == nil {
		t.Error("future version: no error")
	}
}

func TestPortsSaveIsAtomic(t *testing.T) {
	dir := t.TempDir()
	pt, _ := loadPorts(dir)
	pt.assign(config.PortRange{First: 20000, Last: 29999, PerUser: 10}, []string{"a"})
	if err := pt.save(); err != nil {
		t.Fatal(err)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 || ents[0].Name() != PortsFile {
		t.Errorf("state dir holds %v, want only %s (no temp file left)", ents, PortsFile)
	}
	again, err := loadPorts(dir)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(pt.blocks, again.blocks); d != "" {
		t.Error(d)
	}
}
