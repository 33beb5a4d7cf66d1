package sdnotify

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// maxMessage bounds one notification (systemd accepts about as much).
const maxMessage = 4096

// Message is one notification, with its sender as the kernel tells it
// (SCM_CREDENTIALS), not as the sender claims.
type Message struct {
	PID, UID int
	Ready    bool   // READY=1
	Stopping bool   // STOPPING=1
	Watchdog string // WATCHDOG=: "1" (a ping) or "trigger"
	Status   string // STATUS=, "" when not sent
}

// Socket is a service manager's notification socket: a unixgram socket
// with SO_PASSCRED, so each datagram carries its sender's pid.
type Socket struct {
	conn *net.UnixConn
	Path string
}

// Listen binds a notification socket at path (which must not exist), with
// mode 0600: only its owner's processes (and root) can send to it.
func Listen(path string) (*Socket, error) {
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		return nil, fmt.Errorf("notify socket: %w", err)
	}
	fail := func(err error) (*Socket, error) {
		conn.Close()
		os.Remove(path)
		return nil, fmt.Errorf("notify socket: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		return fail(err)
	}
	rc, err := conn.SyscallConn()
	if err != nil {
		return fail(err)
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_PASSCRED, 1)
	}); err != nil || serr != nil {
		return fail(errors.Join(err, serr))
	}
	return &Socket{conn: conn, Path: path}, nil
}

// Close closes the socket and removes its file; Recv returns an error then.
// Conn is the socket's connection (an upgrade hands its descriptor over:
// syscall.Conn).
func (s *Socket) Conn() *net.UnixConn { return s.conn }

// FromFD is the socket Listen made at path in an earlier image of this
// process, whose descriptor fd crossed an exec.
func FromFD(fd int, path string) (*Socket, error) {
	f := os.NewFile(uintptr(fd), path)
	c, err := net.FileConn(f)
	f.Close()
	if err != nil {
		return nil, fmt.Errorf("notify socket: %w", err)
	}
	uc, ok := c.(*net.UnixConn)
	if !ok {
		c.Close()
		return nil, fmt.Errorf("notify socket: fd %d is not a unix datagram socket", fd)
	}
	return &Socket{conn: uc, Path: path}, nil
}

func (s *Socket) Close() error {
	err := s.conn.Close()
	if rerr := os.Remove(s.Path); rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
		err = errors.Join(err, rerr)
	}
	return err
}

// Recv returns the next notification. Datagrams without credentials (or
// that cannot be parsed) are dropped; an error means the socket is closed.
func (s *Socket) Recv() (Message, error) {
	buf := make([]byte, maxMessage)
	oob := make([]byte, unix.CmsgSpace(unix.SizeofUcred))
	for {
		n, oobn, _, _, err := s.conn.ReadMsgUnix(buf, oob)
		if err != nil {
			return Message{}, err
		}
		cred, ok := credentials(oob[:oobn])
		if !ok {
			continue
		}
		m := parse(string(buf[:n]))
		m.PID, m.UID = int(cred.Pid), int(cred.Uid)
		return m, nil
	}
}

// credentials finds the SCM_CREDENTIALS of a datagram.
func credentials(oob []byte) (*unix.Ucred, bool) {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return nil, false
	}
	for i := range msgs {
		if c, err := unix.ParseUnixCredentials(&msgs[i]); err == nil {
			return c, true
		}
	}
	return nil, false
}

// parse reads the assignments roost acts on; others are ignored, as
// systemd ignores what it does not know.
func parse(text string) Message {
	var m Message
	for _, line := range strings.Split(text, "\n") {
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		switch k {
		case "READY":
			m.Ready = m.Ready || v == "1"
		case "STOPPING":
			m.Stopping = m.Stopping || v == "1"
		case "WATCHDOG":
			if v == "1" || v == "trigger" {
				m.Watchdog = v
			}
		case "STATUS":
			m.Status = v
		}
	}
	return m
}
