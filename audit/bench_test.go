package audit_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"roost/audit"
)

// BenchmarkRecord is the cost of one audited request's line (marshal and
// one write(2)).
func BenchmarkRecord(b *testing.B) {
	l, err := audit.OpenDir(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	uid := 1001
	e := audit.Entry{UID: &uid, User: "alice", PID: 4242, Front: audit.FrontCtl, Request: "restart web", Outcome: audit.OK, Status: 200}
	b.ReportAllocs()
	for b.Loop() {
		if err := l.Record(e); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkMiddlewareGET is what a read-only request pays for the audit.
func BenchmarkMiddlewareGET(b *testing.B) {
	l, err := audit.OpenDir(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	h := audit.Middleware(l, audit.Options{})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	r := httptest.NewRequest(http.MethodGet, "/api/v1/processes", nil)
	w := httptest.NewRecorder()
	b.ReportAllocs()
	for b.Loop() {
		h.ServeHTTP(w, r)
	}
}
