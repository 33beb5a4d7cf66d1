package config

import (
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// memSystem is an in-memory system for tests and the fuzz target: files
// by absolute path, directories implied by them (plus extra ones), and a few
// users and groups.
type memSystem struct {
	files map[string]string
	dirs  map[string]bool
}

func newMemSystem(files map[string]string, dirs ...string) *memSystem {
	m := &memSystem{files: files, dirs: map[string]bool{"/": true}}
	for p := range files {
		for d := filepath.Dir(p); ; d = filepath.Dir(d) {
			m.dirs[d] = true
			if d == "/" {
				break
			}
		}
	}
	for _, d := range dirs {
		m.dirs[filepath.Clean(d)] = true
	}
	return m
}

func (m *memSystem) lexists(p string) bool {
	p = filepath.Clean(p)
	_, ok := m.files[p]
	return ok || m.dirs[p]
}

func (m *memSystem) isDir(p string) bool { return m.dirs[filepath.Clean(p)] }

func (m *memSystem) readDirNames(dir string, dirsOnly bool) []string {
	dir = filepath.Clean(dir)
	seen := map[string]bool{}
	add := func(p string, isDir bool) {
		if filepath.Dir(p) == dir && p != dir && (!dirsOnly || isDir) {
			seen[filepath.Base(p)] = true
		}
	}
	for p := range m.files {
		add(p, false)
	}
	for p := range m.dirs {
		add(p, true)
	}
	var out []string
	for n := range seen {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

func (m *memSystem) readConfig(p string) ([]byte, error) {
	p = filepath.Clean(p)
	if m.dirs[p] {
		return nil, errIsDir
	}
	s, ok := m.files[p]
	if !ok {
		return nil, &os.PathError{Op: "open", Path: p, Err: os.ErrNotExist}
	}
	return []byte(s), nil
}

var memUsers = map[string]int{"root": 0, "alice": 1000, "nobody": 65534}

func (m *memSystem) lookupUser(name string) (int, error) {
	if id, err := strconv.Atoi(name); err == nil {
		for _, v := range memUsers {
			if v == id {
				return id, nil
			}
		}
		return 0, errors.New("unknown uid")
	}
	if id, ok := memUsers[name]; ok {
		return id, nil
	}
	return 0, errors.New("unknown user")
}

func (m *memSystem) lookupGroup(name string) (int, error) {
	switch name {
	case "root", "0":
		return 0, nil
	case "nogroup", "65534":
		return 65534, nil
	}
	return 0, errors.New("unknown group")
}

func (m *memSystem) homeDir(name string) (string, bool) {
	switch name {
	case "", "alice":
		return "/home/alice", true
	case "root":
		return "/root", true
	}
	return "", false
}

// memEnv is the environment the in-memory loads see.
var memEnv = []string{"HOME=/home/alice", "USER=alice", "PORT=8000"}

// memLoader returns a loader over an in-memory tree with the environment
// env: files relative to /p (or absolute), directories implied by them
// plus dirs.
func memLoader(env []string, files map[string]string, dirs ...string) (*loader, error) {
	full := map[string]string{}
	for p, s := range files {
		if !strings.HasPrefix(p, "/") {
			p = "/p/" + p
		}
		full[p] = s
	}
	sys := newMemSystem(full, append(dirs, "/p", "/tmp", "/home/alice")...)
	return newLoader(LoadOptions{Env: env, Hostname: "host", Dir: "/p"}, sys)
}

// loadMem loads /p/supervisord.conf from an in-memory tree.
func loadMem(files map[string]string, dirs ...string) (*Config, error) {
	return loadMemEnv(memEnv, files, dirs...)
}

// loadMemEnv is loadMem with the environment env.
func loadMemEnv(env []string, files map[string]string, dirs ...string) (*Config, error) {
	l, err := memLoader(env, files, dirs...)
	if err != nil {
		return nil, err
	}
	return l.load("/p/supervisord.conf")
}

// loadControlMem is LoadControl of /p/supervisord.conf from an in-memory tree.
func loadControlMem(files map[string]string, dirs ...string) (*Control, error) {
	l, err := memLoader(memEnv, files, dirs...)
	if err != nil {
		return nil, err
	}
	return l.loadControl("/p/supervisord.conf")
}
