package supervisor

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"roost/internal/testutil"
	"roost/supervisor/api"
)

// Without per-program cgroups (a plain supervisor, as here: no programs
// group was delegated to the test), memory_max becomes the program's
// RLIMIT_DATA: an allocation past it fails in the program, which goes on.
func TestMemoryMaxAsRlimitWithoutCgroups(t *testing.T) {
	testutil.RequireBinary(t, "python3")
	out := filepath.Join(t.TempDir(), "out")
	p := shprog("big", `exec python3 -c '
try:
    b = bytearray(96 << 20)
    r = "survived"
except MemoryError:
    r = "MemoryError"
open("`+out+`", "w").write(r + "\n" + open("/proc/self/limits").read())
import time; time.sleep(60)'`)
	p.StartSecs = 0
	p.Limits.MemoryMax = 64 << 20
	h := start(t, testConfig(t, homog(p)...))
	h.waitState(30*time.Second, 0, "big", api.Running)
	testutil.Eventually(t, 60*time.Second, "the program to write its result", func() bool {
		b, err := os.ReadFile(out)
		return err == nil && strings.Contains(string(b), "Max data size")
	})
	b, _ := os.ReadFile(out)
	if !strings.HasPrefix(string(b), "MemoryError\n") || !strings.Contains(string(b), "Max data size             67108864             67108864") {
		t.Errorf("96 MB under memory_max=64M without cgroups: want a MemoryError and RLIMIT_DATA at 64M, got\n%s", b)
	}
}
