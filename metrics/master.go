package metrics

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"roost/supervisor/api"
)

// Bounds of one scrape of a user's supervisor: it is untrusted (its user
// can ptrace it), so a stuck or hostile one costs at most these.
const (
	// UserScrapeTimeout bounds one user's scrape, connect to last byte.
	UserScrapeTimeout = 3 * time.Second
	// maxUserMetrics bounds a user's exposition.
	maxUserMetrics = 8 << 20
	// scrapeParallel is how many users are scraped at once.
	scrapeParallel = 8
)

// UserTarget is one user as the master knows it.
type UserTarget struct {
	Name     string
	UID      int
	Socket   string // the user supervisor's control socket
	State    string // the user supervisor's state: "RUNNING", "BACKOFF"...
	Running  bool   // worth scraping
	Restarts int    // restarts of the user's supervisor since the master started
}

// MasterSource is what the master tells its metrics.
type MasterSource interface {
	// MetricsUsers lists the configured users.
	MetricsUsers() []UserTarget
	// NginxApplies returns the nginx configurations installed and
	// reloaded, and the attempts that failed (write, nginx -t, reload).
	NginxApplies() (applied, failed int64)
}

var (
	descUserState = &metricDesc{typ: gauge, name: "roost_user_supervisor_state",
		help: "The user's supervisor's state: 1 for the state it is in, 0 for the others.", labels: []string{"user", "state"}}
	descUserRestarts = &metricDesc{typ: counter, name: "roost_user_supervisor_restarts_total",
		help: "Restarts of the user's supervisor since the master started.", labels: []string{"user"}}
	descUserUp = &metricDesc{typ: gauge, name: "roost_user_metrics_up",
		help: "1 when the user's supervisor answered this scrape, else 0.", labels: []string{"user"}}
	descNginxApplies = &metricDesc{typ: counter, name: "roost_nginx_applies_total",
		help: "nginx configurations installed and reloaded by the master."}
	descNginxFailures = &metricDesc{typ: counter, name: "roost_nginx_apply_failures_total",
		help: "nginx installs that failed (write, nginx -t, reload) and were retried."}
)

// UserStates are the user supervisor states roost_user_supervisor_state
// has a series for.
var UserStates = []string{"STOPPED", "STARTING", "RUNNING", "BACKOFF", "STOPPING", "REFUSED"}

// Master is the master's exposition: its own figures and every user's,
// scraped from their sockets when Prometheus scrapes the master.
type Master struct {
	src MasterSource
	mu  sync.Mutex // one scrape of the users at a time
}

// NewMaster returns the master's metrics.
func NewMaster(src MasterSource) *Master { return &Master{src: src} }

// Handler serves the exposition.
func (m *Master) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { serveExposition(w, m.collect) })
}

// userDescs are the supervisor's families with a user label first.
var userDescs = sync.OnceValue(func() map[string]*metricDesc {
	out := make(map[string]*metricDesc, len(families()))
	for name, f := range families() {
		out[name] = &metricDesc{typ: f.typ, name: name, help: f.help, labels: append([]string{"user"}, f.labels...)}
	}
	return out
})

func (m *Master) collect(e *exposition) {
	m.mu.Lock()
	defer m.mu.Unlock()
	applied, failed := m.src.NginxApplies()
	e.add(descNginxApplies, float64(applied))
	e.add(descNginxFailures, float64(failed))
	users := m.src.MetricsUsers()
	results := make([][]userSeries, len(users))
	up := make([]float64, len(users))
	sem := make(chan struct{}, scrapeParallel)
	var wg sync.WaitGroup
	for i, u := range users {
		for _, st := range UserStates {
			v := 0.0
			if u.State == st {
				v = 1
			}
			e.add(descUserState, v, u.Name, st)
		}
		e.add(descUserRestarts, float64(u.Restarts), u.Name)
		if !u.Running {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			ctx, cancel := context.WithTimeout(context.Background(), UserScrapeTimeout)
			defer cancel()
			ss, err := scrapeUser(ctx, u.Socket, u.UID, u.Name)
			if err == nil {
				results[i], up[i] = ss, 1
			}
		}()
	}
	wg.Wait()
	for i, u := range users {
		e.add(descUserUp, up[i], u.Name)
	}
	for _, ss := range results {
		for _, x := range ss {
			e.add(x.d, x.v, x.lv...)
		}
	}
}

// userSeries is one sample of a user's, relabelled.
type userSeries struct {
	d  *metricDesc // the family with user first
	lv []string
	v  float64
}

// scrapeUser reads the /metrics of the supervisor serving socket as uid
// and returns its samples with user = name added. Only the families a
// supervisor exposes are kept, with their exact label names (a user
// cannot forge another user's series or the master's); a series given
// twice is kept once.
func scrapeUser(ctx context.Context, socket string, uid int, name string) ([]userSeries, error) {
	samples, err := fetchUser(ctx, socket, uid)
	if err != nil {
		return nil, err
	}
	descs := userDescs()
	seen := map[string]bool{}
	var out []userSeries
	for _, s := range samples {
		f, ok := families()[s.name]
		if !ok || s.typ != f.typ.String() {
			continue
		}
		lv, ok := labelValues(s.labels, f.labels)
		if !ok {
			continue
		}
		key := s.name + "\xff" + strings.Join(lv, "\xff")
		if seen[key] {
			continue
		}
		seen[key] = true
		out = append(out, userSeries{d: descs[s.name], lv: append([]string{name}, lv...), v: s.v})
	}
	return out, nil
}

// labelValues returns the values for exactly the label names want.
func labelValues(labels [][2]string, want []string) ([]string, bool) {
	if len(labels) != len(want) {
		return nil, false
	}
	out := make([]string, len(want))
	set := make([]bool, len(want))
	for _, l := range labels {
		i := slices.Index(want, l[0])
		if i < 0 || set[i] {
			return nil, false
		}
		out[i], set[i] = l[1], true
	}
	return out, true
}

// errTooLarge is a user's exposition over maxUserMetrics.
var errTooLarge = errors.New("metrics exposition too large")

// fetchUser GETs /metrics on a user's socket, checking that the socket and
// the process serving it are the user's (or root's), and parses it.
func fetchUser(ctx context.Context, socket string, uid int) ([]sample, error) {
	uids := []int{uid}
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			if err := api.CheckSocket(socket, uids); err != nil {
				return nil, err
			}
			var d net.Dialer
			conn, err := d.DialContext(ctx, "unix", socket)
			if err != nil {
				return nil, err
			}
			if err := api.CheckPeer(conn, uids); err != nil {
				conn.Close()
				return nil, err
			}
			return conn, nil
		},
		DisableKeepAlives:      true,
		MaxResponseHeaderBytes: 64 << 10,
	}
	defer tr.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://roost/metrics", nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "text/plain;version=0.0.4")
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		return nil, fmt.Errorf("scrape %s: %w", socket, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("scrape %s: HTTP %s", socket, resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxUserMetrics+1))
	if err != nil {
		return nil, fmt.Errorf("scrape %s: %w", socket, err)
	}
	if len(body) > maxUserMetrics {
		return nil, fmt.Errorf("scrape %s: %w", socket, errTooLarge)
	}
	samples, err := parseExposition(body)
	if err != nil {
		return nil, fmt.Errorf("scrape %s: %w", socket, err)
	}
	return samples, nil
}
