package supervisor

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"syscall"
	"time"

	"roost/config"
	"roost/health"
	"roost/supervisor/api"
)

// The runtime's side of the health room (package health): the checker
// reads the event stream and calls these; the process records its health
// for status, the log and the events, and nothing else. The restart of an
// unhealthy process is the ordinary StopProcess and StartProcess.

var _ health.Runtime = (*Supervisor)(nil)

// checkOutputMax bounds what an exec check's output adds to the detail.
const checkOutputMax = 256

// HealthCheck returns the named process's check and the runner for its
// exec checks; nil when it has none or is gone.
func (s *Supervisor) HealthCheck(name string) (*config.HealthCheck, health.Runner) {
	p, err := s.lookupProcess(name)
	if err != nil {
		return nil, nil
	}
	cfg := p.view().cfg
	if cfg.Health == nil {
		return nil, nil
	}
	return cfg.Health, s.checkRunner(cfg)
}

// Running lists the RUNNING processes' namespecs (health.Runtime).
func (s *Supervisor) Running() []string {
	var out []string
	for _, p := range s.allProcesses(false) {
		if p.view().state == api.Running {
			out = append(out, p.namespec())
		}
	}
	return out
}

// checkRunner runs a program's exec checks.
func (s *Supervisor) checkRunner(cfg *config.Process) health.Runner {
	return func(ctx context.Context, argv []string) (string, error) { return s.runCheck(ctx, cfg, argv) }
}

// SetHealth records a RUNNING process's health: in its snapshot (status,
// --json), in the main log and as a HEALTH_* event. It reports false when
// the process is not RUNNING any more.
func (s *Supervisor) SetHealth(name string, h api.Health, detail string) bool {
	p, err := s.lookupProcess(name)
	if err != nil {
		return false
	}
	ok := false
	p.do(func() {
		if p.state != api.Running {
			return
		}
		ok = true
		if p.health == h && p.healthDetail == detail {
			return
		}
		p.health, p.healthDetail = h, detail
		p.publish() // before the event: a reader of the event sees it in status
		what := ""
		switch h {
		case api.HealthHealthy:
			p.logf(slog.LevelInfo, "%s is healthy (%s)", p.name, health.Describe(p.cfg.Health))
		case api.HealthFailing:
			p.logf(slog.LevelWarn, "health check of %s failed: %s", p.name, detail)
		case api.HealthUnhealthy:
			what = "; restarting it"
			p.logf(slog.LevelError, "%s is UNHEALTHY: %s%s", p.name, detail, what)
		}
		pid := 0
		if p.child != nil {
			pid = p.child.pid
		}
		p.s.events.publish(api.Event{
			Time: time.Now().UnixNano(), Type: "HEALTH_" + strings.ToUpper(string(h)),
			Name: p.name, Group: p.group, From: api.Running, To: api.Running, PID: pid, Message: detail,
		})
	})
	return ok
}

// describeHealth adds a process's health and its STATUS= to its
// description.
func describeHealth(pi *api.ProcessInfo, v *snapshot) {
	pi.Health, pi.HealthDetail, pi.NotifyStatus = v.health, v.healthDetail, v.notifyStatus
	if v.cfg.Health != nil && v.state == api.Running && pi.Health == "" {
		pi.Health = api.HealthStarting
	}
	var add []string
	switch pi.Health {
	case api.HealthUnhealthy:
		add = append(add, "UNHEALTHY: "+pi.HealthDetail)
	case api.HealthFailing:
		add = append(add, "health check failing: "+pi.HealthDetail)
	}
	if pi.NotifyStatus != "" && v.state.IsRunning() {
		add = append(add, pi.NotifyStatus)
	}
	if v.waiting != "" && v.state == api.Stopped {
		add = append(add, v.waiting)
	}
	for _, a := range add {
		if pi.Description != "" {
			pi.Description += ", "
		}
		pi.Description += a
	}
}

// runCheck runs an exec check the way the program runs: through the spawn
// recipe, as its user, in its directory, with its environment and umask,
// in a process group of its own, killed (the whole group) when ctx ends.
// It returns the start of the output (stdout and stderr) and an error for
// anything but exit status 0.
func (s *Supervisor) runCheck(ctx context.Context, cfg *config.Process, argv []string) (string, error) {
	var runAs *account
	if cfg.User != "" {
		a, err := lookupAccount(cfg.User)
		if err != nil {
			return "", fmt.Errorf("user %s: %w", cfg.User, err)
		}
		runAs = a
	}
	cred, err := credential(runAs)
	if err != nil {
		return "", err
	}
	env := s.environment(cfg, runAs)
	path, err := lookPath(argv[0], searchPath(env))
	if err != nil {
		return "", err
	}
	stdin, err := os.Open(os.DevNull)
	if err != nil {
		return "", err
	}
	defer stdin.Close()
	r, w, err := os.Pipe()
	if err != nil {
		return "", err
	}
	defer r.Close()
	c, err := startChild(s, &spec{Path: path, Argv: argv, Dir: cfg.Directory, Env: env, Umask: cfg.Umask,
		Cred: cred, Stdin: stdin, Stdout: w, Stderr: w})
	w.Close()
	if err != nil {
		return "", errors.New(describeStartError(cfg.Name+" health check", argv[0], err))
	}
	outc := make(chan string, 1)
	go func() {
		buf, _ := io.ReadAll(io.LimitReader(r, checkOutputMax))
		_, _ = io.Copy(io.Discard, r) // a check that talks a lot still ends
		outc <- oneLineText(string(buf), checkOutputMax)
	}()
	exited := make(chan syscall.WaitStatus, 1)
	go func() {
		ws, _, _ := c.wait() // a check's child is never handed over
		exited <- ws
	}()
	var ws syscall.WaitStatus
	var cerr error
	select {
	case ws = <-exited:
	case <-ctx.Done():
		_ = c.stop(syscall.SIGKILL, true)
		ws, cerr = <-exited, ctx.Err()
	}
	// The output is what the pipe holds by now; a grandchild that left
	// the group and keeps the pipe open does not hold the check up.
	_ = r.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	out := <-outc
	if cerr != nil {
		return out, cerr
	}
	if es, msg := decodeWaitStatus(ws); es != 0 {
		return out, errors.New(msg)
	}
	return "", nil
}
