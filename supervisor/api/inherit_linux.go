package api

import (
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"roost/handover"
)

// HandOver prepares the control socket for an exec of this process that
// keeps it (package handover): the listening socket and its lock lose
// close-on-exec, and accepting stops (new connections wait in the backlog
// for the next image, which Inherits the socket). It returns the path, the
// two descriptors, and undo, which restores serving when the exec does not
// happen.
func (s *Server) HandOver() (path string, fd, lock int, undo func(), err error) {
	s.mu.Lock()
	sock := s.sock
	s.mu.Unlock()
	if sock == nil {
		return "", -1, -1, nil, errors.New("hand over the socket: not listening")
	}
	fd, err = handover.Inherit(sock.ln)
	if err != nil {
		return "", -1, -1, nil, err
	}
	lock, err = handover.Inherit(sock.lock)
	if err != nil {
		unix.CloseOnExec(fd)
		return "", -1, -1, nil, err
	}
	paused := make(chan struct{})
	s.mu.Lock()
	s.paused = paused
	s.mu.Unlock()
	_ = sock.ln.SetDeadline(time.Now()) // wakes Accept, which then waits for undo (pausedListener)
	undo = func() {
		unix.CloseOnExec(fd)
		unix.CloseOnExec(lock)
		s.mu.Lock()
		s.paused = nil
		s.mu.Unlock()
		_ = sock.ln.SetDeadline(time.Time{})
		close(paused)
	}
	return sock.path, fd, lock, undo, nil
}

// Inherit makes the server serve the socket the previous image of this
// process handed over (HandOver), instead of Listen.
func (s *Server) Inherit(path string, fd, lock int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sock != nil {
		return fmt.Errorf("inherit %s: already listening on %s", path, s.sock.path)
	}
	unix.CloseOnExec(fd)
	unix.CloseOnExec(lock)
	f := os.NewFile(uintptr(fd), path)
	ln, err := net.FileListener(f) // a duplicate
	f.Close()
	if err != nil {
		unix.Close(lock)
		return fmt.Errorf("inherit %s: %w", path, err)
	}
	ul, ok := ln.(*net.UnixListener)
	if !ok {
		ln.Close()
		unix.Close(lock)
		return fmt.Errorf("inherit %s: descriptor %d is not a unix socket", path, fd)
	}
	ul.SetUnlinkOnClose(false)
	s.sock = &socket{path: path, ln: ul, lock: os.NewFile(uintptr(lock), path+".lock")}
	return nil
}

// pausedListener is the server's listener: while HandOver holds accepting,
// an Accept woken by its deadline waits for the undo (or Close) instead of
// returning an error http.Server would log and retry.
type pausedListener struct {
	net.Listener
	s      *Server
	closed chan struct{}
	once   sync.Once
}

func (s *Server) pausable(ln net.Listener) net.Listener {
	return &pausedListener{Listener: ln, s: s, closed: make(chan struct{})}
}

func (l *pausedListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err == nil || !errors.Is(err, os.ErrDeadlineExceeded) {
			return c, err
		}
		l.s.mu.Lock()
		paused := l.s.paused
		l.s.mu.Unlock()
		if paused == nil {
			return c, err
		}
		select {
		case <-paused:
		case <-l.closed:
			return nil, net.ErrClosed
		}
	}
}

func (l *pausedListener) Close() error {
	l.once.Do(func() { close(l.closed) })
	return l.Listener.Close()
}
