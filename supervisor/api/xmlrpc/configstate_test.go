package xmlrpc

import (
	"testing"

	"roost/supervisor/api"
	"roost/supervisor/api/apitest"
)

type brokenBackend struct {
	*apitest.Backend
	st api.ConfigState
}

func (b *brokenBackend) ConfigState() api.ConfigState { return b.st }

// While nothing of the file runs, supervisorctl's process methods get the
// CANT_REREAD fault naming file:line, not an empty list; the others answer.
func TestConfigGateFaults(t *testing.T) {
	b := &brokenBackend{Backend: apitest.New(&apitest.Proc{Name: "web", State: api.Running}),
		st: api.ConfigState{State: api.ConfigError, Running: "none", Error: "supervisord.conf:3: [program:web] startsecs: bad"}}
	c := newClient(t, serve(t, mux(b, quiet)))
	want := "CANT_REREAD: " + b.st.Err().Detail
	for _, m := range []struct {
		name   string
		params []any
	}{
		{"supervisor.getAllProcessInfo", nil},
		{"supervisor.getProcessInfo", []any{"web"}},
		{"supervisor.startProcess", []any{"web"}},
		{"supervisor.stopAllProcesses", nil},
		{"supervisor.getAllConfigInfo", nil},
		{"supervisor.tailProcessStdoutLog", []any{"web", 0, 100}},
	} {
		c.wantFault(int(api.CantReread), want, m.name, m.params...)
	}
	for _, m := range []string{"supervisor.getState", "supervisor.getAPIVersion", "supervisor.getPID"} {
		c.mustCall(m)
	}
}
