package supervisor

import (
	"context"
	"fmt"
	"syscall"
	"testing"
	"time"

	"roost/config"
	"roost/supervisor/api"
)

// Benchmarks of the runtime's own latencies (the side-by-side figures with
// supervisord are bench/'s). Run with:
//
//	go test -run '^$' -bench . ./supervisor/

// BenchmarkStart100 measures New+Run until 100 programs (startsecs=0) are
// RUNNING.
func BenchmarkStart100(b *testing.B) {
	for i := 0; i < b.N; i++ {
		var ps []*config.Process
		for j := 0; j < 100; j++ {
			p := prog(fmt.Sprintf("p%03d", j))
			setArgv(p, "/bin/sleep", "1000")
			p.StartSecs = 0
			ps = append(ps, p)
		}
		cfg := benchConfig(b, homog(ps...)...)
		s, err := New(cfg, Options{})
		if err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		evs := s.Subscribe(ctx)
		done := make(chan struct{})
		t0 := time.Now()
		go func() { s.Run(ctx); close(done) }()
		running := 0
		for ev := range evs {
			if ev.To == api.Running && ev.Name != "" {
				if running++; running == 100 {
					break
				}
			}
		}
		b.ReportMetric(float64(time.Since(t0).Microseconds())/1000, "ms-to-100-running")
		cancel()
		<-done
	}
}

// BenchmarkKill9Replacement measures kill -9 of a RUNNING program until its
// replacement is spawned (STARTING with a new pid).
func BenchmarkKill9Replacement(b *testing.B) {
	p := prog("victim")
	setArgv(p, "/bin/sleep", "1000")
	p.StartSecs = 0
	p.Autorestart = config.AutorestartTrue
	cfg := benchConfig(b, homog(p)...)
	s, err := New(cfg, Options{})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	evs := s.Subscribe(ctx)
	go s.Run(ctx)
	waitRunning := func() {
		for ev := range evs {
			if ev.Name == "victim" && ev.To == api.Running {
				return
			}
		}
	}
	waitRunning()
	var total time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		pid := s.procs()[0].view().pid
		t0 := time.Now()
		syscall.Kill(pid, syscall.SIGKILL)
		for ev := range evs {
			if ev.Name == "victim" && ev.To == api.Starting {
				break
			}
		}
		total += time.Since(t0)
		waitRunning()
	}
	b.ReportMetric(float64(total.Microseconds())/float64(b.N)/1000, "ms-to-respawn")
}

func (s *Supervisor) procs() []*process { return s.allProcesses(false) }

func benchConfig(b *testing.B, groups ...*config.Group) *config.Config {
	dir := b.TempDir()
	return &config.Config{
		File: dir + "/supervisord.conf", Here: dir,
		Supervisord: config.Supervisord{
			Logfile: dir + "/supervisord.log", LogLevel: "info", Childlogdir: dir,
			Identifier: "supervisor", Silent: true,
		},
		Groups: groups,
	}
}
