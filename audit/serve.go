package audit

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"strconv"

	"roost/logrotate"
	"roost/supervisor/api"
)

// The audit log's resources on a supervisor's socket (and TCP listener),
// behind the server's checks:
//
//	GET  /api/v1/audit?lines=N        the last N lines (default 20): Lines
//	GET  /api/v1/audit/follow?lines=N those, then every new one, streamed
//	POST /api/v1/audit                a Note: a change made outside the
//	                                  socket (roost env set, service add,
//	                                  deploy), recorded with the caller's
//	                                  uid from the connection

// Lines is the answer of GET /api/v1/audit.
type Lines struct {
	Path string `json:"path"`
	Data string `json:"data"` // whole lines, as in the file
}

// Note is the body of POST /api/v1/audit.
type Note struct {
	Front   string `json:"front"` // FrontEnv, FrontService or FrontDeploy
	Request string `json:"request"`
	Outcome string `json:"outcome"`
}

// DefaultLines is how many lines a read returns when not told.
const DefaultLines = 20

// maxLines bounds one read.
const maxLines = 100000

// Mounter is where Mount puts the resources (*api.Server).
type Mounter interface {
	Mount(pattern string, h http.Handler)
}

// Mount serves l's resources on srv.
func Mount(srv Mounter, l *Log) {
	n := newNames()
	srv.Mount("GET /api/v1/audit", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		lines, err := linesParam(r)
		if err != nil {
			api.Reply(w, nil, err)
			return
		}
		data, err := lastLines(l.Path(), lines)
		api.Reply(w, Lines{Path: l.Path(), Data: string(data)}, err)
	}))
	srv.Mount("GET /api/v1/audit/follow", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		lines, err := linesParam(r)
		if err != nil {
			api.Reply(w, nil, err)
			return
		}
		data, err := lastLines(l.Path(), lines)
		if err != nil {
			api.Reply(w, nil, err)
			return
		}
		api.StreamReply(w, func(sw io.Writer) error {
			return logrotate.FollowFile(r.Context(), l.Path(), int64(len(data)), sw)
		})
	}))
	srv.Mount("POST /api/v1/audit", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var note Note
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 16<<10))
		if err := dec.Decode(&note); err != nil {
			api.Reply(w, nil, api.Errorf(api.IncorrectParameters, "body: want an audit note: %v", err))
			return
		}
		switch note.Front {
		case FrontEnv, FrontService, FrontDeploy:
		default:
			api.Reply(w, nil, api.Errorf(api.IncorrectParameters, "front %q: want env, service or deploy", note.Front))
			return
		}
		e := caller(r, n)
		e.Front, e.Request, e.Outcome = note.Front, note.Request, note.Outcome
		if e.Outcome == "" {
			e.Outcome = OK
		}
		api.Reply(w, struct{}{}, l.Record(e))
	}))
}

func linesParam(r *http.Request) (int, error) {
	s := r.URL.Query().Get("lines")
	if s == "" {
		return DefaultLines, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 || n > maxLines {
		return 0, api.Errorf(api.BadArguments, "lines=%s: want 0 to %d", s, maxLines)
	}
	return n, nil
}

// lastLines returns the last n whole lines of the file at path, reading
// it backwards in chunks (a long log costs what is returned, not its size).
func lastLines(path string, n int) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	end := fi.Size()
	if n == 0 || end == 0 {
		return nil, nil
	}
	const chunk = 32 << 10
	var buf []byte
	off := end
	for off > 0 {
		step := min(int64(chunk), off)
		off -= step
		b := make([]byte, step)
		if _, err := f.ReadAt(b, off); err != nil && !errors.Is(err, io.EOF) {
			return nil, err
		}
		buf = append(b, buf...)
		// n lines need n+1 newlines before them, unless the file starts there;
		// the last byte is the last line's own newline.
		if bytes.Count(buf[:len(buf)-1], []byte{'\n'}) >= n {
			break
		}
	}
	body := buf[:len(buf)-1]
	for i := 0; i < n; i++ {
		j := bytes.LastIndexByte(body, '\n')
		if j < 0 {
			return buf, nil
		}
		body = body[:j]
	}
	return buf[len(body)+1:], nil
}
