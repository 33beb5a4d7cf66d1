package main

import (
	"bufio"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"sync"

	"roost/config"
)

// runDirLine is a top-level `run_dir = "PATH"` line of roost.toml.
// Compiled on first use, not at every command's start.
var runDirLine = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`^\s*run_dir\s*=\s*("(?:[^"\\]|\\.)*")\s*(#.*)?$`)
})

// brokenMasterRunDir finds run_dir in a roost.toml that does not load:
// its first top-level `run_dir = "..."` line (before any [table]), else
// the default. ok is false when the file cannot be read at all.
func brokenMasterRunDir(file string) (dir string, ok bool) {
	f, err := os.Open(file)
	if err != nil {
		return "", false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if len(line) > 0 && line[0] == '[' {
			break
		}
		if m := runDirLine().FindStringSubmatch(line); m != nil {
			if d, err := strconv.Unquote(m[1]); err == nil && filepath.IsAbs(d) && filepath.Clean(d) == d {
				return d, true
			}
		}
	}
	return config.DefaultRunDir, true
}
