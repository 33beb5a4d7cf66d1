package supervisor

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/fsnotify/fsnotify"
)

// The watcher applies a configuration (or cron file) saved on disk, like
// `roost update`.
//
// It watches the directories of the configuration files, never the files
// (and the directory above a symlinked one, or the nearest existing
// ancestor of one not created yet, so a project made or re-pointed later
// is seen):
// editors save by writing a temporary file and renaming it over the old
// one, which a watch on the file itself loses. Events are filtered by name
// (the files read, plus new files next to the includes with their
// extension, for a new conf.d/x.conf), editors' swap and backup files are
// ignored, and a burst of events is debounced into one update. An invalid
// file is logged with its file:line diagnostics and the running
// configuration is kept. There is no polling: idle, the watcher is blocked
// on inotify.

// watchDebounce is how long the files must be quiet before they are read.
const watchDebounce = 200 * time.Millisecond

// watchSet is what the watcher looks at for the current configuration.
type watchSet struct {
	dirs        map[string]bool
	files       map[string]bool
	includeDirs map[string]bool
	includeExts map[string]bool
}

func (s *Supervisor) currentWatchSet() watchSet {
	s.mu.RLock()
	cfg := s.read
	s.mu.RUnlock()
	ws := watchSet{dirs: map[string]bool{}, files: map[string]bool{}, includeDirs: map[string]bool{}, includeExts: map[string]bool{}}
	files := cfg.Files
	if len(files) == 0 && cfg.File != "" {
		files = []string{cfg.File}
	}
	for i, f := range files {
		f = filepath.Clean(f)
		ws.files[f] = true
		ws.dirs[filepath.Dir(f)] = true
		if i > 0 {
			ws.includeDirs[filepath.Dir(f)] = true
			ws.includeExts[filepath.Ext(f)] = true
		}
	}
	if f := s.cron.path; f != "" {
		f = filepath.Clean(f)
		ws.files[f] = true
		ws.dirs[filepath.Dir(f)] = true
	}
	return ws
}

// relevant reports whether an event on name may change the configuration.
func (ws watchSet) relevant(name string) bool {
	name = filepath.Clean(name)
	if ws.files[name] || ws.component(name) {
		return true
	}
	base := filepath.Base(name)
	if editorTemp(base) {
		return false
	}
	return ws.includeDirs[filepath.Dir(name)] && ws.includeExts[filepath.Ext(name)]
}

// component reports whether name is one of the directories the
// configuration lives in, or a directory above one: its creation (the
// project is made), removal or replacement (a "current" symlink is
// re-pointed to a new release) changes what the paths lead to.
func (ws watchSet) component(name string) bool {
	for d := range ws.dirs {
		if d == name || strings.HasPrefix(d, name+"/") {
			return true
		}
	}
	return false
}

// watchPoints returns the directories to watch for dir: the nearest one
// of dir and its ancestors that exists (a project not created yet is
// waited for from the home), plus, when dir is a symlink (a "current"
// pointing at a release), its parent, which sees it re-pointed. A plain
// directory's own watch reports its removal or move (then the watcher
// falls back to the nearest ancestor); watching its parent as well would
// wake the supervisor for every file written beside the project (the
// user's home, under the master).
func watchPoints(dir string) []string {
	for d := dir; ; d = filepath.Dir(d) {
		if fi, err := os.Stat(d); err == nil && fi.IsDir() {
			if d == dir && d != "/" {
				if li, err := os.Lstat(d); err == nil && li.Mode()&os.ModeSymlink != 0 {
					return []string{d, filepath.Dir(d)}
				}
			}
			return []string{d}
		}
		if d == "/" {
			return nil
		}
	}
}

// editorTemp recognizes editors' swap, backup and probe files.
func editorTemp(base string) bool {
	switch {
	case base == "4913", // vim's write probe
		strings.HasSuffix(base, "~"),
		strings.HasPrefix(base, ".#"),
		strings.HasPrefix(base, "#") && strings.HasSuffix(base, "#"),
		strings.HasPrefix(base, ".") && (strings.HasSuffix(base, ".swp") || strings.HasSuffix(base, ".swx") || strings.HasSuffix(base, ".swo")):
		return true
	}
	return false
}

// watch runs until ctx ends.
func (s *Supervisor) watch(ctx context.Context) {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		s.log.Warn(fmt.Sprintf("cannot watch the configuration (changes need `roost update`): %v", err))
		return
	}
	defer w.Close()
	ws := s.currentWatchSet()
	watched := map[string]bool{}
	// sync watches what ws needs now. A watch follows the inode its path
	// led to when it was added, so after a path component changed (refresh)
	// every watch is added again, which re-resolves its path (removing it
	// first would lose the events in between).
	sync := func(refresh bool) {
		want := map[string]bool{}
		for d := range ws.dirs {
			for _, p := range watchPoints(d) {
				want[p] = true
			}
		}
		for d := range watched {
			if !want[d] {
				_ = w.Remove(d)
				delete(watched, d)
			}
		}
		for d := range want {
			if !watched[d] || refresh {
				if err := w.Add(d); err != nil {
					s.log.Warn(fmt.Sprintf("cannot watch %s: %v", d, err))
					continue
				}
				watched[d] = true
			}
		}
	}
	sync(false)
	refresh := false
	debounce := time.NewTimer(time.Hour)
	debounce.Stop()
	// A change saved between the first read and the watches being armed
	// (a project created right after start) has sent no event: look once.
	if _, ch, err := s.reread(); (err == nil && (!ch.Empty() || s.problem.Load() != nil)) || s.cron.changedOnDisk() {
		debounce.Reset(watchDebounce)
	}
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-w.Events:
			if !ok {
				return
			}
			if ev.Op == fsnotify.Chmod || !ws.relevant(ev.Name) {
				continue
			}
			if ws.component(filepath.Clean(ev.Name)) {
				refresh = true
			}
			debounce.Reset(watchDebounce)
		case err, ok := <-w.Errors:
			if !ok {
				return
			}
			s.log.Warn(fmt.Sprintf("watching the configuration: %v", err))
		case <-debounce.C:
			s.log.Info("configuration changed on disk: applying it")
			ch, err := s.Update(ctx, nil)
			if err != nil {
				s.log.Error(fmt.Sprintf("configuration not applied: %v", firstLine(err.Error())))
			} else if len(ch.Added)+len(ch.Changed)+len(ch.Removed) == 0 {
				s.log.Info("configuration changed on disk: nothing to do")
			}
			ws = s.currentWatchSet()
			sync(refresh)
			refresh = false
		}
	}
}

func firstLine(s string) string {
	first, _, _ := strings.Cut(s, "\n")
	return first
}
