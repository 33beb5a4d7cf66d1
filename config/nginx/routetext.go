package nginx

import (
	"bytes"
	"strings"
)

// RouteKey names one route of a rendered configuration.
type RouteKey struct{ User, Section string }

// RouteTexts returns the text each route of a rendered configuration
// takes (its marker comment, upstream and server blocks), read from the
// same markers as Blame. Two renderings serve a route alike exactly when
// its texts are equal, so a caller can tell which routes a configuration
// not yet loaded would change.
func RouteTexts(conf []byte) map[RouteKey]string {
	out := map[RouteKey]string{}
	var key RouteKey
	var text strings.Builder
	in := false
	flush := func() {
		if in {
			out[key] = text.String()
		}
		text.Reset()
	}
	for len(conf) > 0 {
		var l []byte
		l, conf, _ = bytes.Cut(conf, []byte("\n"))
		if rest, found := strings.CutPrefix(string(l), markerPrefix); found {
			if u, s, ok := strings.Cut(rest, " section="); ok {
				flush()
				key, in = RouteKey{User: u, Section: s}, true
			}
		}
		if in {
			text.Write(l)
			text.WriteByte('\n')
		}
	}
	flush()
	return out
}
