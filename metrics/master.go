package metrics

import (
	"bytes"
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

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

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
	descUserState = &lazyDesc{typ: prometheus.GaugeValue, name: "roost_user_supervisor_state",
		help: "The user's supervisor's state: 1 for the state it is in, 0 for the others.", labels: []string{"user", "state"}}
	descUserRestarts = &lazyDesc{typ: prometheus.CounterValue, name: "roost_user_supervisor_restarts_total",
		help: "Restarts of the user's supervisor since the master started.", labels: []string{"user"}}
	descUserUp = &lazyDesc{typ: prometheus.GaugeValue, name: "roost_user_metrics_up",
		help: "1 when the user's supervisor answered this scrape, else 0.", labels: []string{"user"}}
	descNginxApplies = &lazyDesc{typ: prometheus.CounterValue, name: "roost_nginx_applies_total",
		help: "nginx configurations installed and reloaded by the master.", labels: nil}
	descNginxFailures = &lazyDesc{typ: prometheus.CounterValue, name: "roost_nginx_apply_failures_total",
		help: "nginx installs that failed (write, nginx -t, reload) and were retried.", labels: nil}
)

// UserStates are the user supervisor states roost_user_supervisor_state
// has a series for.
var UserStates = []string{"STOPPED", "STARTING", "RUNNING", "BACKOFF", "STOPPING", "REFUSED"}

// Master is the master's exposition: its own figures and every user's,
// scraped from their sockets when Prometheus scrapes the master.
type Master struct {
	src MasterSource
	reg *prometheus.Registry
	h   http.Handler
	mu  sync.Mutex // one scrape of the users at a time
}

// NewMaster returns the master's metrics.
func NewMaster(src MasterSource) *Master {
	m := &Master{src: src, reg: prometheus.NewRegistry()}
	m.reg.MustRegister(masterCollector{m})
	m.h = promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
	return m
}

// Handler serves the exposition.
func (m *Master) Handler() http.Handler { return m.h }

type masterCollector struct{ m *Master }

func (c masterCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*lazyDesc{descUserState, descUserRestarts, descUserUp, descNginxApplies, descNginxFailures} {
		ch <- d.desc()
	}
	for _, d := range userDescs() {
		ch <- d
	}
}

// userDescs are the supervisor's families with a user label first.
var userDescs = sync.OnceValue(func() map[string]*prometheus.Desc {
	out := make(map[string]*prometheus.Desc, len(families()))
	for name, f := range families() {
		out[name] = prometheus.NewDesc(name, f.help, append([]string{"user"}, f.labels...), nil)
	}
	return out
})

func (c masterCollector) Collect(ch chan<- prometheus.Metric) {
	m := c.m
	m.mu.Lock()
	defer m.mu.Unlock()
	applied, failed := m.src.NginxApplies()
	ch <- prometheus.MustNewConstMetric(descNginxApplies.desc(), prometheus.CounterValue, float64(applied))
	ch <- prometheus.MustNewConstMetric(descNginxFailures.desc(), prometheus.CounterValue, float64(failed))
	users := m.src.MetricsUsers()
	results := make([][]prometheus.Metric, len(users))
	sem := make(chan struct{}, scrapeParallel)
	var wg sync.WaitGroup
	for i, u := range users {
		for _, st := range UserStates {
			v := 0.0
			if u.State == st {
				v = 1
			}
			ch <- prometheus.MustNewConstMetric(descUserState.desc(), prometheus.GaugeValue, v, u.Name, st)
		}
		ch <- prometheus.MustNewConstMetric(descUserRestarts.desc(), prometheus.CounterValue, float64(u.Restarts), u.Name)
		if !u.Running {
			ch <- prometheus.MustNewConstMetric(descUserUp.desc(), prometheus.GaugeValue, 0, u.Name)
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			ctx, cancel := context.WithTimeout(context.Background(), UserScrapeTimeout)
			defer cancel()
			ms, err := ScrapeUser(ctx, u.Socket, u.UID, u.Name)
			up := 1.0
			if err != nil {
				up = 0
			}
			results[i] = append(ms, prometheus.MustNewConstMetric(descUserUp.desc(), prometheus.GaugeValue, up, u.Name))
		}()
	}
	wg.Wait()
	for _, ms := range results {
		for _, x := range ms {
			ch <- x
		}
	}
}

// ScrapeUser reads the /metrics of the supervisor serving socket as uid
// and returns its metrics with user = name added. Only the families a
// supervisor exposes are kept, with their types and label names (a user
// cannot forge another user's series or the master's); a series given
// twice is kept once.
func ScrapeUser(ctx context.Context, socket string, uid int, name string) ([]prometheus.Metric, error) {
	fams, err := fetchUser(ctx, socket, uid)
	if err != nil {
		return nil, err
	}
	descs := userDescs()
	var out []prometheus.Metric
	for fname, mf := range fams {
		f, ok := families()[fname]
		if !ok || mf.GetType() != dtoType(f.typ) {
			continue
		}
		seen := map[string]bool{}
		for _, mt := range mf.GetMetric() {
			lv, ok := labelValues(mt, f.labels)
			if !ok {
				continue
			}
			key := strings.Join(lv, "\xff")
			if seen[key] {
				continue
			}
			seen[key] = true
			var v float64
			if f.typ == prometheus.CounterValue {
				v = mt.GetCounter().GetValue()
			} else {
				v = mt.GetGauge().GetValue()
			}
			x, err := prometheus.NewConstMetric(descs[fname], f.typ, v, append([]string{name}, lv...)...)
			if err != nil {
				continue // not valid UTF-8, say
			}
			out = append(out, x)
		}
	}
	return out, nil
}

// labelValues returns mt's values for exactly the label names want.
func labelValues(mt *dto.Metric, want []string) ([]string, bool) {
	lp := mt.GetLabel()
	if len(lp) != len(want) {
		return nil, false
	}
	out := make([]string, len(want))
	for _, l := range lp {
		i := slices.Index(want, l.GetName())
		if i < 0 || out[i] != "" {
			return nil, false
		}
		out[i] = l.GetValue()
	}
	return out, true
}

func dtoType(t prometheus.ValueType) dto.MetricType {
	if t == prometheus.CounterValue {
		return dto.MetricType_COUNTER
	}
	return dto.MetricType_GAUGE
}

// errTooLarge is a user's exposition over maxUserMetrics.
var errTooLarge = errors.New("metrics exposition too large")

// fetchUser GETs /metrics on a user's socket, checking that the socket and
// the process serving it are the user's (or root's), and parses it.
func fetchUser(ctx context.Context, socket string, uid int) (map[string]*dto.MetricFamily, error) {
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
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("scrape %s: %w", socket, err)
	}
	return fams, nil
}
