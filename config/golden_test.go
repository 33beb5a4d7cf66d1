package config

import (
	"encoding/json"
	"errors"
	"os"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// The golden tests: every directory under testdata/golden holds a
// supervisord.conf (with its includes), expected.json — what the real
// supervisord 4.2.5 parser resolved it to, written by testdata/goldens.py —
// and optionally case.json, this test's own expectations:
//
//	error_at        where roost's error must point ("file:line", or "file")
//	error_key       the key that error names
//	roost_stricter  why roost rejects a file supervisord accepts
//	roost_lenient   why roost accepts (with a warning at warnings_at) a
//	                file supervisord rejects
//	warnings_at     positions roost must warn at
//	env             extra environment for both parsers
//	roost_env       variables roost adds to a process's environment= by
//	                design, by process name: the PORT of a program behind
//	                a [proxy:*] section (config/ports.go), which
//	                supervisord passes on from its own environment instead
//
// A valid case must load and convert to exactly the golden JSON (paths
// under the case directory are written "@CASE" on both sides). An invalid
// one must fail with a *Error naming error_at.

const goldenHost = "roost-test-host"

type goldenCase struct {
	Description   string            `json:"description"`
	Env           map[string]string `json:"env"`
	ErrorAt       string            `json:"error_at"`
	ErrorKey      string            `json:"error_key"`
	RoostStricter string            `json:"roost_stricter"`
	RoostLenient  string            `json:"roost_lenient"`
	WarningsAt    []string          `json:"warnings_at"`
	RoostEnv      map[string][]any  `json:"roost_env"`
}

func readJSON(t *testing.T, path string, v any) bool {
	t.Helper()
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return false
	}
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return true
}

func goldenEnv(t *testing.T, extra map[string]string) []string {
	t.Helper()
	env := map[string]string{}
	readJSON(t, filepath.Join("testdata", "golden", "env.json"), &env)
	for k, v := range extra {
		env[k] = v
	}
	var out []string
	for k, v := range env {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}

func TestGolden(t *testing.T) {
	dirs, err := filepath.Glob(filepath.Join("testdata", "golden", "*", "supervisord.conf"))
	if err != nil {
		t.Fatal(err)
	}
	valid, invalid := 0, 0
	for _, conf := range dirs {
		dir, err := filepath.Abs(filepath.Dir(conf))
		if err != nil {
			t.Fatal(err)
		}
		name := filepath.Base(dir)
		var spec goldenCase
		readJSON(t, filepath.Join(dir, "case.json"), &spec)
		var golden map[string]any
		if !readJSON(t, filepath.Join(dir, "expected.json"), &golden) {
			t.Fatalf("%s: no expected.json; run go generate ./config/", name)
		}
		_, supErr := golden["error"]
		_, ctlErr := golden["ctl_error"]
		wantErr := supErr || ctlErr || spec.RoostStricter != ""
		if spec.RoostLenient != "" {
			wantErr = false
		}
		if wantErr {
			invalid++
		} else {
			valid++
		}
		t.Run(name, func(t *testing.T) {
			cfg, err := Load(filepath.Join(dir, "supervisord.conf"), LoadOptions{
				Env: goldenEnv(t, spec.Env), Hostname: goldenHost, Dir: dir,
			})
			if wantErr {
				checkGoldenError(t, spec, golden, err)
				return
			}
			if err != nil {
				t.Fatalf("supervisord accepts this file (or roost means to: %q), roost says:\n%v", spec.RoostLenient, err)
			}
			if spec.RoostLenient != "" {
				checkGoldenWarnings(t, spec, cfg)
				return
			}
			got := toGolden(t, cfg, dir)
			want := map[string]any{}
			for k, v := range golden {
				if k != "warnings" {
					want[k] = v
				}
			}
			addRoostEnv(want, spec.RoostEnv)
			if d := cmp.Diff(want, got); d != "" {
				t.Errorf("roost's result differs from supervisord's (-supervisord +roost):\n%s", d)
			}
			if ws, _ := golden["warnings"].([]any); len(ws) > 0 && len(cfg.Warnings) == 0 {
				t.Errorf("supervisord warns %v; roost does not warn", ws)
			}
			checkGoldenWarnings(t, spec, cfg)
		})
	}
	if valid < 25 || invalid < 15 || valid+invalid < 40 {
		t.Errorf("want at least 40 golden configs with at least 15 invalid ones, have %d valid and %d invalid", valid, invalid)
	}
}

// checkGoldenWarnings checks that roost warns at every position of
// warnings_at.
func checkGoldenWarnings(t *testing.T, spec goldenCase, cfg *Config) {
	t.Helper()
	for _, at := range spec.WarningsAt {
		found := false
		for _, w := range cfg.Warnings {
			found = found || w.Pos.String() == at
		}
		if !found {
			t.Errorf("no warning at %s; warnings:\n%s", at, diagLines(cfg.Warnings))
		}
	}
}

// addRoostEnv appends what roost adds by design to the environment of the
// golden's processes.
func addRoostEnv(golden map[string]any, add map[string][]any) {
	groups, _ := golden["groups"].([]any)
	for _, g := range groups {
		procs, _ := g.(map[string]any)["processes"].([]any)
		for _, p := range procs {
			pm := p.(map[string]any)
			name, _ := pm["name"].(string)
			if extra, ok := add[name]; ok {
				env, _ := pm["environment"].([]any)
				pm["environment"] = append(env, extra...)
			}
		}
	}
}

func diagLines(ds []Diagnostic) string {
	var b strings.Builder
	for _, d := range ds {
		b.WriteString("  " + d.String() + "\n")
	}
	return b.String()
}

func checkGoldenError(t *testing.T, spec goldenCase, golden map[string]any, err error) {
	t.Helper()
	_, supErr := golden["error"]
	if spec.RoostStricter != "" && supErr {
		t.Fatalf("case.json says roost is stricter, but supervisord rejects the file too: %v", golden["error"])
	}
	if spec.ErrorAt == "" {
		t.Fatalf("case.json must say where the error is (error_at); supervisord says: %v", golden["error"])
	}
	var cerr *Error
	if !errors.As(err, &cerr) {
		t.Fatalf("want a *config.Error at %s (supervisord: %v), got %v", spec.ErrorAt, golden["error"], err)
	}
	for _, d := range cerr.Diagnostics {
		if d.Pos.String() == spec.ErrorAt && (spec.ErrorKey == "" || d.Key == spec.ErrorKey) {
			t.Logf("roost: %s\nsupervisord: %v", d, golden["error"])
			return
		}
	}
	t.Errorf("want an error at %s (key %q); roost says:\n%v\nsupervisord says: %v", spec.ErrorAt, spec.ErrorKey, err, golden["error"])
}

// toGolden converts roost's model into the JSON shape goldens.py writes.
func toGolden(t *testing.T, c *Config, dir string) map[string]any {
	t.Helper()
	null := func(s string) any {
		if s == "" {
			return nil
		}
		return s
	}
	s := c.Supervisord
	out := map[string]any{
		"supervisord": map[string]any{
			"logfile": s.Logfile, "logfile_maxbytes": s.LogfileMaxBytes, "logfile_backups": s.LogfileBackups,
			"loglevel": s.LogLevel, "pidfile": s.Pidfile, "umask": s.Umask, "nodaemon": s.Nodaemon,
			"silent": s.Silent, "minfds": s.Minfds, "minprocs": s.Minprocs, "nocleanup": s.Nocleanup,
			"childlogdir": s.Childlogdir, "user": null(s.User), "directory": null(s.Directory),
			"strip_ansi": s.StripANSI, "environment": envPairs(s.Environment), "identifier": s.Identifier,
		},
		"rpcinterfaces":    append([]string{}, c.RPCInterfaces...),
		"unix_http_server": nil,
		"inet_http_server": nil,
		"supervisorctl":    nil,
	}
	groups := []any{}
	for _, g := range c.Groups {
		procs := []any{}
		for _, p := range g.Processes {
			umask := any(p.Umask)
			if p.Umask < 0 {
				umask = nil
			}
			var uname any
			if p.User != "" {
				uname = userName(t, p.User)
			}
			procs = append(procs, map[string]any{
				"name": p.Name, "program": p.Program, "command": p.Command, "argv": p.Argv,
				"directory": null(p.Directory), "umask": umask, "priority": p.Priority,
				"autostart": p.Autostart, "autorestart": p.Autorestart.String(),
				"startsecs": int(p.StartSecs.Seconds()), "startretries": p.StartRetries,
				"stopsignal": int(p.StopSignal), "stopwaitsecs": int(p.StopWaitSecs.Seconds()),
				"stopasgroup": p.StopAsGroup, "killasgroup": p.KillAsGroup, "exitcodes": p.ExitCodes,
				"user": uname, "redirect_stderr": p.RedirectStderr,
				"stdout": logGolden(p.Stdout), "stderr": logGolden(p.Stderr),
				"environment": envPairs(p.Environment), "serverurl": null(p.ServerURL),
			})
		}
		gm := map[string]any{"name": g.Name, "priority": g.Priority, "kind": string(g.Kind), "processes": procs}
		if g.Listener != nil {
			gm["listener"] = map[string]any{"buffer_size": g.Listener.BufferSize, "events": g.Listener.Events, "result_handler": g.Listener.ResultHandler}
		}
		if g.FCGI != nil {
			gm["fcgi"] = map[string]any{"url": g.FCGI.URL, "backlog": g.FCGI.Backlog}
		}
		groups = append(groups, gm)
	}
	out["groups"] = groups
	if u := c.UnixHTTPServer; u != nil {
		chown := []any{nil, nil}
		if u.Chown != "" {
			usr, grp, hasGroup := strings.Cut(u.Chown, ":")
			chown[0] = userName(t, usr)
			if hasGroup {
				chown[1] = groupName(t, grp)
			}
		}
		out["unix_http_server"] = map[string]any{"file": u.File, "chmod": u.Chmod, "chown": chown, "username": null(u.Username), "password": null(u.Password)}
	}
	if in := c.InetHTTPServer; in != nil {
		host, port := "", in.Port
		if i := strings.LastIndexByte(in.Port, ':'); i >= 0 {
			host, port = strings.ToLower(in.Port[:i]), in.Port[i+1:]
		}
		if host == "*" {
			host = ""
		}
		n, _ := strconv.Atoi(strings.TrimSpace(port))
		out["inet_http_server"] = map[string]any{"host": host, "port": n, "username": null(in.Username), "password": null(in.Password)}
	}
	if ctl := c.Supervisorctl; ctl != nil {
		out["supervisorctl"] = map[string]any{"serverurl": ctl.ServerURL, "username": null(ctl.Username), "password": null(ctl.Password), "prompt": ctl.Prompt, "history_file": null(ctl.HistoryFile)}
	}
	data, err := json.Marshal(out)
	if err != nil {
		t.Fatal(err)
	}
	text := strings.ReplaceAll(string(data), dir, "@CASE")
	var back map[string]any
	if err := json.Unmarshal([]byte(text), &back); err != nil {
		t.Fatal(err)
	}
	return back
}

func envPairs(e Environment) []any {
	out := []any{}
	for _, kv := range e {
		out = append(out, []any{kv.Name, kv.Value})
	}
	return out
}

func logGolden(l LogConfig) map[string]any {
	var file any
	if l.File != "" {
		file = l.File
	}
	return map[string]any{"file": file, "auto": l.Auto, "maxbytes": l.MaxBytes, "backups": l.Backups,
		"capture_maxbytes": l.CaptureMaxBytes, "events_enabled": l.EventsEnabled, "syslog": l.Syslog}
}

func userName(t *testing.T, s string) string {
	t.Helper()
	u, err := user.Lookup(s)
	if _, nerr := strconv.Atoi(s); nerr == nil {
		u, err = user.LookupId(s)
	}
	if err != nil {
		t.Fatalf("user %s: %v", s, err)
	}
	return u.Username
}

func groupName(t *testing.T, s string) string {
	t.Helper()
	g, err := user.LookupGroup(s)
	if _, nerr := strconv.Atoi(s); nerr == nil {
		g, err = user.LookupGroupId(s)
	}
	if err != nil {
		t.Fatalf("group %s: %v", s, err)
	}
	return g.Name
}
