package cronjobs

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	_ "time/tzdata" // the zone tests must not depend on the machine's tzdata

	"github.com/google/go-cmp/cmp"
)

// base is where the schedule expectations start: Thursday 2026-01-01 00:00 UTC.
var base = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// nextRuns lists the first n runs after from, in the schedule's zone.
func nextRuns(s Schedule, loc *time.Location, from time.Time, n int) []string {
	var out []string
	for t := from; len(out) < n; {
		t = s.Next(t)
		if t.IsZero() {
			out = append(out, "never")
			break
		}
		out = append(out, t.In(loc).Format("2006-01-02 15:04 MST"))
	}
	return out
}

func mustParse(t *testing.T, text string) *File {
	t.Helper()
	f, err := Parse("cron", []byte(text))
	if err != nil {
		t.Fatalf("Parse(%q): %v", text, err)
	}
	return f
}

func TestParseValidSchedules(t *testing.T) {
	for _, tc := range []struct {
		line string
		spec string
		runs []string // the first runs after base
	}{
		{"*/15 * * * * cmd", "*/15 * * * *", []string{"2026-01-01 00:15 UTC", "2026-01-01 00:30 UTC", "2026-01-01 00:45 UTC"}},
		{"0 9 * * mon-fri cmd", "0 9 * * mon-fri", []string{"2026-01-01 09:00 UTC", "2026-01-02 09:00 UTC", "2026-01-05 09:00 UTC"}},
		{"0 0 * * 7 cmd", "0 0 * * 7", []string{"2026-01-04 00:00 UTC", "2026-01-11 00:00 UTC", "2026-01-18 00:00 UTC"}},
		{"0 0 * * 0 cmd", "0 0 * * 0", []string{"2026-01-04 00:00 UTC", "2026-01-11 00:00 UTC", "2026-01-18 00:00 UTC"}},
		{"0 0 * * 5-7 cmd", "0 0 * * 5-7", []string{"2026-01-02 00:00 UTC", "2026-01-03 00:00 UTC", "2026-01-04 00:00 UTC", "2026-01-09 00:00 UTC"}},
		{"0 0 * * 1-7/2 cmd", "0 0 * * 1-7/2", []string{"2026-01-02 00:00 UTC", "2026-01-04 00:00 UTC", "2026-01-05 00:00 UTC", "2026-01-07 00:00 UTC"}},
		{"0 0 * * SUN,Sat cmd", "0 0 * * SUN,Sat", []string{"2026-01-03 00:00 UTC", "2026-01-04 00:00 UTC", "2026-01-10 00:00 UTC"}},
		{"30 4 1,15 * * cmd", "30 4 1,15 * *", []string{"2026-01-01 04:30 UTC", "2026-01-15 04:30 UTC", "2026-02-01 04:30 UTC"}},
		{"0 0 1 JAN-mar/2 * cmd", "0 0 1 JAN-mar/2 *", []string{"2026-03-01 00:00 UTC", "2027-01-01 00:00 UTC", "2027-03-01 00:00 UTC"}},
		{"0-10/5 8-9 * * * cmd", "0-10/5 8-9 * * *", []string{"2026-01-01 08:00 UTC", "2026-01-01 08:05 UTC", "2026-01-01 08:10 UTC", "2026-01-01 09:00 UTC"}},
		{"59 23 31 dec * cmd", "59 23 31 dec *", []string{"2026-12-31 23:59 UTC", "2027-12-31 23:59 UTC"}},
		{"0 0 29 2 * cmd", "0 0 29 2 *", []string{"2028-02-29 00:00 UTC", "2032-02-29 00:00 UTC"}},
		{"5,10-12,*/30 * * * * cmd", "5,10-12,*/30 * * * *", []string{"2026-01-01 00:05 UTC", "2026-01-01 00:10 UTC", "2026-01-01 00:11 UTC", "2026-01-01 00:12 UTC", "2026-01-01 00:30 UTC", "2026-01-01 01:00 UTC"}},
		{"00 07 * * * cmd", "00 07 * * *", []string{"2026-01-01 07:00 UTC"}},
		// Both day fields restricted: either one matches (Friday the 2nd, the 13th).
		{"0 0 13 * fri cmd", "0 0 13 * fri", []string{"2026-01-02 00:00 UTC", "2026-01-09 00:00 UTC", "2026-01-13 00:00 UTC", "2026-01-16 00:00 UTC"}},
		// vixie cron: a day field starting with '*' is a star, so */2 AND-s
		// with the weekday: odd days that are Mondays.
		{"0 0 */2 * mon cmd", "0 0 */2 * mon", []string{"2026-01-05 00:00 UTC", "2026-01-19 00:00 UTC", "2026-02-09 00:00 UTC"}},
		{"\t 0\t0 *  *\t* cmd", "0 0 * * *", []string{"2026-01-02 00:00 UTC"}},
		{"@hourly cmd", "@hourly", []string{"2026-01-01 01:00 UTC", "2026-01-01 02:00 UTC"}},
		{"@daily cmd", "@daily", []string{"2026-01-02 00:00 UTC", "2026-01-03 00:00 UTC"}},
		{"@midnight cmd", "@midnight", []string{"2026-01-02 00:00 UTC"}},
		{"@weekly cmd", "@weekly", []string{"2026-01-04 00:00 UTC", "2026-01-11 00:00 UTC"}},
		{"@monthly cmd", "@monthly", []string{"2026-02-01 00:00 UTC", "2026-03-01 00:00 UTC"}},
		{"@yearly cmd", "@yearly", []string{"2027-01-01 00:00 UTC"}},
		{"@annually cmd", "@annually", []string{"2027-01-01 00:00 UTC"}},
		{"@every 90s cmd", "@every 90s", []string{"2026-01-01 00:01 UTC", "2026-01-01 00:03 UTC", "2026-01-01 00:04 UTC"}},
		{"@every   1h30m\tcmd", "@every 1h30m", []string{"2026-01-01 01:30 UTC", "2026-01-01 03:00 UTC"}},
		{"@reboot cmd", "@reboot", []string{"never"}},
	} {
		t.Run(tc.line, func(t *testing.T) {
			f := mustParse(t, "CRON_TZ=UTC\n"+tc.line+"\n")
			if len(f.Jobs) != 1 {
				t.Fatalf("got %d jobs, want 1", len(f.Jobs))
			}
			j := f.Jobs[0]
			if j.Spec != tc.spec || j.Command != "cmd" || j.Line != 2 || j.Name != "line-2" {
				t.Errorf("job = {Spec %q, Command %q, Line %d, Name %q}, want {%q, cmd, 2, line-2}", j.Spec, j.Command, j.Line, j.Name, tc.spec)
			}
			if j.Reboot != (tc.spec == "@reboot") {
				t.Errorf("Reboot = %v", j.Reboot)
			}
			if diff := cmp.Diff(tc.runs, nextRuns(j.Schedule, time.UTC, base, len(tc.runs))); diff != "" {
				t.Errorf("runs after %s (-want +got):\n%s", base, diff)
			}
		})
	}
}

func TestParseInvalidLines(t *testing.T) {
	for _, tc := range []struct {
		text string
		want string // the whole first error
	}{
		{"60 * * * * cmd", `cron:1: minute field "60": 60 is out of range 0-59`},
		{"* 24 * * * cmd", `cron:1: hour field "24": 24 is out of range 0-23`},
		{"* * 0 * * cmd", `cron:1: day-of-month field "0": 0 is out of range 1-31`},
		{"* * 32 * * cmd", `cron:1: day-of-month field "32": 32 is out of range 1-31`},
		{"* * * 13 * cmd", `cron:1: month field "13": 13 is out of range 1-12`},
		{"* * * * 8 cmd", `cron:1: day-of-week field "8": 8 is out of range 0-7 (0 and 7 are Sunday)`},
		{"* * * * * * cmd", `cron:1: the command starts with "*", which looks like a sixth time field: cron has five (no seconds field); use @every for intervals under a minute`},
		{"0 30 2 * * * cmd", `cron:1: the command starts with "*", which looks like a sixth time field: cron has five (no seconds field); use @every for intervals under a minute`},
		{"0 0 1 1 * 2027 cmd", `cron:1: the command starts with "2027", which looks like a sixth time field: cron has five (no seconds field); use @every for intervals under a minute`},
		{"*/0 * * * * cmd", `cron:1: minute field "*/0": step must be at least 1, not 0`},
		{"*/61 * * * * cmd", `cron:1: minute field "*/61": step 61 is larger than the whole field (0-59), so it would run only at 0; write 0, or use @every for longer intervals`},
		{"* */25 * * * cmd", `cron:1: hour field "*/25": step 25 is larger than the whole field (0-23), so it would run only at 0; write 0, or use @every for longer intervals`},
		{"5/10 * * * * cmd", `cron:1: minute field "5/10": a step needs a range: write 5-59/10 (or */10)`},
		{"*/x * * * * cmd", `cron:1: minute field "*/x": step "x" is not a number`},
		{"*/2/3 * * * * cmd", `cron:1: minute field "*/2/3": "*/2/3" has more than one '/'`},
		{"30-10 * * * * cmd", `cron:1: minute field "30-10": range 30-10 is backwards: cron ranges do not wrap; write 30-59,0-10`},
		{"1-2-3 * * * * cmd", `cron:1: minute field "1-2-3": "1-2-3" has more than one '-'`},
		{"1,,2 * * * * cmd", `cron:1: minute field "1,,2": empty list item (a ',' with nothing before or after it)`},
		{"1, * * * * cmd", `cron:1: minute field "1,": empty list item (a ',' with nothing before or after it)`},
		{"-5 * * * * cmd", `cron:1: minute field "-5": "-5" is missing a value`},
		{"a * * * * cmd", `cron:1: minute field "a": "a" is not a number`},
		{"? * * * * cmd", `cron:1: minute field "?": '?' is not cron syntax; use '*'`},
		{"* * * foo * cmd", `cron:1: month field "foo": "foo" is not a number or a month name (jan … dec)`},
		{"* * * * monday cmd", `cron:1: day-of-week field "monday": "monday" is not a number or a day name (sun … sat); is a time field missing?`},
		{"* * * * echo hi", `cron:1: day-of-week field "echo": "echo" is not a number or a day name (sun … sat); is a time field missing?`},
		{"* * * * mon-jan cmd", `cron:1: day-of-week field "mon-jan": "jan" is not a number or a day name (sun … sat); is a time field missing?`},
		{"0 0 fri * * cmd", `cron:1: day-of-month field "fri": "fri" is not a number`},
		{"0 0 30 2 * cmd", `cron:1: schedule never fires: day-of-month "30" does not occur in month "2"`},
		{"0 0 31 apr,jun,sep,nov * cmd", `cron:1: schedule never fires: day-of-month "31" does not occur in month "apr,jun,sep,nov"`},
		{"* * * *", `cron:1: expected 5 time fields (minute hour day-of-month month day-of-week) and a command, found 4 field(s)`},
		{"* * * * *   ", `cron:1: missing command after the schedule "* * * * *" (expected 5 time fields (minute hour day-of-month month day-of-week) and a command)`},
		{"0 0 1 1 0 \v", `cron:1: missing command after the schedule "0 0 1 1 0" (expected 5 time fields (minute hour day-of-month month day-of-week) and a command)`},
		{"@fortnightly cmd", `cron:1: unknown schedule "@fortnightly": use five time fields or one of @reboot @yearly @annually @monthly @weekly @daily @midnight @hourly @every DURATION`},
		{"@REBOOT cmd", `cron:1: unknown schedule "@REBOOT": use five time fields or one of @reboot @yearly @annually @monthly @weekly @daily @midnight @hourly @every DURATION`},
		{"@reboot", `cron:1: missing command after @reboot`},
		{"@daily   ", `cron:1: missing command after @daily`},
		{"@every 5m", `cron:1: missing command after @every 5m`},
		{"@every", `cron:1: @every needs a duration, e.g. @every 5m or @every 1h30m`},
		{"@every 5 cmd", `cron:1: @every 5: not a duration: write e.g. 90s, 5m or 1h30m`},
		{"@every 500ms cmd", `cron:1: @every 500ms: the interval must be a whole number of seconds, at least 1s`},
		{"@every 1.5s cmd", `cron:1: @every 1.5s: the interval must be a whole number of seconds, at least 1s`},
		{"@every -1m cmd", `cron:1: @every -1m: the interval must be a whole number of seconds, at least 1s`},
		{"CRON_TZ=Mars/Olympus_Mons", `cron:1: CRON_TZ=Mars/Olympus_Mons: unknown time zone "Mars/Olympus_Mons": use an IANA name such as Europe/Berlin or UTC`},
		{"TZ=../../etc/passwd", `cron:1: TZ=../../etc/passwd: unknown time zone "../../etc/passwd": use an IANA name such as Europe/Berlin or UTC`},
		{"CRON_TZ=Local", `cron:1: CRON_TZ=Local: "Local" is not a zone name: use an IANA name such as Europe/Berlin, or leave the value empty for the supervisor's zone`},
		{"TZ=UTC * * * * * cmd", `cron:1: TZ=UTC * * * * * cmd: a zone name has no spaces; put TZ=ZONE on its own line above the jobs it applies to`},
		{"CRON_TZ=Europe/Berlin 0 3 * * * cmd", `cron:1: CRON_TZ=Europe/Berlin 0 3 * * * cmd: a zone name has no spaces; put CRON_TZ=ZONE on its own line above the jobs it applies to`},
		{"1BAD=x", `cron:1: environment variable name "1BAD" is not valid: use letters, digits and '_', not starting with a digit`},
		{"MY-VAR = x", `cron:1: environment variable name "MY-VAR" is not valid: use letters, digits and '_', not starting with a digit`},
		{"=value", `cron:1: environment line without a name: write NAME=value`},
		{`FOO="unterminated`, `cron:1: the value of FOO starts with " but does not end with it`},
		{`FOO='a' b`, `cron:1: the value of FOO starts with ' but does not end with it`},
		{"* * * * * %only input", `cron:1: missing command before '%' (a '%' starts the command's input; write \% for a literal %)`},
		{"# name: a b\n* * * * * cmd", `cron:1: job name "a b" contains ' ': names cannot contain spaces, control characters, ':' or '/'`},
		{"# name: web:1\n* * * * * cmd", `cron:1: job name "web:1" contains ':': names cannot contain spaces, control characters, ':' or '/'`},
		{"# name: a/b\n* * * * * cmd", `cron:1: job name "a/b" contains '/': names cannot contain spaces, control characters, ':' or '/'`},
		{"# name: ..\n* * * * * cmd", `cron:1: job name ".." is not allowed`},
		{"# name:\n* * * * * cmd", `cron:1: empty job name after "# name:"`},
		{"# name: " + strings.Repeat("x", 129) + "\n* * * * * cmd", `cron:1: job name "` + strings.Repeat("x", 129) + `" is longer than 128 bytes`},
		{"# name: backup\n@daily a\n# name: backup\n@daily b", `cron:4: job name "backup" is already used by the job on line 2`},
		{"@daily a\n# name: line-1\n@daily b", `cron:3: job name "line-1" is already used by the job on line 1`},
		{"@daily a\x00b", `cron:1: line contains a NUL byte`},
	} {
		_, err := Parse("cron", []byte(tc.text))
		var errs Errors
		if !errors.As(err, &errs) || len(errs) == 0 {
			t.Errorf("Parse(%q) = %v, want an Errors", tc.text, err)
			continue
		}
		if got := errs[0].Error(); got != tc.want {
			t.Errorf("Parse(%q):\n got %s\nwant %s", tc.text, got, tc.want)
		}
	}
}

func TestParseReportsEveryError(t *testing.T) {
	text := "# header\n60 * * * * a\nFOO=bar\n* * * * * ok\n@bogus b\nTZ=Nowhere/Land\n"
	f, err := Parse("/home/alice/current/cron", []byte(text))
	if f != nil {
		t.Errorf("Parse returned a file with errors: %+v", f)
	}
	want := "/home/alice/current/cron:2: minute field \"60\": 60 is out of range 0-59\n" +
		"/home/alice/current/cron:5: unknown schedule \"@bogus\": use five time fields or one of @reboot @yearly @annually @monthly @weekly @daily @midnight @hourly @every DURATION\n" +
		"/home/alice/current/cron:6: TZ=Nowhere/Land: unknown time zone \"Nowhere/Land\": use an IANA name such as Europe/Berlin or UTC"
	if err == nil || err.Error() != want {
		t.Errorf("error:\n%v\nwant:\n%s", err, want)
	}
	var errs Errors
	if !errors.As(err, &errs) || len(errs) != 3 || errs[1].Line != 5 {
		t.Errorf("Errors = %#v", errs)
	}
}

func TestParseEnvironment(t *testing.T) {
	text := `# comment
FOO=bar
  BAR = baz  qux   
@daily first
Q="  spaced  "
S='single'
"QN" = quoted name
EMPTY=
E2 = ""
FOO=again
SHELL=/bin/bash
@daily second
`
	f := mustParse(t, text)
	if diff := cmp.Diff([]string{"FOO=bar", "BAR=baz  qux"}, f.Jobs[0].Env); diff != "" {
		t.Errorf("first job env (-want +got):\n%s", diff)
	}
	want := []string{"FOO=again", "BAR=baz  qux", "Q=  spaced  ", "S=single", "QN=quoted name", "EMPTY=", "E2=", "SHELL=/bin/bash"}
	if diff := cmp.Diff(want, f.Jobs[1].Env); diff != "" {
		t.Errorf("second job env (-want +got):\n%s", diff)
	}
	for _, j := range f.Jobs {
		if cap(j.Env) != len(j.Env) {
			t.Errorf("job %s: Env has spare capacity, so appends by two callers would collide", j.Name)
		}
	}
	if f.Jobs[0].Shell() != "/bin/sh" || f.Jobs[1].Shell() != "/bin/bash" {
		t.Errorf("shells = %q, %q", f.Jobs[0].Shell(), f.Jobs[1].Shell())
	}
}

func TestParseZones(t *testing.T) {
	text := `@daily local
TZ=Asia/Tokyo
0 12 * * * tokyo
CRON_TZ=America/New_York
0 12 * * * newyork
CRON_TZ=
0 12 * * * tokyo-again
TZ=:UTC
0 12 * * * utc
`
	f := mustParse(t, text)
	for i, want := range []struct {
		zone string
		next string // after base, in UTC
		env  []string
	}{
		{"Local", "", nil},
		{"Asia/Tokyo", "2026-01-01 03:00 UTC", []string{"TZ=Asia/Tokyo"}},
		{"America/New_York", "2026-01-01 17:00 UTC", []string{"TZ=Asia/Tokyo", "CRON_TZ=America/New_York"}},
		{"Asia/Tokyo", "2026-01-01 03:00 UTC", []string{"TZ=Asia/Tokyo", "CRON_TZ="}},
		{"UTC", "2026-01-01 12:00 UTC", []string{"TZ=:UTC", "CRON_TZ="}},
	} {
		j := f.Jobs[i]
		if j.Location.String() != want.zone {
			t.Errorf("%s: zone %s, want %s", j.Command, j.Location, want.zone)
		}
		if want.next != "" {
			if got := j.Schedule.Next(base).UTC().Format("2006-01-02 15:04 MST"); got != want.next {
				t.Errorf("%s: next %s, want %s", j.Command, got, want.next)
			}
		}
		if diff := cmp.Diff(want.env, j.Env); diff != "" {
			t.Errorf("%s: env (-want +got):\n%s", j.Command, diff)
		}
	}
}

func TestParsePercent(t *testing.T) {
	for _, tc := range []struct{ in, cmd, stdin string }{
		{`echo hi`, `echo hi`, ``},
		{`mail -s hi bob%Dear Bob,%%Bye`, `mail -s hi bob`, "Dear Bob,\n\nBye\n"},
		{`date +\%Y-\%m-\%d`, `date +%Y-%m-%d`, ``},
		{`cat%50\% done%`, `cat`, "50% done\n"},
		{`printf 'a\tb'`, `printf 'a\tb'`, ``},
		{`echo \\%in`, `echo \\`, "in\n"},
		{`cat %a\b`, `cat `, "a\\b\n"},
		{`cat %a\\%b`, `cat `, "a\\%b\n"},
		{`cat %end\`, `cat `, "end\\\n"},
		{`cat %x%\`, `cat `, "x\n\\"},
		{`cat %`, `cat `, ``},
	} {
		cmd, stdin := splitPercent(tc.in)
		if cmd != tc.cmd || stdin != tc.stdin {
			t.Errorf("splitPercent(%q) = %q, %q; want %q, %q", tc.in, cmd, stdin, tc.cmd, tc.stdin)
		}
	}
	j := mustParse(t, "* * * * * sort -r %b%a%c\n").Jobs[0]
	if j.Command != "sort -r " || j.Stdin != "b\na\nc\n" {
		t.Errorf("job command %q stdin %q", j.Command, j.Stdin)
	}
}

func TestParseNames(t *testing.T) {
	text := `# name: backup
# dumps the database every night
MAILTO=""
30 2 * * * backup.sh

@hourly unnamed
#name:rotate
# Name: not-a-name
@weekly rotate.sh
# name: disabled
# 0 4 * * * not-today.sh

# name: last
`
	f := mustParse(t, text)
	var names []string
	for _, j := range f.Jobs {
		names = append(names, j.Name)
	}
	if diff := cmp.Diff([]string{"backup", "line-6", "rotate"}, names); diff != "" { // "# Name:" does not rename
		t.Errorf("names (-want +got):\n%s", diff)
	}
	want := []string{
		`cron:3: MAILTO is ignored: roost sends no mail; job output goes to the job's log`,
		`cron:8: "# Name: not-a-name" is an ordinary comment: a job name comment is spelled "# name: NAME" in lower case`,
		`cron:10: "# name: disabled" names no job: put it directly above the job line (comments and NAME=value lines may come between, blank lines may not)`,
		`cron:13: "# name: last" names no job: put it directly above the job line (comments and NAME=value lines may come between, blank lines may not)`,
	}
	var got []string
	for _, w := range f.Warnings {
		got = append(got, w.Error())
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("warnings (-want +got):\n%s", diff)
	}
}

func TestParseLineEndings(t *testing.T) {
	f := mustParse(t, "@daily a\r\n@daily b\r\n@daily c")
	if len(f.Jobs) != 3 || f.Jobs[0].Command != "a" || f.Jobs[2].Command != "c" || f.Jobs[2].Line != 3 {
		t.Errorf("jobs = %+v", f.Jobs)
	}
	if f := mustParse(t, ""); len(f.Jobs) != 0 {
		t.Errorf("empty file has jobs")
	}
}

func TestParseFile(t *testing.T) {
	dir := t.TempDir()
	if _, err := ParseFile(filepath.Join(dir, "cron")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v, want fs.ErrNotExist", err)
	}
	if _, err := ParseFile(dir); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("directory: %v", err)
	}
	big := filepath.Join(dir, "big")
	if err := os.WriteFile(big, []byte(strings.Repeat("# padding\n", MaxFileSize/10+1)), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ParseFile(big); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("big file: %v", err)
	}
	good := filepath.Join(dir, "cron")
	if err := os.WriteFile(good, []byte("# name: hello\n@hourly echo hello\n60 * * * * bad\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := ParseFile(good)
	if err == nil || err.Error() != good+":3: minute field \"60\": 60 is out of range 0-59" {
		t.Errorf("ParseFile error = %v", err)
	}
}

// robfig/cron panics on some TZ= specs; the guard must turn that into an error.
func TestRobfigPanicGuard(t *testing.T) {
	for _, spec := range []string{"TZ=UTC", "CRON_TZ="} {
		if _, err := robfigParse(spec); err == nil || !strings.Contains(err.Error(), "cron parser failed") {
			t.Errorf("robfigParse(%q) = %v, want a recovered panic", spec, err)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, seed := range []string{
		"# name: backup\nMAILTO=\"\"\n30 2 * * 1-5 backup.sh %in%put\n",
		"CRON_TZ=America/New_York\n@daily a\nTZ=UTC\n*/5 * * * * b\n",
		"@every 1h30m c\n@reboot d\n0 0 29 feb * e\n",
		"0 0 13 * fri f\n0 0 */2 * mon g\n0 0 * * 7 h\n",
		"TZ=UTC * * * * * x\n", "CRON_TZ=", "* * * * * a\\%b%c\\\n", "5/10 * * * * x",
	} {
		f.Add([]byte(seed))
	}
	from := time.Date(2026, 3, 8, 1, 59, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := Parse("cron", data)
		if err != nil {
			var errs Errors
			if !errors.As(err, &errs) || len(errs) == 0 {
				t.Fatalf("error is not a non-empty Errors: %v", err)
			}
			lines := strings.Count(string(data), "\n") + 1
			for _, e := range errs {
				if e.File != "cron" || e.Line < 1 || e.Line > lines || e.Message == "" {
					t.Fatalf("bad error %#v (file has %d lines)", e, lines)
				}
			}
			return
		}
		seen := map[string]bool{}
		for _, j := range file.Jobs {
			if validName(j.Name) != nil || seen[j.Name] {
				t.Fatalf("bad or duplicate name %q", j.Name)
			}
			seen[j.Name] = true
			if j.Schedule == nil || j.Location == nil || strings.TrimSpace(j.Command) == "" {
				t.Fatalf("incomplete job %+v", j)
			}
			next := j.Schedule.Next(from)
			if j.Reboot != next.IsZero() {
				t.Fatalf("job %q (%s): next %v after %v", j.Name, j.Spec, next, from)
			}
			if !j.Reboot && !next.After(from) {
				t.Fatalf("job %q (%s): next %v is not after %v", j.Name, j.Spec, next, from)
			}
		}
	})
}
