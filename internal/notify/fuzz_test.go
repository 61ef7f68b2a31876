package notify

import (
	"strings"
	"testing"
	"time"
)

// FuzzRouteMatcher checks that parsing a route matcher never panics and
// that a parsed matcher evaluates on any labels and tags.
func FuzzRouteMatcher(f *testing.F) {
	for _, s := range []string{`severity="high"`, `tag=~"attack\\.t1.*"`, `tags!="x"`, `rule!~"a|b"`, `x`, `=`, `tag=`, `cloud="\u00e9"`} {
		f.Add(s, "attack.t1098,attack.persistence")
	}
	f.Fuzz(func(t *testing.T, s, tags string) {
		m, err := parseRouteMatcher(s)
		if err != nil {
			return
		}
		labels := map[string]string{"severity": "high", "rule": tags}
		m.matches(labels, strings.Split(tags, ","))
		m.matches(labels, nil)
		if m.String() == "" {
			t.Errorf("matcher %q prints empty", s)
		}
	})
}

// FuzzTimePeriod checks that any period either fails to compile with an
// error or answers for any time.
func FuzzTimePeriod(f *testing.F) {
	f.Add("09:00", "17:00", "monday:friday", "1:-1", "january:march", "2026:2027", "Europe/Berlin", int64(0))
	f.Add("24:00", "00:00", "sundy", "-3:5", "13", "x", "../etc", int64(-1))
	f.Fuzz(func(t *testing.T, start, end, weekday, day, month, year, loc string, unix int64) {
		p := TimePeriod{Times: []TimeRange{{start, end}}, Weekdays: []string{weekday}, DaysOfMonth: []string{day},
			Months: []string{month}, Years: []string{year}, Location: loc}
		c, err := compilePeriod(&p)
		if err != nil {
			if err.Error() == "" {
				t.Error("empty error")
			}
			return
		}
		c.contains(time.Unix(unix%(1<<40), 0))
	})
}
