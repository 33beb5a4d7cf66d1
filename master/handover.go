package master

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// The handover record, {state_dir}/supervisors.json: what a master
// knows of each user supervisor it runs, kept current at every change of
// a supervisor's state (a spawn, an exit), so that the next master (the
// same process after `roost admin reexec`, or a new one after this one
// was killed) can adopt them (adopt.go). Root's file, mode 0600, in
// state_dir (root's, 0700), written to a temporary file and renamed.
// A clean stop leaves it empty.

const (
	handoverName    = "supervisors.json"
	handoverVersion = 1
	// envFDs passes, across the master's own exec, each supervisor's
	// output pipe: "NAME=FD,…". Read and unset by the new image.
	envFDs = "ROOST_MASTER_FDS"
)

// supRecord is one user supervisor in the handover record.
type supRecord struct {
	Name string `json:"name"`
	PID  int    `json:"pid"`
	// Start is /proc/PID/stat's start time (clock ticks since boot):
	// with PID, an identity no later process can share.
	Start uint64 `json:"start"`
	UID   int    `json:"uid"`
	// ExeDev and ExeIno identify the executable it runs.
	ExeDev uint64 `json:"exe_dev"`
	ExeIno uint64 `json:"exe_ino"`
	// Digest is the digest of the settings it runs with (userSpec.digest):
	// a new master restarts it when its own settings differ.
	Digest    string    `json:"digest"`
	Started   time.Time `json:"started"`
	Spawns    int       `json:"spawns"`
	Failures  int       `json:"failures"`
	LastError string    `json:"last_error,omitempty"`
	// Stopping: the master had asked it to stop (a restart, a removal) and
	// was waiting for its exit; the next master stops it again.
	Stopping bool `json:"stopping,omitempty"`
}

// handoverFile is the file's content.
type handoverFile struct {
	Version     int         `json:"version"`
	BootID      string      `json:"boot_id"`
	Supervisors []supRecord `json:"supervisors"`
}

// digest is a fingerprint of everything that makes two specs run the
// same supervisor (equal compares it).
func (a userSpec) digest() string {
	b, err := json.Marshal(a)
	if err != nil {
		return "" // cannot happen: strings, ints and slices of them
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// handover keeps the record file current.
type handover struct {
	path string
	boot string
	log  *slog.Logger

	mu   sync.Mutex
	recs map[*slot]supRecord
	// pending are the adopted supervisors no slot has noted yet, by pid:
	// written with the rest, so that the record never loses them.
	pending map[int]supRecord
}

func newHandover(stateDir string, log *slog.Logger, adopted map[string][]adoption) *handover {
	h := &handover{path: filepath.Join(stateDir, handoverName), boot: bootID(), log: log,
		recs: map[*slot]supRecord{}, pending: map[int]supRecord{}}
	for _, as := range adopted {
		for _, a := range as {
			h.pending[a.rec.PID] = a.rec
		}
	}
	return h
}

// note records a slot's supervisor (nil: it has none) and writes the file
// when that changed what it holds.
func (h *handover) note(s *slot, rec *supRecord) {
	if h == nil {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	old, had := h.recs[s]
	if rec != nil {
		delete(h.pending, rec.PID)
	}
	switch {
	case rec == nil && !had:
		return
	case rec == nil:
		delete(h.recs, s)
	case had && old == *rec:
		return
	default:
		h.recs[s] = *rec
	}
	if err := h.writeLocked(); err != nil {
		h.log.Error("handover record not written: a master started after this one dies would not adopt the users' supervisors", "err", err)
	}
}

// save writes the file now.
func (h *handover) save() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.writeLocked()
}

func (h *handover) writeLocked() error {
	f := handoverFile{Version: handoverVersion, BootID: h.boot, Supervisors: []supRecord{}}
	for _, r := range h.recs {
		f.Supervisors = append(f.Supervisors, r)
	}
	for _, r := range h.pending {
		f.Supervisors = append(f.Supervisors, r)
	}
	sort.Slice(f.Supervisors, func(i, j int) bool { return f.Supervisors[i].Name < f.Supervisors[j].Name })
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return err
	}
	tmp := h.path + ".tmp"
	os.Remove(tmp)
	out, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL|unix.O_NOFOLLOW, 0o600)
	if err != nil {
		return err
	}
	if _, err := out.Write(append(b, '\n')); err != nil {
		out.Close()
		return err
	}
	if err := out.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, h.path)
}

// readHandover reads the record file, refusing one that is not root's
// regular file with mode 0600 or less (anyone else able to write it could
// name any process as a supervisor). A missing file is no record.
func readHandover(path string) (handoverFile, error) {
	var f handoverFile
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if errors.Is(err, unix.ENOENT) {
		return f, nil
	}
	if err != nil {
		return f, fmt.Errorf("%s: %w", path, err)
	}
	file := os.NewFile(uintptr(fd), path)
	defer file.Close()
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return f, fmt.Errorf("%s: %w", path, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG || st.Uid != 0 || st.Mode&0o077 != 0 {
		return f, fmt.Errorf("%s is not root's private file (uid %d, mode %04o): ignored; remove it", path, st.Uid, st.Mode&0o7777)
	}
	b := make([]byte, 4<<20)
	n, err := file.Read(b)
	if err != nil && n == 0 {
		return f, fmt.Errorf("%s: %w", path, err)
	}
	if err := json.Unmarshal(b[:n], &f); err != nil {
		return f, fmt.Errorf("%s: %w", path, err)
	}
	if f.Version != handoverVersion {
		return handoverFile{}, fmt.Errorf("%s: version %d, want %d: ignored", path, f.Version, handoverVersion)
	}
	return f, nil
}

// bootID identifies this boot: a record from another boot names pids of
// processes that no longer exist.
func bootID() string {
	b, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// inheritedFDs reads and unsets envFDs: the output pipes the previous
// image of this process handed over, by user.
func inheritedFDs() map[string]*os.File {
	v, ok := os.LookupEnv(envFDs)
	os.Unsetenv(envFDs)
	out := map[string]*os.File{}
	if !ok {
		return out
	}
	for _, kv := range strings.Split(v, ",") {
		name, n, ok := strings.Cut(kv, "=")
		fd, err := strconv.Atoi(n)
		if !ok || err != nil || fd < 3 {
			continue
		}
		var st unix.Stat_t
		if unix.Fstat(fd, &st) != nil || st.Mode&unix.S_IFMT != unix.S_IFIFO {
			continue
		}
		out[name] = os.NewFile(uintptr(fd), "output of "+name)
	}
	return out
}

// loadAdoptions reads the record and adopts every supervisor it names
// that is still the process it was. Call it before the reaper starts: an
// adopted child's exit is left to its slot. Records that fail are logged;
// a recorded process that changed (another executable or uid) is killed
// with its descendants.
func (m *Master) loadAdoptions(stateDir string) map[string][]adoption {
	fds := inheritedFDs()
	defer func() {
		for _, f := range fds {
			f.Close() // not claimed by an adopted supervisor
		}
	}()
	f, err := readHandover(filepath.Join(stateDir, handoverName))
	if err != nil {
		m.log.Error("handover record unreadable: no user supervisor adopted (any left running are swept when their users start)", "err", err)
		return nil
	}
	if len(f.Supervisors) == 0 {
		return nil
	}
	if f.BootID != bootID() {
		m.log.Info("handover record from another boot: nothing to adopt")
		return nil
	}
	out := map[string][]adoption{}
	reg.mu.Lock()
	defer reg.mu.Unlock()
	for _, rec := range f.Supervisors {
		c, err := adopt(rec)
		if err != nil {
			if errors.Is(err, errNotSupervisor) {
				if n := killRejected(rec); n > 0 {
					m.log.Warn("killed a recorded supervisor that is no longer one, and its descendants", "user", rec.Name, "count", n)
				}
			}
			m.log.Warn("user supervisor not adopted", "user", rec.Name, "pid", rec.PID, "why", err)
			continue
		}
		reg.children[c.pid] = c
		a := adoption{rec: rec, c: c}
		if f, ok := fds[rec.Name]; ok && c.own {
			a.out = f
			delete(fds, rec.Name)
		}
		out[rec.Name] = append(out[rec.Name], a)
		m.log.Info("user supervisor adopted", "user", rec.Name, "pid", rec.PID, "uptime", uptimeOf(rec).Round(time.Second).String(), "child", c.own)
	}
	return out
}

// record is the handover record of the slot's supervisor, nil when it
// runs none. On the slot's goroutine.
func (s *slot) record() *supRecord {
	if s.proc == nil {
		return nil
	}
	return &supRecord{
		Name: s.name, PID: s.proc.pid, Start: s.proc.start, UID: s.spec.Account.UID,
		ExeDev: s.proc.exeDev, ExeIno: s.proc.exeIno, Digest: s.spec.digest(), Started: s.started,
		Spawns: s.spawns, Failures: s.failures, LastError: s.lastErr, Stopping: s.state == UserStopping,
	}
}
