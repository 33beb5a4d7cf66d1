package cronjobs

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/robfig/cron/v3"
)

func zone(t testing.TB, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

func schedule(t testing.TB, spec string, loc *time.Location) *cronSchedule {
	t.Helper()
	var fields [5]string
	if copy(fields[:], strings.Fields(spec)) != 5 {
		t.Fatalf("spec %q does not have 5 fields", spec)
	}
	s, err := newCronSchedule(fields, loc)
	if err != nil {
		t.Fatalf("newCronSchedule(%q): %v", spec, err)
	}
	return s
}

// The DST rules, spelled out on New York's 2026 transitions: clocks jump
// from 02:00 EST to 03:00 EDT on March 8 and fall back from 02:00 EDT to
// 01:00 EST on November 1.
func TestNextDST(t *testing.T) {
	ny := zone(t, "America/New_York")
	spring := time.Date(2026, 3, 8, 0, 10, 0, 0, ny)
	fall := time.Date(2026, 11, 1, 0, 10, 0, 0, ny)
	for _, tc := range []struct {
		spec string
		from time.Time
		want []string
	}{
		// A fixed time in the gap runs once, when the gap ends (vixie cron;
		// robfig/cron would skip the day).
		{"30 2 * * *", spring, []string{"03-08 03:00 EDT", "03-09 02:30 EDT", "03-10 02:30 EDT"}},
		{"0 2 * * *", spring, []string{"03-08 03:00 EDT", "03-09 02:00 EDT"}},
		// Two fixed times in one gap still run once.
		{"15,45 2 * * *", spring, []string{"03-08 03:00 EDT", "03-09 02:15 EDT", "03-09 02:45 EDT"}},
		// Fixed times around the gap are untouched.
		{"59 1 * * *", spring, []string{"03-08 01:59 EST", "03-09 01:59 EDT"}},
		{"0 3 * * *", spring, []string{"03-08 03:00 EDT", "03-09 03:00 EDT"}},
		// Wildcard jobs follow real time: nothing is made up for the gap.
		{"*/30 * * * *", spring, []string{"03-08 00:30 EST", "03-08 01:00 EST", "03-08 01:30 EST", "03-08 03:00 EDT", "03-08 03:30 EDT"}},
		{"30 * * * *", spring, []string{"03-08 00:30 EST", "03-08 01:30 EST", "03-08 03:30 EDT"}},
		{"* 2 * * *", spring, []string{"03-09 02:00 EDT", "03-09 02:01 EDT"}},
		// A fixed time in the repeated hour runs at its first occurrence only.
		{"30 1 * * *", fall, []string{"11-01 01:30 EDT", "11-02 01:30 EST"}},
		{"0 1 * * *", fall, []string{"11-01 01:00 EDT", "11-02 01:00 EST"}},
		{"0 2 * * *", fall, []string{"11-01 02:00 EST", "11-02 02:00 EST"}},
		// Wildcard jobs run through the repeated hour again: hourly stays hourly.
		{"0 * * * *", fall, []string{"11-01 01:00 EDT", "11-01 01:00 EST", "11-01 02:00 EST"}},
		{"*/20 1 * * *", fall, []string{"11-01 01:00 EDT", "11-01 01:20 EDT", "11-01 01:40 EDT", "11-01 01:00 EST", "11-01 01:20 EST", "11-01 01:40 EST", "11-02 01:00 EST"}},
	} {
		s := schedule(t, tc.spec, ny)
		var got []string
		for x := tc.from; len(got) < len(tc.want); {
			x = s.Next(x)
			got = append(got, x.Format("01-02 15:04 MST"))
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("%q from %s (-want +got):\n%s", tc.spec, tc.from.Format("01-02 15:04 MST"), diff)
		}
	}
	// Asking again from inside the repeated hour does not rerun a fixed job.
	s := schedule(t, "30 1 * * *", ny)
	secondPass := time.Date(2026, 11, 1, 6, 10, 0, 0, time.UTC) // 01:10 EST
	if got := s.Next(secondPass).Format("01-02 15:04 MST"); got != "11-02 01:30 EST" {
		t.Errorf("from 01:10 EST: next %s, want 11-02 01:30 EST", got)
	}
}

// runsBetween is an independent, minute-by-minute statement of the rules in
// cronSchedule's doc: every run in [from, to).
func runsBetween(s *cronSchedule, from, to time.Time) []time.Time {
	matches := func(c time.Time) bool {
		return s.minute&(1<<c.Minute()) != 0 && s.hour&(1<<c.Hour()) != 0 && s.month&(1<<int(c.Month())) != 0 && s.dayMatches(c)
	}
	civilOf := func(t time.Time) time.Time {
		_, off := t.In(s.loc).Zone()
		return wall(t.Unix(), off)
	}
	var runs []time.Time
	seen := map[int64]bool{} // wall times that already happened
	for t := from.Truncate(time.Minute).Add(-25 * time.Hour); t.Before(to); t = t.Add(time.Minute) {
		c := civilOf(t)
		_, off := t.In(s.loc).Zone()
		_, prevOff := t.Add(-time.Minute).In(s.loc).Zone()
		// A fixed job does not run again at a repeat of an earlier wall time.
		run := matches(c) && (s.wildcard || !seen[c.Unix()])
		seen[c.Unix()] = true
		if !s.wildcard && off > prevOff { // t ends a gap: did a skipped wall time match?
			for g := wall(t.Unix(), prevOff); g.Before(wall(t.Unix(), off)); g = g.Add(time.Minute) {
				if matches(g) {
					run = true
				}
			}
		}
		if run && t.After(from) {
			runs = append(runs, t)
		}
	}
	return runs
}

// Next against runsBetween around real transitions: New York, Berlin, Lord
// Howe (30-minute DST), São Paulo (DST started at midnight), Apia (skipped
// 2011-12-30 entirely) and Kolkata (no DST).
func TestNextMatchesReferenceAroundTransitions(t *testing.T) {
	specs := []string{"30 2 * * *", "0 2 * * *", "59 1 * * *", "0 * * * *", "*/7 * * * *", "30 1 * * *",
		"0 0 * * *", "15 2 * * 0", "*/30 1-3 * * *", "0 1-3 * * *", "45 23 * * *", "0 12 * * *", "10 0 30 12 *"}
	for _, tr := range []struct {
		zone string
		day  string
	}{
		{"America/New_York", "2026-03-08"}, {"America/New_York", "2026-11-01"},
		{"Europe/Berlin", "2026-03-29"}, {"Europe/Berlin", "2026-10-25"},
		{"Australia/Lord_Howe", "2026-04-05"}, {"Australia/Lord_Howe", "2026-10-04"},
		{"America/Sao_Paulo", "2018-11-04"}, {"America/Sao_Paulo", "2019-02-17"},
		{"Pacific/Apia", "2011-12-30"}, {"Asia/Kolkata", "2026-03-08"},
	} {
		loc := zone(t, tr.zone)
		day, _ := time.ParseInLocation("2006-01-02", tr.day, loc)
		from, to := day.AddDate(0, 0, -2), day.AddDate(0, 0, 2)
		for _, spec := range specs {
			s := schedule(t, spec, loc)
			want := runsBetween(s, from, to)
			var got []time.Time
			for x := s.Next(from); x.Before(to); x = s.Next(x) {
				got = append(got, x)
			}
			if !slices.EqualFunc(want, got, time.Time.Equal) {
				t.Errorf("%s %s %q (-reference +Next):\n%s", tr.zone, tr.day, spec, cmp.Diff(want, got))
			}
		}
	}
}

// Outside DST, Next agrees with robfig/cron's own SpecSchedule.Next for
// random specs in the syntax both accept the same way (robfig differs on
// day-of-week 7 and on "*/N" in the day fields, covered elsewhere).
func TestNextMatchesRobfigInUTC(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	bounds := [5][2]int{{0, 59}, {0, 23}, {1, 31}, {1, 12}, {0, 6}}
	randField := func(i int) string {
		lo, hi := bounds[i][0], bounds[i][1]
		var items []string
		for n := 1 + rng.IntN(3); n > 0; n-- {
			a := lo + rng.IntN(hi-lo+1)
			b := a + rng.IntN(hi-a+1)
			switch rng.IntN(5) {
			case 0:
				if i == fDom || i == fDow {
					items = append(items, "*")
				} else {
					items = append(items, fmt.Sprintf("*/%d", 1+rng.IntN(hi-lo+1)))
				}
			case 1:
				items = append(items, fmt.Sprint(a))
			case 2:
				items = append(items, fmt.Sprintf("%d-%d", a, b))
			default:
				items = append(items, fmt.Sprintf("%d-%d/%d", a, b, 1+rng.IntN(hi-lo+1)))
			}
		}
		return strings.Join(items, ",")
	}
	compared := 0
	for i := 0; i < 2000; i++ {
		var fields [5]string
		for f := range fields {
			fields[f] = randField(f)
		}
		// A list holding "*" is a star for robfig but not for vixie cron.
		if strings.Contains(fields[fDom], ",") && strings.Contains(fields[fDom], "*") ||
			strings.Contains(fields[fDow], ",") && strings.Contains(fields[fDow], "*") {
			continue
		}
		spec := strings.Join(fields[:], " ")
		ours, err := newCronSchedule(fields, time.UTC)
		if err != nil {
			continue // e.g. a day that never occurs in the chosen months
		}
		theirs, err := cron.ParseStandard(spec)
		if err != nil {
			t.Fatalf("robfig rejects %q: %v", spec, err)
		}
		from := time.Date(2024+rng.IntN(4), time.Month(1+rng.IntN(12)), 1+rng.IntN(28), rng.IntN(24), rng.IntN(60), rng.IntN(60), 0, time.UTC)
		a, b := from, from
		for n := 0; n < 5; n++ {
			a, b = ours.Next(a), theirs.Next(b)
			if b.IsZero() { // robfig gives up after five years
				break
			}
			if !a.Equal(b) {
				t.Fatalf("%q after %s: ours %s, robfig %s", spec, from, a, b)
			}
			compared++
		}
	}
	if compared < 3000 {
		t.Fatalf("only %d comparisons", compared)
	}
}

func TestNextRareDates(t *testing.T) {
	for _, tc := range []struct {
		spec string
		from time.Time
		want string
	}{
		// 2100 is not a leap year.
		{"0 0 29 2 *", time.Date(2096, 3, 1, 0, 0, 0, 0, time.UTC), "2104-02-29"},
		// February 29th on a Sunday (vixie AND: day-of-month restricted, weekday "*/7" is a star).
		{"0 0 29 2 */7", time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), "2032-02-29"},
		{"0 0 29 2 */7", time.Date(2032, 3, 1, 0, 0, 0, 0, time.UTC), "2060-02-29"},
	} {
		got := schedule(t, tc.spec, time.UTC).Next(tc.from)
		if got.Format("2006-01-02") != tc.want || got.Weekday() != time.Sunday && strings.HasSuffix(tc.spec, "*/7") {
			t.Errorf("%q after %s: %s (%s), want %s", tc.spec, tc.from, got, got.Weekday(), tc.want)
		}
	}
}
