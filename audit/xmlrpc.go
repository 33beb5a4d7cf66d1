package audit

import (
	"bytes"
	"io"
	"net/http"
	"strconv"
	"strings"

	"roost/supervisor/api"
	"roost/supervisor/api/xmlrpc"
)

// rpcVerb names supervisord's state-changing methods (without their
// "supervisor." namespace) as supervisorctl's verbs; "" for the read-only
// ones. A switch, not a map: no work at package init.
func rpcVerb(method string) string {
	switch method {
	case "startProcess", "startProcessGroup", "startAllProcesses":
		return "start"
	case "stopProcess", "stopProcessGroup", "stopAllProcesses":
		return "stop"
	case "signalProcess", "signalProcessGroup", "signalAllProcesses":
		return "signal"
	case "sendProcessStdin":
		return "stdin"
	case "sendRemoteCommEvent":
		return "send event"
	case "addProcessGroup":
		return "add"
	case "removeProcessGroup":
		return "remove"
	case "restart":
		return "reload"
	case "shutdown":
		return "shutdown"
	case "clearLog":
		return "clear mainlog"
	case "clearProcessLogs", "clearProcessLog", "clearAllProcessLogs":
		return "clear"
	}
	return ""
}

// rpcRequest reads an XML-RPC call (and puts its body back for the
// handler) and names it when it changes something: "stop web", "start
// web:*", "signal HUP all"; ok is false for a read-only or unreadable call.
func rpcRequest(r *http.Request) (string, bool) {
	body, whole, err := readAllMax(r.Body, maxRPCBody)
	r.Body = struct {
		io.Reader
		io.Closer
	}{io.MultiReader(bytes.NewReader(body), r.Body), r.Body}
	if err != nil || !whole {
		return "", false
	}
	// A cheap look first: most calls (status) change nothing.
	if !audited(body) {
		return "", false
	}
	call, err := xmlrpc.DecodeCall(bytes.NewReader(body))
	if err != nil {
		return "", false
	}
	return describeCall(call.Method, call.Params)
}

// audited says whether body names a state-changing method (or a multicall).
func audited(body []byte) bool {
	_, rest, ok := bytes.Cut(body, []byte("<methodName>"))
	if !ok {
		return false
	}
	name, _, _ := bytes.Cut(rest, []byte("<"))
	m := string(bytes.TrimSpace(name))
	if m == "system.multicall" {
		return true
	}
	return rpcVerb(strings.TrimPrefix(m, "supervisor.")) != ""
}

// describeCall names one call, or the audited calls of a multicall.
func describeCall(method string, params []any) (string, bool) {
	if method == "system.multicall" {
		var parts []string
		calls, _ := arg(params, 0).([]any)
		for _, c := range calls {
			s, _ := c.(xmlrpc.Struct)
			name, _ := s.Get("methodName")
			ps, _ := s.Get("params")
			m, _ := name.(string)
			p, _ := ps.([]any)
			if d, ok := describeCall(m, p); ok {
				parts = append(parts, d)
			}
		}
		return strings.Join(parts, "; "), len(parts) > 0
	}
	m, ok := strings.CutPrefix(method, "supervisor.")
	verb := rpcVerb(m)
	if !ok || verb == "" {
		return "", false
	}
	name, _ := arg(params, 0).(string)
	switch m {
	case "startProcessGroup", "stopProcessGroup", "signalProcessGroup":
		name += ":*"
	case "startAllProcesses", "stopAllProcesses", "clearAllProcessLogs", "signalAllProcesses":
		name = "all"
	case "sendRemoteCommEvent", "restart", "shutdown", "clearLog":
		return verb, true
	}
	if verb == "signal" {
		sig := arg(params, 1)
		if m == "signalAllProcesses" {
			sig = arg(params, 0)
		}
		return verb + " " + toString(sig) + " " + name, true
	}
	return verb + " " + name, true
}

func arg(params []any, i int) any {
	if i < len(params) {
		return params[i]
	}
	return nil
}

func toString(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case int:
		return strconv.Itoa(v)
	}
	return "?"
}

// rpcOutcome reads a methodResponse: a fault, failed results of a call on
// many processes (status other than SUCCESS), or ok.
func rpcOutcome(body []byte) string {
	v, err := xmlrpc.DecodeResponse(bytes.NewReader(body))
	if err != nil {
		return err.Error()
	}
	list, ok := v.([]any)
	if !ok {
		return OK
	}
	return resultsOutcome(len(list), func(i int) (string, bool, string) {
		s, _ := list[i].(xmlrpc.Struct)
		if code, ok := s.Get("faultCode"); ok { // a multicall's fault
			fs, _ := s.Get("faultString")
			return "fault " + toString(code), false, toString(fs)
		}
		st, ok := s.Get("status")
		if !ok {
			return "", true, ""
		}
		n, _ := st.(int)
		name, _ := s.Get("name")
		desc, _ := s.Get("description")
		return toString(name), api.Code(n) == api.Success, toString(desc)
	})
}
