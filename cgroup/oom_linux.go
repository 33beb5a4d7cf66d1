package cgroup

import (
	"errors"
	"path/filepath"
)

// MemoryGroup is the calling process's memory group: its OOM kills (and
// those of the groups below it) and its memory limit, what a user's
// supervisor needs to tell an out-of-memory kill from a kill -9.
type MemoryGroup struct {
	events, key, limit string
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
		return &MemoryGroup{events: filepath.Join(d, "memory.events"), key: "oom_kill", limit: filepath.Join(d, "memory.max")}, nil
	}
	mounts, err := v1Mounts()
	if err != nil {
		return nil, err
	}
	self, err := groupsOf("self")
	if err != nil {
		return nil, err
	}
	m, ok := mounts["memory"]
	if !ok {
		return nil, errors.New("cgroup: no memory controller")
	}
	d := filepath.Join(m, self["memory"])
	return &MemoryGroup{events: filepath.Join(d, "memory.oom_control"), key: "oom_kill", limit: filepath.Join(d, "memory.limit_in_bytes")}, nil
}

// Kills returns how many processes the kernel OOM-killed in the group.
func (c *MemoryGroup) Kills() (int64, error) { return readKey(c.events, c.key) }

// Limit returns the group's own memory limit in bytes, 0 for none.
func (c *MemoryGroup) Limit() int64 {
	n, err := readInt(c.limit)
	if err != nil || n < 0 || n >= 1<<62 {
		return 0 // "max", or v1's page-rounded "no limit"
	}
	return n
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
