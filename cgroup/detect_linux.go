package cgroup

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// Detect finds where limits can live and returns the Tree for a top group
// named name inside the calling process's own groups (under systemd, the
// unit's, which Delegate=yes hands over; on v2 Home's, beside the master's
// leaf): cgroup v2 when /sys/fs/cgroup is
// the unified hierarchy, else the v1 controllers that are mounted (a
// hybrid or legacy host). The string says which, for the one log line.
func Detect(name string) (Tree, string, error) {
	if strings.Contains(name, "/") || name == "" || name == "." || name == ".." {
		return nil, "", fmt.Errorf("cgroup: invalid top group name %q", name)
	}
	if isCgroup2("/sys/fs/cgroup") {
		home, err := Home()
		if err != nil {
			return nil, "", err
		}
		root := filepath.Join("/sys/fs/cgroup", home, name)
		return &V2{Root: root}, "cgroup v2 at " + root, nil
	}
	dirs, err := v1SelfDirs()
	if err != nil {
		return nil, "", err
	}
	roots := map[string]string{}
	var have []string
	for _, ctl := range V1Controllers {
		d, ok := dirs[ctl]
		if !ok {
			continue
		}
		roots[ctl] = filepath.Join(d, name)
		have = append(have, ctl)
	}
	if len(roots) == 0 {
		return nil, "", errors.New("cgroup: neither a cgroup v2 hierarchy at /sys/fs/cgroup nor cgroup v1 controllers are mounted")
	}
	return &V1{Roots: roots}, "cgroup v1 (" + strings.Join(have, ", ") + ")", nil
}

// v1Mounts maps each v1 controller to its mount point, from
// /proc/self/mountinfo (fstype "cgroup", the controllers in the super
// options).
func v1Mounts() (map[string]string, error) {
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil, fmt.Errorf("cgroup: %w", err)
	}
	out := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		f, g := strings.Fields(pre), strings.Fields(post)
		if !ok || len(f) < 5 || len(g) < 3 || g[0] != "cgroup" {
			continue
		}
		var st unix.Statfs_t
		if unix.Statfs(f[4], &st) != nil || st.Type != unix.CGROUP_SUPER_MAGIC {
			continue
		}
		for _, o := range strings.Split(g[2], ",") {
			if _, dup := out[o]; !dup {
				out[o] = f[4]
			}
		}
	}
	return out, nil
}

// v1SelfDirs maps each mounted v1 controller to the calling process's
// group directory in its hierarchy.
func v1SelfDirs() (map[string]string, error) {
	mounts, err := v1Mounts()
	if err != nil {
		return nil, err
	}
	self, err := groupsOf("self")
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for ctl, m := range mounts {
		out[ctl] = filepath.Join(m, self[ctl])
	}
	return out, nil
}
