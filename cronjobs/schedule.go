package cronjobs

import "time"

// Schedule says when a job runs next. Next returns the first run strictly
// after the given instant, or the zero time when there is none (an @reboot
// job has none). robfig/cron's Schedule has the same method, so its
// schedules fit too.
type Schedule interface {
	Next(after time.Time) time.Time
}

// never is the schedule of @reboot jobs: they run only when the scheduler starts.
type never struct{}

func (never) Next(time.Time) time.Time { return time.Time{} }

// searchYears bounds the search for the next run. A schedule that can fire
// at all fires within one 400-year Gregorian cycle (February 29th on a given
// weekday can be 40 years away).
const searchYears = 400

// cronSchedule is a five-field schedule in a time zone, with vixie cron's
// rules: day-of-month and day-of-week are OR-ed when both are restricted
// (neither starts with '*') and AND-ed otherwise.
//
// Daylight saving time follows vixie cron too. A job whose minute and hour
// are both fixed (neither field starts with '*') runs once per matching wall
// time: a wall time skipped by a spring-forward gap runs at the first
// instant after the gap, and a wall time repeated by a fall-back runs at its
// first occurrence only. A wildcard job (minute or hour starts with '*')
// follows real time: it does not make up minutes lost in a gap and runs
// again in a repeated hour, so "0 * * * *" stays hourly.
type cronSchedule struct {
	minute, hour, dom, month, dow uint64 // bit n set: value n matches (dow 0 = Sunday)
	domStar, dowStar              bool
	wildcard                      bool
	loc                           *time.Location
}

// Next returns the first run strictly after the instant after, in the
// schedule's zone; see cronSchedule for the DST rules.
func (s *cronSchedule) Next(after time.Time) time.Time {
	seg := after.In(s.loc) // an instant in the current zone segment
	_, off := seg.Zone()
	// Civil (wall clock) times are held as UTC times; the first candidate is
	// the wall-clock minute after `after`.
	cmin := wall(seg.Unix(), off).Truncate(time.Minute).Add(time.Minute)
	limit := cmin.AddDate(searchYears, 0, 0)
	var match, matchFrom time.Time // cached: the first matching civil time >= matchFrom
	for {
		_, off = seg.Zone()
		start, end := seg.ZoneBounds()
		from := cmin
		if !s.wildcard && !start.IsZero() {
			// After a fall-back, wall times before the previous offset's
			// end of segment already happened once: a fixed job skips them.
			if _, prev := start.Add(-time.Second).Zone(); prev > off {
				from = later(from, ceilMinute(wall(start.Unix(), prev)))
			}
		}
		if match.IsZero() || from.Before(matchFrom) || from.After(match) {
			match, matchFrom = s.nextCivil(from, limit), from
			if match.IsZero() {
				return time.Time{}
			}
		}
		x := time.Unix(match.Unix()-int64(off), 0).In(s.loc)
		if end.IsZero() || x.Before(end) {
			return x
		}
		// The match lies past this segment: cross the transition at end.
		_, next := end.Zone()
		if next > off && !s.wildcard {
			// Spring forward: wall times [end+off, end+next) never happen.
			// A fixed job due in the gap runs when the gap ends.
			gapFrom, gapTo := wall(end.Unix(), off), wall(end.Unix(), next)
			if !s.nextCivil(ceilMinute(later(gapFrom, cmin)), gapTo).IsZero() {
				return end
			}
		}
		seg = end
		// Every instant from end on is after `after`; after a fall-back the
		// wall clock restarts below cmin and wildcard jobs run again.
		cmin = ceilMinute(wall(end.Unix(), next))
	}
}

// nextCivil returns the first wall-clock minute at or after c, and before
// limit, that matches the fields; or the zero time.
func (s *cronSchedule) nextCivil(c, limit time.Time) time.Time {
	for c.Before(limit) {
		y, mo, d := c.Date()
		h := c.Hour()
		switch {
		case s.month&(1<<uint(mo)) == 0:
			c = time.Date(y, mo+1, 1, 0, 0, 0, 0, time.UTC)
		case !s.dayMatches(c):
			c = time.Date(y, mo, d+1, 0, 0, 0, 0, time.UTC)
		case s.hour&(1<<uint(h)) == 0:
			c = time.Date(y, mo, d, h+1, 0, 0, 0, time.UTC)
		case s.minute&(1<<uint(c.Minute())) == 0:
			c = c.Add(time.Minute)
		default:
			return c
		}
	}
	return time.Time{}
}

func (s *cronSchedule) dayMatches(c time.Time) bool {
	dom := s.dom&(1<<uint(c.Day())) != 0
	dow := s.dow&(1<<uint(c.Weekday())) != 0
	if s.domStar || s.dowStar {
		return dom && dow
	}
	return dom || dow
}

// wall returns the wall clock at unix second sec under offset off, as a UTC time.
func wall(sec int64, off int) time.Time {
	return time.Unix(sec+int64(off), 0).UTC()
}

// ceilMinute rounds a civil time up to a whole minute.
func ceilMinute(t time.Time) time.Time {
	if m := t.Truncate(time.Minute); !m.Equal(t) {
		return m.Add(time.Minute)
	}
	return t
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
