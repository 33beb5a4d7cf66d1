package main

import (
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"roost/internal/testutil"
)

// The integration test of roost service (the real master, roost-alice,
// the real servers) is master.TestE2EServices; these are the port choice's.

// The port of a new service: from the upper half of the master's block,
// skipping ports taken or in use; without a block, any free loopback port,
// and the note says why.
func TestServicePort(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	busy := ln.Addr().(*net.TCPAddr).Port
	base := busy - 5 // the block's upper half starts at busy
	env := map[string]string{"ROOST_PORT_BASE": strconv.Itoa(base), "ROOST_PORT_COUNT": "10"}
	p, note, err := servicePort(env, map[int]bool{busy + 1: true})
	if err != nil || p < busy+2 || p >= base+10 || !strings.Contains(note, "from your block") {
		t.Errorf("servicePort in block %d-%d (%d listening, %d taken): %d %q %v", base, base+9, busy, busy+1, p, note, err)
	}
	if _, _, err := servicePort(map[string]string{"ROOST_PORT_BASE": strconv.Itoa(busy), "ROOST_PORT_COUNT": "1"}, nil); err == nil {
		t.Error("a full block gave a port")
	}
	p, note, err = servicePort(nil, nil)
	if err != nil || p == 0 || !strings.Contains(note, "no roost master") {
		t.Errorf("servicePort without a block: %d %q %v", p, note, err)
	}
}

// Blue-green spares: a proxied numprocs=1 program's restart alternates to
// a spare port from the top of the block (config/ports.go), which a service
// must not take although nothing listens there between restarts. With a
// block of 8, web's slice is the first port and its spare the last, which
// the third service would otherwise get from the upper half.
func TestServicePortSkipsSpares(t *testing.T) {
	t.Setenv("ROOST_CONFIG_DIR", t.TempDir()) // no services file of the caller's
	base := testutil.FreePort(t)
	if base+8 > 65535 {
		base -= 8
	}
	dir := t.TempDir()
	conf := filepath.Join(dir, "supervisord.conf")
	write(t, conf, "[supervisord]\n[program:web]\ncommand=/bin/sleep 1\n[proxy:web]\nhosts = alice.example.test\n")
	env := map[string]string{"PORT": strconv.Itoa(base), "ROOST_PORT_BASE": strconv.Itoa(base), "ROOST_PORT_COUNT": "8"}
	taken := configPorts(conf, env)
	spare := base + 7
	if !taken[base] || !taken[spare] || len(taken) != 2 {
		t.Fatalf("configPorts: %v, want web's port %d and its spare %d", taken, base, spare)
	}
	for i := 0; i < 3; i++ {
		p, _, err := servicePort(env, taken)
		if err != nil {
			t.Fatalf("service %d: %v", i, err)
		}
		if p == spare || p < base+4 || p >= base+8 {
			t.Fatalf("service %d got port %d (block %d-%d, spare %d)", i, p, base, base+7, spare)
		}
		taken[p] = true
	}
	if p, _, err := servicePort(env, taken); err == nil {
		t.Errorf("a fourth service got %d: only the spare is left in the upper half", p)
	}
	// A file that does not load reserves nothing (the proxy routes still do).
	write(t, conf, "[program:web]\nstartsecs=1o\n")
	if got := configPorts(conf, env); len(got) != 0 {
		t.Errorf("configPorts of a broken file: %v", got)
	}
}
