// Package doctor checks what a person would otherwise debug by hand, and
// says for each finding how to fix it: `roost doctor`, as root (the master,
// every user it runs, nginx) or as a user (their supervisor, project, file,
// ports and routes).
//
// It only reads: roost.toml, the master's admin socket, the users' control
// sockets, the user's own files, nginx's own test, DNS. A check that cannot
// apply (proxy disabled, no routes) says so as info; only a fail makes the
// report fail.
package doctor

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"golang.org/x/sys/unix"

	"roost/config"
	"roost/master"
	"roost/service"
	"roost/supervisor/api"
)

// Status is a check's outcome.
type Status string

// The outcomes; only Fail makes Report.Failed true.
const (
	OK   Status = "ok"
	Info Status = "info"
	Warn Status = "warn"
	Fail Status = "fail"
)

// Check is one finding.
type Check struct {
	Name   string `json:"name"`
	Status Status `json:"status"`
	Detail string `json:"detail"`
	Fix    string `json:"fix,omitempty"`
}

// Report is what one run of the doctor found.
type Report struct {
	As     string  `json:"as"` // "root" or the user's name
	Checks []Check `json:"checks"`
}

// Failed reports whether any check failed.
func (r *Report) Failed() bool {
	return slices.ContainsFunc(r.Checks, func(c Check) bool { return c.Status == Fail })
}

func (r *Report) add(name string, st Status, detail, fix string) {
	r.Checks = append(r.Checks, Check{Name: name, Status: st, Detail: detail, Fix: fix})
}

// WriteText prints one line per check, and the fix under each that needs
// one.
func (r *Report) WriteText(w io.Writer) error {
	width := 0
	for _, c := range r.Checks {
		width = max(width, len(c.Name))
	}
	var b strings.Builder
	fmt.Fprintf(&b, "roost doctor (as %s)\n", r.As)
	fails, warns := 0, 0
	for _, c := range r.Checks {
		label := string(c.Status)
		switch c.Status {
		case Fail:
			label, fails = "FAIL", fails+1
		case Warn:
			label, warns = "WARN", warns+1
		}
		fmt.Fprintf(&b, "  %-4s  %-*s  %s\n", label, width, c.Name, oneLine(c.Detail))
		if c.Fix != "" && (c.Status == Fail || c.Status == Warn) {
			fmt.Fprintf(&b, "        %*s  fix: %s\n", width, "", oneLine(c.Fix))
		}
	}
	fmt.Fprintf(&b, "%d checks: %d failed, %d warnings\n", len(r.Checks), fails, warns)
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteJSON prints the report as one JSON object.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(struct {
		*Report
		OK bool `json:"ok"`
	}{r, !r.Failed()})
}

// oneLine makes s one printable line: a user's supervisor writes some of
// what root's report shows, and must not reach root's terminal with
// control sequences.
func oneLine(s string) string {
	s = strings.Join(strings.Fields(strings.ReplaceAll(s, "\n", " | ")), " ")
	return strings.Map(func(r rune) rune {
		if !unicode.IsPrint(r) {
			return '?'
		}
		return r
	}, s)
}

// Options say where things are; zero values are the installed defaults.
type Options struct {
	// MasterConfig is roost.toml (default /etc/roost/roost.toml).
	MasterConfig string
	// Timeout bounds each question to a socket or a command (default 5 s).
	Timeout time.Duration
	// LookupHost resolves a host name (default net.DefaultResolver's).
	LookupHost func(ctx context.Context, host string) ([]string, error)
}

func (o Options) withDefaults() Options {
	if o.MasterConfig == "" {
		o.MasterConfig = config.DefaultMasterFile
	}
	if o.Timeout <= 0 {
		o.Timeout = 5 * time.Second
	}
	if o.LookupHost == nil {
		o.LookupHost = net.DefaultResolver.LookupHost
	}
	return o
}

const (
	fixMaster = "start it: systemctl start roost (where systemd does not run: roost master, as root)"
	fixListed = "name the user in /etc/roost/roost.toml ([users] names, or a group in groups); the master picks the change up by itself"
)

// Root runs the administrator's checks: roost.toml, the master, each user
// it runs (state, socket, routes), nginx, DNS, cgroups, deploy.
func Root(ctx context.Context, o Options) *Report {
	o = o.withDefaults()
	r := &Report{As: "root"}
	cfg, err := master.CheckConfig(o.MasterConfig)
	if err != nil {
		fix := "edit " + o.MasterConfig + " at the line named; roost master --check validates it"
		if _, serr := os.Stat(o.MasterConfig); serr != nil {
			fix = "reinstall it (apt install --reinstall roost restores the commented default), or give -c FILE"
		}
		r.add("roost.toml", Fail, err.Error(), fix)
		return r
	}
	r.add("roost.toml", OK, o.MasterConfig+": valid", "")

	users, err := masterUsers(ctx, o, cfg.RunDir)
	if err != nil {
		r.add("master", Fail, err.Error(), fixMaster)
	} else {
		r.add("master", OK, fmt.Sprintf("running, %d users", len(users)), "")
	}
	if err == nil && len(users) == 0 {
		r.add("users", Warn, "roost.toml lists no user", fixListed)
	}
	for _, name := range cfg.Users.Names {
		if !slices.ContainsFunc(users, func(u master.UserStatus) bool { return u.Name == name }) && err == nil {
			r.add("user "+name, Fail, "named in roost.toml, but the master does not run it", "systemctl reload roost, then roost admin users")
		}
	}
	var hosts []string
	for _, u := range users {
		hosts = append(hosts, rootUser(ctx, r, o, cfg, u)...)
	}
	nginxChecks(ctx, r, o, cfg)
	hostChecks(ctx, r, o, hosts)
	platformChecks(r, 0, cfg, "", "")
	return r
}

func masterUsers(ctx context.Context, o Options, runDir string) ([]master.UserStatus, error) {
	sock := filepath.Join(runDir, master.AdminSocketName)
	cl, err := master.DialAdmin(sock)
	if err != nil {
		return nil, fmt.Errorf("the master is not running: %w", err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	users, err := cl.Users(ctx)
	if err != nil {
		return nil, fmt.Errorf("the master does not answer on %s: %w", sock, err)
	}
	return users, nil
}

// rootUser checks one user the master runs, and returns the host names of
// their routes.
func rootUser(ctx context.Context, r *Report, o Options, cfg *config.Master, u master.UserStatus) []string {
	name := "user " + u.Name
	if u.State != master.UserRunning {
		r.add(name, Fail, fmt.Sprintf("supervisor %s: %s", u.State, u.LastError), "read the error above; roost admin users; roost admin restart "+u.Name)
		return nil
	}
	detail := fmt.Sprintf("supervisor RUNNING (pid %d), programs %d/%d running, ports %d-%d, project %s",
		u.PID, u.ProgramsRunning, u.ProgramsTotal, u.PortBase, u.PortBase+u.PortCount-1, u.Project)
	st := OK
	fix := ""
	if u.ProgramsTotal == 0 {
		st, fix = Info, "as "+u.Name+": put a supervisord.conf in "+u.Project
		detail += ": no programs yet"
	} else if u.ProgramsRunning < u.ProgramsTotal {
		st, fix = Warn, "as "+u.Name+": roost status; roost logs"
	}
	r.add(name, st, detail, fix)
	for _, p := range u.ProxyProblems {
		r.add(name+" routes", Warn, p, "as "+u.Name+": roost proxy says the same; fix the [proxy:NAME] section or the grant in roost.toml")
	}
	sock := filepath.Join(cfg.RunDir, "users", u.Name, master.SocketName)
	info, err := proxyOf(ctx, o, sock, api.WithServerUIDs(u.UID))
	if err != nil {
		r.add(name+" socket", Fail, err.Error(), "roost admin restart "+u.Name)
		return nil
	}
	r.add(name+" socket", OK, sock+": answers", "")
	var hosts []string
	for _, rt := range info.Routes {
		hosts = append(hosts, rt.Hosts...)
	}
	return hosts
}

func proxyOf(ctx context.Context, o Options, sock string, opts ...api.ClientOption) (api.ProxyInfo, error) {
	cl, err := api.Dial(sock, opts...)
	if err != nil {
		return api.ProxyInfo{}, err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	return cl.Proxy(ctx)
}

// nginxChecks runs the admin's own test_command, then the same with -T to
// see that the master's output is part of nginx's configuration.
func nginxChecks(ctx context.Context, r *Report, o Options, cfg *config.Master) {
	px := cfg.Proxy
	if !px.Enabled {
		r.add("nginx", Info, "[proxy] is disabled in roost.toml: nothing is routed", "")
		return
	}
	out, err := runCommand(ctx, o, px.TestCommand)
	if err != nil {
		r.add("nginx -t", Fail, fmt.Sprintf("%s: %v: %s", strings.Join(px.TestCommand, " "), err, out), "fix the line nginx names; roost admin nginx --check shows what roost would write")
		return
	}
	r.add("nginx -t", OK, strings.Join(px.TestCommand, " ")+": passes", "")
	if _, err := os.Stat(px.Output); err != nil {
		r.add("nginx include", Warn, px.Output+" does not exist yet", "the master writes it once [proxy] is on and it runs; check the master's log")
		return
	}
	dump := slices.Clone(px.TestCommand)
	i := slices.Index(dump, "-t")
	if i < 0 {
		r.add("nginx include", Info, "test_command has no -t to turn into -T: not checked", "")
		return
	}
	dump[i] = "-T"
	out, err = runCommand(ctx, o, dump)
	switch {
	case err != nil:
		r.add("nginx include", Warn, fmt.Sprintf("%s: %v", strings.Join(dump, " "), err), "")
	case strings.Contains(out, "# configuration file "+px.Output+":"):
		r.add("nginx include", OK, px.Output+" is part of nginx's configuration", "")
	default:
		r.add("nginx include", Fail, "nginx's configuration does not include "+px.Output,
			"add `include /usr/share/roost/nginx-include.conf;` to the http block of nginx.conf (Debian's includes conf.d/*.conf already)")
	}
}

// maxCommandOutput bounds what a check keeps of a command's output.
const maxCommandOutput = 1 << 20

func runCommand(ctx context.Context, o Options, argv []string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
	var buf limitedBuffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	err := cmd.Run()
	return strings.TrimSpace(buf.b.String()), err
}

// limitedBuffer keeps the first maxCommandOutput bytes.
type limitedBuffer struct{ b strings.Builder }

func (l *limitedBuffer) Write(p []byte) (int, error) {
	if room := maxCommandOutput - l.b.Len(); room > 0 {
		l.b.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

// maxHostChecks bounds the host names one report resolves: a user's
// supervisor, which root's doctor asks for them, is the user's.
const maxHostChecks = 64

// hostChecks resolves each declared host: it should lead to this machine.
// Only valid host names are looked up.
func hostChecks(ctx context.Context, r *Report, o Options, hosts []string) {
	local := localAddrs()
	seen := map[string]bool{}
	for _, h := range hosts {
		h, err := config.CheckHost(h)
		if err != nil || seen[h] {
			continue // the master leaves an invalid host out and says so
		}
		if len(seen) == maxHostChecks {
			r.add("hosts", Info, fmt.Sprintf("more than %d host names: the rest are not resolved", maxHostChecks), "")
			break
		}
		seen[h] = true
		if strings.HasPrefix(h, "*.") {
			r.add("host "+h, Info, "a wildcard: DNS needs a matching wildcard record", "")
			continue
		}
		if strings.HasSuffix(h, ".localhost") || h == "localhost" {
			r.add("host "+h, OK, "*.localhost is this machine (RFC 6761)", "")
			continue
		}
		lctx, cancel := context.WithTimeout(ctx, o.Timeout)
		addrs, err := o.LookupHost(lctx, h)
		cancel()
		switch {
		case err != nil:
			r.add("host "+h, Warn, "does not resolve: "+err.Error(), "add an A/AAAA record for it pointing at this machine (or a line in /etc/hosts for a test)")
		case !slices.ContainsFunc(addrs, func(a string) bool { return local[a] }):
			r.add("host "+h, Warn, "resolves to "+strings.Join(addrs, ", ")+", not to an address of this machine", "point its DNS record at this machine, or at the load balancer in front of it")
		default:
			r.add("host "+h, OK, "resolves to "+strings.Join(addrs, ", "), "")
		}
	}
}

func localAddrs() map[string]bool {
	m := map[string]bool{}
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok {
			m[ipn.IP.String()] = true
		}
	}
	return m
}

// platformChecks say which cgroups the machine has and which limits
// roost.toml sets (for user, or the defaults for root's ""), with the v2
// limits of the cgroup process pid is in (0: none looked at); and whether
// git push deploys are on, and for a user whether their repository is
// there. cfg nil: roost.toml could not be read (already reported).
func platformChecks(r *Report, pid int, cfg *config.Master, user, home string) {
	limits := ""
	if cfg != nil {
		l := cfg.Limits
		if user != "" {
			l = cfg.LimitsFor(user)
		}
		limits = "; roost.toml sets no [limits]: nothing is bounded (README: Limit what each user may use)"
		if !l.IsZero() {
			limits = "; roost.toml's limits" + limitsText(l)
		}
	}
	var st unix.Statfs_t
	switch err := unix.Statfs("/sys/fs/cgroup", &st); {
	case err != nil:
		r.add("cgroups", Info, "/sys/fs/cgroup: "+err.Error(), "")
	case st.Type == unix.CGROUP2_SUPER_MAGIC:
		r.add("cgroups", Info, "cgroup v2 (unified)"+limits+cgroupLimits(pid), "")
	default:
		r.add("cgroups", Info, "cgroup v1 or hybrid"+limits, "")
	}
	switch {
	case cfg == nil:
	case !cfg.Deploy.Enabled:
		r.add("deploy", Info, "git push deploys are off ([deploy] enabled = false): projects are put in the project directory by hand", "")
	case user == "":
		r.add("deploy", Info, fmt.Sprintf("git push deploys are on: a push to %s of ~USER/%s deploys (each user runs roost deploy --init once)", cfg.Deploy.Branch, cfg.Deploy.Repo), "")
	default:
		repo := filepath.Join(home, cfg.Deploy.Repo)
		if fi, err := os.Stat(repo); err == nil && fi.IsDir() {
			r.add("deploy", OK, fmt.Sprintf("%s: push %s to it (git remote add roost %s@HOST:%s)", repo, cfg.Deploy.Branch, user, cfg.Deploy.Repo), "")
		} else {
			r.add("deploy", Warn, repo+": no repository yet", "roost deploy --init")
		}
	}
}

// limitsText lists the limits set: " memory_max 512M, pids_max 200".
func limitsText(l config.Limits) string {
	var parts []string
	add := func(key string, v int64, unit string) {
		if v > 0 {
			parts = append(parts, fmt.Sprintf("%s %d%s", key, v, unit))
		}
	}
	add("memory_max", l.MemoryMax>>20, "M")
	add("memory_high", l.MemoryHigh>>20, "M")
	add("pids_max", l.PidsMax, "")
	add("cpu_max", int64(l.CPUMax), "%")
	add("cpu_weight", int64(l.CPUWeight), "")
	add("io_weight", int64(l.IOWeight), "")
	return " " + strings.Join(parts, ", ")
}

// cgroupLimits reads the v2 limits of pid's cgroup: "; in /user.slice/...:
// memory.max max, pids.max 1234, cpu.max max 100000".
func cgroupLimits(pid int) string {
	if pid <= 0 {
		return ""
	}
	raw, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cgroup")
	if err != nil {
		return ""
	}
	path, ok := strings.CutPrefix(strings.TrimSpace(string(raw)), "0::")
	if !ok || strings.Contains(path, "\n") {
		return ""
	}
	var parts []string
	for _, f := range []string{"memory.max", "pids.max", "cpu.max"} {
		if b, err := os.ReadFile(filepath.Join("/sys/fs/cgroup", filepath.Clean("/"+path), f)); err == nil {
			parts = append(parts, f+" "+strings.TrimSpace(string(b)))
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return "; your supervisor's cgroup " + path + ": " + strings.Join(parts, ", ")
}

// User runs a user's checks: their supervisor and its socket, the project
// directory and file, the file's validity with the supervisor's own PORT,
// the ports of the routes, the master's verdict on each route, DNS.
func User(ctx context.Context, o Options, name, home string) *Report {
	o = o.withDefaults()
	r := &Report{As: name}
	runDir, project := config.DefaultRunDir, config.DefaultProject
	cfg, err := config.LoadMaster(o.MasterConfig)
	if err != nil {
		cfg = nil
	}
	if cfg != nil {
		runDir, project = cfg.RunDir, cfg.Project(name)
		if why, ok := listed(cfg, name); ok {
			r.add("listed", OK, why, "")
		} else {
			r.add("listed", Fail, o.MasterConfig+" does not name you in [users] names or groups", "ask root to add you: "+fixListed)
		}
	} else {
		r.add("roost.toml", Warn, err.Error(), "tell root: roost master --check")
	}
	sock := os.Getenv("ROOST_SOCKET")
	if sock == "" {
		sock = filepath.Join(runDir, "users", name, master.SocketName)
	}
	sup, env, err := supervisorOf(ctx, o, sock)
	if err != nil {
		r.add("supervisor", Fail, sock+": "+err.Error(), "ask root to run roost doctor: the master may be stopped, or you are not listed in roost.toml")
	} else {
		r.add("supervisor", OK, fmt.Sprintf("%s answers: %s (pid %d)", sock, sup.StateName, sup.PID), "")
	}

	dir := project
	if !filepath.IsAbs(dir) {
		dir = filepath.Join(home, project)
	}
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		r.add("project", Fail, dir+": no such directory", "mkdir -p "+dir+" and put your supervisord.conf in it")
		platformChecks(r, sup.PID, cfg, name, home)
		return r
	}
	r.add("project", OK, dir, "")
	file := filepath.Join(dir, "supervisord.conf")
	if _, err := os.Stat(file); err != nil {
		r.add("supervisord.conf", Fail, file+": not found", "put your supervisord.conf (its [program:x] sections) in "+dir)
		platformChecks(r, sup.PID, cfg, name, home)
		return r
	}
	opts := config.LoadOptions{Dir: dir}
	if env != nil {
		opts.Env = env // the supervisor's: PORT and ROOST_PORT_* as the master set them
	}
	// What the supervisor runs: the file and the user's services (roost
	// service add), as roost run and roost check load them.
	if _, err := config.Load(file, service.WithServices(home, opts)); err != nil {
		r.add("supervisord.conf", Fail, err.Error(), "fix the line named; roost check validates the file")
	} else {
		r.add("supervisord.conf", OK, file+": valid", "")
	}
	if sup.PID != 0 {
		info, err := proxyOf(ctx, o, sock)
		if err != nil {
			r.add("routes", Warn, err.Error(), "")
		} else {
			hosts := routeChecks(r, info, env)
			hostChecks(ctx, r, o, hosts)
		}
	}
	platformChecks(r, sup.PID, cfg, name, home)
	return r
}

// listed says why roost.toml gives name a supervisor, if it does.
func listed(cfg *config.Master, name string) (string, bool) {
	if slices.Contains(cfg.Users.Names, name) {
		return "[users] names lists you", true
	}
	u, err := user.Lookup(name)
	if err != nil {
		return "", false
	}
	gids, _ := u.GroupIds()
	for _, g := range cfg.Users.Groups {
		if grp, err := user.LookupGroup(g); err == nil && slices.Contains(gids, grp.Gid) {
			return "you are in group " + g + ", which [users] groups lists", true
		}
	}
	return "", false
}

// supervisorOf asks the supervisor on sock who it is and reads its
// environment (the caller's own process: /proc/PID/environ is readable).
func supervisorOf(ctx context.Context, o Options, sock string) (api.SupervisorInfo, []string, error) {
	cl, err := api.Dial(sock)
	if err != nil {
		return api.SupervisorInfo{}, nil, err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	sup, err := cl.Supervisor(ctx)
	if err != nil {
		return sup, nil, err
	}
	raw, err := os.ReadFile("/proc/" + strconv.Itoa(sup.PID) + "/environ")
	if err != nil {
		return sup, nil, nil
	}
	var env []string
	for _, kv := range strings.Split(string(raw), "\x00") {
		if kv != "" {
			env = append(env, kv)
		}
	}
	return sup, env, nil
}

// routeChecks checks each route's upstream ports against the user's block
// and reports the master's verdict; it returns the routes' hosts.
func routeChecks(r *Report, info api.ProxyInfo, env []string) []string {
	if len(info.Routes) == 0 {
		r.add("routes", Info, "no [proxy:NAME] section: nothing is routed through nginx", "")
		return nil
	}
	base, count := envInt(env, "ROOST_PORT_BASE"), envInt(env, "ROOST_PORT_COUNT")
	var hosts []string
	for _, rt := range info.Routes {
		hosts = append(hosts, rt.Hosts...)
		name := "[" + rt.Section + "]"
		for _, up := range rt.Upstreams {
			_, p, err := net.SplitHostPort(up)
			port, perr := strconv.Atoi(p)
			if err != nil || perr != nil || count == 0 {
				continue
			}
			if port < base || port >= base+count {
				r.add(name+" ports", Fail, fmt.Sprintf("upstream %s is outside your block %d-%d", up, base, base+count-1), "read the port from %(ENV_PORT)s or $PORT, not a fixed number")
			}
		}
		verdict := verdictOf(info.Status, rt.Section)
		switch {
		case verdict == nil:
			r.add(name, Warn, "the master has not judged it yet", "wait a second and run roost doctor again; roost proxy")
		case verdict.Served:
			r.add(name, OK, "served: "+strings.Join(rt.Hosts, ", ")+" -> "+strings.Join(verdict.Upstreams, ", "), "")
		default:
			r.add(name, Fail, "not served: "+strings.Join(verdict.Problems, "; "), "fix what is named; the master reads the file again when you save it")
		}
	}
	return hosts
}

func verdictOf(st *api.ProxyStatus, section string) *api.ProxyRouteStatus {
	if st == nil {
		return nil
	}
	for i := range st.Routes {
		if st.Routes[i].Section == section {
			return &st.Routes[i]
		}
	}
	return nil
}

func envInt(env []string, key string) int {
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, key+"="); ok {
			n, _ := strconv.Atoi(v)
			return n
		}
	}
	return 0
}
