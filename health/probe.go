// Package health runs the health checks a [program:x] declares with
// healthcheck= (a roost extension): an HTTP GET, a TCP connection or a
// command, every healthcheck_interval seconds while the process is
// RUNNING, each bounded by healthcheck_timeout. After healthcheck_retries
// failures in a row the process is UNHEALTHY and is restarted through the
// runtime's own stop and start (its stop recipe: stopsignal, stopwaitsecs,
// SIGKILL).
//
// The room reads the runtime's event stream and acts through its
// interface (Runtime); it never reaches into the state machine. Each
// checked process has one timer, armed only while it is RUNNING; a
// configuration without checks arms none.
package health

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"

	"roost/config"
)

// Runner runs an exec check's argv the way the program runs (its user,
// directory and environment) and returns the start of its output. It kills
// the check's process group when ctx ends.
type Runner func(ctx context.Context, argv []string) (output string, err error)

// Probe runs one check of hc, bounded by hc.Timeout (and ctx); nil means
// healthy. run runs exec checks.
func Probe(ctx context.Context, hc *config.HealthCheck, run Runner) error {
	ctx, cancel := context.WithTimeout(ctx, hc.Timeout)
	defer cancel()
	var err error
	switch hc.Kind {
	case config.HealthHTTP:
		err = GetOK(ctx, hc.Target)
	case config.HealthTCP:
		err = Dial(ctx, hc.Target)
	case config.HealthExec:
		if run == nil {
			return errors.New("exec check: no runner")
		}
		var out string
		out, err = run(ctx, hc.Argv)
		if err != nil && out != "" {
			err = fmt.Errorf("%w: %s", err, out)
		}
	default:
		return fmt.Errorf("unknown health check kind %q", hc.Kind)
	}
	if err != nil && ctx.Err() != nil && errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("%s: no answer within %v", Describe(hc), hc.Timeout)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", Describe(hc), err)
	}
	return nil
}

// Describe names a check the way the log and status show it:
// "GET http://127.0.0.1:8000/health", "tcp 127.0.0.1:5432", "exec pg_isready -q".
func Describe(hc *config.HealthCheck) string {
	switch hc.Kind {
	case config.HealthHTTP:
		return "GET " + hc.Target
	case config.HealthTCP:
		return "tcp " + hc.Target
	}
	return "exec " + hc.Target
}

// Dial connects to a TCP address and closes the connection.
func Dial(ctx context.Context, addr string) error {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	return c.Close()
}

// client is the checks' HTTP client: no redirects followed (a 3xx is an
// answer), no keep-alive (each check is a fresh connection, as a new
// client's would be), no proxy from the environment.
var client = &http.Client{
	Transport:     &http.Transport{DisableKeepAlives: true, Proxy: nil},
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// GetOK GETs url and wants a 2xx or 3xx status.
func GetOK(ctx context.Context, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	req.Header.Set("User-Agent", "roost-health-check")
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode >= 400 {
		return errors.New("HTTP " + strconv.Itoa(resp.StatusCode))
	}
	return nil
}
