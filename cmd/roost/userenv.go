package main

import (
	"log/slog"
	"os"
	"strings"
	"sync"

	"roost/deploy"
)

// userEnv gives a managed supervisor's programs the user's configuration
// variables (`roost env set`, deploy.EnvFile): applied to the supervisor's
// own environment, which programs and cron jobs inherit, before each load
// of the configuration (so %(ENV_KEY)s sees them too). A key removed from
// the file gets back the value the supervisor started with. Then the
// project's own installs (deploy.LocalEnv: cpanm's local/ as PERL5LIB and
// on PATH) are put first, as the project (~/current) has them at this load.
type userEnv struct {
	mu      sync.Mutex
	file    string
	orig    map[string]*string // the value before the file set it; nil: unset
	applied map[string]bool
	project string             // the project directory ("": none)
	local   map[string]*string // what LocalEnv extended, as it was before
}

func newUserEnv(project string) *userEnv {
	home, err := os.UserHomeDir()
	if err != nil {
		return nil
	}
	return &userEnv{file: deploy.EnvFile(home), orig: map[string]*string{}, applied: map[string]bool{},
		project: project, local: map[string]*string{}}
}

// apply reads the file and sets the environment from it; a file that does
// not read keeps what was applied, with a warning naming the line (never a
// value).
func (u *userEnv) apply(log func() *slog.Logger) {
	if u == nil {
		return
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	// LocalEnv's additions come off first, so that each load extends
	// the values as the file leaves them, once.
	for k, v := range u.local {
		restoreEnv(k, v)
	}
	clear(u.local)
	defer u.applyLocal()
	vars, err := deploy.ReadEnv(u.file)
	if err != nil {
		log().Warn("your variables (roost env) are not applied: " + err.Error())
		return
	}
	now := map[string]bool{}
	for _, v := range vars {
		if _, ok := u.orig[v.Key]; !ok {
			if old, had := os.LookupEnv(v.Key); had {
				u.orig[v.Key] = &old
			} else {
				u.orig[v.Key] = nil
			}
		}
		os.Setenv(v.Key, v.Value)
		now[v.Key] = true
	}
	for k := range u.applied {
		if !now[k] {
			restoreEnv(k, u.orig[k])
			delete(u.orig, k)
		}
	}
	u.applied = now
}

// applyLocal puts the project's local/ first (deploy.LocalEnv),
// remembering what it extended. The caller holds mu.
func (u *userEnv) applyLocal() {
	if u.project == "" {
		return
	}
	for _, kv := range deploy.LocalEnv(u.project, os.Getenv) {
		k, v, _ := strings.Cut(kv, "=")
		if old, had := os.LookupEnv(k); had {
			u.local[k] = &old
		} else {
			u.local[k] = nil
		}
		os.Setenv(k, v)
	}
}

// restoreEnv sets k back to v (nil: unset).
func restoreEnv(k string, v *string) {
	if v != nil {
		os.Setenv(k, *v)
	} else {
		os.Unsetenv(k)
	}
}
