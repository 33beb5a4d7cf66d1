package main

import (
	"log/slog"
	"os"
	"sync"

	"roost/deploy"
)

// userEnv gives a managed supervisor's programs the user's configuration
// variables (`roost env set`, deploy.EnvFile): applied to the supervisor's
// own environment, which programs and cron jobs inherit, before each load
// of the configuration (so %(ENV_KEY)s sees them too). A key removed from
// the file gets back the value the supervisor started with.
type userEnv struct {
	mu      sync.Mutex
	file    string
	orig    map[string]*string // the value before the file set it; nil: unset
	applied map[string]bool
}

func newUserEnv() *userEnv {
	home, err := os.UserHomeDir()
	if err != nil {
		return nil
	}
	return &userEnv{file: deploy.EnvFile(home), orig: map[string]*string{}, applied: map[string]bool{}}
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
			if o := u.orig[k]; o != nil {
				os.Setenv(k, *o)
			} else {
				os.Unsetenv(k)
			}
			delete(u.orig, k)
		}
	}
	u.applied = now
}
