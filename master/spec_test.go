package master

import (
	"slices"
	"strings"
	"testing"

	"roost/config"
)

// TestSpecEnvOfDefaultConfig: a user's supervisor environment under a
// roost.toml that sets nothing new is what the previous release gave it,
// key for key. Every key added for every user changes every user's spec
// digest, and a master upgraded to this binary would then restart every
// supervisor, with its programs, instead of adopting it: a new variable
// must be passed only when its value differs from the supervisor's
// default without it.
func TestSpecEnvOfDefaultConfig(t *testing.T) {
	keys := func(env []string) []string {
		var ks []string
		for _, kv := range env {
			k, _, _ := strings.Cut(kv, "=")
			ks = append(ks, k)
		}
		slices.Sort(ks)
		return ks
	}
	c := Candidate{Name: "alice", Account: Account{Name: "alice", Home: "/home/alice", Shell: "/bin/sh"}}
	build := func(toml, file string) userSpec {
		t.Helper()
		cfg, err := config.ParseMaster(file, []byte("run_dir = \"/run/roost\"\nstate_dir = \"/var/lib/roost\"\n[users]\nnames = [\"alice\"]\n"+toml))
		if err != nil {
			t.Fatal(err)
		}
		return buildSpec(cfg, file, "/usr/bin/roost", "/run/roost/users", c, Block{Base: 20000, Count: 10}, nil)
	}
	previous := []string{"HOME", "LANG", "LOGNAME", "PATH", "PORT", "ROOST_PORT_BASE", "ROOST_PORT_COUNT", "ROOST_SOCKET_DIR", "SHELL", "USER"}
	for _, tc := range []struct{ toml, file string }{
		{"", config.DefaultMasterFile},
		{"config_dir = \".config/roost\"\nservices_dir = \"services\"\n", config.DefaultMasterFile},
		{"[deploy]\nenabled = true\n", config.DefaultMasterFile},
	} {
		if got := keys(build(tc.toml, tc.file).Env); !slices.Equal(got, previous) {
			t.Errorf("roost.toml %q at %s: environment keys %v, want the previous release's %v", tc.toml, tc.file, got, previous)
		}
	}
	// What differs from the default is passed.
	sp := build("config_dir = \"etc/roost\"\nservices_dir = \"data\"\n[deploy]\nenabled = true\n", "/srv/roost.toml")
	for _, want := range []string{"ROOST_CONFIG_DIR=/home/alice/etc/roost", "ROOST_SERVICES_DIR=/home/alice/data", "ROOST_MASTER_CONFIG=/srv/roost.toml"} {
		if !slices.Contains(sp.Env, want) {
			t.Errorf("no %s in %v", want, sp.Env)
		}
	}
}
