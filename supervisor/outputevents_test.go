package supervisor

import (
	"context"
	"io"
	"os"
	"reflect"
	"testing"

	"roost/config"
	"roost/supervisor/api"
)

// TestOutputReaderCapture feeds a pipe in chunks and checks what reaches
// the log and the events against supervisord's record_output: the markers
// may be split across reads, captured text leaves the log, PROCESS_LOG
// events carry every logged (and captured) chunk, and output no longer
// than a marker waits for more.
func TestOutputReaderCapture(t *testing.T) {
	for _, tc := range []struct {
		name    string
		lc      config.LogConfig
		chunks  []string
		log     string
		events  []string // type: message
		tailLog string   // what EOF adds to the log
	}{
		{
			name:   "events only",
			lc:     config.LogConfig{EventsEnabled: true},
			chunks: []string{"one\n", "two\n"},
			log:    "one\ntwo\n",
			events: []string{"PROCESS_LOG_STDOUT: one\n", "PROCESS_LOG_STDOUT: two\n"},
		},
		{
			name:   "capture across reads",
			lc:     config.LogConfig{CaptureMaxBytes: 1 << 20},
			chunks: []string{"before a long enough line\n<!--XSUPER", "VISOR:BEGIN-->hello", " comm<!--XSUPERVISOR:END-->", "\nafter, a line longer than a marker\n"},
			log:    "before a long enough line\n\nafter, a line longer than a marker\n",
			events: []string{"PROCESS_COMMUNICATION_STDOUT: hello comm"},
		},
		{
			name:    "short output waits for more",
			lc:      config.LogConfig{CaptureMaxBytes: 100},
			chunks:  []string{"short\n"},
			log:     "",
			tailLog: "short\n",
		},
		{
			name:   "capture and events",
			lc:     config.LogConfig{CaptureMaxBytes: 4, EventsEnabled: true},
			chunks: []string{"<!--XSUPERVISOR:BEGIN-->abcdef<!--XSUPERVISOR:END-->0123456789012345678901234"},
			log:    "0123456789012345678901234",
			// BoundIO keeps what fits as supervisord's does: "abcdef" in a
			// 4-byte buffer drops its own length from an empty one.
			events: []string{"PROCESS_LOG_STDOUT: abcdef", "PROCESS_COMMUNICATION_STDOUT: abcdef", "PROCESS_LOG_STDOUT: 0123456789012345678901234"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &Supervisor{events: newBroker()}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			evs := s.events.subscribe(ctx)
			pr, pw, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			defer pr.Close()
			p := &process{s: s, name: "talk", group: "talk", child: &child{pid: 42}}
			r := p.newOutputReader(pr, api.Stdout, tc.lc, nil)
			var log []byte
			buf := make([]byte, 4096)
			for _, c := range tc.chunks {
				if _, err := pw.Write([]byte(c)); err != nil {
					t.Fatal(err)
				}
				// One chunk a read: the pipe holds exactly c now. Read
				// returns only when it has something for the log, so
				// read directly while the reader holds everything.
				n, _ := r.File.Read(r.chunk)
				r.buf = append(r.buf, r.chunk[:n]...)
				r.record()
				k, _ := readOut(r, buf)
				log = append(log, buf[:k]...)
			}
			if string(log) != tc.log {
				t.Errorf("log %q, want %q", log, tc.log)
			}
			pw.Close()
			rest, _ := io.ReadAll(r)
			if string(rest) != tc.tailLog {
				t.Errorf("at EOF the log got %q, want %q", rest, tc.tailLog)
			}
			var got []string
			for len(evs) > 0 {
				ev := <-evs
				if ev.PID != 42 || ev.Name != "talk" {
					t.Errorf("event %+v: want pid 42, name talk", ev)
				}
				got = append(got, ev.Type+": "+ev.Message)
			}
			if !reflect.DeepEqual(got, tc.events) {
				t.Errorf("events %q, want %q", got, tc.events)
			}
		})
	}
}

// readOut returns what the reader holds for the log, without reading the
// pipe.
func readOut(r *outputReader, p []byte) (int, error) {
	k := copy(p, r.out[r.off:])
	r.off += k
	return k, nil
}
