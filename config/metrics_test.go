package config

import (
	"strings"
	"testing"
)

func TestMetricsListen(t *testing.T) {
	for _, tc := range []struct{ body, want, err string }{
		{"", "", ""},
		{"[metrics]\nlisten = \"127.0.0.1:9327\"\n", "127.0.0.1:9327", ""},
		{"[metrics]\nlisten = \"[::1]:9327\"\n", "[::1]:9327", ""},
		{"[metrics]\nlisten = \"localhost:9327\"\n", "", `roost.toml:2: [metrics] listen: "localhost:9327": "localhost" is not an IP address`},
		{"[metrics]\nlisten = \"127.0.0.1\"\n", "", `roost.toml:2: [metrics] listen: "127.0.0.1" is not an address: write IP:PORT`},
		{"[metrics]\nlisten = \"127.0.0.1:0\"\n", "", `roost.toml:2: [metrics] listen: "127.0.0.1:0": port "0" is not a number from 1 to 65535`},
		{"[metrics]\nlisten = 9327\n", "", `roost.toml:2: [metrics] listen:`},
		{"[metrics]\nlistn = \"127.0.0.1:9327\"\n", "", `roost.toml:2: [metrics] listn: unknown key`},
	} {
		m, err := ParseMaster("roost.toml", []byte(tc.body))
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: error %v, want %q", tc.body, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", tc.body, err)
			continue
		}
		if m.Metrics.Listen != tc.want {
			t.Errorf("%q: listen %q, want %q", tc.body, m.Metrics.Listen, tc.want)
		}
	}
}
