package supervisor

import (
	"net/netip"
	"reflect"
	"strconv"
	"time"

	"roost/config"
	"roost/supervisor/api"
)

// The proxy side of the runtime (api.ProxyBackend): the [proxy:NAME]
// sections of the running configuration, with the upstream of each
// process, and the verdict the master posts about them. The runtime only
// reports; routing is the master's (master) and nginx's.

var _ api.ProxyBackend = (*Supervisor)(nil)

// Proxy describes the routes of the running configuration.
func (s *Supervisor) Proxy() api.ProxyInfo {
	s.mu.RLock()
	cfg := s.cfg
	s.mu.RUnlock()
	info := api.ProxyInfo{Project: cfg.Here, Routes: []api.ProxyRoute{}, Generation: s.proxyGen.Load()}
	for _, px := range cfg.Proxies {
		r := api.ProxyRoute{
			Section: "proxy:" + px.Name, Pos: px.Pos, Program: px.Program,
			Hosts: append([]string{}, px.Hosts...), Websocket: px.Websocket,
			MaxBodySize: px.MaxBodySize, HealthPath: px.HealthPath, Upstreams: []string{},
		}
		for _, st := range px.Static {
			r.Static = append(r.Static, api.ProxyStatic{Prefix: st.Prefix, Dir: st.Dir})
		}
		if px.Socket != "" { // the program listens on its socket, not on its ports
			r.Upstreams = append(r.Upstreams, "unix:"+px.Socket)
		} else {
			for _, p := range s.livePorts(px) {
				r.Upstreams = append(r.Upstreams, upstream(p))
			}
		}
		info.Routes = append(info.Routes, r)
	}
	if st := s.proxyStatus.Load(); st != nil {
		c := *st
		info.Status = &c
	}
	return info
}

// upstream is the address nginx reaches a process on.
func upstream(port int) string {
	return netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), uint16(port)).String()
}

// SetProxyStatus records the master's verdict (the API lets only root
// post it).
func (s *Supervisor) SetProxyStatus(st api.ProxyStatus) error {
	if st.Time == 0 {
		st.Time = time.Now().Unix()
	}
	s.proxyStatus.Store(&st)
	s.verdictMu.Lock()
	if s.verdicts != nil {
		close(s.verdicts)
		s.verdicts = nil
	}
	s.verdictMu.Unlock()
	return nil
}

// nextVerdict is closed at the next verdict the master posts.
func (s *Supervisor) nextVerdict() <-chan struct{} {
	s.verdictMu.Lock()
	defer s.verdictMu.Unlock()
	if s.verdicts == nil {
		s.verdicts = make(chan struct{})
	}
	return s.verdicts
}

// noteProxies emits EventProxyChanged when a configuration put in force
// changes the proxy sections, so that the master asks again.
func (s *Supervisor) noteProxies(old, cur *config.Config) {
	if reflect.DeepEqual(old.Proxies, cur.Proxies) {
		return
	}
	// Lines moved by an edit elsewhere: the master re-reads them (its
	// messages name lines), but nothing worth a log line changed.
	if !reflect.DeepEqual(withoutPos(old.Proxies), withoutPos(cur.Proxies)) {
		s.log.Info("proxy sections changed: " + strconv.Itoa(len(cur.Proxies)) + " [proxy:*] sections now")
	}
	s.events.publish(api.Event{Time: time.Now().UnixNano(), Type: api.EventProxyChanged})
}

// withoutPos copies proxy sections with their positions cleared.
func withoutPos(ps []*config.Proxy) []config.Proxy {
	out := make([]config.Proxy, len(ps))
	for i, p := range ps {
		out[i] = *p
		out[i].Pos = config.Pos{}
		out[i].Static = append([]config.StaticRoute(nil), p.Static...)
		for j := range out[i].Static {
			out[i].Static[j].Pos = config.Pos{}
		}
	}
	return out
}

// proxyTarget returns the port and health path of a process behind a
// [proxy:*] section of cfg: port 0 when it has none.
func proxyTarget(cfg *config.Config, pc *config.Process) (port int, healthPath string) {
	for _, px := range cfg.Proxies {
		if px.Program != pc.Program || len(px.Ports) == 0 {
			continue
		}
		if port == 0 {
			if v, ok := pc.Environment.Lookup(config.EnvPort); ok {
				port, _ = strconv.Atoi(v)
			}
		}
		if healthPath == "" {
			healthPath = px.HealthPath
		}
	}
	return port, healthPath
}
