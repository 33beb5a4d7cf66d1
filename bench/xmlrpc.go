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
	"strconv"
	"strings"
	"time"
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

// rpcFault is an XML-RPC fault response.
type rpcFault struct {
	Code   int
	String string
}

func (f *rpcFault) Error() string { return fmt.Sprintf("fault %d: %s", f.Code, f.String) }

// call invokes method with string parameters and returns the decoded
// result: string, int, bool, float64, []any or map[string]any.
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
	v, err := decodeResponse(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", method, err)
	}
	return v, nil
}

// decodeResponse decodes a methodResponse: its single param, or its fault
// as a *rpcFault error.
func decodeResponse(b []byte) (any, error) {
	dec := xml.NewDecoder(bytes.NewReader(b))
	for {
		tok, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("decode response: %w", err)
		}
		se, ok := tok.(xml.StartElement)
		if !ok {
			continue
		}
		switch se.Name.Local {
		case "methodResponse", "params", "param", "fault":
			continue
		case "value":
			v, err := decodeValue(dec)
			if err != nil {
				return nil, fmt.Errorf("decode response: %w", err)
			}
			if isFault(b) {
				m, _ := v.(map[string]any)
				code, _ := m["faultCode"].(int)
				s, _ := m["faultString"].(string)
				return nil, &rpcFault{Code: code, String: s}
			}
			return v, nil
		default:
			return nil, fmt.Errorf("decode response: unexpected <%s>", se.Name.Local)
		}
	}
}

func isFault(b []byte) bool {
	i := bytes.Index(b, []byte("<fault>"))
	return i >= 0 && i < bytes.Index(b, []byte("<value>"))
}

// decodeValue decodes the content of a <value> whose start tag was read,
// through its end tag.
func decodeValue(dec *xml.Decoder) (any, error) {
	var text strings.Builder
	for {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		switch t := tok.(type) {
		case xml.CharData:
			text.Write(t)
		case xml.EndElement: // </value> with no type element: a string
			return text.String(), nil
		case xml.StartElement:
			v, err := decodeTyped(dec, t.Name.Local)
			if err != nil {
				return nil, err
			}
			return v, dec.Skip() // through </value>
		}
	}
}

// decodeTyped decodes <int>, <string>, <array>, <struct>... whose start tag
// was read, through its end tag.
func decodeTyped(dec *xml.Decoder, typ string) (any, error) {
	switch typ {
	case "array":
		var out []any
		for {
			tok, err := dec.Token()
			if err != nil {
				return nil, err
			}
			switch t := tok.(type) {
			case xml.StartElement:
				if t.Name.Local == "value" {
					v, err := decodeValue(dec)
					if err != nil {
						return nil, err
					}
					out = append(out, v)
				} // <data> is entered
			case xml.EndElement:
				if t.Name.Local == "array" {
					return out, nil
				}
			}
		}
	case "struct":
		out := map[string]any{}
		var name string
		for {
			tok, err := dec.Token()
			if err != nil {
				return nil, err
			}
			switch t := tok.(type) {
			case xml.StartElement:
				switch t.Name.Local {
				case "name":
					var s string
					if err := dec.DecodeElement(&s, &t); err != nil {
						return nil, err
					}
					name = s
				case "value":
					v, err := decodeValue(dec)
					if err != nil {
						return nil, err
					}
					out[name] = v
				}
			case xml.EndElement:
				if t.Name.Local == "struct" {
					return out, nil
				}
			}
		}
	}
	var s string
	start := xml.StartElement{Name: xml.Name{Local: typ}}
	if err := dec.DecodeElement(&s, &start); err != nil {
		return nil, err
	}
	switch typ {
	case "int", "i4", "i8":
		return strconv.Atoi(strings.TrimSpace(s))
	case "boolean":
		return strings.TrimSpace(s) == "1", nil
	case "double":
		return strconv.ParseFloat(strings.TrimSpace(s), 64)
	case "string", "dateTime.iso8601", "base64":
		return s, nil
	case "nil":
		return nil, nil
	}
	return nil, fmt.Errorf("unknown XML-RPC type <%s>", typ)
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
		m, ok := e.(map[string]any)
		if !ok {
			return nil, errors.New("getAllProcessInfo: entry is not a struct")
		}
		name, _ := m["name"].(string)
		group, _ := m["group"].(string)
		state, _ := m["statename"].(string)
		pid, _ := m["pid"].(int)
		if group != "" && group != name {
			name = group + ":" + name
		}
		out = append(out, procState{Name: name, State: state, PID: pid})
	}
	return out, nil
}
