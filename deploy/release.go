package deploy

import (
	"archive/tar"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Release is one release's record, RELEASES/.roost/<id>.json.
type Release struct {
	ID     string    `json:"id"`
	Time   time.Time `json:"time"`
	Source string    `json:"source"`           // "git" or the directory deployed
	Ref    string    `json:"ref,omitempty"`    // refs/heads/main
	Commit string    `json:"commit,omitempty"` // the full commit id
	// BuildSeconds is how long the build took (unpack to check).
	BuildSeconds float64 `json:"build_seconds"`
	// State is StateReady, StateFailed or StatePruned as recorded;
	// Releases reports StateCurrent and StatePrevious too.
	State string `json:"state"`
	Error string `json:"error,omitempty"` // why a failed one failed
}

// The states of a release.
const (
	StateCurrent  = "current"
	StatePrevious = "previous"
	StateReady    = "ready"  // built, not current
	StateFailed   = "failed" // its build failed; its directory is gone
	StatePruned   = "pruned" // removed beyond keep_releases
)

// idRE is a release id: UTC time, '-', a short commit id or "dir", and a
// '.N' when two deploys share a second.
var idRE = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`^[0-9]{8}T[0-9]{6}Z-[0-9a-z]{3,12}(\.[0-9]{1,3})?$`)
})

// ValidID checks a release id given on a command line before it reaches a
// path.
func ValidID(id string) error {
	if !idRE().MatchString(id) {
		return fmt.Errorf("%q is not a release id (they look like 20261207T155412Z-1a2b3c4): see roost releases", id)
	}
	return nil
}

// newID makes a fresh release id and its directory (0755, the user's).
func newID(l Layout, now time.Time, short string) (string, error) {
	base := now.UTC().Format("20060102T150405Z") + "-" + short
	for n := 0; n < 100; n++ {
		id := base
		if n > 0 {
			id = fmt.Sprintf("%s.%d", base, n)
		}
		if _, err := os.Lstat(filepath.Join(l.metaDir(), id+".json")); err == nil {
			continue // a pruned or failed release's record: ids are never reused
		}
		err := os.Mkdir(filepath.Join(l.Releases, id), 0o755)
		if err == nil {
			return id, nil
		}
		if !errors.Is(err, fs.ErrExist) {
			return "", err
		}
	}
	return "", fmt.Errorf("no free release id for %s", base)
}

// extractGit unpacks commit rev of the bare repository repo into dir with
// `git archive`, in env (a pre-receive hook's quarantine included).
func extractGit(ctx context.Context, repo, rev, dir string, env []string) error {
	cmd := exec.CommandContext(ctx, "git", "--git-dir="+repo, "archive", "--format=tar", rev)
	cmd.Env = env
	var stderr strings.Builder
	cmd.Stderr = &stderr
	r, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("git archive: %w", err)
	}
	xerr := extractTar(r, dir)
	io.Copy(io.Discard, r)
	werr := cmd.Wait()
	if werr != nil {
		return fmt.Errorf("git archive %s: %v: %s", rev, werr, strings.TrimSpace(stderr.String()))
	}
	return xerr
}

// extractTar writes a tar stream's files, directories and symlinks under
// dir. Names that leave dir are refused; a symlink is written as it is
// (following it later is done with the user's rights only).
func extractTar(r io.Reader, dir string) error {
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("unpack: %w", err)
		}
		name := filepath.Clean(h.Name)
		if filepath.IsAbs(name) || name == ".." || strings.HasPrefix(name, "../") {
			return fmt.Errorf("unpack: %q leaves the release", h.Name)
		}
		p := filepath.Join(dir, name)
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(p, 0o755); err != nil {
				return err
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				return err
			}
			if err := newFile(p, tr, fs.FileMode(h.Mode)); err != nil {
				return fmt.Errorf("unpack %s: %w", h.Name, err)
			}
		case tar.TypeSymlink:
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				return err
			}
			if err := os.Symlink(h.Linkname, p); err != nil {
				return err
			}
		}
	}
}

// copyTree copies src's files, directories and symlinks into dir (which
// exists), leaving out .git.
func copyTree(src, dir string) error { return cloneTree(src, dir, false) }

// cloneTree is copyTree, with link: its files hard-linked, not copied.
func cloneTree(src, dir string, link bool) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if rel == "." {
			return nil
		}
		if d.Name() == ".git" {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		to := filepath.Join(dir, rel)
		switch {
		case d.IsDir():
			return os.Mkdir(to, 0o755)
		case d.Type()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			return os.Symlink(target, to)
		case d.Type().IsRegular() && link:
			return os.Link(p, to)
		case d.Type().IsRegular():
			fi, err := d.Info()
			if err != nil {
				return err
			}
			in, err := os.Open(p)
			if err != nil {
				return err
			}
			defer in.Close()
			return newFile(to, in, fi.Mode())
		}
		return nil // devices, FIFOs, sockets: not part of a project
	})
}

// newFile creates the file p (which must not exist) with r's bytes: mode
// 0644, or 0755 when mode has an execute bit.
func newFile(p string, r io.Reader, mode fs.FileMode) error {
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode&0o755|0o644)
	if err != nil {
		return err
	}
	_, err = io.Copy(f, r)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// writeRecord saves r as RELEASES/.roost/<id>.json.
func writeRecord(l Layout, r Release) error {
	if err := os.MkdirAll(l.metaDir(), 0o755); err != nil {
		return err
	}
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	p := filepath.Join(l.metaDir(), r.ID+".json")
	tmp := p + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, p)
}

// currentID is the id of the release ~/current points to, "" when it is
// not a symlink into RELEASES.
func currentID(l Layout) string {
	t, err := os.Readlink(l.Current)
	if err != nil {
		return ""
	}
	if !filepath.IsAbs(t) {
		t = filepath.Join(filepath.Dir(l.Current), t)
	}
	if filepath.Dir(filepath.Clean(t)) != filepath.Clean(l.Releases) {
		return ""
	}
	return filepath.Base(t)
}

// Releases lists the user's releases, oldest first, with their states:
// the one ~/current points to is current, the newest ready one before it
// previous.
func Releases(l Layout) ([]Release, error) {
	byID := map[string]*Release{}
	ents, err := os.ReadDir(l.metaDir())
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	for _, e := range ents {
		id, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok || ValidID(id) != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join(l.metaDir(), e.Name()))
		if err != nil {
			continue
		}
		var r Release
		if json.Unmarshal(b, &r) == nil && r.ID == id {
			byID[id] = &r
		}
	}
	dirs, err := os.ReadDir(l.Releases)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	for _, d := range dirs {
		if !d.IsDir() || d.Name() == ".roost" {
			continue
		}
		if _, ok := byID[d.Name()]; !ok {
			// A release without a record (one moved aside, or its
			// record lost): listed, as ready.
			fi, _ := d.Info()
			r := &Release{ID: d.Name(), State: StateReady, Source: "unknown"}
			if fi != nil {
				r.Time = fi.ModTime().UTC()
			}
			byID[d.Name()] = r
		}
	}
	ids := make([]string, 0, len(byID))
	for id := range byID {
		ids = append(ids, id)
	}
	// Oldest first: by the time recorded (ids of one second do not sort
	// by time), then by id.
	slices.SortFunc(ids, func(a, b string) int {
		if c := byID[a].Time.Compare(byID[b].Time); c != 0 {
			return c
		}
		return strings.Compare(a, b)
	})
	cur := currentID(l)
	out := make([]Release, 0, len(ids))
	for _, id := range ids {
		r := *byID[id]
		if id == cur {
			r.State = StateCurrent
		}
		out = append(out, r)
	}
	if i := slices.IndexFunc(out, func(r Release) bool { return r.State == StateCurrent }); i > 0 {
		for j := i - 1; j >= 0; j-- {
			if out[j].State == StateReady {
				out[j].State = StatePrevious
				break
			}
		}
	}
	return out, nil
}

// prune removes the directories of ready releases beyond keep (current
// and previous always stay) and the records beyond 4×keep.
func prune(l Layout, out io.Writer) {
	rels, err := Releases(l)
	if err != nil {
		return
	}
	kept := 0
	for i := len(rels) - 1; i >= 0; i-- {
		r := rels[i]
		switch r.State {
		case StateCurrent, StatePrevious:
			kept++
		case StateReady:
			if kept < l.Keep {
				kept++
				continue
			}
			if err := os.RemoveAll(filepath.Join(l.Releases, r.ID)); err != nil {
				fmt.Fprintf(out, "       cannot remove release %s: %v\n", r.ID, err)
				continue
			}
			r.State = StatePruned
			writeRecord(l, r)
			fmt.Fprintf(out, "       pruned release %s\n", r.ID)
		}
	}
	if len(rels) > 4*l.Keep {
		for _, r := range rels[:len(rels)-4*l.Keep] {
			if r.State == StatePruned || r.State == StateFailed {
				os.Remove(filepath.Join(l.metaDir(), r.ID+".json"))
			}
		}
	}
}

// lock takes the user's deploy lock: one deploy at a time. A second one
// says it waits, and waits at most wait.
func lock(l Layout, out io.Writer, wait time.Duration) (func(), error) {
	if err := os.MkdirAll(l.metaDir(), 0o755); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(filepath.Join(l.metaDir(), "deploy.lock"), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(wait)
	said := false
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() { f.Close() }, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("deploy lock: %w", err)
		}
		if !said {
			fmt.Fprintf(out, "-----> another deploy of yours is running: waiting for it (at most %v)\n", wait)
			said = true
		}
		if time.Now().After(deadline) {
			f.Close()
			return nil, fmt.Errorf("another deploy still runs after %v: try again when it is done", wait)
		}
		time.Sleep(250 * time.Millisecond)
	}
}
