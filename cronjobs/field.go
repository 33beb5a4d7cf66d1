package cronjobs

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
)

// timeField describes one of the five time fields of a crontab line.
type timeField struct {
	name     string
	min, max int
	names    map[string]int // three-letter names, lower case; nil when the field has none
	hint     string         // appended to range errors
}

var timeFields = [5]timeField{
	{name: "minute", min: 0, max: 59},
	{name: "hour", min: 0, max: 23},
	{name: "day-of-month", min: 1, max: 31},
	{name: "month", min: 1, max: 12, names: map[string]int{
		"jan": 1, "feb": 2, "mar": 3, "apr": 4, "may": 5, "jun": 6,
		"jul": 7, "aug": 8, "sep": 9, "oct": 10, "nov": 11, "dec": 12,
	}},
	// 0 and 7 are both Sunday, as in vixie cron.
	{name: "day-of-week", min: 0, max: 7, hint: " (0 and 7 are Sunday)", names: map[string]int{
		"sun": 0, "mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6,
	}},
}

// The field indexes.
const (
	fMinute = iota
	fHour
	fDom
	fMonth
	fDow
)

// rangeItem is one comma-separated item of a field: lo-hi/step, where a
// single value has lo == hi and step 1.
type rangeItem struct{ lo, hi, step int }

// parseField checks one time field against vixie cron's grammar
//
//	field = item {"," item}
//	item  = "*" ["/" step] | value | value "-" value ["/" step]
//	value = number | three-letter name (month and day-of-week only, any case)
//
// and returns its items. Errors name the field and the text.
func parseField(f timeField, text string) ([]rangeItem, error) {
	fail := func(format string, a ...any) error {
		return fmt.Errorf("%s field %q: %s", f.name, text, fmt.Sprintf(format, a...))
	}
	var items []rangeItem
	for _, item := range strings.Split(text, ",") {
		if item == "" {
			return nil, fail("empty list item (a ',' with nothing before or after it)")
		}
		base, stepText, hasStep := strings.Cut(item, "/")
		if strings.Contains(stepText, "/") {
			return nil, fail("%q has more than one '/'", item)
		}
		r := rangeItem{step: 1}
		switch {
		case base == "*":
			r.lo, r.hi = f.min, f.max
		case base == "?":
			return nil, fail("'?' is not cron syntax; use '*'")
		default:
			loText, hiText, isRange := strings.Cut(base, "-")
			lo, err := fieldValue(f, loText, item)
			if err != nil {
				return nil, fail("%s", err)
			}
			hi := lo
			if isRange {
				if strings.Contains(hiText, "-") {
					return nil, fail("%q has more than one '-'", item)
				}
				if hi, err = fieldValue(f, hiText, item); err != nil {
					return nil, fail("%s", err)
				}
				if lo > hi {
					return nil, fail("range %s is backwards: cron ranges do not wrap; write %s-%d,%d-%s", base, loText, f.max, f.min, hiText)
				}
			} else if hasStep {
				return nil, fail("a step needs a range: write %s-%d/%s (or */%s)", base, f.max, stepText, stepText)
			}
			r.lo, r.hi = lo, hi
		}
		if hasStep {
			step, err := strconv.Atoi(stepText)
			if err != nil || !isDigits(stepText) {
				return nil, fail("step %q is not a number", stepText)
			}
			if step < 1 {
				return nil, fail("step must be at least 1, not %d", step)
			}
			if span := f.max - f.min + 1; step > span {
				return nil, fail("step %d is larger than the whole field (%d-%d), so it would run only at %d; write %d, or use @every for longer intervals", step, f.min, f.max, r.lo, r.lo)
			}
			r.step = step
		}
		items = append(items, r)
	}
	return items, nil
}

// fieldValue reads one number or name of a field.
func fieldValue(f timeField, s, item string) (int, error) {
	if s == "" {
		return 0, fmt.Errorf("%q is missing a value", item)
	}
	if isDigits(s) {
		n, err := strconv.Atoi(s)
		if err != nil || n < f.min || n > f.max {
			return 0, fmt.Errorf("%s is out of range %d-%d%s", s, f.min, f.max, f.hint)
		}
		return n, nil
	}
	if f.names != nil {
		if n, ok := f.names[strings.ToLower(s)]; ok {
			return n, nil
		}
		if f.name == "month" {
			return 0, fmt.Errorf("%q is not a number or a month name (jan … dec)", s)
		}
		return 0, fmt.Errorf("%q is not a number or a day name (sun … sat); is a time field missing?", s)
	}
	if s[0] == '-' || s[0] == '+' {
		return 0, fmt.Errorf("%q: signed numbers are not allowed", s)
	}
	return 0, fmt.Errorf("%q is not a number", s)
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// normalize renders items as plain numbers robfig/cron accepts: names become
// numbers, and day-of-week 7 becomes 0 (robfig's day-of-week stops at 6).
func normalize(f timeField, items []rangeItem) string {
	var parts []string
	for _, r := range items {
		if f.name == "day-of-week" && r.hi == 7 {
			if (7-r.lo)%r.step == 0 {
				parts = append(parts, "0") // the step lands on 7, which is Sunday
			}
			if r.lo == 7 {
				continue
			}
			r.hi = 6
		}
		if r.lo == r.hi {
			parts = append(parts, strconv.Itoa(r.lo))
		} else {
			parts = append(parts, fmt.Sprintf("%d-%d/%d", r.lo, r.hi, r.step))
		}
	}
	return strings.Join(parts, ",")
}

// robfigParser is used only to turn normalized field text into bit sets; the
// file syntax, descriptors, @reboot, zones and Next are ours.
var robfigParser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// robfigParse calls robfig's parser, turning its panics (it panics on some
// "TZ=" inputs) into errors.
func robfigParse(spec string) (s cron.Schedule, err error) {
	defer func() {
		if r := recover(); r != nil {
			s, err = nil, fmt.Errorf("cron parser failed on %q: %v", spec, r)
		}
	}()
	return robfigParser.Parse(spec)
}

// starBit is the bit robfig sets in a field that was written as "*"; our
// own star flags follow vixie cron instead, so it is masked out.
const starBit = 1 << 63

// descriptors maps the named schedules to their five fields, as vixie cron
// and robfig define them.
var descriptors = map[string]string{
	"@yearly":   "0 0 1 1 *",
	"@annually": "0 0 1 1 *",
	"@monthly":  "0 0 1 * *",
	"@weekly":   "0 0 * * 0",
	"@daily":    "0 0 * * *",
	"@midnight": "0 0 * * *",
	"@hourly":   "0 * * * *",
}

// neverCheckFrom is where newCronSchedule checks that a schedule has a
// next run; any date works, a fixed one keeps Parse deterministic.
var neverCheckFrom = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// daysIn is the most days each month can have (February in a leap year).
var daysIn = [13]int{0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31}

// newCronSchedule validates five time fields and builds their schedule in loc.
func newCronSchedule(fields [5]string, loc *time.Location) (*cronSchedule, error) {
	var norm [5]string
	for i, text := range fields {
		items, err := parseField(timeFields[i], text)
		if err != nil {
			return nil, err
		}
		norm[i] = normalize(timeFields[i], items)
	}
	parsed, err := robfigParse(strings.Join(norm[:], " "))
	if err != nil {
		return nil, fmt.Errorf("schedule %q: %w", strings.Join(fields[:], " "), err)
	}
	spec, ok := parsed.(*cron.SpecSchedule)
	if !ok {
		return nil, fmt.Errorf("schedule %q: cron parser returned an unexpected %T", strings.Join(fields[:], " "), parsed)
	}
	s := &cronSchedule{
		minute: spec.Minute &^ starBit,
		hour:   spec.Hour &^ starBit,
		dom:    spec.Dom &^ starBit,
		month:  spec.Month &^ starBit,
		dow:    spec.Dow &^ starBit,
		// vixie cron: a field whose text starts with '*' counts as a star.
		domStar:  strings.HasPrefix(fields[fDom], "*"),
		dowStar:  strings.HasPrefix(fields[fDow], "*"),
		wildcard: strings.HasPrefix(fields[fMinute], "*") || strings.HasPrefix(fields[fHour], "*"),
		loc:      loc,
	}
	if !s.canFire() {
		return nil, fmt.Errorf("schedule never fires: day-of-month %q does not occur in month %q", fields[fDom], fields[fMonth])
	}
	if s.Next(neverCheckFrom).IsZero() { // canFire should have said so
		return nil, fmt.Errorf("schedule %q never fires", strings.Join(fields[:], " "))
	}
	return s, nil
}

// canFire reports whether some day matches. When both day fields are
// restricted either one matching is enough, and every month has every
// weekday. Otherwise some selected day of month must exist in some selected
// month; any such date falls on every weekday over the years.
func (s *cronSchedule) canFire() bool {
	if !s.domStar && !s.dowStar {
		return true
	}
	for m := 1; m <= 12; m++ {
		if s.month&(1<<m) == 0 {
			continue
		}
		for d := 1; d <= daysIn[m]; d++ {
			if s.dom&(1<<d) != 0 {
				return true
			}
		}
	}
	return false
}
