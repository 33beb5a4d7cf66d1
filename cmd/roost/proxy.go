package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"roost/supervisor/api"
)

// `roost proxy [--json]`: the user's [proxy:NAME] routes, as their own
// supervisor resolved them, with the roost master's verdict on each.

func init() {
	ctlCommand(&cli.Command{
		Name:      "proxy",
		Usage:     "show your HTTP routes ([proxy:NAME] sections) and whether nginx serves them",
		ArgsUsage: " ",
		Description: "Each [proxy:NAME] section routes hosts to a program through the roost master's\n" +
			"nginx. STATUS is the master's verdict: served, rejected (and why), or pending\n" +
			"(the master has not ruled on this configuration yet, or nginx does not run it yet:\n" +
			"the reason follows, and the master retries by itself). Problems are listed under\n" +
			"each route: a host outside what the admin allows or claimed by another user, a\n" +
			"port another user listens on, a static directory outside the project...\n\n" +
			"Examples:\n  roost proxy\n  roost proxy --json",
		Flags:  []cli.Flag{&cli.BoolFlag{Name: "json", Usage: "print the routes and the verdict as JSON"}},
		Action: proxyAction,
	})
}

func proxyAction(c *cli.Context) error {
	if c.Args().Present() && c.Args().First() != "--json" {
		return cli.Exit(fmt.Sprintf("roost proxy: unexpected argument %q", c.Args().First()), exitInvalidArgs)
	}
	x, err := connect(c, exitNotRunning)
	if err != nil {
		return err
	}
	info, err := x.client.Proxy(x.ctx)
	if err != nil {
		x.fail(err)
		return x.done()
	}
	if c.Bool("json") || c.Args().First() == "--json" {
		enc := json.NewEncoder(x.out)
		enc.SetIndent("", "  ")
		return enc.Encode(info)
	}
	writeProxy(x.out, info, time.Now())
	return x.done()
}

// routeVerdict is the status line of one route.
func routeVerdict(info api.ProxyInfo, section string) (string, *api.ProxyRouteStatus) {
	if info.Status == nil {
		return "unknown", nil
	}
	for i := range info.Status.Routes {
		if rs := &info.Status.Routes[i]; rs.Section == section {
			switch {
			case rs.Pending != "" && rs.Served:
				return "served, change pending", rs
			case rs.Pending != "":
				return "pending", rs
			}
			if rs.Served {
				return "served", rs
			}
			return "rejected", rs
		}
	}
	return "pending", nil
}

// writeProxy prints the routes table and, under it, every problem.
func writeProxy(w io.Writer, info api.ProxyInfo, now time.Time) {
	if len(info.Routes) == 0 {
		fmt.Fprintln(w, "no [proxy:NAME] sections in the running configuration")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SECTION\tPROGRAM\tSTATUS\tHOSTS\tUPSTREAMS")
	var notes []string
	for _, r := range info.Routes {
		verdict, rs := routeVerdict(info, r.Section)
		ups := r.Upstreams
		if rs != nil && rs.Served {
			ups = rs.Upstreams
		}
		upText := strings.Join(ups, ", ")
		if upText == "" {
			upText = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.Section, r.Program, verdict, strings.Join(r.Hosts, ", "), upText)
		for _, s := range r.Static {
			notes = append(notes, fmt.Sprintf("[%s] static %s -> %s", r.Section, s.Prefix, s.Dir))
		}
		if r.HealthPath != "" {
			notes = append(notes, fmt.Sprintf("[%s] health path %s", r.Section, r.HealthPath))
		}
		if len(r.Upstreams) == 0 {
			notes = append(notes, fmt.Sprintf("[%s] ! no PORT: run under the roost master, or set PORT in the environment of `roost run`", r.Section))
		}
		if rs != nil {
			for _, p := range rs.Problems {
				notes = append(notes, fmt.Sprintf("[%s] ! %s", r.Section, p))
			}
		}
	}
	tw.Flush()
	for _, n := range notes {
		fmt.Fprintln(w, "  "+n)
	}
	switch st := info.Status; {
	case st == nil:
		fmt.Fprintln(w, "no verdict from the roost master (is this supervisor run by `roost master` with [proxy] enabled?)")
	default:
		if st.Error != "" {
			fmt.Fprintln(w, "! "+st.Error)
		}
		if st.Pending != "" {
			fmt.Fprintln(w, "! pending: "+st.Pending)
		}
		writeHostsTLS(w, st.TLS, now)
		fmt.Fprintf(w, "verdict of the roost master, %s ago\n", now.Sub(time.Unix(st.Time, 0)).Round(time.Second))
	}
}
