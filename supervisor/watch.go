package supervisor

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/fsnotify/fsnotify"
)

// The watcher applies a configuration saved on disk, like `roost update`.
//
// It watches the directories of the configuration files, never the files:
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
	return ws
}

// relevant reports whether an event on name may change the configuration.
func (ws watchSet) relevant(name string) bool {
	name = filepath.Clean(name)
	if ws.files[name] {
		return true
	}
	base := filepath.Base(name)
	if editorTemp(base) {
		return false
	}
	return ws.includeDirs[filepath.Dir(name)] && ws.includeExts[filepath.Ext(name)]
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
	sync := func() {
		for d := range ws.dirs {
			if !watched[d] {
				if err := w.Add(d); err != nil {
					s.log.Warn(fmt.Sprintf("cannot watch %s: %v", d, err))
					continue
				}
				watched[d] = true
			}
		}
		for d := range watched {
			if !ws.dirs[d] {
				_ = w.Remove(d)
				delete(watched, d)
			}
		}
	}
	sync()
	debounce := time.NewTimer(time.Hour)
	debounce.Stop()
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
			sync()
		}
	}
}

func firstLine(s string) string {
	first, _, _ := strings.Cut(s, "\n")
	return first
}
