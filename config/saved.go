package config

import (
	"os"
	"path/filepath"
	"sort"
)

// savedFiles is a system whose configuration files are saved copies
// (LoadOptions.Files): the files on disk are neither read nor globbed.
type savedFiles struct {
	system
	files map[string][]byte
}

func (s savedFiles) readConfig(p string) ([]byte, error) {
	if data, ok := s.files[filepath.Clean(p)]; ok {
		return data, nil
	}
	return nil, &os.PathError{Op: "open", Path: p, Err: os.ErrNotExist}
}

func (s savedFiles) lexists(p string) bool {
	if _, ok := s.files[filepath.Clean(p)]; ok {
		return true
	}
	return s.system.lexists(p)
}

func (s savedFiles) readDirNames(dir string, dirsOnly bool) []string {
	if dirsOnly {
		return s.system.readDirNames(dir, dirsOnly)
	}
	var names []string
	for p := range s.files {
		if filepath.Dir(p) == filepath.Clean(dir) {
			names = append(names, filepath.Base(p))
		}
	}
	sort.Strings(names)
	return names
}
