package export

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"roost/cronjobs"
)

// OnCalendar converts a five-field cron schedule to systemd.time(7)
// calendar events, one OnCalendar= value each: systemd ANDs the weekday
// and the date, so vixie cron's OR of a restricted day-of-month and
// day-of-week becomes two events (a timer fires at either). zone is
// appended when it is not the local zone.
func OnCalendar(f cronjobs.Fields, loc *time.Location) []string {
	zone := ""
	if loc != nil && loc.String() != "Local" && loc.String() != "" {
		zone = " " + loc.String()
	}
	const allDom, allDow = uint64(0xfffffffe), uint64(0x7f)
	tm := fmt.Sprintf(" %s:%s:00", calList(f.Hour, 0, 23, nil), calList(f.Minute, 0, 59, nil))
	event := func(dom, dow uint64) string {
		s := ""
		if dow&allDow != allDow {
			s = calList(dow, 0, 6, dayNames) + " "
		}
		return s + "*-" + calList(f.Month, 1, 12, nil) + "-" + calList(dom, 1, 31, nil) + tm + zone
	}
	if !f.DomStar && !f.DowStar {
		return []string{event(f.Dom, allDow), event(allDom, f.Dow)}
	}
	return []string{event(f.Dom, f.Dow)}
}

var dayNames = []string{"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"}

// calList writes the set bits of set between lo and hi as systemd writes
// them: "*" for all, else a comma list of values and a..b ranges.
func calList(set uint64, lo, hi int, names []string) string {
	mask := uint64(0)
	for v := lo; v <= hi; v++ {
		mask |= 1 << uint(v)
	}
	if set&mask == mask {
		return "*"
	}
	name := func(v int) string {
		if names != nil {
			return names[v]
		}
		return strconv.Itoa(v)
	}
	var parts []string
	for v := lo; v <= hi; v++ {
		if set&(1<<uint(v)) == 0 {
			continue
		}
		end := v
		for end+1 <= hi && set&(1<<uint(end+1)) != 0 {
			end++
		}
		switch {
		case end == v:
			parts = append(parts, name(v))
		case end == v+1:
			parts = append(parts, name(v), name(end))
		default:
			parts = append(parts, name(v)+".."+name(end))
		}
		v = end
	}
	return strings.Join(parts, ",")
}
