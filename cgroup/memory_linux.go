package cgroup

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// MemoryReader reads the memory (now and at its peak) of a process's own
// memory group: one that is not the caller's, so a per-program group
// below a user's supervisor. Make one per round of reads (a status
// request); it remembers the mounts and the caller's group.
type MemoryReader struct {
	root string // the hierarchy holding the memory controller
	ctl  string // "" for v2, "memory" for v1
	self string // the caller's group in it
}

// NewMemoryReader finds the memory controller (v2 when /sys/fs/cgroup is
// the unified hierarchy, else v1's) and the caller's group in it.
func NewMemoryReader() (*MemoryReader, error) {
	r := &MemoryReader{root: "/sys/fs/cgroup"}
	if !isCgroup2(r.root) {
		mounts, err := v1Mounts()
		if err != nil {
			return nil, err
		}
		m, ok := mounts["memory"]
		if !ok {
			return nil, errors.New("cgroup: no memory controller")
		}
		r.root, r.ctl = m, "memory"
	}
	groups, err := groupsOf("self")
	if err != nil {
		return nil, err
	}
	self, ok := groups[r.ctl]
	if !ok {
		return nil, errors.New("cgroup: /proc/self/cgroup names no memory group")
	}
	r.self = self
	return r, nil
}

// Own returns the memory now and at its peak (bytes) of pid's memory
// group when that group is not the caller's: v2 memory.current and
// memory.peak, v1 memory.usage_in_bytes and memory.max_usage_in_bytes.
// ok is false when pid shares the caller's group (its memory is the
// whole user's), is gone, or the kernel does not tell (memory.peak is
// from Linux 5.19; peak is 0 then, with ok true).
func (r *MemoryReader) Own(pid int) (cur, peak int64, ok bool) {
	if r == nil || pid <= 0 {
		return 0, 0, false
	}
	groups, err := groupsOf(strconv.Itoa(pid))
	if err != nil {
		return 0, 0, false
	}
	g, found := groups[r.ctl]
	if !found || g == r.self {
		return 0, 0, false
	}
	dir := filepath.Join(r.root, g)
	curFile, peakFile := "memory.current", "memory.peak"
	if r.ctl != "" {
		curFile, peakFile = "memory.usage_in_bytes", "memory.max_usage_in_bytes"
	}
	cur, err = readInt(filepath.Join(dir, curFile))
	if err != nil {
		return 0, 0, false
	}
	peak, _ = readInt(filepath.Join(dir, peakFile))
	return cur, max(peak, 0), true
}

// groupsOf maps each v1 controller to the group of /proc/ID (ID is a pid
// or "self") in it ("4:memory:/a/b", "2:cpu,cpuacct:/"), and "" to its v2
// group ("0::/a/b").
func groupsOf(id string) (map[string]string, error) {
	data, err := os.ReadFile("/proc/" + id + "/cgroup")
	if err != nil {
		return nil, fmt.Errorf("cgroup: %w", err)
	}
	out := map[string]string{}
	for _, l := range strings.Split(string(data), "\n") {
		parts := strings.SplitN(l, ":", 3)
		if len(parts) != 3 {
			continue
		}
		p := parts[2]
		if !strings.HasPrefix(p, "/") || strings.Contains(p, "/../") || strings.HasSuffix(p, "/..") {
			return nil, fmt.Errorf("cgroup: /proc/%s/cgroup has %q", id, p)
		}
		if parts[0] == "0" && parts[1] == "" {
			out[""] = filepath.Clean(p)
			continue
		}
		for _, ctl := range strings.Split(parts[1], ",") {
			if ctl != "" {
				out[ctl] = filepath.Clean(p)
			}
		}
	}
	return out, nil
}
