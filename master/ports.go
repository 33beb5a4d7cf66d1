package master

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"

	"roost/config"
)

// Block is a user's port block: Count ports from Base. The user's
// supervisor gets PORT=Base, ROOST_PORT_BASE=Base and ROOST_PORT_COUNT=Count.
type Block struct {
	Base  int `json:"base"`
	Count int `json:"count"`
}

// Last returns the block's last port.
func (b Block) Last() int { return b.Base + b.Count - 1 }

func (b Block) overlaps(o Block) bool { return b.Base <= o.Last() && o.Base <= b.Last() }

// PortsFile is the name of the port assignments in state_dir.
const PortsFile = "ports.json"

// portsVersion is the format of PortsFile.
const portsVersion = 1

// ErrPortsFull is a user's error when no block is left in the range.
var ErrPortsFull = errors.New("no free port block")

// portTable holds every user's block, persistently. Blocks of users no
// longer listed are kept (a user removed and added back gets the same
// ports) until the range has no other room.
type portTable struct {
	path   string
	blocks map[string]Block
}

// portsDoc is PortsFile's content.
type portsDoc struct {
	Version int              `json:"version"`
	Blocks  map[string]Block `json:"blocks"`
}

// loadPorts reads state_dir/ports.json; a missing file is an empty table.
func loadPorts(stateDir string) (*portTable, error) {
	t := &portTable{path: filepath.Join(stateDir, PortsFile), blocks: map[string]Block{}}
	data, err := os.ReadFile(t.path)
	if errors.Is(err, fs.ErrNotExist) {
		return t, nil
	}
	if err != nil {
		return nil, fmt.Errorf("port blocks: %w", err)
	}
	var doc portsDoc
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("port blocks: %s is corrupt (%v): fix or remove it (users then get new blocks)", t.path, err)
	}
	if doc.Version != portsVersion {
		return nil, fmt.Errorf("port blocks: %s has version %d, this roost reads version %d", t.path, doc.Version, portsVersion)
	}
	for name, b := range doc.Blocks {
		if config.ValidateUserName(name) != nil || b.Base < 1 || b.Count < 1 || b.Last() > 65535 {
			continue // not ours to honour; the user gets a fresh block
		}
		t.blocks[name] = b
	}
	return t, nil
}

// assign gives each listed user a block inside rng: its recorded block
// when that is still valid (inside the range, PerUser ports, overlapping
// no other listed user's), else the lowest free aligned block, taking the
// block of a user no longer listed only when nothing else is free. It
// returns the blocks, the users left without one (ErrPortsFull), and
// whether the table changed (then call save).
func (t *portTable) assign(rng config.PortRange, users []string) (map[string]Block, map[string]error, bool) {
	listed := make(map[string]bool, len(users))
	for _, u := range users {
		listed[u] = true
	}
	got := map[string]Block{}
	errs := map[string]error{}
	changed := false
	valid := func(b Block) bool {
		return b.Count == rng.PerUser && b.Base >= rng.First && b.Last() <= rng.Last
	}
	// Keep the valid blocks of listed users, in name order so that a
	// corrupt table with overlaps resolves the same way every time.
	sorted := append([]string(nil), users...)
	sort.Strings(sorted)
	for _, u := range sorted {
		b, ok := t.blocks[u]
		if !ok || !valid(b) || overlapsAny(b, got) {
			continue
		}
		got[u] = b
	}
	// Unlisted users' blocks are reserved while there is other room.
	reserved := map[string]Block{}
	for u, b := range t.blocks {
		if !listed[u] {
			reserved[u] = b
		}
	}
	for _, u := range users {
		if _, ok := got[u]; ok {
			continue
		}
		b, ok := freeBlock(rng, got, reserved)
		for !ok && len(reserved) > 0 {
			// Reclaim the lowest reserved block.
			victim := ""
			for r, rb := range reserved {
				if victim == "" || rb.Base < reserved[victim].Base {
					victim = r
				}
			}
			delete(reserved, victim)
			delete(t.blocks, victim)
			changed = true
			b, ok = freeBlock(rng, got, reserved)
		}
		if !ok {
			errs[u] = fmt.Errorf("%w: the range %d-%d holds %d blocks of %d ports and all are taken: "+
				"widen [ports] range or lower per_user", ErrPortsFull, rng.First, rng.Last, rng.Blocks(), rng.PerUser)
			continue
		}
		got[u] = b
		if old, had := t.blocks[u]; !had || old != b {
			t.blocks[u] = b
			changed = true
		}
	}
	return got, errs, changed
}

func overlapsAny(b Block, in map[string]Block) bool {
	for _, o := range in {
		if b.overlaps(o) {
			return true
		}
	}
	return false
}

// freeBlock returns the lowest aligned block of rng that overlaps none of
// the given ones.
func freeBlock(rng config.PortRange, taken ...map[string]Block) (Block, bool) {
	for i := 0; i < rng.Blocks(); i++ {
		b := Block{Base: rng.First + i*rng.PerUser, Count: rng.PerUser}
		free := true
		for _, m := range taken {
			if overlapsAny(b, m) {
				free = false
				break
			}
		}
		if free {
			return b, true
		}
	}
	return Block{}, false
}

// save writes the table atomically: a new file, synced, renamed over the
// old one, and the directory synced.
func (t *portTable) save() error {
	data, err := json.MarshalIndent(portsDoc{Version: portsVersion, Blocks: t.blocks}, "", "  ")
	if err != nil {
		return fmt.Errorf("port blocks: %w", err)
	}
	return writeFileAtomic(t.path, append(data, '\n'), 0o644)
}

// writeFileAtomic replaces path with data so that a crash leaves either the
// old or the new content.
func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp := f.Name()
	ok := false
	defer func() {
		if !ok {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if _, err := f.Write(data); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Chmod(mode); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	ok = true
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}
