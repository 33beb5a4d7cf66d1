package main

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"roost/supervisor/api/xmlrpc"
)

// rpcClient is a minimal XML-RPC client for supervisord's /RPC2 on a unix
// socket: enough to poll getAllProcessInfo without supervisorctl's Python
// start-up in the way. It works against roost's /RPC2 as well.
type rpcClient struct {
	http *http.Client
}

// newRPCClient returns a client that dials the unix socket at path.
func newRPCClient(path string) *rpcClient {
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		},
		DisableKeepAlives: true, // supervisorctl opens a connection per call too
	}
	return &rpcClient{http: &http.Client{Transport: tr, Timeout: 30 * time.Second}}
}

// call invokes method with string parameters and returns the decoded
// result (xmlrpc.DecodeResponse's values: a struct is an xmlrpc.Struct); a
// fault is an *xmlrpc.Fault error.
func (c *rpcClient) call(ctx context.Context, method string, params ...string) (any, error) {
	var body bytes.Buffer
	body.WriteString(`<?xml version="1.0"?><methodCall><methodName>`)
	_ = xml.EscapeText(&body, []byte(method))
	body.WriteString(`</methodName><params>`)
	for _, p := range params {
		body.WriteString(`<param><value><string>`)
		_ = xml.EscapeText(&body, []byte(p))
		body.WriteString(`</string></value></param>`)
	}
	body.WriteString(`</params></methodCall>`)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://localhost/RPC2", &body)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", method, err)
	}
	req.Header.Set("Content-Type", "text/xml")
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", method, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("%s: read response: %w", method, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: HTTP %s", method, resp.Status)
	}
	v, err := xmlrpc.DecodeResponse(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", method, err)
	}
	return v, nil
}

// procState is one process as a daemon's API reports it.
type procState struct {
	Name  string // namespec
	State string // "RUNNING", ...
	PID   int
}

// allProcessInfo calls supervisor.getAllProcessInfo.
func (c *rpcClient) allProcessInfo(ctx context.Context) ([]procState, error) {
	v, err := c.call(ctx, "supervisor.getAllProcessInfo")
	if err != nil {
		return nil, err
	}
	arr, ok := v.([]any)
	if !ok {
		return nil, errors.New("getAllProcessInfo: result is not an array")
	}
	out := make([]procState, 0, len(arr))
	for _, e := range arr {
		m, ok := e.(xmlrpc.Struct)
		if !ok {
			return nil, errors.New("getAllProcessInfo: entry is not a struct")
		}
		get := func(name string) any { v, _ := m.Get(name); return v }
		name, _ := get("name").(string)
		group, _ := get("group").(string)
		state, _ := get("statename").(string)
		pid, _ := get("pid").(int)
		if group != "" && group != name {
			name = group + ":" + name
		}
		out = append(out, procState{Name: name, State: state, PID: pid})
	}
	return out, nil
}
