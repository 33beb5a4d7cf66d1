package xmlrpc

import (
	"bytes"
	"fmt"
	"testing"

	"roost/supervisor/api"
	"roost/supervisor/api/apitest"
)

// benchServer serves a fake with n running processes.
func benchServer(b *testing.B, n int) (*apitest.Backend, *rpcClient) {
	var procs []*apitest.Proc
	for i := range n {
		procs = append(procs, &apitest.Proc{Group: "group", Name: fmt.Sprintf("proc_%02d", i), State: api.Running})
	}
	f := apitest.New(procs...)
	return f, newClient(b, serve(b, mux(f, quiet)))
}

// BenchmarkRoundTrip is one supervisorctl-style call over the unix socket
// (HTTP keep-alive, as supervisorctl's transport does): getVersion, and
// getAllProcessInfo with 50 processes.
func BenchmarkRoundTrip(b *testing.B) {
	_, c := benchServer(b, 50)
	for _, m := range []string{"supervisor.getVersion", "supervisor.getAllProcessInfo"} {
		b.Run(m, func(b *testing.B) {
			for b.Loop() {
				if _, err := c.call(m); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkEncodeAllProcessInfo(b *testing.B) {
	f, _ := benchServer(b, 50)
	var v []any
	for _, info := range f.AllProcessInfo() {
		v = append(v, processInfoStruct(info))
	}
	for b.Loop() {
		if _, err := EncodeResponse(v); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeMulticall(b *testing.B) {
	var calls []any
	for i := range 50 {
		calls = append(calls, Struct{{"methodName", "supervisor.startProcess"}, {"params", []any{fmt.Sprintf("group:proc_%02d", i), true}}})
	}
	doc, err := encodeCall("system.multicall", calls)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(doc)))
	for b.Loop() {
		if _, err := DecodeCall(bytes.NewReader(doc)); err != nil {
			b.Fatal(err)
		}
	}
}
