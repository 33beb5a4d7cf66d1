package procfs

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"strconv"
)

// Listener is a listening TCP socket, as /proc/net/tcp and /proc/net/tcp6
// list it.
type Listener struct {
	Addr netip.Addr // the local address; unspecified (0.0.0.0, ::) for a wildcard bind
	Port int
	// UID is the socket's owner: the uid of the process that created it.
	UID   int
	Inode uint64
}

// Accepts reports whether a connection to dst can reach this listener: the
// port matches and the listener is bound to dst's address or to a wildcard.
// A wildcard IPv6 listener counts for IPv4 too (dual stack, Linux's default
// unless the socket set IPV6_V6ONLY, which /proc does not show).
func (l Listener) Accepts(dst netip.AddrPort) bool {
	if l.Port != int(dst.Port()) {
		return false
	}
	a := l.Addr.Unmap()
	return a.IsUnspecified() || a == dst.Addr().Unmap()
}

// tcpListen is the st column's value for TCP_LISTEN.
const tcpListen = "0A"

// TCPListeners returns every listening TCP socket of the network namespace,
// IPv4 and IPv6 (a kernel without IPv6 has no /proc/net/tcp6: that is not
// an error). It reads two files: call it on an event, not in a loop.
func TCPListeners() ([]Listener, error) {
	var out []Listener
	for _, f := range []struct {
		path string
		v6   bool
	}{{"/proc/net/tcp", false}, {"/proc/net/tcp6", true}} {
		data, err := os.ReadFile(f.path)
		if f.v6 && errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("listening sockets: %w", err)
		}
		ls, err := parseNetTCP(data, f.v6)
		if err != nil {
			return nil, fmt.Errorf("listening sockets: %s: %w", f.path, err)
		}
		out = append(out, ls...)
	}
	return out, nil
}

// parseNetTCP reads the LISTEN lines of /proc/net/tcp (v6 false) or
// /proc/net/tcp6. The addresses are hex words in host byte order; the
// columns are sl, local_address, rem_address, st, tx:rx queues, tr:when,
// retrnsmt, uid, timeout, inode, ...
func parseNetTCP(data []byte, v6 bool) ([]Listener, error) {
	var out []Listener
	sc := bufio.NewScanner(bytes.NewReader(data))
	first := true
	for sc.Scan() {
		if first { // the header
			first = false
			continue
		}
		f := bytes.Fields(sc.Bytes())
		if len(f) < 10 {
			continue
		}
		if string(f[3]) != tcpListen {
			continue
		}
		addr, port, err := parseHexAddr(string(f[1]), v6)
		if err != nil {
			return nil, err
		}
		uid, err := strconv.Atoi(string(f[7]))
		if err != nil {
			return nil, fmt.Errorf("uid %q: %w", f[7], err)
		}
		inode, _ := strconv.ParseUint(string(f[9]), 10, 64)
		out = append(out, Listener{Addr: addr, Port: port, UID: uid, Inode: inode})
	}
	return out, sc.Err()
}

// parseHexAddr reads "0100007F:1F90" (127.0.0.1:8080) or its 32-digit IPv6
// form: 32-bit words, each in the kernel's (here little-endian) byte order.
func parseHexAddr(s string, v6 bool) (netip.Addr, int, error) {
	hexIP, hexPort, ok := bytes.Cut([]byte(s), []byte(":"))
	n := 4
	if v6 {
		n = 16
	}
	raw := make([]byte, n)
	if !ok || len(hexIP) != 2*n {
		return netip.Addr{}, 0, fmt.Errorf("address %q", s)
	}
	if _, err := hex.Decode(raw, hexIP); err != nil {
		return netip.Addr{}, 0, fmt.Errorf("address %q: %w", s, err)
	}
	ip := make([]byte, n)
	for i := 0; i < n; i += 4 {
		binary.BigEndian.PutUint32(ip[i:], binary.NativeEndian.Uint32(raw[i:]))
	}
	port, err := strconv.ParseUint(string(hexPort), 16, 16)
	if err != nil {
		return netip.Addr{}, 0, fmt.Errorf("port of %q: %w", s, err)
	}
	addr, _ := netip.AddrFromSlice(ip)
	return addr, int(port), nil
}
