package dashboard

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"

	"roost/supervisor/api"
)

// sameOrigin reports whether a state-changing request comes from a page
// of this host: its Origin header, else its Referer, names Host. A request
// with neither is refused (every browser sends Origin on a POST).
func sameOrigin(r *http.Request) bool {
	src := r.Header.Get("Origin")
	if src == "" || src == "null" {
		src = r.Header.Get("Referer")
	}
	if src == "" {
		return false
	}
	u, err := url.Parse(src)
	return err == nil && u.Host != "" && strings.EqualFold(u.Host, r.Host)
}

// validToken reports whether the request carries the page's CSRF token,
// in the form field csrf or the X-Roost-CSRF header.
func (d *Dashboard) validToken(r *http.Request) bool {
	tok := r.Header.Get("X-Roost-CSRF")
	if tok == "" {
		tok = r.PostFormValue("csrf")
	}
	return subtle.ConstantTimeCompare([]byte(tok), []byte(d.csrf)) == 1
}

// actionReply is POST /ui/action's answer to a script (Accept: application/json).
type actionReply struct {
	Results []api.Result `json:"results"`
	Error   string       `json:"error,omitempty"`
}

// action starts, stops or restarts a process ("web", "g:web"), a group
// ("g:*") or everything ("all"), through the Backend as the JSON API does.
func (d *Dashboard) action(w http.ResponseWriter, r *http.Request) {
	// Read the body before answering, even a refusal: a client (the
	// forwarders' proxy) still writing it would otherwise meet a closed
	// connection and report 502 instead of our 403.
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form: "+err.Error(), http.StatusBadRequest)
		return
	}
	// The audit log's line says what was asked, refused or not.
	api.NameRequest(r.Context(), strings.TrimSpace(r.PostFormValue("action")+" "+r.PostFormValue("target")))
	if !sameOrigin(r) {
		d.log.Warn("dashboard: refused a cross-origin request", "origin", r.Header.Get("Origin"), "referer", r.Header.Get("Referer"), "host", r.Host)
		http.Error(w, "forbidden: cross-origin request", http.StatusForbidden)
		return
	}
	if !d.validToken(r) {
		d.log.Warn("dashboard: refused a request without the page's token")
		http.Error(w, "forbidden: missing or wrong CSRF token (reload the page)", http.StatusForbidden)
		return
	}
	target, verb := r.PostFormValue("target"), r.PostFormValue("action")
	var res []api.Result
	var err error
	switch verb {
	case "start":
		res, err = d.do(r.Context(), target, true)
	case "stop":
		res, err = d.do(r.Context(), target, false)
	case "restart":
		res, err = d.do(r.Context(), target, false)
		if api.CodeOf(err) == api.NotRunning {
			err = nil
		}
		if err == nil {
			res, err = d.do(r.Context(), target, true)
		}
	default:
		http.Error(w, "action: want start, stop or restart", http.StatusBadRequest)
		return
	}
	d.log.Info("dashboard action", "action", verb, "target", target, "err", err)
	if !strings.Contains(r.Header.Get("Accept"), "application/json") {
		// A form posted without the page's script: back to the page.
		http.Redirect(w, r, "./", http.StatusSeeOther)
		return
	}
	rep := actionReply{Results: res}
	status := http.StatusOK
	if err != nil {
		rep.Error, status = err.Error(), api.HTTPStatus(api.CodeOf(err))
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(rep)
}

// do starts (start true) or stops target, waiting for the outcome.
func (d *Dashboard) do(ctx context.Context, target string, start bool) ([]api.Result, error) {
	if target == "all" {
		if start {
			return d.b.StartAll(ctx, true), nil
		}
		return d.b.StopAll(ctx, true), nil
	}
	g, p, isGroup := api.SplitNamespec(target)
	if isGroup {
		if start {
			return d.b.StartGroup(ctx, g, true)
		}
		return d.b.StopGroup(ctx, g, true)
	}
	ok := []api.Result{{Name: p, Group: g, Status: api.Success, Description: "OK"}}
	if start {
		return ok, d.b.StartProcess(ctx, target, true)
	}
	return ok, d.b.StopProcess(ctx, target, true)
}
