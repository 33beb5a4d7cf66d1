package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"roost/cgroup"
	"roost/master"
)

func TestWriteUsers(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	var b bytes.Buffer
	writeUsers(&b, []master.UserStatus{
		{Name: "alice", UID: 1001, PID: 42, State: master.UserRunning, Since: now.Unix() - 65, Restarts: 2,
			PortBase: 20000, PortCount: 10, ProgramsRunning: 2, ProgramsTotal: 3, Routes: 2, RoutesServed: 1,
			Usage:         &cgroup.Stats{MemoryCurrent: 25 << 20, MemoryPeak: 80 << 20, CPUSeconds: 3.25, Pids: 12, OOMKills: 1},
			ProxyProblems: []string{`[proxy:api] host "bob.example.test" belongs to bob`}},
		{Name: "bob", UID: 1002, State: master.UserBackoff, Since: now.Unix() - 1, Restarts: 7,
			PortBase: 20010, PortCount: 10, ProgramsRunning: -1, ProgramsTotal: -1, LastError: "exit status 1:\tboom",
			Routes: -1, RoutesServed: -1},
		{Name: "root", UID: 0, State: master.UserRefused, ProgramsRunning: -1, ProgramsTotal: -1,
			LastError: "refused: root has uid 0: root never gets a supervisor", Routes: -1, RoutesServed: -1},
	}, now)
	want := `USER   UID   STATE    PID  SINCE  RESTARTS  PROGRAMS  PORTS        ROUTES  MEM    PEAK   CPU   PIDS  OOM  LAST ERROR
alice  1001  RUNNING  42   1m5s   2         2/3       20000-20009  1/2     25.0M  80.0M  3.2s  12    1    
bob    1002  BACKOFF  -    1s     7         -         20010-20019  -       -      -      -     -     -    exit status 1: boom
root   0     REFUSED  -    -      0         -         -            -       -      -      -     -     -    refused: root has uid 0: root never gets a supervisor

routes left out (ROUTES is served/declared):
  alice: [proxy:api] host "bob.example.test" belongs to bob
`
	if got := b.String(); got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
	if strings.Contains(b.String(), "\t") {
		t.Error("a tab reached the table")
	}
}
