package api

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// The JSON API's prefix.
const apiPrefix = "/api/v1/"

// maxRequestBody bounds what a request body (stdin data, an event) may hold.
const maxRequestBody = 1 << 20

// ErrorBody is the JSON every failed /api/v1/ request returns:
// {"error":{"code":10,"name":"BAD_NAME","message":"BAD_NAME: web"}}.
type ErrorBody struct {
	Error ErrorInfo `json:"error"`
}

// ErrorInfo is the "error" member of ErrorBody: the supervisord fault code,
// its name and the fault string.
type ErrorInfo struct {
	Code    Code   `json:"code"`
	Name    string `json:"name"`
	Message string `json:"message"`
}

// Results is the JSON of process operations: one entry per process touched,
// with supervisord's fault code as its status (80, SUCCESS, when it worked).
type Results struct {
	Results []Result `json:"results"`
}

// SupervisorInfo is GET /api/v1/supervisor: who is answering.
type SupervisorInfo struct {
	Identification string          `json:"identification"`
	Version        string          `json:"version"`
	PID            int             `json:"pid"`
	State          SupervisorState `json:"state"`
	StateName      string          `json:"statename"`
}

// VersionInfo is GET /api/v1/version.
type VersionInfo struct {
	Version string `json:"version"`
}

// RemoteCommEvent is the body of POST /api/v1/events.
type RemoteCommEvent struct {
	Type string `json:"type"`
	Data string `json:"data"`
}

// The log-tail response headers (GET /api/v1/logs/{name}/{stream}/tail).
const (
	HeaderLogOffset   = "Roost-Log-Offset"
	HeaderLogOverflow = "Roost-Log-Overflow"
	// HeaderStreamError is the trailer a log follow sets when the stream
	// ends on an error after the 200 was sent: an ErrorBody as JSON.
	HeaderStreamError = "Roost-Error"
)

// HTTPStatus is the HTTP status the JSON API answers a fault code with.
func HTTPStatus(c Code) int {
	switch c {
	case Success:
		return http.StatusOK
	case UnknownMethod, BadName, NoFile:
		return http.StatusNotFound
	case IncorrectParameters, BadArguments, BadSignal, SignatureUnsupported:
		return http.StatusBadRequest
	case AlreadyStarted, NotRunning, AlreadyAdded, StillRunning:
		return http.StatusConflict
	case CantReread:
		return http.StatusUnprocessableEntity
	case ShutdownState:
		return http.StatusServiceUnavailable
	default: // Failed, NotExecutable, SpawnError, AbnormalTermination
		return http.StatusInternalServerError
	}
}

func (s *Server) routes() {
	m := s.mux
	m.HandleFunc("GET /api/v1/version", s.version)
	m.HandleFunc("GET /api/v1/supervisor", s.supervisor)
	m.HandleFunc("GET /api/v1/processes", s.processes)
	m.HandleFunc("GET /api/v1/processes/{name}", s.process)
	m.HandleFunc("POST /api/v1/processes/{name}/{action}", s.processAction)
	m.HandleFunc("GET /api/v1/config", s.config)
	m.HandleFunc("GET /api/v1/logs/{name}/{stream}", s.readLog)
	m.HandleFunc("GET /api/v1/logs/{name}/{stream}/tail", s.tailLog)
	m.HandleFunc("GET /api/v1/logs/{name}/{stream}/follow", s.followLog)
	m.HandleFunc("GET /api/v1/mainlog", s.readMainLog)
	m.HandleFunc("GET /api/v1/mainlog/follow", s.followMainLog)
	m.HandleFunc("POST /api/v1/mainlog/clear", s.clearMainLog)
	m.HandleFunc("POST /api/v1/reread", s.reread)
	m.HandleFunc("POST /api/v1/update", s.update)
	m.HandleFunc("POST /api/v1/groups/{name}/{action}", s.groupAction)
	m.HandleFunc("POST /api/v1/shutdown", s.shutdown)
	m.HandleFunc("POST /api/v1/reload", s.reload)
	m.HandleFunc("GET /api/v1/events", s.events)
	m.HandleFunc("POST /api/v1/events", s.remoteCommEvent)
	s.cronRoutes(m)
	s.proxyRoutes(m)
	s.configStateRoutes(m)
	s.reexecRoutes(m)
	m.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, Errorf(UnknownMethod, "%s %s", r.Method, r.URL.Path))
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// errorBody renders err (an *Error, or any error as FAILED) as ErrorBody.
func errorBody(err error) ErrorBody {
	var e *Error
	if !errors.As(err, &e) {
		e = &Error{Code: Failed, Detail: err.Error()}
	}
	return ErrorBody{Error: ErrorInfo{Code: e.Code, Name: e.Code.String(), Message: e.Error()}}
}

// writeError answers with err as ErrorBody; status 0 picks HTTPStatus of its code.
func writeError(w http.ResponseWriter, status int, err error) {
	if status == 0 {
		status = HTTPStatus(CodeOf(err))
	}
	writeJSON(w, status, errorBody(err))
}

func reply(w http.ResponseWriter, v any, err error) {
	if err != nil {
		writeError(w, 0, err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

func (s *Server) version(w http.ResponseWriter, r *http.Request) {
	reply(w, VersionInfo{Version: s.b.Version()}, nil)
}

func (s *Server) supervisor(w http.ResponseWriter, r *http.Request) {
	st := s.b.State()
	reply(w, SupervisorInfo{
		Identification: s.b.Identification(), Version: s.b.Version(),
		PID: s.b.PID(), State: st, StateName: st.String(),
	}, nil)
}

func (s *Server) processes(w http.ResponseWriter, r *http.Request) {
	view := r.URL.Query().Get("view")
	if view != "" && view != ViewStatus {
		reply(w, nil, Errorf(BadArguments, "view=%s: the only view is %q (or none, for every field)", view, ViewStatus))
		return
	}
	infos := s.b.AllProcessInfo()
	if infos == nil {
		infos = []ProcessInfo{}
	}
	if view == ViewStatus {
		brief := make([]processStatus, len(infos))
		for i, in := range infos {
			brief[i] = processStatus{Name: in.Name, Group: in.Group, State: in.State, StateName: in.StateName, Description: in.Description}
		}
		reply(w, brief, nil)
		return
	}
	if ub, ok := s.b.(UsageBackend); ok && r.URL.Query().Get("usage") == "1" {
		u := ub.Usage()
		for i := range infos {
			if x, ok := u[infos[i].PID]; ok && infos[i].PID > 0 {
				infos[i].Usage = &x
			}
		}
	}
	reply(w, infos, nil)
}

func (s *Server) process(w http.ResponseWriter, r *http.Request) {
	info, err := s.b.ProcessInfo(r.PathValue("name"))
	reply(w, info, err)
}

func (s *Server) config(w http.ResponseWriter, r *http.Request) {
	infos := s.b.AllConfigInfo()
	if infos == nil {
		infos = []ConfigInfo{}
	}
	reply(w, infos, nil)
}

// target is what a process operation names: everything ("all"), one
// group ("g:*") or one process ("web", "g:web").
type target struct {
	all      bool
	group    string // the group, for group and process targets
	process  string // the process name; "" for a group
	namespec string // as given
}

func parseTarget(name string) target {
	if name == "all" {
		return target{all: true, namespec: name}
	}
	g, p, isGroup := SplitNamespec(name)
	if isGroup {
		return target{group: g, namespec: name}
	}
	return target{group: g, process: p, namespec: name}
}

// ok is the result a single-process operation reports on success.
func (t target) ok() []Result {
	return []Result{{Name: t.process, Group: t.group, Status: Success, Description: "OK"}}
}

// boolParam reads a true/false query parameter.
func boolParam(r *http.Request, key string, def bool) (bool, error) {
	v := r.URL.Query().Get(key)
	if v == "" {
		return def, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return def, Errorf(BadArguments, "%s=%q: want true or false", key, v)
	}
	return b, nil
}

// intParam reads an integer query parameter.
func intParam(r *http.Request, key string, def int64) (int64, error) {
	v := r.URL.Query().Get(key)
	if v == "" {
		return def, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return def, Errorf(BadArguments, "%s=%q: want an integer", key, v)
	}
	return n, nil
}

func (s *Server) processAction(w http.ResponseWriter, r *http.Request) {
	t := parseTarget(r.PathValue("name"))
	ctx := r.Context()
	wait, err := boolParam(r, "wait", true)
	if err != nil {
		writeError(w, 0, err)
		return
	}
	var res []Result
	switch action := r.PathValue("action"); action {
	case "start":
		res, err = s.start(ctx, t, wait)
	case "stop":
		res, err = s.stop(ctx, t, wait)
	case "restart":
		var rolling bool
		if rolling, err = boolParam(r, "rolling", false); err != nil || rolling {
			if err == nil {
				res, err = s.rollingRestart(ctx, t)
			}
			break
		}
		res, err = s.stop(ctx, t, true)
		if CodeOf(err) == NotRunning {
			err = nil
		}
		if err == nil {
			res, err = s.start(ctx, t, wait)
		}
	case "signal":
		res, err = s.signal(t, r.URL.Query().Get("signal"))
	case "clear":
		res, err = s.clear(t)
	case "stdin":
		var data []byte
		data, err = io.ReadAll(http.MaxBytesReader(w, r.Body, maxRequestBody))
		if err == nil {
			err = s.b.SendProcessStdin(t.namespec, data)
			res = t.ok()
		}
	default:
		err = Errorf(UnknownMethod, "no process action %q (start, stop, restart, signal, clear, stdin)", action)
	}
	reply(w, Results{Results: res}, err)
}

func (s *Server) start(ctx context.Context, t target, wait bool) ([]Result, error) {
	switch {
	case t.all:
		return s.b.StartAll(ctx, wait), nil
	case t.process == "":
		return s.b.StartGroup(ctx, t.group, wait)
	}
	return t.ok(), s.b.StartProcess(ctx, t.namespec, wait)
}

func (s *Server) stop(ctx context.Context, t target, wait bool) ([]Result, error) {
	switch {
	case t.all:
		return s.b.StopAll(ctx, wait), nil
	case t.process == "":
		return s.b.StopGroup(ctx, t.group, wait)
	}
	return t.ok(), s.b.StopProcess(ctx, t.namespec, wait)
}

func (s *Server) signal(t target, name string) ([]Result, error) {
	sig, err := ParseSignal(name)
	if err != nil && t.process == "" {
		return s.badSignal(t, err)
	}
	if err != nil {
		return nil, err
	}
	switch {
	case t.all:
		return s.b.SignalAll(sig), nil
	case t.process == "":
		return s.b.SignalGroup(t.group, sig)
	}
	return t.ok(), s.b.SignalProcess(t.namespec, sig)
}

// badSignal is what supervisord answers a group or "all" signal with an
// unknown signal: a BAD_SIGNAL result for each process it would have
// signalled.
func (s *Server) badSignal(t target, err error) ([]Result, error) {
	res := []Result{}
	found := false
	for _, p := range s.b.AllProcessInfo() {
		if !t.all && p.Group != t.group {
			continue
		}
		found = true
		if p.State.IsSignallable() {
			res = append(res, Result{Name: p.Name, Group: p.Group, Status: BadSignal, Description: err.Error()})
		}
	}
	if !found && !t.all {
		return nil, Errorf(BadName, "%s", t.group)
	}
	return res, nil
}

// clear clears logs; for a group it clears each of its processes, which
// supervisord's API has no single call for.
func (s *Server) clear(t target) ([]Result, error) {
	switch {
	case t.all:
		return s.b.ClearAllProcessLogs(), nil
	case t.process != "":
		return t.ok(), s.b.ClearProcessLogs(t.namespec)
	}
	var res []Result
	for _, p := range s.b.AllProcessInfo() {
		if p.Group != t.group {
			continue
		}
		r := Result{Name: p.Name, Group: p.Group, Status: Success, Description: "OK"}
		if err := s.b.ClearProcessLogs(p.Namespec()); err != nil {
			r.Status, r.Description = CodeOf(err), err.Error()
		}
		res = append(res, r)
	}
	if res == nil {
		return nil, Errorf(BadName, "%s", t.group)
	}
	return res, nil
}

// logStream reads and checks the {stream} path value.
func logStream(r *http.Request) (Stream, error) {
	switch st := Stream(r.PathValue("stream")); st {
	case Stdout, Stderr:
		return st, nil
	default:
		return "", Errorf(BadArguments, "stream %q: want stdout or stderr", st)
	}
}

// offsetLength reads the offset and length parameters of a log read.
func offsetLength(r *http.Request) (offset, length int64, err error) {
	if offset, err = intParam(r, "offset", 0); err != nil {
		return 0, 0, err
	}
	length, err = intParam(r, "length", 0)
	return offset, length, err
}

// backendAs returns b's optional side T (CronBackend, ProxyBackend...), or
// UNKNOWN_METHOD saying what b lacks.
func backendAs[T any](b Backend, lacks string) (T, error) {
	t, ok := b.(T)
	if !ok {
		return t, Errorf(UnknownMethod, "%s", lacks)
	}
	return t, nil
}

// optional is backendAs for a handler: without T it answers the error.
func optional[T any](w http.ResponseWriter, b Backend, lacks string) (T, bool) {
	t, err := backendAs[T](b, lacks)
	if err != nil {
		writeError(w, 0, err)
	}
	return t, err == nil
}

func writeBytes(w http.ResponseWriter, data []byte) {
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Length", strconv.Itoa(len(data)))
	w.WriteHeader(http.StatusOK)
	w.Write(data)
}

// logRange reads the stream, offset and length parameters of a log read.
func logRange(r *http.Request) (Stream, int64, int64, error) {
	st, err := logStream(r)
	if err != nil {
		return "", 0, 0, err
	}
	offset, length, err := offsetLength(r)
	return st, offset, length, err
}

func (s *Server) readLog(w http.ResponseWriter, r *http.Request) {
	st, offset, length, err := logRange(r)
	if err != nil {
		writeError(w, 0, err)
		return
	}
	data, err := s.b.ReadProcessLog(r.PathValue("name"), st, offset, length)
	if err != nil {
		writeError(w, 0, err)
		return
	}
	writeBytes(w, data)
}

func (s *Server) tailLog(w http.ResponseWriter, r *http.Request) {
	st, offset, length, err := logRange(r)
	if err != nil {
		writeError(w, 0, err)
		return
	}
	data, next, overflow, err := s.b.TailProcessLog(r.PathValue("name"), st, offset, length)
	if err != nil {
		writeError(w, 0, err)
		return
	}
	w.Header().Set(HeaderLogOffset, strconv.FormatInt(next, 10))
	w.Header().Set(HeaderLogOverflow, strconv.FormatBool(overflow))
	writeBytes(w, data)
}

func (s *Server) followLog(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	st, err := logStream(r)
	if err != nil {
		writeError(w, 0, err)
		return
	}
	tail, err := intParam(r, "tail", 1600)
	if err != nil {
		writeError(w, 0, err)
		return
	}
	// Answer the usual mistakes with a proper status before the stream starts.
	info, err := s.b.ProcessInfo(name)
	if err != nil {
		writeError(w, 0, err)
		return
	}
	if (st == Stdout && info.StdoutLogfile == "") || (st == Stderr && info.StderrLogfile == "") {
		writeError(w, 0, Errorf(NoFile, "%s has no %s log", name, st))
		return
	}
	stream(w, func(sw io.Writer) error {
		return s.b.FollowProcessLog(r.Context(), name, st, tail, sw)
	})
}

func (s *Server) readMainLog(w http.ResponseWriter, r *http.Request) {
	offset, length, err := offsetLength(r)
	if err != nil {
		writeError(w, 0, err)
		return
	}
	data, err := s.b.ReadMainLog(offset, length)
	if err != nil {
		writeError(w, 0, err)
		return
	}
	writeBytes(w, data)
}

func (s *Server) followMainLog(w http.ResponseWriter, r *http.Request) {
	tail, err := intParam(r, "tail", 1600)
	if err != nil {
		writeError(w, 0, err)
		return
	}
	stream(w, func(sw io.Writer) error { return s.b.FollowMainLog(r.Context(), tail, sw) })
}

func (s *Server) clearMainLog(w http.ResponseWriter, r *http.Request) {
	reply(w, struct{}{}, s.b.ClearMainLog())
}

// flushWriter sends every write to the client at once.
type flushWriter struct {
	w  io.Writer
	rc *http.ResponseController
}

func (f flushWriter) Write(p []byte) (int, error) {
	n, err := f.w.Write(p)
	if err == nil {
		err = f.rc.Flush()
	}
	return n, err
}

// stream sends 200 at once, then whatever follow writes, flushed as it
// comes, until follow returns. An error after that point travels in the
// Roost-Error trailer, since the status is already sent.
func stream(w http.ResponseWriter, follow func(io.Writer) error) {
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Trailer", HeaderStreamError)
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	rc.Flush()
	err := follow(flushWriter{w: w, rc: rc})
	if err != nil && !errors.Is(err, context.Canceled) {
		b, _ := json.Marshal(errorBody(err))
		w.Header().Set(HeaderStreamError, string(b))
	}
}

func (s *Server) reread(w http.ResponseWriter, r *http.Request) {
	ch, err := s.b.Reread()
	reply(w, normChanges(ch), err)
}

// update applies the configuration; ?group=a&group=b limits it to groups.
func (s *Server) update(w http.ResponseWriter, r *http.Request) {
	ch, err := s.b.Update(r.Context(), r.URL.Query()["group"])
	reply(w, normChanges(ch), err)
}

// normChanges makes empty lists [] rather than null in JSON.
func normChanges(c Changes) Changes {
	for _, l := range []*[]string{&c.Added, &c.Changed, &c.Removed} {
		if *l == nil {
			*l = []string{}
		}
	}
	return c
}

func (s *Server) groupAction(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	var err error
	switch action := r.PathValue("action"); action {
	case "add":
		err = s.b.AddGroup(name)
	case "remove":
		err = s.b.RemoveGroup(name)
	default:
		err = Errorf(UnknownMethod, "no group action %q (add, remove)", action)
	}
	reply(w, struct{}{}, err)
}

func (s *Server) shutdown(w http.ResponseWriter, r *http.Request) {
	reply(w, struct{}{}, s.b.Shutdown())
}

func (s *Server) reload(w http.ResponseWriter, r *http.Request) {
	reply(w, struct{}{}, s.b.Restart())
}

// events streams the backend's events as NDJSON until the client goes.
func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	ch := s.b.Subscribe(r.Context())
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	rc.Flush()
	enc := json.NewEncoder(w)
	for ev := range ch {
		if strings.HasPrefix(ev.Type, "PROCESS_LOG_") {
			continue // programs' output: the log endpoints serve it, event listeners read it
		}
		if enc.Encode(ev) != nil || rc.Flush() != nil {
			// The client is gone; drain until Subscribe closes the channel.
			for range ch {
			}
			return
		}
	}
}

func (s *Server) remoteCommEvent(w http.ResponseWriter, r *http.Request) {
	var ev RemoteCommEvent
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxRequestBody))
	if err := dec.Decode(&ev); err != nil {
		writeError(w, 0, Errorf(IncorrectParameters, "body: want {\"type\":...,\"data\":...}: %v", err))
		return
	}
	if strings.TrimSpace(ev.Type) == "" {
		writeError(w, 0, Errorf(IncorrectParameters, "type is empty"))
		return
	}
	reply(w, struct{}{}, s.b.SendRemoteCommEvent(ev.Type, ev.Data))
}
