package supervisor

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"roost/handover"
	"strconv"
	"strings"
	"sync"
	"time"

	"roost/health"
	"roost/internal/procfs"
	"roost/sdnotify"
	"roost/supervisor/api"
)

// sd_notify for programs (notify=true, a roost extension). The supervisor
// has one notification socket, made at the first spawn of a notify
// program in a 0700 directory of its own, and passes it as NOTIFY_SOCKET.
// Each datagram carries its sender's pid (SO_PASSCRED, set by the kernel),
// and goes only to the notify program whose process that pid is (its
// leader, or a process of its process group): one program cannot make
// another READY.
//
//   - READY=1: STARTING -> RUNNING. A notify program does not become
//     RUNNING by startsecs; exiting before READY=1 is a failed start
//     (BACKOFF, then FATAL after startretries).
//   - STATUS=TEXT: shown in the description while it runs.
//   - WATCHDOG=1 with watchdog_sec=N: a RUNNING program that sends no
//     WATCHDOG=1 for N seconds is restarted (its stop recipe, then a
//     start), as systemd's WatchdogSec= does; WATCHDOG=trigger at once.
//     The program gets WATCHDOG_USEC, so sd_watchdog_enabled(3) works.

// statusMax bounds a STATUS= text kept for the description.
const statusMax = 200

// notifier is the supervisor's notification socket, made on first use.
type notifier struct {
	mu   sync.Mutex
	sock *sdnotify.Socket
	dir  string
}

// notifySocket returns the socket's path, making it (and its reader) at
// the first call.
func (s *Supervisor) notifySocket() (string, error) {
	n := &s.notify
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.sock != nil {
		return n.sock.Path, nil
	}
	dir, err := os.MkdirTemp("", "roost-notify-")
	if err != nil {
		return "", fmt.Errorf("notify socket: %w", err)
	}
	sock, err := sdnotify.Listen(filepath.Join(dir, "notify.sock"))
	if err != nil {
		os.Remove(dir)
		return "", err
	}
	n.sock, n.dir = sock, dir
	go s.readNotifications(sock)
	return sock.Path, nil
}

// closeNotify closes the socket and removes its directory (at the end of Run).
func (s *Supervisor) closeNotify() {
	n := &s.notify
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.sock != nil {
		n.sock.Close()
		os.Remove(n.dir)
		n.sock = nil
	}
}

// readNotifications hands each datagram to the process that sent it.
func (s *Supervisor) readNotifications(sock *sdnotify.Socket) {
	for {
		m, err := sock.Recv()
		if err != nil {
			return
		}
		p := s.notifySender(m.PID)
		if p == nil {
			s.log.Debug(fmt.Sprintf("notify: dropped a message from pid %d, which is no notify=true program's", m.PID), "pid", m.PID)
			continue
		}
		p.do(func() { p.onNotify(m) })
	}
}

// notifySender finds the notify program whose process pid is: its leader,
// or in its process group (a helper such as systemd-notify it runs).
func (s *Supervisor) notifySender(pid int) *process {
	pgid := -1
	for _, p := range s.allProcesses(false) {
		v := p.view()
		if !v.cfg.Notify || v.pid == 0 {
			continue
		}
		if v.pid == pid {
			return p
		}
		if pgid == -1 {
			pgid = 0
			if pi, err := procfs.Read(pid); err == nil {
				pgid = pi.PGID
			}
		}
		if pgid == v.pid {
			return p
		}
	}
	return nil
}

// notifyEnv is what a notify program's environment adds.
func (s *Supervisor) notifyEnv(p *process) ([]string, error) {
	addr, err := s.notifySocket()
	if err != nil {
		return nil, err
	}
	env := []string{"NOTIFY_SOCKET=" + addr}
	if p.cfg.WatchdogSec > 0 {
		env = append(env, "WATCHDOG_USEC="+strconv.FormatInt(p.cfg.WatchdogSec.Microseconds(), 10))
	}
	return env, nil
}

// onNotify applies one message of the process's own (in its goroutine).
func (p *process) onNotify(m sdnotify.Message) {
	if p.child == nil {
		return
	}
	if m.Status != "" {
		p.notifyStatus = oneLineText(m.Status, statusMax)
	}
	if m.Ready && p.state == api.Starting {
		p.backoff = 0
		p.setState(api.Running, slog.LevelInfo, fmt.Sprintf("success: %s entered RUNNING state, it sent READY=1 (notify)", p.name))
	}
	switch {
	case m.Watchdog == "1" && p.state == api.Running && p.cfg.WatchdogSec > 0:
		p.resetWatchdog(p.cfg.WatchdogSec)
	case m.Watchdog == "trigger" && p.state == api.Running:
		p.watchdogExpired("it sent WATCHDOG=trigger")
	}
}

// oneLineText is a program's text (STATUS=, a check's output) as status
// and the log show it: valid UTF-8, control characters as spaces, runs of
// white space as one, at most max bytes.
func oneLineText(s string, max int) string {
	if len(s) > max {
		s = s[:max]
	}
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, strings.ToValidUTF8(s, "?"))
	return strings.Join(strings.Fields(s), " ")
}

// armWatchdog starts the watchdog of a notify program that became RUNNING.
func (p *process) armWatchdog() {
	if p.cfg.Notify && p.cfg.WatchdogSec > 0 {
		p.resetWatchdog(p.cfg.WatchdogSec)
	}
}

// resetWatchdog arms the watchdog timer to fire in d, made on first use:
// a program without watchdog_sec (nearly all) never has one.
func (p *process) resetWatchdog(d time.Duration) {
	if p.watchdog == nil {
		p.watchdog = time.NewTimer(d)
		return
	}
	p.watchdog.Reset(d)
}

// stopWatchdog disarms the watchdog timer, if there is one.
func (p *process) stopWatchdog() {
	if p.watchdog != nil {
		p.watchdog.Stop()
	}
}

// watchdogC is the watchdog timer's channel; nil (never ready) without one.
func (p *process) watchdogC() <-chan time.Time {
	if p.watchdog == nil {
		return nil
	}
	return p.watchdog.C
}

// onWatchdog is the watchdog timer: no WATCHDOG=1 for watchdog_sec.
func (p *process) onWatchdog() {
	if p.state == api.Running && p.child != nil {
		p.watchdogExpired(fmt.Sprintf("no WATCHDOG=1 for %v", p.cfg.WatchdogSec))
	}
}

// watchdogExpired restarts the process through the ordinary stop and
// start, as the health room restarts an unhealthy one.
func (p *process) watchdogExpired(why string) {
	p.logf(slog.LevelError, "%s: watchdog timeout: %s; restarting it", p.name, why)
	p.s.events.publish(api.Event{Time: time.Now().UnixNano(), Type: "WATCHDOG_TIMEOUT",
		Name: p.name, Group: p.group, From: p.state, To: p.state, PID: p.child.pid, Message: why})
	go health.Restart(p.s.life, p.s, p.namespec())
}

// handNotify readies the notify socket for an upgrade's exec (its
// descriptor kept open), nil when there is none.
func (s *Supervisor) handNotify() *handover.Socket {
	n := &s.notify
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.sock == nil {
		return nil
	}
	fd, err := handover.Inherit(n.sock.Conn())
	if err != nil {
		s.log.Warn("handover: the notify socket does not cross: " + err.Error())
		return nil
	}
	return &handover.Socket{Path: n.sock.Path, FD: fd, Lock: -1}
}

// takeNotify takes over the notify socket an earlier image made.
func (s *Supervisor) takeNotify(h *handover.Socket) {
	sock, err := sdnotify.FromFD(h.FD, h.Path)
	if err != nil {
		s.log.Error("handover: " + err.Error() + "; notify programs' messages are lost until they restart")
		return
	}
	n := &s.notify
	n.mu.Lock()
	n.sock, n.dir = sock, filepath.Dir(h.Path)
	n.mu.Unlock()
	go s.readNotifications(sock)
}
