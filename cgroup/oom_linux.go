package cgroup

import (
	"errors"
	"path/filepath"
)

// MemoryGroup is the calling process's memory group: its OOM kills (and
// those of the groups below it) and its memory limit, what a user's
// supervisor needs to tell an out-of-memory kill from a kill -9.
type MemoryGroup struct {
	events string
	limits []string // the group's own limit file, and those above it that count
}

// SelfOOM finds the calling process's memory group: v2 when
// /sys/fs/cgroup is the unified hierarchy, else the v1 memory controller.
func SelfOOM() (*MemoryGroup, error) {
	if isCgroup2("/sys/fs/cgroup") {
		self, err := Self()
		if err != nil {
			return nil, err
		}
		d := filepath.Join("/sys/fs/cgroup", self)
		return &MemoryGroup{events: filepath.Join(d, "memory.events"), limits: []string{filepath.Join(d, "memory.max")}}, nil
	}
	dirs, err := v1SelfDirs()
	if err != nil {
		return nil, err
	}
	d, ok := dirs["memory"]
	if !ok {
		return nil, errors.New("cgroup: no memory controller")
	}
	return &MemoryGroup{events: filepath.Join(d, "memory.oom_control"), limits: []string{filepath.Join(d, "memory.limit_in_bytes")}}, nil
}

// Kills returns how many processes the kernel OOM-killed in the group.
func (c *MemoryGroup) Kills() (int64, error) { return readKey(c.events, "oom_kill") }

// Limit returns the lowest memory limit of the group's limit files in
// bytes, 0 for none.
func (c *MemoryGroup) Limit() int64 {
	low := int64(0)
	for _, f := range c.limits {
		n, err := readInt(f)
		if err != nil || n < 0 || n >= 1<<62 {
			continue // "max", or v1's page-rounded "no limit"
		}
		if low == 0 || n < low {
			low = n
		}
	}
	return low
}

// FormatBytes writes a size as roost.toml takes it: "256M", "2G", or
// bytes.
func FormatBytes(n int64) string {
	for _, u := range []struct {
		s     string
		shift uint
	}{{"T", 40}, {"G", 30}, {"M", 20}, {"K", 10}} {
		if n >= 1<<u.shift && n%(1<<u.shift) == 0 {
			return itoa(n>>u.shift) + u.s
		}
	}
	return itoa(n)
}
