package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"roost/master"
	"roost/supervisor/api"
)

// `roost admin tls [--json]` and `roost admin tls renew [HOST]`: the
// certificates the master holds for the routed hosts (roost.toml [tls]).

func adminTLSCommand() *cli.Command {
	return &cli.Command{
		Name:      "tls",
		Usage:     "every routed host's certificate: state, expiry, next attempt, last error",
		ArgsUsage: " ",
		Flags:     []cli.Flag{&cli.BoolFlag{Name: "json", Usage: "print the JSON answer"}},
		Action:    adminTLS,
		Subcommands: []*cli.Command{{
			Name:      "renew",
			Usage:     "renew HOST's certificate now (every host's without HOST)",
			ArgsUsage: "[HOST]",
			Action:    adminTLSRenew,
		}},
	}
}

func adminTLS(c *cli.Context) error {
	if c.NArg() > 0 {
		return cli.Exit(fmt.Sprintf("roost admin tls: unexpected argument %q", c.Args().First()), 2)
	}
	cl, ctx, done, err := dialMaster(c, "tls")
	if err != nil {
		return err
	}
	defer done()
	st, err := cl.TLS(ctx)
	if err != nil {
		return cli.Exit("roost admin tls: "+err.Error(), 1)
	}
	if c.Bool("json") {
		enc := json.NewEncoder(c.App.Writer)
		enc.SetIndent("", "  ")
		return enc.Encode(st)
	}
	writeTLS(c.App.Writer, st, time.Now())
	return nil
}

// writeTLS prints the hosts table; every string in it is the master's,
// sanitized (host names were validated, errors made one line).
func writeTLS(w io.Writer, st master.TLSStatus, now time.Time) {
	if !st.Enabled {
		fmt.Fprintln(w, "HTTPS is off: set [tls] acme = true in roost.toml (see README, \"HTTPS\")")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "HOST\tUSER\tSTATE\tEXPIRES\tNEXT\tFAILURES\tLAST ERROR")
	for _, h := range st.Hosts {
		errText := h.Error
		if errText == "" {
			errText = h.Note
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\n", h.Host, h.User, h.State, when(h.NotAfter, now),
			when(h.NextTry, now), h.Failures, strings.ReplaceAll(errText, "\t", " "))
	}
	tw.Flush()
}

// when writes a unix time as a date and how far it is, or "-".
func when(unix int64, now time.Time) string {
	if unix == 0 {
		return "-"
	}
	t := time.Unix(unix, 0)
	d := t.Sub(now).Round(time.Second)
	if d >= 0 {
		return t.UTC().Format("2006-01-02 15:04") + " (in " + d.String() + ")"
	}
	return t.UTC().Format("2006-01-02 15:04") + " (" + (-d).String() + " ago)"
}

func adminTLSRenew(c *cli.Context) error {
	if c.NArg() > 1 {
		return cli.Exit("roost admin tls renew: give at most one HOST", 2)
	}
	host := strings.ToLower(c.Args().First())
	cl, ctx, done, err := dialMaster(c, "tls renew")
	if err != nil {
		return err
	}
	defer done()
	if err := cl.RenewTLS(ctx, host); err != nil {
		return cli.Exit("roost admin tls renew: "+err.Error(), 1)
	}
	if host == "" {
		host = "every host"
	}
	fmt.Fprintf(c.App.Writer, "%s: renewal started (roost admin tls shows when it is done)\n", host)
	return nil
}

// writeHostsTLS prints a user's certificate states under `roost proxy`.
func writeHostsTLS(w io.Writer, hosts []api.HostTLS, now time.Time) {
	if len(hosts) == 0 {
		return
	}
	fmt.Fprintln(w, "HTTPS:")
	for _, h := range hosts {
		line := "  " + h.Host + ": " + h.State
		if h.NotAfter > 0 {
			line += ", expires " + when(h.NotAfter, now)
		}
		if h.Error != "" {
			line += ", last error: " + h.Error
			if h.NextTry > 0 {
				line += "; next attempt " + when(h.NextTry, now)
			}
		}
		if h.Note != "" {
			line += " (" + h.Note + ")"
		}
		fmt.Fprintln(w, line)
	}
}
