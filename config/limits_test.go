package config

import (
	"strings"
	"testing"
)

func TestParseMasterLimits(t *testing.T) {
	src := `[users]
names = ["alice", "bob"]
[limits]
memory_max = "512M"
pids_max   = 200
cpu_max    = "150%"
cpu_weight = 100
[user.alice.limits]
memory_max  = "2G"
memory_high = 1073741824
cpu_max     = "50%"
io_weight   = 300
[user.carol]
project = "x"
`
	m, err := ParseMaster("roost.toml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	want := Limits{MemoryMax: 512 << 20, PidsMax: 200, CPUMax: 150, CPUWeight: 100}
	if m.Limits != want || m.LimitsFor("bob") != want || m.LimitsFor("carol") != want {
		t.Errorf("defaults: %+v, bob %+v, carol %+v; want %+v", m.Limits, m.LimitsFor("bob"), m.LimitsFor("carol"), want)
	}
	wantAlice := Limits{MemoryMax: 2 << 30, MemoryHigh: 1 << 30, PidsMax: 200, CPUMax: 50, CPUWeight: 100, IOWeight: 300}
	if got := m.LimitsFor("alice"); got != wantAlice {
		t.Errorf("alice: %+v, want %+v", got, wantAlice)
	}
	if m, err := ParseMaster("roost.toml", nil); err != nil || !m.LimitsFor("alice").IsZero() {
		t.Errorf("no [limits]: %+v %v", m, err)
	}
}

func TestParseMasterLimitsErrors(t *testing.T) {
	for _, c := range []struct{ src, want string }{
		{"[limits]\nmemory_max = \"512Q\"\n", `roost.toml:2: [limits] memory_max: "512Q" is not a size: give a number with K, M, G or T`},
		{"[limits]\n\nmemory_max = \"1M\"\n", `roost.toml:3: [limits] memory_max: 1048576 bytes is too little`},
		{"[limits]\nmemory_max = -5\n", `roost.toml:2: [limits] memory_max: -5 is not a size`},
		{"[limits]\npids_max = 3\n", `roost.toml:2: [limits] pids_max: 3 is out of range: give 16 to 4194304`},
		{"[limits]\ncpu_max = \"150\"\n", `roost.toml:2: [limits] cpu_max: "150" is not a share of CPU: give a percentage of one CPU`},
		{"[limits]\ncpu_max = \"0%\"\n", `roost.toml:2: [limits] cpu_max: 0% is out of range`},
		{"[limits]\ncpu_weight = 0\n", `roost.toml:2: [limits] cpu_weight: 0 is out of range: give 1 to 10000`},
		{"[limits]\nmemory_maxx = \"1G\"\n", `roost.toml:2: [limits] memory_maxx: unknown key (did you mean memory_max?)`},
		{"[user.alice]\nproject = \"p\"\n[user.alice.limits]\npids_max = 5\n", `roost.toml:4: [user.alice.limits] pids_max: 5 is out of range`},
		{"[user.alice.limits]\ncpu_max = true\n", `roost.toml:2: [user.alice.limits] cpu_max: true is not a share of CPU`},
		{"[user.alice.limits]\npids_max = \"many\"\n", `roost.toml:2:`},
	} {
		_, err := ParseMaster("roost.toml", []byte(c.src))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q:\n got %v\nwant %s", c.src, err, c.want)
		}
	}
}

func TestParseByteSize(t *testing.T) {
	for in, want := range map[any]int64{"512M": 512 << 20, "2G": 2 << 30, "2g": 2 << 30, "100K": 100 << 10, "1T": 1 << 40, "4096": 4096, int64(4096): 4096} {
		if got, err := ParseByteSize(in); err != nil || got != want {
			t.Errorf("ParseByteSize(%v) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []any{"", "M", "+5M", "-1G", "1.5G", "99999999999T", int64(0), 1.5} {
		if _, err := ParseByteSize(in); err == nil {
			t.Errorf("ParseByteSize(%v): no error", in)
		}
	}
}
