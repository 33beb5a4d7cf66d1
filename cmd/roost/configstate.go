package main

import (
	"fmt"

	"roost/supervisor/api"
)

// warnConfigState prints, on stderr, one line when the supervisor's file on
// disk is not what runs (api.ConfigState): every ctl verb says so, so a
// rejected edit is never invisible. A server that does not report its
// state (an older roost: st is empty) is not reported on. connect fetches
// st as its upcheck, so the warning costs no request of its own.
//
// The running configuration's own warnings (a misspelt key...) are printed
// by status alone, where a user looks for them, not by every verb.
func (x *ctl) warnConfigState(st api.ConfigState, verb string) {
	w := x.errOut
	if s := st.Summary(); s != "" {
		fmt.Fprintln(w, "roost: warning: "+s)
	}
	if verb != "status" {
		return
	}
	for _, warn := range st.Warnings {
		fmt.Fprintln(w, "roost: warning: "+warn)
	}
}
