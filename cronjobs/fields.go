package cronjobs

// Fields are a five-field schedule's value sets, for renderers that
// translate it to another scheduler's syntax (package export): bit n of a
// set is value n (day of week 0 is Sunday). DomStar and DowStar say the
// field was written starting with '*', which decides vixie cron's rule:
// day-of-month and day-of-week are OR-ed when neither is a star.
type Fields struct {
	Minute, Hour, Dom, Month, Dow uint64
	DomStar, DowStar              bool
}

// Fields returns the job's five-field sets (descriptors such as @daily
// included); false for @reboot and @every, which have none.
func (j Job) Fields() (Fields, bool) {
	s, ok := j.Schedule.(*cronSchedule)
	if !ok {
		return Fields{}, false
	}
	return Fields{Minute: s.minute, Hour: s.hour, Dom: s.dom, Month: s.month, Dow: s.dow,
		DomStar: s.domStar, DowStar: s.dowStar}, true
}
