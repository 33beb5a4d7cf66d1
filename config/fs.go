package config

import (
	"errors"
	"os"
	"os/user"
	"strconv"
)

// errIsDir is returned for a directory where a file was expected.
var errIsDir = errors.New("is a directory")

// system is everything loading touches outside the configuration text:
// reading the files, globbing includes, and supervisord's checks against
// the machine (directories that must exist, users that must exist). Tests
// and the fuzz target substitute it.
type system interface {
	globFS
	// readConfig reads a configuration file: a regular file of bounded
	// size, opened without blocking (a FIFO must not hang the loader).
	readConfig(path string) ([]byte, error)
	// lookupUser resolves a user name or numeric uid.
	lookupUser(name string) (uid int, err error)
	// lookupGroup resolves a group name or numeric gid.
	lookupGroup(name string) (gid int, err error)
	// homeDir returns the home directory of a user ("" for the current user).
	homeDir(name string) (string, bool)
}

// osSystem is the real machine.
type osSystem struct {
	env map[string]string
}

func (osSystem) lexists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}

func (osSystem) isDir(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.IsDir()
}

func (osSystem) readDirNames(dir string, dirsOnly bool) []string {
	f, err := os.Open(dir)
	if err != nil {
		return nil
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil || !st.IsDir() {
		return nil
	}
	entries, _ := f.ReadDir(-1) // what could be read, like os.scandir

	var names []string
	for _, e := range entries {
		if dirsOnly {
			st, err := os.Stat(dir + "/" + e.Name())
			if err != nil || !st.IsDir() {
				continue
			}
		}
		names = append(names, e.Name())
	}
	return names
}

func (osSystem) readConfig(path string) ([]byte, error) { return readRegularFile(path, maxFileSize) }

func (osSystem) lookupUser(name string) (int, error) {
	if id, err := strconv.Atoi(name); err == nil {
		if _, err := user.LookupId(name); err != nil {
			return 0, err
		}
		return id, nil
	}
	u, err := user.Lookup(name)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(u.Uid)
}

func (osSystem) lookupGroup(name string) (int, error) {
	if id, err := strconv.Atoi(name); err == nil {
		if _, err := user.LookupGroupId(name); err != nil {
			return 0, err
		}
		return id, nil
	}
	g, err := user.LookupGroup(name)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(g.Gid)
}

func (s osSystem) homeDir(name string) (string, bool) {
	if name == "" {
		if h, ok := s.env["HOME"]; ok {
			return h, true
		}
		u, err := user.Current()
		if err != nil {
			return "", false
		}
		return u.HomeDir, true
	}
	u, err := user.Lookup(name)
	if err != nil {
		return "", false
	}
	return u.HomeDir, true
}
