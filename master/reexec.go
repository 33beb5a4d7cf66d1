package master

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// `roost admin reexec` (and `systemctl reload roost`): the master
// execve()s its binary in place, as systemd's daemon-reexec and nginx's
// binary upgrade do. The pid stays, so the user supervisors stay its
// children; no program of any user is touched.
//
// The handover, on Run's goroutine:
//
//  1. Preflight: the binary on disk runs (`roost --version`) and
//     roost.toml loads; otherwise the answer is the error and nothing
//     changed.
//  2. The router is held between two renders (no nginx install or child
//     in flight), then every slot is frozen between two events (no spawn,
//     stop or sweep in flight); each hands over its output pipe.
//  3. The handover record (handover.go) is written: pid, start time, uid,
//     executable, settings digest and counters of each supervisor. The
//     output pipes' read ends lose close-on-exec and are named in
//     ROOST_MASTER_FDS; everything else the master holds is close-on-exec
//     and goes (the admin socket's listener included: the new image
//     binds it again, and clients retry).
//  4. The admin request is answered, then execve(2) with the same
//     arguments and environment. A failed execve thaws everything and the
//     master goes on as it was.
//
// The new image starts as any master does, and adopts what the record
// names (adopt.go) before its reaper starts: a supervisor whose settings
// digest differs from what roost.toml now gives its user is restarted,
// the others keep their pid and their programs. GET /admin/v1/master says
// which image answers, so the client knows when the new one is up.

// reexecFreezeTimeout bounds the wait for the slots to reach a quiet point.
const reexecFreezeTimeout = 20 * time.Second

// MasterImage is GET /admin/v1/master: this exec of the master.
type MasterImage struct {
	PID int `json:"pid"`
	// Started is when this image started (unix nanoseconds): a re-exec
	// changes it, not the pid.
	Started int64 `json:"started"`
	// Adopted are the users whose running supervisor it adopted at start;
	// Replaced those of them it restarted (their settings changed).
	Adopted  []string `json:"adopted,omitempty"`
	Replaced []string `json:"replaced,omitempty"`
}

// reexecReq is POST /admin/v1/reexec, handed to Run's goroutine.
type reexecReq struct {
	reply   chan error    // nil: the exec follows once flushed is closed
	flushed chan struct{} // closed by the handler once its answer is sent
}

// Image returns this image of the master once it has applied roost.toml
// for the first time (so Replaced is complete), or when ctx ends.
func (m *Master) Image(ctx context.Context) MasterImage {
	select {
	case <-m.applied:
	case <-ctx.Done():
	}
	return m.image0()
}

// image0 returns this image of the master as it is now.
func (m *Master) image0() MasterImage {
	m.mu.Lock()
	defer m.mu.Unlock()
	im := m.image
	im.Adopted = append([]string(nil), im.Adopted...)
	im.Replaced = append([]string(nil), im.Replaced...)
	return im
}

// Reexec asks Run to re-execute the master. A nil error means the exec is
// under way once the caller has answered and closed flushed.
func (m *Master) Reexec(ctx context.Context, flushed chan struct{}) error {
	req := reexecReq{reply: make(chan error, 1), flushed: flushed}
	return ask(ctx, m.reexecc, req, req.reply)
}

// reexec runs on Run's goroutine; it returns only when the master did not
// exec (the reason went to the requester, or is logged).
func (m *Master) reexec(req reexecReq) {
	exe, err := os.Executable()
	if err == nil {
		err = preflight(exe)
	}
	if err == nil {
		_, err = m.load()
	}
	if err != nil {
		m.log.Error("re-exec refused; nothing changed", "err", err)
		req.reply <- fmt.Errorf("re-exec refused, nothing changed: %w", err)
		return
	}
	release := m.router.hold()
	thaw := make(chan struct{})
	fds, err := m.freeze(thaw)
	if err == nil {
		err = m.ho.save()
	}
	var pass []string
	if err == nil {
		for name, f := range fds {
			if fd, ok := inheritable(f, true); ok {
				pass = append(pass, name+"="+strconv.Itoa(fd))
			}
		}
	}
	undo := func() {
		for _, f := range fds {
			inheritable(f, false)
		}
		close(thaw)
		release()
	}
	if err != nil {
		undo()
		m.log.Error("re-exec abandoned; nothing changed", "err", err)
		req.reply <- fmt.Errorf("re-exec abandoned, nothing changed: %w", err)
		return
	}
	env := append(withoutEnv(os.Environ(), envFDs), envFDs+"="+strings.Join(pass, ","))
	m.notify("RELOADING=1")
	m.log.Info("re-executing the master in place", "exe", exe, "pid", os.Getpid(), "supervisors", len(pass))
	req.reply <- nil
	select {
	case <-req.flushed:
	case <-time.After(2 * time.Second):
	}
	err = syscall.Exec(exe, os.Args, env)
	undo()
	m.notify("READY=1")
	m.log.Error("re-exec failed: the master goes on as it was", "exe", exe, "err", err)
}

// freeze brings every slot to a stop between two events and returns the
// output pipes they hand over, by user.
func (m *Master) freeze(thaw chan struct{}) (map[string]*os.File, error) {
	m.mu.Lock()
	all := m.allSlots()
	m.mu.Unlock()
	var mu sync.Mutex
	fds := map[string]*os.File{}
	frozen := func(s *slot) {
		if s.out != nil {
			mu.Lock()
			fds[s.name] = s.out
			mu.Unlock()
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), reexecFreezeTimeout)
	defer cancel()
	var errs []error
	var wg sync.WaitGroup
	for _, s := range all {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := s.send(ctx, slotCmd{kind: cmdFreeze, frozen: frozen, thaw: thaw})
			if errors.Is(err, context.DeadlineExceeded) {
				mu.Lock()
				errs = append(errs, fmt.Errorf("user %s: its slot did not come to a quiet point in %v", s.name, reexecFreezeTimeout))
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return fds, errors.Join(errs...)
}

// inheritable clears (on) or sets close-on-exec on f's descriptor, and
// returns its number; false when f is closed.
func inheritable(f *os.File, on bool) (int, bool) {
	rc, err := f.SyscallConn()
	if err != nil {
		return 0, false
	}
	num := -1
	var ferr error
	err = rc.Control(func(fd uintptr) {
		flag := unix.FD_CLOEXEC
		if on {
			flag = 0
		}
		_, ferr = unix.FcntlInt(fd, unix.F_SETFD, flag)
		num = int(fd)
	})
	return num, err == nil && ferr == nil
}

// withoutEnv returns env without the variable key.
func withoutEnv(env []string, key string) []string {
	out := env[:0:0]
	for _, kv := range env {
		if !strings.HasPrefix(kv, key+"=") {
			out = append(out, kv)
		}
	}
	return out
}

// preflight checks that exe runs: a binary that cannot start would leave
// no master at all (the supervisors would keep running, for the next one
// to adopt).
func preflight(exe string) error {
	cmd := exec.Command(exe, "--version")
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin"}
	r, w, err := os.Pipe()
	if err != nil {
		return err
	}
	cmd.Stdout, cmd.Stderr = w, w
	c, err := spawn(cmd)
	w.Close()
	if err != nil {
		r.Close()
		return fmt.Errorf("%s --version: %w", exe, err)
	}
	out := newTailBuffer(4096)
	kill := time.AfterFunc(30*time.Second, func() { c.signal(syscall.SIGKILL, false) })
	copyInto(out, r)
	r.Close()
	ps := c.wait()
	kill.Stop()
	if !ps.Success() {
		return fmt.Errorf("%s --version: %s: %s", exe, describeExit(ps), sanitize(out.lastLines(3), 300))
	}
	return nil
}

// reexecHandler is POST /admin/v1/reexec.
func (m *Master) reexecHandler(w http.ResponseWriter, r *http.Request) {
	flushed := make(chan struct{})
	defer func() {
		select {
		case <-flushed:
		default:
			close(flushed)
		}
	}()
	if err := m.Reexec(r.Context(), flushed); err != nil {
		writeJSON(w, http.StatusConflict, errorReply{Error: err.Error()})
		return
	}
	m.log.Info("re-exec requested over the admin socket")
	// A complete answer (its length known, not chunked) before the exec.
	body, _ := json.Marshal(m.image0())
	w.Header().Set("Connection", "close")
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	w.Write(body)
	http.NewResponseController(w).Flush()
	close(flushed)
}

// ReexecMaster asks the master to re-execute itself and waits until the
// new image answers (or ctx ends); it returns the new image and how long
// the master did not answer.
func (c *AdminClient) ReexecMaster(ctx context.Context) (MasterImage, time.Duration, error) {
	var old MasterImage
	if err := c.call(ctx, http.MethodPost, "/reexec", &old); err != nil {
		return MasterImage{}, 0, err
	}
	asked := time.Now()
	c.hc.CloseIdleConnections()
	for {
		im, err := c.Image(ctx)
		if err == nil && im.Started != old.Started {
			return im, time.Since(asked), nil
		}
		select {
		case <-ctx.Done():
			if err == nil {
				err = errors.New("the master answers, but as its old image")
			}
			return MasterImage{}, time.Since(asked), fmt.Errorf("no new master image: %w (last: %v)", ctx.Err(), err)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// Image returns the master's image (GET /admin/v1/master).
func (c *AdminClient) Image(ctx context.Context) (MasterImage, error) {
	var im MasterImage
	err := c.call(ctx, http.MethodGet, "/master", &im)
	return im, err
}

// adoptedRoutesWait bounds how long a master that adopted supervisors
// waits for their routes before its first render. Generous: meanwhile
// nginx serves the file the previous image installed.
const adoptedRoutesWait = 30 * time.Second

// routerHold stops the router between two renders.
type routerHold struct {
	ack     chan struct{} // closed by the router: it is held
	release chan struct{} // closed by the holder
}

// hold stops the router at its next quiet point and returns the release.
func (r *router) hold() (release func()) {
	h := routerHold{ack: make(chan struct{}), release: make(chan struct{})}
	r.holdc <- h
	<-h.ack
	return func() { close(h.release) }
}

// holding says whether the first render must still wait for an adopted
// user's routes. On the router's goroutine.
func (r *router) holding() bool {
	if r.holdUntil.IsZero() {
		return false
	}
	if time.Now().Before(r.holdUntil) {
		for _, name := range r.m.image0().Adopted {
			if _, heard := r.infos[name]; !heard {
				return true
			}
		}
	}
	r.holdUntil = time.Time{}
	return false
}
