package export

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"roost/cronjobs"
	"roost/internal/testutil"
)

// writeUnits exports p into a directory for systemd-analyze: commands
// named without a path resolve to fake executables there, absolute ones
// missing on this machine (a postgres of another version) are pointed at
// one too.
func writeUnits(t *testing.T, p project, user bool) (dir string, files []string) {
	t.Helper()
	dir = t.TempDir()
	bin := filepath.Join(dir, "bin")
	if err := os.Mkdir(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	fake := func(name string) string {
		path := filepath.Join(bin, filepath.Base(name))
		if err := os.WriteFile(path, []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		return path
	}
	in := load(t, p)
	opt := SystemdOptions{User: user, LookPath: func(n string) (string, error) { return fake(n), nil }}
	if !user {
		opt.RunAs = testutil.RequireUser(t, "roost-alice").Name
	}
	out, _, err := Systemd(in, opt)
	if err != nil {
		t.Fatal(err)
	}
	units := filepath.Join(dir, "units")
	os.Mkdir(units, 0o755)
	for _, f := range out {
		data := string(f.Data)
		for _, line := range strings.Split(data, "\n") {
			cmd, ok := strings.CutPrefix(line, "ExecStart=")
			if !ok {
				continue
			}
			argv0, _, _ := strings.Cut(cmd, " ")
			if _, err := os.Stat(argv0); err != nil {
				data = strings.Replace(data, "ExecStart="+argv0, "ExecStart="+fake(argv0), 1)
			}
		}
		path := filepath.Join(units, f.Name)
		if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
		files = append(files, path)
	}
	return units, files
}

// The units of every project pass systemd-analyze verify, as system units
// (User=roost-alice) and as user units.
func TestSystemdVerify(t *testing.T) {
	analyze := testutil.RequireBinary(t, "systemd-analyze")
	testutil.RequireRoot(t) // User= names roost-alice; verify as root reads it
	for _, p := range projects {
		for _, user := range []bool{false, true} {
			t.Run(p.name+"/user="+strconv.FormatBool(user), func(t *testing.T) {
				_, files := writeUnits(t, p, user)
				args := []string{"verify"}
				cmd := exec.Command(analyze)
				if user {
					// A user manager needs a runtime directory; verify
					// needs nothing else of a session.
					rt := t.TempDir()
					args = []string{"--user", "verify"}
					cmd.Env = append(os.Environ(), "XDG_RUNTIME_DIR="+rt)
				}
				cmd.Args = append(append(cmd.Args, args...), files...)
				out, err := cmd.CombinedOutput()
				if err != nil || len(strings.TrimSpace(string(out))) > 0 {
					t.Errorf("systemd-analyze %s: %v\n%s", strings.Join(args, " "), err, out)
				}
			})
		}
	}
}

// OnCalendar's events fire exactly when the cron schedule does: checked
// against systemd's own calendar (systemd-analyze calendar) for the next
// runs from a fixed instant, in UTC and in a zone with daylight saving.
func TestOnCalendarMatchesCron(t *testing.T) {
	analyze := testutil.RequireBinary(t, "systemd-analyze")
	const runs = 12
	base := time.Date(2026, 3, 20, 10, 7, 0, 0, time.UTC)
	for _, zone := range []string{"UTC", "Europe/Paris"} {
		for _, spec := range []string{
			"15 3 * * *",
			"*/10 * * * *",
			"30 8 1,15 * mon-fri", // vixie cron's OR: two events
			"0 0 * * 0",
			"0 9-17/2 * * 1-5",
			"5,35 */6 1-7 jan,jun,dec *",
			"0 12 29 2 *", // UTC only: cronjobs' Next walks years of a DST zone slowly
			"59 23 31 * 7",
			"@weekly",
			"@monthly",
			"0 0 13 * fri",
		} {
			if spec == "0 12 29 2 *" && zone != "UTC" {
				continue
			}
			f, err := cronjobs.Parse("cron", []byte("CRON_TZ="+zone+"\n"+spec+" true\n"))
			if err != nil {
				t.Fatalf("%s: %v", spec, err)
			}
			j := f.Jobs[0]
			fields, ok := j.Fields()
			if !ok {
				t.Fatalf("%s: no fields", spec)
			}
			events := OnCalendar(fields, j.Location)
			var want []time.Time
			for at := base; len(want) < runs; {
				at = j.Schedule.Next(at)
				want = append(want, at.UTC())
			}
			cmd := exec.Command(analyze, append([]string{"calendar", "--iterations=" + strconv.Itoa(runs), "--base-time=@" + strconv.FormatInt(base.Unix(), 10)}, events...)...)
			cmd.Env = append(os.Environ(), "TZ=UTC")
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Errorf("%s (%s): systemd-analyze calendar %q: %v\n%s", spec, zone, events, err, out)
				continue
			}
			got := elapses(t, string(out))
			if len(got) < runs || !slices.Equal(got[:runs], want) {
				t.Errorf("%s (%s) as %q:\n systemd %v\n cron    %v", spec, zone, events, got, want)
			}
		}
	}
}

// elapses reads the times systemd-analyze calendar prints, for all its
// events, sorted and without repeats.
func elapses(t *testing.T, out string) []time.Time {
	var ts []time.Time
	for _, line := range strings.Split(out, "\n") {
		line = strings.TrimSpace(line)
		_, v, ok := strings.Cut(line, ": ")
		if !ok || !(strings.HasPrefix(line, "Next elapse:") || strings.HasPrefix(line, "Iter. #")) {
			continue
		}
		at, err := time.Parse("Mon 2006-01-02 15:04:05 MST", v)
		if err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		ts = append(ts, at.UTC())
	}
	slices.SortFunc(ts, func(a, b time.Time) int { return a.Compare(b) })
	return slices.CompactFunc(ts, func(a, b time.Time) bool { return a.Equal(b) })
}
