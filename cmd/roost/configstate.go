package main

import "fmt"

// warnConfigState prints, on stderr, one line when the supervisor's file on
// disk is not what runs (api.ConfigState): every ctl verb says so, so a
// rejected edit is never invisible. A server that does not report its
// state (an older roost) is not reported on.
//
// The running configuration's own warnings (a misspelt key...) are printed
// by status alone, where a user looks for them, not by every verb.
func (x *ctl) warnConfigState(verb string) {
	w := x.errOut
	st, err := x.client.ConfigState(x.ctx)
	if err != nil {
		return
	}
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
