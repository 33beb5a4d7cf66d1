package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
)

// For the rooms that mount resources of their own under /api/v1/ (the
// audit log's /api/v1/audit): the same answers and errors as the JSON API's
// own, and a client for them.

// Reply answers with v as JSON, or with err as an ErrorBody (its code's
// HTTP status).
func Reply(w http.ResponseWriter, v any, err error) { reply(w, v, err) }

// StreamReply sends 200 at once, then what follow writes, flushed as it comes;
// an error after that travels in the Roost-Error trailer (Client.Follow
// returns it).
func StreamReply(w http.ResponseWriter, follow func(io.Writer) error) { stream(w, follow) }

// Call does method on path (below /api/v1/) with in as its JSON body (nil:
// none) and decodes the answer into out (nil: ignored).
func (c *Client) Call(ctx context.Context, method, path string, q url.Values, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("%s %s: %w", method, path, err)
		}
		body = bytes.NewReader(b)
	}
	return c.call(ctx, method, path, q, body, out)
}

// Follow writes the stream at path (below /api/v1/) to w until it ends or
// ctx does (nil then).
func (c *Client) Follow(ctx context.Context, path string, q url.Values, w io.Writer) error {
	return c.follow(ctx, path, q, w)
}
