package cgroup

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Mount returns where the cgroup v2 hierarchy is mounted: /sys/fs/cgroup on
// a unified system, /sys/fs/cgroup/unified on a hybrid (v1 and v2) one, or
// wherever /proc/self/mountinfo says. The v2 hierarchy needs no controller
// for BPF programs.
func Mount() (string, error) {
	for _, p := range []string{"/sys/fs/cgroup", "/sys/fs/cgroup/unified"} {
		if isCgroup2(p) {
			return p, nil
		}
	}
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return "", fmt.Errorf("cgroup2: %w", err)
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		// id parent maj:min root mountpoint options ... - fstype source ...
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		f, g := strings.Fields(pre), strings.Fields(post)
		if ok && len(f) >= 5 && len(g) >= 1 && g[0] == "cgroup2" && isCgroup2(f[4]) {
			return f[4], nil
		}
	}
	return "", errors.New("cgroup2: no cgroup v2 hierarchy is mounted (mount -t cgroup2 none /sys/fs/cgroup/unified)")
}

func isCgroup2(p string) bool {
	var st unix.Statfs_t
	return unix.Statfs(p, &st) == nil && st.Type == unix.CGROUP2_SUPER_MAGIC
}

// Self returns the v2 group of the calling process, as /proc/self/cgroup's
// "0::" line gives it ("/" for the root group).
func Self() (string, error) {
	data, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return "", fmt.Errorf("cgroup: %w", err)
	}
	for _, l := range strings.Split(string(data), "\n") {
		if p, ok := strings.CutPrefix(l, "0::"); ok {
			if !strings.HasPrefix(p, "/") || strings.Contains(p, "/../") || strings.HasSuffix(p, "/..") {
				return "", fmt.Errorf("cgroup: /proc/self/cgroup has %q", p)
			}
			return filepath.Clean(p), nil
		}
	}
	return "", errors.New("cgroup: /proc/self/cgroup has no cgroup v2 line")
}

// Group is one cgroup v2 directory.
type Group struct {
	// Path is the directory, e.g. /sys/fs/cgroup/roost/alice.
	Path string
}

// Create makes the group at path, and its parents, as the caller (root)
// owns them: mode 0755, so that only root can move processes in or out or
// attach programs. path must lie on a cgroup v2 mount and must not be a
// symlink; an existing group is reused.
func Create(path string) (*Group, error) {
	if !filepath.IsAbs(path) || filepath.Clean(path) != path {
		return nil, fmt.Errorf("cgroup %q: want an absolute, clean path", path)
	}
	existing := path
	for {
		if _, err := os.Lstat(existing); err == nil || existing == "/" {
			break
		}
		existing = filepath.Dir(existing)
	}
	if !isCgroup2(existing) {
		return nil, fmt.Errorf("cgroup %s: %s is not on a cgroup v2 hierarchy", path, existing)
	}
	if err := os.MkdirAll(path, 0o755); err != nil {
		return nil, fmt.Errorf("cgroup: %w", err)
	}
	var st unix.Stat_t
	if err := unix.Lstat(path, &st); err != nil {
		return nil, fmt.Errorf("cgroup: %w", err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR || !isCgroup2(path) {
		return nil, fmt.Errorf("cgroup %s: not a directory of a cgroup v2 hierarchy", path)
	}
	return &Group{Path: path}, nil
}

// Open returns the group's directory, for SysProcAttr.CgroupFD: a process
// started with it (UseCgroupFD) is born inside the group, so nothing it
// does escapes the group's rules, not even its first instruction.
func (g *Group) Open() (*os.File, error) {
	fd, err := unix.Open(g.Path, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("cgroup %s: %w", g.Path, err)
	}
	return os.NewFile(uintptr(fd), g.Path), nil
}

// AddPID moves a running process (with its threads) into the group. Its
// children forked later are born inside.
func (g *Group) AddPID(pid int) error {
	f, err := os.OpenFile(filepath.Join(g.Path, "cgroup.procs"), os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("cgroup %s: %w", g.Path, err)
	}
	_, err = f.WriteString(strconv.Itoa(pid))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("cgroup %s: add pid %d: %w", g.Path, pid, err)
	}
	return nil
}

// PIDs lists the processes in the group (not in its children).
func (g *Group) PIDs() ([]int, error) {
	pids, err := readPIDs(filepath.Join(g.Path, "cgroup.procs"))
	if err != nil {
		return nil, fmt.Errorf("cgroup %s: %w", g.Path, err)
	}
	return pids, nil
}

// Remove removes the group; the kernel refuses (EBUSY) while a process is
// in it. Attached programs go with it. A missing group is not an error.
func (g *Group) Remove() error {
	if err := unix.Rmdir(g.Path); err != nil && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("cgroup %s: remove: %w", g.Path, err)
	}
	return nil
}
