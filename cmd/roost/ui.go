package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"roost/config"
	"roost/dashboard"
	"roost/deploy"
	"roost/master"
	"roost/supervisor/api"
)

// `roost ui`: how to open the dashboard the supervisor serves at /ui/ on
// its control socket.

func init() {
	ctlCommand(&cli.Command{
		Name:      "ui",
		Usage:     "open the web dashboard: over ssh -L from your laptop, or on a local URL",
		ArgsUsage: " ",
		Description: "Your supervisor serves a dashboard at /ui/ on its control socket: every program\n" +
			"with its state, uptime, pid, exit status, CPU and memory, updated live; start,\n" +
			"stop and restart buttons (per program, per group, all); the logs with follow;\n" +
			"the cron jobs and releases. It is as private as the socket: only you (and\n" +
			"root) can connect to it.\n\n" +
			"Logged in over ssh ($SSH_CONNECTION is set), roost ui prints the command to run\n" +
			"on your laptop, which forwards a local port to the socket, and the URL to open:\n" +
			"  ssh -N -L 8080:/run/roost/users/alice/roost.sock alice@203.0.113.7\n" +
			"  http://localhost:8080/ui/\n\n" +
			"Otherwise (or with --local) it serves the dashboard on 127.0.0.1:PORT until\n" +
			"Ctrl-C, behind a random token: open the URL it prints, whose path starts with\n" +
			"the token (http://127.0.0.1:PORT/TOKEN/ui/); a request without it (another\n" +
			"local user trying the port) gets 403. No cookie is set. The URL stays in your\n" +
			"browser's history, and is good only while this roost ui runs.\n\n" +
			"Examples:\n  roost ui\n  roost ui --port 8080\n  roost ui --local --json\n" +
			"  roost --user alice ui     # root: alice's dashboard\n\n" +
			"Root with --user NAME over ssh gets the line for the master's admin socket\n" +
			"({run_dir}/master.sock), where every user's page is at /admin/v1/users/NAME/ui/.\n\n" +
			"--json prints {\"url\": …} (and \"ssh\": the command, in the ssh case) as one line.\n" +
			"Exit status: 0; 2 for bad arguments; 4 or 7 when no supervisor answers.",
		Flags: []cli.Flag{
			&cli.IntFlag{Name: "port", Usage: "local `PORT` (the forwarder's, or ssh -L's; default: any free one, 8080 for ssh)"},
			&cli.BoolFlag{Name: "local", Usage: "serve on 127.0.0.1 even when logged in over ssh"},
			&cli.BoolFlag{Name: "json", Usage: "print the URL (and the ssh command) as one line of JSON"},
		},
		Action: uiAction,
	})
}

func uiAction(c *cli.Context) error {
	if c.Args().Present() {
		return usageError(c, fmt.Sprintf("roost ui: unexpected argument %q", c.Args().First()), "ui [--port PORT] [--local] [--json]", exitInvalidArgs)
	}
	port := c.Int("port")
	if port < 0 || port > 65535 {
		return cli.Exit(fmt.Sprintf("roost ui: --port %d: want 1 to 65535", port), exitInvalidArgs)
	}
	x, err := dialServer(c)
	if x == nil {
		return err
	}
	if err != nil {
		return cli.Exit("", x.failure(err))
	}
	defer x.client.Close()
	if conn := os.Getenv("SSH_CONNECTION"); conn != "" && !c.Bool("local") {
		return uiSSH(c, x.srv, conn, port)
	}
	return uiForward(c, x.srv, port)
}

// uiSSH prints the ssh -L command that forwards a laptop's port to the
// socket, and the URL to open there.
func uiSSH(c *cli.Context, srv server, sshConn string, port int) error {
	if port == 0 {
		port = 8080
	}
	host := "HOST"
	if f := strings.Fields(sshConn); len(f) >= 3 {
		host = f[2] // the address the client reached this server at
	}
	login := os.Getenv("USER")
	if u, err := user.Current(); err == nil {
		login = u.Username
	}
	sock, path := srv.path, dashboard.Prefix
	if name := flagString(c, "user"); name != "" {
		// Root: the user's page through the master's admin socket.
		runDir, err := runDirOf(os.Getenv("ROOST_MASTER_CONFIG"))
		if err != nil {
			return cli.Exit("roost ui: "+err.Error(), exitGeneric)
		}
		sock, path = filepath.Join(runDir, master.AdminSocketName), master.DashboardPath(name)
	}
	ssh := fmt.Sprintf("ssh -N -L %d:%s %s@%s", port, sock, login, host)
	url := fmt.Sprintf("http://localhost:%d%s", port, path)
	if c.Bool("json") {
		return json.NewEncoder(c.App.Writer).Encode(map[string]string{"url": url, "ssh": ssh})
	}
	fmt.Fprintf(c.App.Writer, "On your computer, run:\n  %s\nthen open:\n  %s\n", ssh, url)
	return nil
}

// uiForward serves the dashboard on a loopback port, behind a token,
// until SIGINT or SIGTERM.
func uiForward(c *cli.Context, srv server, port int) error {
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return cli.Exit("roost ui: "+err.Error(), exitGeneric)
	}
	_, p, _ := net.SplitHostPort(ln.Addr().String())
	uids := trustedUIDs(srv)
	dial := func(ctx context.Context) (net.Conn, error) { return api.DialSocket(ctx, srv.path, uids) }
	var next http.Handler = dashboard.Proxy(dial, "", "")
	if srv.username != "" {
		proxy := next
		next = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			r.SetBasicAuth(srv.username, srv.password)
			proxy.ServeHTTP(w, r)
		})
	}
	fw := dashboard.NewForwarder(next, p)
	if c.Bool("json") {
		json.NewEncoder(c.App.Writer).Encode(map[string]string{"url": fw.URL()})
	} else {
		fmt.Fprintf(c.App.Writer, "The dashboard of %s is at\n  %s\n(only with this token; Ctrl-C stops it)\n", srv.path, fw.URL())
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	hs := &http.Server{Handler: fw, ReadHeaderTimeout: 10 * time.Second,
		BaseContext: func(net.Listener) context.Context { return ctx }}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return cli.Exit("roost ui: "+err.Error(), exitGeneric)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if hs.Shutdown(sctx) != nil {
		hs.Close()
	}
	return nil
}

// dashboardOptions are the dashboard's options for the supervisor of the
// current user: its releases when the host's roost.toml enables deploy.
func dashboardOptions() dashboard.Options {
	return dashboard.Options{Releases: func() ([]deploy.Release, error) {
		if os.Geteuid() == 0 {
			return nil, nil
		}
		file := os.Getenv("ROOST_MASTER_CONFIG")
		if file == "" {
			file = config.DefaultMasterFile
		}
		if _, err := os.Stat(file); err != nil {
			return nil, nil
		}
		m, err := config.LoadMaster(file)
		if err != nil || !m.Deploy.Enabled {
			return nil, nil
		}
		u, err := user.Current()
		if err != nil || config.ValidateUserName(u.Username) != nil {
			return nil, nil
		}
		return deploy.Releases(deploy.LayoutFor(m, u.Username, u.HomeDir))
	}}
}
