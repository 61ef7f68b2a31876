package notify

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	_ "time/tzdata" // location names resolve on hosts without a zoneinfo database

	"github.com/vigil-sec/vigil/internal/suggest"
)

// TimeInterval is a named set of time periods (notify.time_intervals[] in
// vigil.yaml), as in Alertmanager. Routes name it in mute_time_intervals
// or active_time_intervals. It is active when any of its periods is.
type TimeInterval struct {
	Name    string       `yaml:"name"`
	Periods []TimePeriod `yaml:"time_intervals"`
}

// TimePeriod is a recurring period of time. Every field that is set must
// match; an unset field matches any time. Ranges are inclusive and
// written "start:end".
type TimePeriod struct {
	// Times are ranges of the day, [start_time, end_time).
	Times []TimeRange `yaml:"times"`
	// Weekdays are names ("monday") or ranges ("monday:friday").
	Weekdays []string `yaml:"weekdays"`
	// DaysOfMonth are 1 to 31, or -1 (the last day) to -31, or ranges
	// ("1:7", "-3:-1").
	DaysOfMonth []string `yaml:"days_of_month"`
	// Months are names ("january"), numbers 1 to 12, or ranges.
	Months []string `yaml:"months"`
	// Years are numbers or ranges ("2026:2027").
	Years []string `yaml:"years"`
	// Location is the IANA time zone the period is read in (default UTC),
	// e.g. "Europe/Berlin"; "Local" is the server's.
	Location string `yaml:"location"`
}

// TimeRange is a range of the day, from StartTime up to (not including)
// EndTime, each "HH:MM"; EndTime may be "24:00".
type TimeRange struct {
	StartTime string `yaml:"start_time"`
	EndTime   string `yaml:"end_time"`
}

// Validate checks the interval's name and periods.
func (ti *TimeInterval) Validate() error {
	var errs []error
	if strings.TrimSpace(ti.Name) == "" {
		errs = append(errs, fieldErr("name", "a time interval needs a name"))
	}
	if len(ti.Periods) == 0 {
		errs = append(errs, fieldErr("time_intervals", "a time interval needs at least one period (an empty period {} is always active)"))
	}
	return errors.Join(errs...)
}

// Validate checks every field of the period.
func (p *TimePeriod) Validate() error {
	_, err := compilePeriod(p)
	return err
}

// span is an inclusive range of integers.
type span struct{ lo, hi int }

// period is a compiled TimePeriod.
type period struct {
	times    []span // minutes of the day, [lo, hi)
	weekdays []span
	days     []span // may be negative: counted from the month's end
	months   []span
	years    []span
	loc      *time.Location
}

// interval is a compiled TimeInterval.
type interval struct {
	name    string
	periods []*period
}

func compileInterval(ti *TimeInterval) (*interval, error) {
	if err := ti.Validate(); err != nil {
		return nil, err
	}
	iv := &interval{name: ti.Name}
	for i := range ti.Periods {
		p, err := compilePeriod(&ti.Periods[i])
		if err != nil {
			return nil, fmt.Errorf("time_intervals[%d]: %w", i, err)
		}
		iv.periods = append(iv.periods, p)
	}
	return iv, nil
}

// active reports whether any period of the interval contains t.
func (iv *interval) active(t time.Time) bool {
	for _, p := range iv.periods {
		if p.contains(t) {
			return true
		}
	}
	return false
}

var weekdayNames = []string{"sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday"}

var monthNames = []string{"january", "february", "march", "april", "may", "june", "july", "august", "september", "october", "november", "december"}

// compilePeriod parses a period, collecting every problem.
func compilePeriod(p *TimePeriod) (*period, error) {
	var errs []error
	out := &period{loc: time.UTC}
	for i, r := range p.Times {
		lo, hi, err := parseTimeRange(r)
		if err != nil {
			errs = append(errs, &FieldError{Field: fmt.Sprintf("times[%d]", i), Err: err})
			continue
		}
		out.times = append(out.times, span{lo, hi})
	}
	lists := []struct {
		key   string
		items []string
		parse func(string) (int, error)
		dst   *[]span
		check func(span) error
	}{
		{"weekdays", p.Weekdays, named(weekdayNames, 0, "a day of the week"), &out.weekdays, func(s span) error {
			if s.lo > s.hi {
				return fmt.Errorf("%s comes after %s; a week range runs from sunday to saturday (write two entries to wrap around)", weekdayNames[s.lo], weekdayNames[s.hi])
			}
			return nil
		}},
		{"days_of_month", p.DaysOfMonth, dayOfMonth, &out.days, checkDays},
		{"months", p.Months, named(monthNames, 1, "a month"), &out.months, func(s span) error {
			if s.lo > s.hi {
				return fmt.Errorf("%s comes after %s; write two entries to wrap around the year", monthNames[s.lo-1], monthNames[s.hi-1])
			}
			return nil
		}},
		{"years", p.Years, year, &out.years, func(s span) error {
			if s.lo > s.hi {
				return fmt.Errorf("%d comes after %d", s.lo, s.hi)
			}
			return nil
		}},
	}
	for _, l := range lists {
		for i, item := range l.items {
			s, err := parseSpan(item, l.parse)
			if err == nil {
				err = l.check(s)
			}
			if err != nil {
				errs = append(errs, &FieldError{Field: fmt.Sprintf("%s[%d]", l.key, i), Err: err})
				continue
			}
			*l.dst = append(*l.dst, s)
		}
	}
	if p.Location != "" {
		loc, err := loadLocation(p.Location)
		if err != nil {
			errs = append(errs, &FieldError{Field: "location", Err: err})
		} else {
			out.loc = loc
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return out, nil
}

// loadLocation loads an IANA time zone, refusing names that would read
// files outside the zone database.
func loadLocation(name string) (*time.Location, error) {
	if strings.Contains(name, "..") || strings.HasPrefix(name, "/") || strings.ContainsAny(name, "\\\x00") || len(name) > 64 {
		return nil, fmt.Errorf("%q is not a time zone name such as \"Europe/Berlin\" or \"UTC\"", name)
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, fmt.Errorf("unknown time zone %q: use an IANA name such as \"Europe/Berlin\", \"America/New_York\" or \"UTC\"", name)
	}
	return loc, nil
}

// parseTimeRange parses a range of the day into minutes [lo, hi).
func parseTimeRange(r TimeRange) (lo, hi int, err error) {
	lo, err = clock(r.StartTime, false)
	if err != nil {
		return 0, 0, fmt.Errorf("start_time: %w", err)
	}
	hi, err = clock(r.EndTime, true)
	if err != nil {
		return 0, 0, fmt.Errorf("end_time: %w", err)
	}
	if lo >= hi {
		return 0, 0, fmt.Errorf("start_time %s must be before end_time %s (a range cannot cross midnight: write two, ending at 24:00 and starting at 00:00)", r.StartTime, r.EndTime)
	}
	return lo, hi, nil
}

// clock parses "HH:MM" into minutes after midnight; "24:00" only as an end.
func clock(s string, end bool) (int, error) {
	if s == "" {
		return 0, errors.New(`missing: want a time "HH:MM"`)
	}
	h, m, ok := strings.Cut(s, ":")
	hh, err1 := strconv.Atoi(h)
	mm, err2 := strconv.Atoi(m)
	if !ok || err1 != nil || err2 != nil || len(h) != 2 || len(m) != 2 || hh < 0 || mm < 0 || mm > 59 || hh > 24 || hh == 24 && (mm != 0 || !end) {
		return 0, fmt.Errorf("%q is not a time \"HH:MM\" from 00:00 to 23:59 (24:00 only as end_time)", s)
	}
	return hh*60 + mm, nil
}

// parseSpan parses "a" or "a:b" with parse for each end.
func parseSpan(s string, parse func(string) (int, error)) (span, error) {
	a, b, isRange := strings.Cut(strings.ToLower(strings.TrimSpace(s)), ":")
	lo, err := parse(a)
	if err != nil {
		return span{}, err
	}
	hi := lo
	if isRange {
		if hi, err = parse(b); err != nil {
			return span{}, err
		}
	}
	return span{lo, hi}, nil
}

// named parses a name from names (or its number, counted from first).
func named(names []string, first int, what string) func(string) (int, error) {
	return func(s string) (int, error) {
		for i, n := range names {
			if s == n {
				return i + first, nil
			}
		}
		if first == 1 {
			if n, err := strconv.Atoi(s); err == nil && n >= 1 && n <= len(names) {
				return n, nil
			}
		}
		best, bestDist := "", 3
		for _, n := range names {
			if d := suggest.Distance(s, n); d < bestDist {
				best, bestDist = n, d
			}
		}
		if best != "" {
			return 0, fmt.Errorf("%q is not %s (did you mean %q?)", s, what, best)
		}
		return 0, fmt.Errorf("%q is not %s", s, what)
	}
}

func dayOfMonth(s string) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n == 0 || n < -31 || n > 31 {
		return 0, fmt.Errorf("%q is not a day of the month: use 1 to 31, or -1 (the last day) to -31", s)
	}
	return n, nil
}

func checkDays(s span) error {
	switch {
	case s.lo < 0 && s.hi > 0:
		return fmt.Errorf("a range of days cannot start counting from the month's end (%d) and end counting from its start (%d)", s.lo, s.hi)
	case (s.lo > 0) == (s.hi > 0) && s.lo > s.hi:
		return fmt.Errorf("day %d comes after day %d", s.lo, s.hi)
	}
	return nil
}

func year(s string) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > 9999 {
		return 0, fmt.Errorf("%q is not a year", s)
	}
	return n, nil
}

// contains reports whether t falls in the period.
func (p *period) contains(t time.Time) bool {
	t = t.In(p.loc)
	if len(p.times) > 0 {
		m := t.Hour()*60 + t.Minute()
		if !anySpan(p.times, func(s span) bool { return m >= s.lo && m < s.hi }) {
			return false
		}
	}
	if len(p.weekdays) > 0 && !inSpans(p.weekdays, int(t.Weekday())) {
		return false
	}
	if len(p.days) > 0 {
		last := time.Date(t.Year(), t.Month()+1, 0, 0, 0, 0, 0, p.loc).Day()
		day := t.Day()
		resolve := func(d int) int {
			if d < 0 {
				return last + 1 + d
			}
			return d
		}
		if !anySpan(p.days, func(s span) bool {
			lo, hi := max(resolve(s.lo), 1), min(resolve(s.hi), last)
			return day >= lo && day <= hi
		}) {
			return false
		}
	}
	if len(p.months) > 0 && !inSpans(p.months, int(t.Month())) {
		return false
	}
	if len(p.years) > 0 && !inSpans(p.years, t.Year()) {
		return false
	}
	return true
}

func inSpans(spans []span, v int) bool {
	return anySpan(spans, func(s span) bool { return v >= s.lo && v <= s.hi })
}

func anySpan(spans []span, f func(span) bool) bool {
	for _, s := range spans {
		if f(s) {
			return true
		}
	}
	return false
}
