package config

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"
)

// Limits are the resource limits the admin sets in roost.toml, for each
// user's whole tree (supervisor, programs, cron jobs): defaults in
// [limits], overrides key by key in [user.NAME.limits]. A zero field is
// unset (no limit).
type Limits struct {
	MemoryMax  int64 `json:"memory_max,omitempty"`  // bytes
	MemoryHigh int64 `json:"memory_high,omitempty"` // bytes
	PidsMax    int64 `json:"pids_max,omitempty"`
	CPUMax     int   `json:"cpu_max,omitempty"` // percent of one CPU
	CPUWeight  int   `json:"cpu_weight,omitempty"`
	IOWeight   int   `json:"io_weight,omitempty"`
}

// IsZero reports whether no limit is set.
func (l Limits) IsZero() bool { return l == Limits{} }

// The smallest limits roost accepts: below them a user's supervisor (a Go
// program with a handful of threads, each a task for pids.max) cannot
// start, and the user would see only a crash loop.
const (
	MinMemoryMax = 16 << 20
	MinPidsMax   = 16
)

// LimitsFor returns the user's limits: [user.NAME.limits] over [limits].
func (m *Master) LimitsFor(name string) Limits {
	l := m.Limits
	o, ok := m.User[name]
	if !ok || o.Limits == nil {
		return l
	}
	u := *o.Limits
	set := func(dst *int64, v int64) {
		if v != 0 {
			*dst = v
		}
	}
	seti := func(dst *int, v int) {
		if v != 0 {
			*dst = v
		}
	}
	set(&l.MemoryMax, u.MemoryMax)
	set(&l.MemoryHigh, u.MemoryHigh)
	set(&l.PidsMax, u.PidsMax)
	seti(&l.CPUMax, u.CPUMax)
	seti(&l.CPUWeight, u.CPUWeight)
	seti(&l.IOWeight, u.IOWeight)
	return l
}

// rawLimits is a limits table as TOML decodes it.
type rawLimits struct {
	MemoryMax  any    `toml:"memory_max"`
	MemoryHigh any    `toml:"memory_high"`
	PidsMax    *int64 `toml:"pids_max"`
	CPUMax     any    `toml:"cpu_max"`
	CPUWeight  *int64 `toml:"cpu_weight"`
	IOWeight   *int64 `toml:"io_weight"`
}

var limitKeys = []string{"memory_max", "memory_high", "pids_max", "cpu_max", "cpu_weight", "io_weight"}

// isLimitsKey reports whether a key the main decode left is a limits one
// (decoded by masterLimits).
func isLimitsKey(k toml.Key) bool {
	return (len(k) >= 1 && k[0] == "limits") || (len(k) >= 3 && k[0] == "user" && k[2] == "limits")
}

// masterLimits decodes and validates [limits] and [user.NAME.limits] into
// m (after the [user.NAME] tables).
func masterLimits(data []byte, m *Master, d *diagList, pos func(string) Pos) {
	var raw struct {
		Limits *rawLimits `toml:"limits"`
		User   map[string]struct {
			Limits *rawLimits `toml:"limits"`
		} `toml:"user"`
	}
	md, err := toml.NewDecoder(bytes.NewReader(data)).Decode(&raw)
	if err != nil {
		// The main decode reported the syntax; only a type error is new.
		if mm := decodeErrRE().FindStringSubmatch(err.Error()); mm != nil {
			line, _ := strconv.Atoi(mm[1])
			section, key := splitKey(mm[2])
			d.errorf(Pos{File: m.File, Line: line}, section, key, "%s", oneLine(mm[3]))
		}
		return
	}
	for _, k := range md.Undecoded() {
		if !isLimitsKey(k) {
			continue
		}
		section := strings.Join(k[:len(k)-1], ".")
		d.errorf(pos(k.String()), section, k[len(k)-1], "unknown key%s", didYouMean(k[len(k)-1], limitKeys))
	}
	if raw.Limits != nil {
		m.Limits = parseLimits(*raw.Limits, "limits", "limits", d, pos)
	}
	for n, u := range raw.User {
		if u.Limits == nil || ValidateUserName(n) != nil {
			continue
		}
		key := toml.Key{"user", n, "limits"}.String()
		l := parseLimits(*u.Limits, "user."+n+".limits", key, d, pos)
		o := m.User[n]
		o.Limits = &l
		m.User[n] = o
	}
}

// parseLimits validates one table; key is its dotted TOML key.
func parseLimits(r rawLimits, section, key string, d *diagList, pos func(string) Pos) Limits {
	var l Limits
	bad := func(k, format string, args ...any) {
		d.errorf(pos(key+"."+k), section, k, format, args...)
	}
	size := func(k string, v any, min int64) int64 {
		if v == nil {
			return 0
		}
		n, err := ParseByteSize(v)
		if err != nil {
			bad(k, "%v", err)
			return 0
		}
		if n < min {
			bad(k, "%d bytes is too little for a user's supervisor and programs: give at least %dM", n, min>>20)
			return 0
		}
		return n
	}
	l.MemoryMax = size("memory_max", r.MemoryMax, MinMemoryMax)
	l.MemoryHigh = size("memory_high", r.MemoryHigh, MinMemoryMax)
	if r.PidsMax != nil {
		if p := *r.PidsMax; p < MinPidsMax || p > 4194304 {
			bad("pids_max", "%d is out of range: give %d to 4194304 processes and threads (the supervisor itself uses about 10)", p, MinPidsMax)
		} else {
			l.PidsMax = p
		}
	}
	if r.CPUMax != nil {
		p, err := parsePercent(r.CPUMax)
		if err != nil {
			bad("cpu_max", "%v", err)
		}
		l.CPUMax = p
	}
	weight := func(k string, v *int64) int {
		if v == nil {
			return 0
		}
		if *v < 1 || *v > 10000 {
			bad(k, "%d is out of range: give 1 to 10000 (100 is everyone's default)", *v)
			return 0
		}
		return int(*v)
	}
	l.CPUWeight = weight("cpu_weight", r.CPUWeight)
	l.IOWeight = weight("io_weight", r.IOWeight)
	return l
}

// ParseByteSize reads a memory size: an integer count of bytes, or a
// string of digits with a K, M, G or T suffix (powers of 1024): "512M".
func ParseByteSize(v any) (int64, error) {
	switch v := v.(type) {
	case int64:
		if v < 1 {
			return 0, fmt.Errorf("%d is not a size: give bytes, or a string such as \"512M\" or \"2G\"", v)
		}
		return v, nil
	case string:
		s := strings.TrimSpace(v)
		mult := int64(1)
		if s != "" {
			switch strings.ToUpper(s[len(s)-1:]) {
			case "K":
				mult = 1 << 10
			case "M":
				mult = 1 << 20
			case "G":
				mult = 1 << 30
			case "T":
				mult = 1 << 40
			}
			if mult > 1 {
				s = s[:len(s)-1]
			}
		}
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 1 || n > (1<<62)/mult || strings.HasPrefix(s, "+") {
			return 0, fmt.Errorf("%q is not a size: give a number with K, M, G or T, such as \"512M\" or \"2G\"", v)
		}
		return n * mult, nil
	}
	return 0, fmt.Errorf("%v is not a size: give a string such as \"512M\" or \"2G\"", v)
}

// parsePercent reads cpu_max: "150%" of one CPU (an integer is taken as
// a percentage too).
func parsePercent(v any) (int, error) {
	var n int64
	var err error
	switch v := v.(type) {
	case int64:
		n = v
	case string:
		s, ok := strings.CutSuffix(strings.TrimSpace(v), "%")
		if !ok {
			return 0, fmt.Errorf("%q is not a share of CPU: give a percentage of one CPU, such as \"50%%\" or \"150%%\"", v)
		}
		n, err = strconv.ParseInt(s, 10, 64)
		if err != nil || strings.HasPrefix(s, "+") {
			return 0, fmt.Errorf("%q is not a share of CPU: give a percentage of one CPU, such as \"50%%\" or \"150%%\"", v)
		}
	default:
		return 0, fmt.Errorf("%v is not a share of CPU: give a percentage of one CPU, such as \"50%%\"", v)
	}
	if n < 1 || n > 100000 {
		return 0, fmt.Errorf("%d%% is out of range: give 1%% to 100000%% (of one CPU)", n)
	}
	return int(n), nil
}

// programLimits reads roost's [program:x] extensions memory_max ("256M"),
// pids_max and cpu_max ("50%", or "50%%" as supervisord's own options
// would write it): the process's own cgroup's limits, within the user's.
func (r *reader) programLimits() Limits {
	var l Limits
	if s, pos, set, ok := r.str("memory_max"); set && ok {
		n, err := ParseByteSize(s)
		switch {
		case err != nil:
			r.errorf(pos, "memory_max", "%v", err)
		case n < MinProgramMemoryMax:
			r.errorf(pos, "memory_max", "%d bytes is too little for a program: give at least 1M, such as \"256M\"", n)
		default:
			l.MemoryMax = n
		}
	}
	if _, _, set, _ := r.raw("pids_max"); set {
		l.PidsMax = r.integer("pids_max", 1, 4194304)
	}
	if s, pos, set, _ := r.raw("cpu_max"); set {
		p, err := parsePercent(strings.ReplaceAll(s, "%%", "%"))
		if err != nil {
			r.errorf(pos, "cpu_max", "%v", err)
		}
		l.CPUMax = p
	}
	return l
}

// MinProgramMemoryMax is the smallest memory_max a [program:x] may set.
const MinProgramMemoryMax = 1 << 20
