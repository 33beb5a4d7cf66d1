package api

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The errors a Client reports besides *Error (the operation failed) and
// transport errors (which wrap the syscall error: ENOENT when there is no
// socket, ECONNREFUSED when nobody listens on it, EACCES when its mode
// keeps us out).
var (
	// ErrUnauthorized: the server wants basic auth, or other credentials (401).
	ErrUnauthorized = errors.New("server requires authentication")
	// ErrForbidden: the server refused our uid (403).
	ErrForbidden = errors.New("permission denied by the server")
	// ErrNotRoost: the server does not speak roost's JSON API (a supervisord?).
	ErrNotRoost = errors.New("the server does not speak roost's API (is it a supervisord? use supervisorctl)")
	// ErrUntrustedServer: the process serving the socket runs as a uid the
	// client was told not to trust.
	ErrUntrustedServer = errors.New("the socket is served by an untrusted user")
	// ErrTooLarge: a response was bigger than the client accepts.
	ErrTooLarge = errors.New("response too large")
)

// DefaultMaxResponseBytes bounds a response a Client reads whole.
const DefaultMaxResponseBytes = 32 << 20

// maxEventLine bounds one NDJSON event.
const maxEventLine = 1 << 20

// Client talks to a roost supervisor's JSON API over its unix socket. It is
// safe for concurrent use. It treats the server as untrusted: responses are
// size-capped, and WithServerUIDs can require the server's uid.
type Client struct {
	path     string
	hc       *http.Client
	tr       *http.Transport
	user     string
	pass     string
	maxBytes int64
	uids     []int // trusted server uids; nil trusts any
	header   http.Header

	// first is Dial's checked connection, until the first request takes
	// it (saving a connect and an accept per ctl command) or it is older
	// than firstConnMaxAge.
	first   chan net.Conn
	firstAt time.Time
}

// firstConnMaxAge is how long Dial's connection waits for the first
// request; an older one may have met the server's idle timeout.
const firstConnMaxAge = time.Second

// ClientOption configures Dial.
type ClientOption func(*Client)

// WithBasicAuth sends HTTP basic auth with every request, for a server whose
// [unix_http_server] sets username and password.
func WithBasicAuth(username, password string) ClientOption {
	return func(c *Client) { c.user, c.pass = username, password }
}

// WithHeader sends header k: v with every request (the master names
// itself as the admin front end to the audit log).
func WithHeader(k, v string) ClientOption {
	return func(c *Client) {
		if c.header == nil {
			c.header = http.Header{}
		}
		c.header.Set(k, v)
	}
}

// WithMaxResponseBytes bounds any response read whole (default
// DefaultMaxResponseBytes).
func WithMaxResponseBytes(n int64) ClientOption {
	return func(c *Client) { c.maxBytes = n }
}

// WithServerUIDs makes the client refuse (ErrUntrustedServer) a socket whose
// server process, as SO_PEERCRED reports it, runs as none of uids, and a
// socket made, or in a directory owned, by anyone but root or uids
// (CheckSocket).
func WithServerUIDs(uids ...int) ClientOption {
	return func(c *Client) { c.uids = slices.Clone(uids) }
}

// Dial connects to the socket at path once, to report at once when nobody
// serves it (or an untrusted user does), and returns a client for it.
func Dial(path string, opts ...ClientOption) (*Client, error) {
	c := &Client{path: path, maxBytes: DefaultMaxResponseBytes}
	for _, o := range opts {
		o(c)
	}
	c.tr = &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			select {
			case conn := <-c.first:
				if time.Since(c.firstAt) < firstConnMaxAge {
					return conn, nil
				}
				conn.Close()
			default:
			}
			return c.dial(ctx)
		},
		DisableCompression:     true,
		MaxIdleConnsPerHost:    4,
		IdleConnTimeout:        30 * time.Second,
		MaxResponseHeaderBytes: 64 << 10,
	}
	c.hc = &http.Client{Transport: c.tr}
	conn, err := c.dial(context.Background())
	if err != nil {
		return nil, err
	}
	c.first, c.firstAt = make(chan net.Conn, 1), time.Now()
	c.first <- conn
	return c, nil
}

func (c *Client) dial(ctx context.Context) (net.Conn, error) {
	return DialSocket(ctx, c.path, c.uids)
}

// DialSocket connects to the socket at path; with uids (not nil) it first
// checks the socket with CheckSocket and then its server with CheckPeer,
// as a Client made WithServerUIDs(uids...) does: for a caller that speaks
// HTTP over the connection itself (the dashboard's forwarders).
func DialSocket(ctx context.Context, path string, uids []int) (net.Conn, error) {
	if uids != nil {
		if err := CheckSocket(path, uids); err != nil {
			return nil, fmt.Errorf("connect %s: %w", path, err)
		}
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		return nil, fmt.Errorf("connect %s: %w", path, err)
	}
	if uids != nil {
		if err := CheckPeer(conn, uids); err != nil {
			conn.Close()
			return nil, fmt.Errorf("connect %s: %w", path, err)
		}
	}
	return conn, nil
}

// CheckPeer refuses (ErrUntrustedServer) a connection whose server process,
// as SO_PEERCRED reports it, runs as none of uids.
func CheckPeer(conn net.Conn, uids []int) error {
	p := peerOf(conn)
	switch {
	case p.Err != nil:
		return fmt.Errorf("%w: %v", ErrUntrustedServer, p.Err)
	case !slices.Contains(uids, p.UID):
		return fmt.Errorf("%w (%s, pid %d)", ErrUntrustedServer, uidName(uint32(p.UID)), p.PID)
	}
	return nil
}

// Path returns the socket path.
func (c *Client) Path() string { return c.path }

// Close releases idle connections.
func (c *Client) Close() error {
	select {
	case conn := <-c.first:
		conn.Close()
	default:
	}
	c.tr.CloseIdleConnections()
	return nil
}

// do sends a request to the API and returns the response when it is a
// success; any other response becomes an error (and is closed).
func (c *Client) do(ctx context.Context, method, path string, q url.Values, body io.Reader) (*http.Response, error) {
	u := "http://roost" + apiPrefix + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	if c.user != "" {
		req.SetBasicAuth(c.user, c.pass)
	}
	for k, v := range c.header {
		req.Header[k] = v
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("%s %s%s: %w", method, apiPrefix, path, err)
	}
	if resp.StatusCode == http.StatusOK {
		return resp, nil
	}
	defer resp.Body.Close()
	return nil, c.responseError(resp)
}

// responseError turns a non-200 response into an error.
func (c *Client) responseError(resp *http.Response) error {
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var eb ErrorBody
	isJSON := strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") &&
		json.Unmarshal(data, &eb) == nil && eb.Error.Name != ""
	switch {
	case resp.StatusCode == http.StatusUnauthorized:
		return ErrUnauthorized
	case resp.StatusCode == http.StatusForbidden:
		return ErrForbidden
	case !isJSON:
		return fmt.Errorf("%w: HTTP %s", ErrNotRoost, resp.Status)
	}
	return errorFromInfo(eb.Error)
}

// errorFromInfo rebuilds the *Error an ErrorInfo describes.
func errorFromInfo(ei ErrorInfo) *Error {
	detail, _ := strings.CutPrefix(ei.Message, ei.Code.String())
	detail = strings.TrimPrefix(detail, ": ")
	return &Error{Code: ei.Code, Detail: detail}
}

// readAll reads a whole response body, at most c.maxBytes of it.
func (c *Client) readAll(resp *http.Response) ([]byte, error) {
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, c.maxBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read response: %w", err)
	}
	if int64(len(data)) > c.maxBytes {
		return nil, fmt.Errorf("%w: more than %d bytes", ErrTooLarge, c.maxBytes)
	}
	return data, nil
}

// call performs a request and decodes its JSON answer into out (when not nil).
func (c *Client) call(ctx context.Context, method, path string, q url.Values, body io.Reader, out any) error {
	resp, err := c.do(ctx, method, path, q, body)
	if err != nil {
		return err
	}
	data, err := c.readAll(resp)
	if err != nil {
		return err
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("%s %s: %w: bad JSON: %v", method, path, ErrNotRoost, err)
	}
	return nil
}

func esc(name string) string { return url.PathEscape(name) }

// Version returns the server's roost version.
func (c *Client) Version(ctx context.Context) (string, error) {
	var v VersionInfo
	err := c.call(ctx, http.MethodGet, "version", nil, nil, &v)
	return v.Version, err
}

// Supervisor describes the supervisor itself.
func (c *Client) Supervisor(ctx context.Context) (SupervisorInfo, error) {
	var v SupervisorInfo
	err := c.call(ctx, http.MethodGet, "supervisor", nil, nil, &v)
	return v, err
}

// Processes describes every process, in supervisord's order.
func (c *Client) Processes(ctx context.Context) ([]ProcessInfo, error) {
	var v []ProcessInfo
	err := c.call(ctx, http.MethodGet, "processes", nil, nil, &v)
	return v, err
}

// ProcessesStatus is Processes with only the fields `roost status`
// prints set (name, group, state, statename, description): the listing in
// ViewStatus. Against an older server, which sends every field, the rest
// are set too.
func (c *Client) ProcessesStatus(ctx context.Context) ([]ProcessInfo, error) {
	var v []ProcessInfo
	err := c.call(ctx, http.MethodGet, "processes", url.Values{"view": {ViewStatus}}, nil, &v)
	return v, err
}

// ProcessesWithUsage is Processes with each running program's usage.
func (c *Client) ProcessesWithUsage(ctx context.Context) ([]ProcessInfo, error) {
	var v []ProcessInfo
	err := c.call(ctx, http.MethodGet, "processes", url.Values{"usage": {"1"}}, nil, &v)
	return v, err
}

// Process describes one process ("web" or "group:web").
func (c *Client) Process(ctx context.Context, name string) (ProcessInfo, error) {
	var v ProcessInfo
	err := c.call(ctx, http.MethodGet, "processes/"+esc(name), nil, nil, &v)
	return v, err
}

// ConfigInfo describes every configured process (supervisorctl avail).
func (c *Client) ConfigInfo(ctx context.Context) ([]ConfigInfo, error) {
	var v []ConfigInfo
	err := c.call(ctx, http.MethodGet, "config", nil, nil, &v)
	return v, err
}

// processAction posts a process operation. For one process the error is
// its *Error; for "group:*" and "all" the results carry each status.
func (c *Client) processAction(ctx context.Context, name, action string, q url.Values, body io.Reader) ([]Result, error) {
	var v Results
	err := c.call(ctx, http.MethodPost, "processes/"+esc(name)+"/"+action, q, body, &v)
	return v.Results, err
}

func waitQuery(wait bool) url.Values {
	return url.Values{"wait": {strconv.FormatBool(wait)}}
}

// Start starts a process ("web", "group:web"), a group ("group:*") or
// everything ("all"). With wait it returns once the processes are RUNNING
// (or failed to be), as supervisorctl's start does.
func (c *Client) Start(ctx context.Context, name string, wait bool) ([]Result, error) {
	return c.processAction(ctx, name, "start", waitQuery(wait), nil)
}

// Stop stops a process, a group ("group:*") or everything ("all").
func (c *Client) Stop(ctx context.Context, name string, wait bool) ([]Result, error) {
	return c.processAction(ctx, name, "stop", waitQuery(wait), nil)
}

// Restart stops (when running) and starts a process, a group or everything;
// the results are the start's.
func (c *Client) Restart(ctx context.Context, name string, wait bool) ([]Result, error) {
	return c.processAction(ctx, name, "restart", waitQuery(wait), nil)
}

// Signal sends a signal ("HUP", "SIGUSR1", "9") to a process, a group or everything.
func (c *Client) Signal(ctx context.Context, name, signal string) ([]Result, error) {
	return c.processAction(ctx, name, "signal", url.Values{"signal": {signal}}, nil)
}

// Clear clears the logs of a process, a group or everything.
func (c *Client) Clear(ctx context.Context, name string) ([]Result, error) {
	return c.processAction(ctx, name, "clear", nil, nil)
}

// SendStdin writes data to a running process's stdin.
func (c *Client) SendStdin(ctx context.Context, name string, data []byte) error {
	_, err := c.processAction(ctx, name, "stdin", nil, bytes.NewReader(data))
	return err
}

func logPath(name string, stream Stream) string {
	return "logs/" + esc(name) + "/" + esc(string(stream))
}

func offsetQuery(offset, length int64) url.Values {
	return url.Values{"offset": {strconv.FormatInt(offset, 10)}, "length": {strconv.FormatInt(length, 10)}}
}

// ReadLog reads a process log with supervisord's readProcessStdoutLog rules
// (offset -1600, length 0: the last 1600 bytes).
func (c *Client) ReadLog(ctx context.Context, name string, stream Stream, offset, length int64) ([]byte, error) {
	resp, err := c.do(ctx, http.MethodGet, logPath(name, stream), offsetQuery(offset, length), nil)
	if err != nil {
		return nil, err
	}
	return c.readAll(resp)
}

// TailLog is supervisord's tailProcessStdoutLog: the bytes, the offset to
// ask for next, and whether data was skipped.
func (c *Client) TailLog(ctx context.Context, name string, stream Stream, offset, length int64) ([]byte, int64, bool, error) {
	resp, err := c.do(ctx, http.MethodGet, logPath(name, stream)+"/tail", offsetQuery(offset, length), nil)
	if err != nil {
		return nil, 0, false, err
	}
	next, err1 := strconv.ParseInt(resp.Header.Get(HeaderLogOffset), 10, 64)
	overflow, err2 := strconv.ParseBool(resp.Header.Get(HeaderLogOverflow))
	data, err := c.readAll(resp)
	if err != nil {
		return nil, 0, false, err
	}
	if err1 != nil || err2 != nil {
		return nil, 0, false, fmt.Errorf("tail %s: %w: bad offset headers", name, ErrNotRoost)
	}
	return data, next, overflow, nil
}

// FollowLog writes the last tail bytes of a process log, then everything
// written to it, to w until ctx ends (nil then) or the stream fails.
func (c *Client) FollowLog(ctx context.Context, name string, stream Stream, tail int64, w io.Writer) error {
	q := url.Values{"tail": {strconv.FormatInt(tail, 10)}}
	return c.follow(ctx, logPath(name, stream)+"/follow", q, w)
}

// ReadMainLog reads the supervisor's main log (supervisord's readLog).
func (c *Client) ReadMainLog(ctx context.Context, offset, length int64) ([]byte, error) {
	resp, err := c.do(ctx, http.MethodGet, "mainlog", offsetQuery(offset, length), nil)
	if err != nil {
		return nil, err
	}
	return c.readAll(resp)
}

// FollowMainLog is FollowLog for the main log.
func (c *Client) FollowMainLog(ctx context.Context, tail int64, w io.Writer) error {
	return c.follow(ctx, "mainlog/follow", url.Values{"tail": {strconv.FormatInt(tail, 10)}}, w)
}

// ClearMainLog truncates the main log.
func (c *Client) ClearMainLog(ctx context.Context) error {
	return c.call(ctx, http.MethodPost, "mainlog/clear", nil, nil, nil)
}

func (c *Client) follow(ctx context.Context, path string, q url.Values, w io.Writer) error {
	resp, err := c.do(ctx, http.MethodGet, path, q, nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, err = io.Copy(w, resp.Body)
	if ctx.Err() != nil {
		return nil
	}
	if err != nil {
		return fmt.Errorf("follow: %w", err)
	}
	if te := resp.Trailer.Get(HeaderStreamError); te != "" {
		var eb ErrorBody
		if json.Unmarshal([]byte(te), &eb) == nil && eb.Error.Name != "" {
			return errorFromInfo(eb.Error)
		}
		return fmt.Errorf("follow: %w: bad error trailer", ErrNotRoost)
	}
	return nil
}

// Reread reports what differs between the configuration on disk and the
// running one; a broken file is a CantReread *Error listing file:line problems.
func (c *Client) Reread(ctx context.Context) (Changes, error) {
	var v Changes
	err := c.call(ctx, http.MethodPost, "reread", nil, nil, &v)
	return v, err
}

// Update applies the configuration on disk, to the named groups or (none
// named) to all; it returns what it changed.
func (c *Client) Update(ctx context.Context, groups []string) (Changes, error) {
	var v Changes
	err := c.call(ctx, http.MethodPost, "update", url.Values{"group": groups}, nil, &v)
	return v, err
}

// AddGroup activates a group of the last reread configuration.
func (c *Client) AddGroup(ctx context.Context, name string) error {
	return c.call(ctx, http.MethodPost, "groups/"+esc(name)+"/add", nil, nil, nil)
}

// RemoveGroup removes a stopped group.
func (c *Client) RemoveGroup(ctx context.Context, name string) error {
	return c.call(ctx, http.MethodPost, "groups/"+esc(name)+"/remove", nil, nil, nil)
}

// Shutdown stops every process and the supervisor.
func (c *Client) Shutdown(ctx context.Context) error {
	return c.call(ctx, http.MethodPost, "shutdown", nil, nil, nil)
}

// Reload stops everything, re-reads the configuration and starts again
// (supervisorctl reload).
func (c *Client) Reload(ctx context.Context) error {
	return c.call(ctx, http.MethodPost, "reload", nil, nil, nil)
}

// SendRemoteCommEvent emits a REMOTE_COMMUNICATION event.
func (c *Client) SendRemoteCommEvent(ctx context.Context, typ, data string) error {
	body, err := json.Marshal(RemoteCommEvent{Type: typ, Data: data})
	if err != nil {
		return fmt.Errorf("event: %w", err)
	}
	return c.call(ctx, http.MethodPost, "events", nil, bytes.NewReader(body), nil)
}

// Events calls fn with each event the supervisor emits until ctx ends (nil
// then), the stream breaks, or fn returns an error (which Events returns).
func (c *Client) Events(ctx context.Context, fn func(Event) error) error {
	return c.EventsFrom(ctx, nil, fn)
}

// EventsFrom is Events, calling opened (when not nil) once the server has
// answered the subscription: every event after that moment reaches fn, so
// a caller can subscribe, then read a state, and miss no change of it.
func (c *Client) EventsFrom(ctx context.Context, opened func(), fn func(Event) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	resp, err := c.do(ctx, http.MethodGet, "events", nil, nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if opened != nil {
		opened()
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 4096), maxEventLine)
	for sc.Scan() {
		var ev Event
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			return fmt.Errorf("events: %w: bad JSON: %v", ErrNotRoost, err)
		}
		if err := fn(ev); err != nil {
			return err
		}
	}
	if ctx.Err() != nil {
		return nil
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("events: %w", err)
	}
	return nil
}

// lastLinesChunk is how much LastLines reads per request, going backwards.
const lastLinesChunk = 64 << 10

// LastLines returns the last n lines of a process log (fewer when the log
// has fewer), reading backwards from its end; a final line without a
// newline counts as a line. It reads at most the client's response cap.
func (c *Client) LastLines(ctx context.Context, name string, stream Stream, n int) ([]byte, error) {
	if n <= 0 {
		return []byte{}, nil
	}
	_, size, _, err := c.TailLog(ctx, name, stream, 0, 0)
	if err != nil {
		return nil, err
	}
	var buf []byte
	pos := size
	for pos > 0 && !hasLines(buf, n) {
		if int64(len(buf)) >= c.maxBytes {
			return nil, fmt.Errorf("last %d lines of %s: %w: more than %d bytes", n, name, ErrTooLarge, c.maxBytes)
		}
		start := max(pos-lastLinesChunk, 0)
		data, err := c.ReadLog(ctx, name, stream, start, pos-start)
		if err != nil {
			return nil, err
		}
		if len(data) == 0 {
			break // the log shrank under us (cleared or rotated)
		}
		buf = append(data, buf...)
		pos = start
	}
	return tailLines(buf, n), nil
}

// hasLines reports whether b holds n complete lines after its first newline,
// i.e. whether the last n lines are surely all in b.
func hasLines(b []byte, n int) bool {
	body := bytes.TrimSuffix(b, []byte("\n"))
	return bytes.Count(body, []byte("\n")) >= n
}

// tailLines returns the last n lines of b.
func tailLines(b []byte, n int) []byte {
	body := bytes.TrimSuffix(b, []byte("\n"))
	i := len(body)
	for k := 0; k < n; k++ {
		j := bytes.LastIndexByte(body[:i], '\n')
		if j < 0 {
			return b
		}
		i = j
	}
	return b[i+1:]
}
