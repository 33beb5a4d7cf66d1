package api

import (
	"errors"
	"fmt"
	"net"
	"os"
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
	_ = sock.ln.SetDeadline(time.Now()) // http.Server retries Accept after a pause
	undo = func() {
		unix.CloseOnExec(fd)
		unix.CloseOnExec(lock)
		_ = sock.ln.SetDeadline(time.Time{})
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
