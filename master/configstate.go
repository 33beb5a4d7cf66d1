package master

import (
	"context"

	"roost/supervisor/api"
)

// noteUserConfig asks a user's supervisor whether its file on disk is what
// runs, and records the answer in st (what the supervisor says is
// untrusted: the state must be one of the known names, the text is
// sanitized and capped). A supervisor whose file is broken stays up and
// is not restarted: the file is the user's to fix, and the supervisor
// applies it once it loads.
func (m *Master) noteUserConfig(ctx context.Context, st *UserStatus) {
	cs, err := askUser(ctx, m, st.Name, st.UID, func(c *api.Client) (api.ConfigState, error) { return c.ConfigState(ctx) })
	if err != nil {
		return
	}
	switch cs.State {
	case api.ConfigError, api.ConfigStale:
		st.Config = cs.State
		st.ConfigError = sanitize("not applied: "+cs.Error, 300)
		if cs.Running == "saved" {
			st.ConfigError = sanitize("not applied: "+cs.Error+" (running the last good configuration)", 300)
		}
	}
	if cs.Cron != "" {
		st.ConfigError = sanitize(joinNonEmpty(st.ConfigError, "cron not applied: "+cs.Cron), 300)
	}
}

func joinNonEmpty(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}
