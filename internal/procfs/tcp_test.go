package procfs

import (
	"net"
	"net/netip"
	"os"
	"testing"
)

// Real sockets show up with their address, port and owner.
func TestTCPListeners(t *testing.T) {
	ln4, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln4.Close()
	want := []netip.AddrPort{ln4.Addr().(*net.TCPAddr).AddrPort()}
	if ln6, err := net.Listen("tcp6", "[::1]:0"); err == nil { // no IPv6 is not this test's failure
		defer ln6.Close()
		want = append(want, ln6.Addr().(*net.TCPAddr).AddrPort())
	}
	// A connected socket is not a listener.
	conn, err := net.Dial("tcp4", ln4.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	local := conn.LocalAddr().(*net.TCPAddr).AddrPort()

	ls, err := TCPListeners()
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range want {
		found := false
		for _, l := range ls {
			if l.Addr == w.Addr() && l.Port == int(w.Port()) {
				found = true
				if l.UID != os.Geteuid() || l.Inode == 0 {
					t.Errorf("%v: uid %d inode %d, want uid %d", w, l.UID, l.Inode, os.Geteuid())
				}
			}
			if l.Port == int(local.Port()) && l.Addr == local.Addr() {
				t.Errorf("the client side %v is listed as a listener", local)
			}
		}
		if !found {
			t.Errorf("listener %v not found in %v", w, ls)
		}
	}
}

func TestParseNetTCP(t *testing.T) {
	v4 := `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000:07E8 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 641 1 00000000c948d20e 100 0 0 10 0
   1: 0100007F:4E20 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1001        0 777 1 0000000000000000 100 0 0 10 0
   2: 0100007F:8E6D 0100007F:BF60 06 00000000:00000000 03:000009A6 00000000     0        0 0 3 000000002748eb50
`
	v6 := `  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000000000000:4E21 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000  1002        0 888 1 0000000000000000 100 0 0 10 0
   1: 00000000000000000000000001000000:4E22 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000  1003        0 889 1 0000000000000000 100 0 0 10 0
   2: 0000000000000000FFFF00000100007F:4E23 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000  1004        0 890 1 0000000000000000 100 0 0 10 0
`
	ls4, err := parseNetTCP([]byte(v4), false)
	if err != nil {
		t.Fatal(err)
	}
	ls6, err := parseNetTCP([]byte(v6), true)
	if err != nil {
		t.Fatal(err)
	}
	got := append(ls4, ls6...)
	want := []Listener{
		{Addr: netip.MustParseAddr("0.0.0.0"), Port: 2024, UID: 0, Inode: 641},
		{Addr: netip.MustParseAddr("127.0.0.1"), Port: 20000, UID: 1001, Inode: 777},
		{Addr: netip.MustParseAddr("::"), Port: 20001, UID: 1002, Inode: 888},
		{Addr: netip.MustParseAddr("::1"), Port: 20002, UID: 1003, Inode: 889},
		{Addr: netip.MustParseAddr("::ffff:127.0.0.1"), Port: 20003, UID: 1004, Inode: 890},
	}
	if len(got) != len(want) {
		t.Fatalf("got %v\nwant %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("%d: got %+v, want %+v", i, got[i], want[i])
		}
	}
	dst := func(port uint16) netip.AddrPort { return netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), port) }
	for _, c := range []struct {
		l    Listener
		port uint16
		ok   bool
	}{
		{want[0], 2024, true},   // 0.0.0.0
		{want[1], 20000, true},  // 127.0.0.1
		{want[1], 20001, false}, // another port
		{want[2], 20001, true},  // :: (dual stack)
		{want[3], 20002, false}, // ::1 is not 127.0.0.1
		{want[4], 20003, true},  // v4-mapped 127.0.0.1
		{Listener{Addr: netip.MustParseAddr("127.0.0.2"), Port: 20000}, 20000, false},
	} {
		if got := c.l.Accepts(dst(c.port)); got != c.ok {
			t.Errorf("%v accepts 127.0.0.1:%d = %v, want %v", c.l, c.port, got, c.ok)
		}
	}
	if _, err := parseNetTCP([]byte("hdr\n 0: zz:1 00000000:0000 0A a b c 0 0 1\n"), false); err == nil {
		t.Error("a bad address parsed")
	}
}
