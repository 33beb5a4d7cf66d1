package master

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"time"

	"roost/supervisor/api"
)

// `roost admin upgrade [USER|--all]`: the master asks users' supervisors,
// one at a time, to re-execute their binary in place, keeping their
// programs (package handover). The master only asks, over each user's
// socket (the server must run as the user's uid); the supervisor probes
// the binary, hands over and execs itself, and stays the master's child
// under the same pid. What a supervisor answers is untrusted and only
// reported, sanitized.

// UserUpgrade is how one user's upgrade went.
type UserUpgrade struct {
	User        string  `json:"user"`
	PID         int     `json:"pid,omitempty"`
	From        string  `json:"from,omitempty"`
	To          string  `json:"to,omitempty"`
	Programs    int     `json:"programs"`
	UnmanagedMS float64 `json:"unmanaged_ms"`
	Error       string  `json:"error,omitempty"`
}

type upgradeReply struct {
	Users []UserUpgrade `json:"users"`
}

// ErrNotRunning: the user's supervisor does not run, so it cannot upgrade.
var ErrNotRunning = errors.New("the user's supervisor is not running")

// UpgradeUsers upgrades the named users' supervisors (every running one
// when names is empty), one after the other, in roost.toml's order.
func (m *Master) UpgradeUsers(ctx context.Context, names []string) ([]UserUpgrade, error) {
	sts := m.statuses()
	byName := map[string]UserStatus{}
	for _, st := range sts {
		byName[st.Name] = st
	}
	for _, n := range names {
		if _, ok := byName[n]; !ok {
			return nil, fmt.Errorf("%w: %q", ErrNoSuchUser, n)
		}
	}
	if len(names) == 0 {
		for _, st := range sts {
			if st.PID != 0 && st.State == UserRunning {
				names = append(names, st.Name)
			}
		}
	}
	var out []UserUpgrade
	for _, n := range names {
		st := byName[n]
		r := UserUpgrade{User: n}
		if st.PID == 0 || st.State != UserRunning {
			r.Error = ErrNotRunning.Error()
			out = append(out, r)
			continue
		}
		info, err := askUser(ctx, m, n, st.UID, func(c *api.Client) (api.ReexecInfo, error) { return c.Upgrade(ctx) })
		if err != nil {
			r.Error = sanitize(err.Error(), 300)
			m.log.Warn("user supervisor upgrade failed", "user", n, "err", r.Error)
		} else {
			r.PID, r.Programs, r.UnmanagedMS = info.PID, info.Programs, float64(info.Unmanaged)
			r.From, r.To = sanitize(info.From, 64), sanitize(info.Version, 64)
			m.log.Info("user supervisor upgraded in place", "user", n, "pid", r.PID, "from", r.From, "to", r.To)
		}
		out = append(out, r)
	}
	return out, nil
}

// upgradeRoutes adds POST /admin/v1/upgrade[?user=NAME…].
func (m *Master) upgradeRoutes(mux *http.ServeMux) {
	mux.HandleFunc("POST "+adminPrefix+"/upgrade", func(w http.ResponseWriter, r *http.Request) {
		res, err := m.UpgradeUsers(r.Context(), r.URL.Query()["user"])
		writeUserResult(w, err, upgradeReply{Users: res})
	})
}

// writeUserResult answers a request about users: 404 for an unknown one,
// 409 for another error, else 200 with ok.
func writeUserResult(w http.ResponseWriter, err error, ok any) {
	switch {
	case errors.Is(err, ErrNoSuchUser):
		writeJSON(w, http.StatusNotFound, errorReply{Error: err.Error()})
	case err != nil:
		writeJSON(w, http.StatusConflict, errorReply{Error: err.Error()})
	default:
		writeJSON(w, http.StatusOK, ok)
	}
}

// Upgrade asks the master to upgrade users' supervisors in place (every
// running one when users is empty).
func (c *AdminClient) Upgrade(ctx context.Context, users []string) ([]UserUpgrade, error) {
	q := url.Values{"user": users}
	var r upgradeReply
	if err := c.call(ctx, http.MethodPost, "/upgrade?"+q.Encode(), &r); err != nil {
		return nil, err
	}
	return r.Users, nil
}

// After the master re-executed itself or restarted on a new binary, each
// adopted supervisor still running the old one is upgraded in place, one
// user at a time, once it is RUNNING: a package upgrade reaches everyone
// with no program restarted. A failure is logged; the user's supervisor
// keeps running the old binary (root can retry: roost admin upgrade).

// autoUpgradeTimeout bounds one user's automatic upgrade.
const autoUpgradeTimeout = 2 * time.Minute

// queueUpgrade asks for the user's upgrade; it never blocks the slot.
func (m *Master) queueUpgrade(name string) {
	m.upgradeOnce.Do(func() {
		m.upgradeq = make(chan string, 1024)
		go func() {
			for name := range m.upgradeq {
				ctx, cancel := context.WithTimeout(context.Background(), autoUpgradeTimeout)
				m.log.Info("upgrading the user's supervisor to the master's binary", "user", name)
				_, _ = m.UpgradeUsers(ctx, []string{name}) // logs its outcome
				cancel()
			}
		}()
	})
	select {
	case m.upgradeq <- name:
	default:
		m.log.Warn("too many upgrades queued; this user's supervisor keeps its binary (roost admin upgrade)", "user", name)
	}
}

// runsOwnExe says whether the supervisor runs the master's own binary.
func (c *child) runsOwnExe() bool {
	dev, ino, err := exeID(os.Getpid())
	return err == nil && dev == c.exeDev && ino == c.exeIno
}
