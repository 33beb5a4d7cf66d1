package xmlrpc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"roost/supervisor/api"
)

// DefaultMaxRequestBytes is the request size NewHandler accepts unless
// Options says otherwise. supervisorctl's largest request is a
// sendProcessStdin; 4 MiB leaves room for any real one.
const DefaultMaxRequestBytes = 4 << 20

// Options configures NewHandler.
type Options struct {
	// Methods adds methods, by full name ("namespace.method"). A name that
	// is not of that form, starts its method part with "_" or is already a
	// built-in method is ignored with an error in the log.
	Methods map[string]Method
	// MaxRequestBytes caps the request body; 0 means DefaultMaxRequestBytes.
	MaxRequestBytes int64
	// Logger receives one debug record per call and the errors; nil means
	// slog.Default().
	Logger *slog.Logger
}

// Method is an XML-RPC method added through Options.
type Method struct {
	// Func runs a call with its decoded parameters (see value.go for their
	// Go types) and returns a value the encoder takes. An *api.Error becomes
	// a fault with its code; any other error a FAILED fault.
	Func func(ctx context.Context, params []any) (any, error)
	// Signature is what system.methodSignature reports: the XML-RPC type of
	// the result, then of each parameter. Without one, methodSignature
	// answers SIGNATURE_UNSUPPORTED, as supervisord does for a method whose
	// documentation has no @return.
	Signature []string
	// Help is what system.methodHelp returns.
	Help string
}

// method is a registered method: a built-in or one from Options.
type method struct {
	min, max int // parameter counts; max -1 means any
	// update makes the call fail with SHUTDOWN_STATE while the supervisor
	// shuts down or restarts, as supervisord's _update does.
	update bool
	sig    []string
	help   string
	fn     func(ctx context.Context, params []any) (any, error)
}

type handler struct {
	b       api.Backend
	log     *slog.Logger
	max     int64
	methods map[string]*method
}

// NewHandler returns the handler for POST /RPC2: supervisord 4.2.5's
// supervisor.* and system.* methods over b, plus opts.Methods.
func NewHandler(b api.Backend, opts Options) http.Handler {
	h := &handler{b: b, log: opts.Logger, max: opts.MaxRequestBytes}
	if h.log == nil {
		h.log = slog.Default()
	}
	if h.max <= 0 {
		h.max = DefaultMaxRequestBytes
	}
	h.methods = supervisorMethods(b)
	h.addSystemMethods()
	for name, m := range opts.Methods {
		switch ns, meth, ok := strings.Cut(name, "."); {
		case !ok || ns == "" || meth == "" || strings.Contains(meth, ".") || strings.HasPrefix(meth, "_"):
			h.log.Error("xmlrpc: extra method ignored: its name is not namespace.method", "method", name)
		case h.methods[name] != nil:
			h.log.Error("xmlrpc: extra method ignored: it would replace a built-in method", "method", name)
		case m.Func == nil:
			h.log.Error("xmlrpc: extra method ignored: it has no Func", "method", name)
		default:
			h.methods[name] = &method{min: 0, max: -1, sig: m.Signature, help: m.Help, fn: m.Func}
		}
	}
	return h
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		// supervisord answers anything but POST with 400.
		http.Error(w, "XML-RPC needs POST", http.StatusBadRequest)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.max))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			h.log.Warn("xmlrpc: request refused: too large", "limit", h.max)
			w.Header().Set("Connection", "close")
			h.write(w, EncodeFault(int(api.IncorrectParameters),
				fmt.Sprintf("INCORRECT_PARAMETERS: request body larger than %d bytes", h.max)))
			return
		}
		http.Error(w, "reading request: "+err.Error(), http.StatusBadRequest)
		return
	}
	call, err := DecodeCall(bytes.NewReader(body))
	if err == nil && call.Method == "" {
		err = errors.New("xmlrpc: bad methodCall: empty <methodName>")
	}
	if err != nil {
		h.log.Warn("xmlrpc: request refused", "err", err)
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	v, err := h.call(r.Context(), call.Method, call.Params)
	if err != nil {
		code, text := fault(err)
		h.log.Debug("xmlrpc call", "method", call.Method, "fault", text)
		h.write(w, EncodeFault(code, text))
		return
	}
	out, err := EncodeResponse(v)
	if err != nil {
		h.log.Error("xmlrpc: encoding a result", "method", call.Method, "err", err)
		h.write(w, EncodeFault(int(api.Failed), "FAILED: "+err.Error()))
		return
	}
	h.log.Debug("xmlrpc call", "method", call.Method)
	h.write(w, out)
}

func (h *handler) write(w http.ResponseWriter, body []byte) {
	w.Header().Set("Content-Type", "text/xml")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	if _, err := w.Write(body); err != nil {
		h.log.Debug("xmlrpc: writing a response", "err", err)
	}
}

// fault turns an error into a fault code and string: an *api.Error keeps
// its code and supervisord's "NAME: detail" text; anything else is FAILED.
func fault(err error) (int, string) {
	var e *api.Error
	if errors.As(err, &e) {
		return int(e.Code), e.Error()
	}
	return int(api.Failed), "FAILED: " + err.Error()
}

// call finds and runs a method as supervisord's traverse does: the name is
// exactly "namespace.method", the method part does not start with "_", and
// a wrong number of parameters is INCORRECT_PARAMETERS.
func (h *handler) call(ctx context.Context, name string, params []any) (any, error) {
	ns, meth, ok := strings.Cut(name, ".")
	if !ok || strings.Contains(meth, ".") || strings.HasPrefix(meth, "_") || ns == "" {
		return nil, &api.Error{Code: api.UnknownMethod}
	}
	m := h.methods[name]
	if m == nil {
		return nil, &api.Error{Code: api.UnknownMethod}
	}
	if len(params) < m.min || m.max >= 0 && len(params) > m.max {
		return nil, &api.Error{Code: api.IncorrectParameters}
	}
	if m.update && h.b.State() < api.SupervisorRunning {
		return nil, &api.Error{Code: api.ShutdownState}
	}
	if err := h.configGate(meth); err != nil {
		return nil, err
	}
	return m.fn(ctx, params)
}

func (h *handler) addSystemMethods() {
	h.methods["system.listMethods"] = &method{
		sig:  []string{"array"},
		help: "Return the names of every method, sorted.\n\n@return array result  method names (strings)",
		fn: func(context.Context, []any) (any, error) {
			names := make([]string, 0, len(h.methods))
			for n := range h.methods {
				names = append(names, n)
			}
			sort.Strings(names)
			return names, nil
		},
	}
	h.methods["system.methodHelp"] = &method{
		min: 1, max: 1,
		sig:  []string{"string", "string"},
		help: "Return a method's documentation.\n\n@param string name  the method's name\n@return string result  its documentation",
		fn: func(_ context.Context, p []any) (any, error) {
			m := h.lookup(p[0])
			if m == nil {
				return nil, &api.Error{Code: api.SignatureUnsupported}
			}
			return m.help, nil
		},
	}
	h.methods["system.methodSignature"] = &method{
		min: 1, max: 1,
		sig:  []string{"array", "string"},
		help: "Return a method's signature: [rtype, ptype, ptype...], the type of its\nresult, then of each parameter.\n\n@param string name  the method's name\n@return array result  the types",
		fn: func(_ context.Context, p []any) (any, error) {
			m := h.lookup(p[0])
			if m == nil || len(m.sig) == 0 {
				return nil, &api.Error{Code: api.SignatureUnsupported}
			}
			return m.sig, nil
		},
	}
	h.methods["system.multicall"] = &method{
		min: 1, max: 1,
		sig: []string{"array", "array"},
		help: "Run an array of calls, {'methodName': string, 'params': array}, in order\n" +
			"and return an array of their results: each is the call's value itself\n" +
			"(supervisord does not wrap it in a one-element array) or a struct\n" +
			"{'faultCode': int, 'faultString': string}.\n\n" +
			"@param array calls  the calls\n@return array result  their results",
		fn: h.multicall,
	}
}

func (h *handler) lookup(name any) *method {
	s, ok := name.(string)
	if !ok {
		return nil
	}
	return h.methods[s]
}

// multicall runs the calls one after the other, each as if alone (a call
// that waits holds back the next), and returns supervisord's unwrapped
// results.
func (h *handler) multicall(ctx context.Context, p []any) (any, error) {
	calls, ok := p[0].([]any)
	if !ok {
		return nil, api.Errorf(api.IncorrectParameters, "calls must be an array, not %s", typeName(p[0]))
	}
	results := make([]any, 0, len(calls))
	for _, c := range calls {
		v, err := h.multicallOne(ctx, c)
		if err != nil {
			code, text := fault(err)
			v = Struct{{"faultCode", code}, {"faultString", text}}
		}
		results = append(results, v)
	}
	return results, nil
}

func (h *handler) multicallOne(ctx context.Context, c any) (any, error) {
	st, ok := c.(Struct)
	if !ok {
		return nil, api.Errorf(api.IncorrectParameters, "call must be a struct, not %s", typeName(c))
	}
	nv, _ := st.Get("methodName")
	if nv == nil {
		return nil, api.Errorf(api.IncorrectParameters, "No methodName")
	}
	name, ok := nv.(string)
	if !ok {
		return nil, api.Errorf(api.IncorrectParameters, "methodName must be a string, not %s", typeName(nv))
	}
	if name == "system.multicall" {
		return nil, api.Errorf(api.IncorrectParameters, "Recursive system.multicall forbidden")
	}
	params := []any{}
	if pv, ok := st.Get("params"); ok {
		if params, ok = pv.([]any); !ok {
			return nil, api.Errorf(api.IncorrectParameters, "params must be an array, not %s", typeName(pv))
		}
	}
	return h.call(ctx, name, params)
}

// typeName names a decoded value's XML-RPC type, for error details.
func typeName(v any) string {
	switch v.(type) {
	case nil:
		return "nil"
	case string:
		return "string"
	case int:
		return "int"
	case bool:
		return "boolean"
	case float64:
		return "double"
	case []byte:
		return "base64"
	case []any:
		return "array"
	case Struct:
		return "struct"
	case time.Time:
		return "dateTime.iso8601"
	}
	return fmt.Sprintf("%T", v)
}

// configGate refuses the methods about processes with the CANT_REREAD
// fault naming the file:line while nothing of the configuration runs, so
// supervisorctl shows the problem instead of an empty list.
func (h *handler) configGate(meth string) error {
	cb, ok := h.b.(api.ConfigStateBackend)
	if !ok || !(strings.Contains(meth, "Process") || meth == "getAllConfigInfo") {
		return nil
	}
	if st := cb.ConfigState(); st.Blocked() {
		return st.Err()
	}
	return nil
}
