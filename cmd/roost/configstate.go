package main

import "fmt"

// warnConfigState prints, on stderr, one line when the supervisor's file on
// disk is not what runs (api.ConfigState): every ctl verb says so, so a
// rejected edit is never invisible. A server that does not report its
// state (an older roost) is not asked again.
func (x *ctl) warnConfigState() {
	w := x.errOut
	st, err := x.client.ConfigState(x.ctx)
	if err != nil {
		return
	}
	if s := st.Summary(); s != "" {
		fmt.Fprintln(w, "roost: warning: "+s)
	}
	for _, warn := range st.Warnings {
		fmt.Fprintln(w, "roost: warning: "+warn)
	}
}
