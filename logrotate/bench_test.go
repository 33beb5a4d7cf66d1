package logrotate

import (
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// benchDir is where benchmarks write: $LOGROTATE_BENCH_DIR (e.g. /dev/shm,
// to take the disk out of the comparison) or a temp dir.
func benchDir(b *testing.B) string {
	if d := os.Getenv("LOGROTATE_BENCH_DIR"); d != "" {
		d, err := os.MkdirTemp(d, "bench")
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { os.RemoveAll(d) })
		return d
	}
	return b.TempDir()
}

// BenchmarkCopy measures the whole capture path at pipe speed: a child
// process writes numbered lines into a pipe; Copy → LineWriter → Sink writes
// them to a file rotated at supervisord's default 50 MB with 10 backups. One
// op is 1 MiB; MB/s is the capture throughput, allocs/op should be 0, and
// cpu-s/GiB is this process's CPU (user+sys) per GiB captured.
func BenchmarkCopy(b *testing.B) {
	for _, bc := range []struct {
		name     string
		maxBytes int64
		backups  int
	}{
		{"rotate50MB", 50 << 20, 10},
		{"rotate50MB-backups0", 50 << 20, 0},
		{"rotate1MB", 1 << 20, 3},
		{"norotate", 0, 0},
	} {
		b.Run(bc.name, func(b *testing.B) {
			dir := benchDir(b)
			s, err := OpenSink(filepath.Join(dir, "app.log"), bc.maxBytes, bc.backups)
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			w := NewLineWriter(s, 0)
			total := int64(b.N) << 20
			r, wait := startWriter(b, total)
			b.SetBytes(1 << 20)
			b.ReportAllocs()
			cpu0 := cpuTime()
			start := time.Now()
			b.ResetTimer()
			if err := Copy(w, r); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			elapsed := time.Since(start)
			cpu := cpuTime() - cpu0
			if err := wait(); err != nil {
				b.Fatal(err)
			}
			gib := float64(total) / (1 << 30)
			b.ReportMetric(cpu.Seconds()/gib, "cpu-s/GiB")
			b.ReportMetric(float64(total)/(1<<20)/elapsed.Seconds(), "MiB/s")
		})
	}
}

// BenchmarkCat is the ceiling BenchmarkCopy is measured against: the same
// child writer piped into `cat > file` on the same file system.
func BenchmarkCat(b *testing.B) {
	cat, err := exec.LookPath("cat")
	if err != nil {
		b.Skip("no cat")
	}
	out, err := os.Create(filepath.Join(benchDir(b), "cat.log"))
	if err != nil {
		b.Fatal(err)
	}
	defer out.Close()
	total := int64(b.N) << 20
	r, wait := startWriter(b, total)
	cmd := exec.Command(cat)
	cmd.Stdin, cmd.Stdout = r, out
	b.SetBytes(1 << 20)
	start := time.Now()
	b.ResetTimer()
	if err := cmd.Run(); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	elapsed := time.Since(start)
	if err := wait(); err != nil {
		b.Fatal(err)
	}
	gib := float64(total) / (1 << 30)
	cpu := cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	b.ReportMetric(cpu.Seconds()/gib, "cpu-s/GiB")
	b.ReportMetric(float64(total)/(1<<20)/elapsed.Seconds(), "MiB/s")
}

// chunkReader returns the same chunk again and again, n times: a pipe
// without the kernel.
type chunkReader struct {
	chunk []byte
	n     int
}

func (r *chunkReader) Read(p []byte) (int, error) {
	if r.n == 0 {
		return 0, io.EOF
	}
	r.n--
	return copy(p, r.chunk), nil
}

// BenchmarkLineWriter is the user-space cost of Copy and LineWriter alone
// (no pipe, no file): `yes` output (2-byte lines, the worst case for a line
// scanner) and 80-byte lines, in 64 KiB reads as a pipe gives them.
func BenchmarkLineWriter(b *testing.B) {
	for _, bc := range []struct {
		name string
		line string
	}{
		{"yes", "y\n"},
		{"80B", strings.Repeat("x", 79) + "\n"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			chunk := []byte(strings.Repeat(bc.line, (64<<10)/len(bc.line)+1)[:64<<10])
			w := NewLineWriter(io.Discard, 0)
			r := &chunkReader{chunk: chunk}
			b.SetBytes(int64(len(chunk)) * 16)
			b.ReportAllocs()
			for b.Loop() {
				r.n = 16
				if err := Copy(w, r); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
