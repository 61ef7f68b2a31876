package notify

import (
	"strings"
	"testing"
	"time"
)

func TestTimePeriodContains(t *testing.T) {
	// 2026-11-20 is a Friday; November has 30 days.
	at := func(s string) time.Time {
		tm, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return tm
	}
	tests := []struct {
		name string
		p    TimePeriod
		in   []string
		out  []string
	}{
		{"empty period is always active", TimePeriod{}, []string{"2026-11-20T10:00:00Z"}, nil},
		{"times are [start, end)", TimePeriod{Times: []TimeRange{{"09:00", "17:00"}}},
			[]string{"2026-11-20T09:00:00Z", "2026-11-20T16:59:59Z"}, []string{"2026-11-20T08:59:59Z", "2026-11-20T17:00:00Z"}},
		{"end of day", TimePeriod{Times: []TimeRange{{"22:00", "24:00"}}},
			[]string{"2026-11-20T23:59:59Z"}, []string{"2026-11-21T00:00:00Z"}},
		{"weekday range", TimePeriod{Weekdays: []string{"monday:friday"}},
			[]string{"2026-11-20T12:00:00Z", "2026-11-16T00:00:00Z"}, []string{"2026-11-21T12:00:00Z", "2026-11-22T12:00:00Z"}},
		{"weekend by names", TimePeriod{Weekdays: []string{"Saturday", "sunday"}},
			[]string{"2026-11-21T12:00:00Z", "2026-11-22T12:00:00Z"}, []string{"2026-11-20T12:00:00Z"}},
		{"last days of the month", TimePeriod{DaysOfMonth: []string{"-2:-1"}},
			[]string{"2026-11-29T00:00:00Z", "2026-11-30T23:00:00Z", "2026-12-31T00:00:00Z"}, []string{"2026-11-28T00:00:00Z", "2026-12-29T00:00:00Z"}},
		{"first week to the last day", TimePeriod{DaysOfMonth: []string{"1:7", "-1"}},
			[]string{"2026-11-01T00:00:00Z", "2026-11-07T00:00:00Z", "2026-11-30T00:00:00Z"}, []string{"2026-11-08T00:00:00Z"}},
		{"day 31 in a 30-day month never matches", TimePeriod{DaysOfMonth: []string{"31"}},
			[]string{"2026-12-31T00:00:00Z"}, []string{"2026-11-30T00:00:00Z", "2026-12-01T00:00:00Z"}},
		{"months and years", TimePeriod{Months: []string{"november:december", "2"}, Years: []string{"2026"}},
			[]string{"2026-11-20T00:00:00Z", "2026-02-01T00:00:00Z"}, []string{"2026-10-31T00:00:00Z", "2027-11-20T00:00:00Z"}},
		{"in a location", TimePeriod{Times: []TimeRange{{"09:00", "17:00"}}, Location: "Asia/Tokyo"},
			[]string{"2026-11-20T00:00:00Z", "2026-11-20T07:59:00Z"}, []string{"2026-11-20T08:00:00Z", "2026-11-20T23:59:00Z"}},
		{"every field must match", TimePeriod{Weekdays: []string{"friday"}, Times: []TimeRange{{"10:00", "11:00"}}},
			[]string{"2026-11-20T10:30:00Z"}, []string{"2026-11-20T11:30:00Z", "2026-11-27T09:30:00Z", "2026-11-21T10:30:00Z"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := compilePeriod(&tt.p)
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range tt.in {
				if !p.contains(at(s)) {
					t.Errorf("%s is not in the period", s)
				}
			}
			for _, s := range tt.out {
				if p.contains(at(s)) {
					t.Errorf("%s is in the period", s)
				}
			}
		})
	}
}

func TestTimePeriodErrors(t *testing.T) {
	tests := []struct {
		p    TimePeriod
		want string
	}{
		{TimePeriod{Times: []TimeRange{{"9:00", "17:00"}}}, `times[0]: start_time: "9:00" is not a time "HH:MM"`},
		{TimePeriod{Times: []TimeRange{{"17:00", "09:00"}}}, "times[0]: start_time 17:00 must be before end_time 09:00"},
		{TimePeriod{Times: []TimeRange{{"24:00", "24:00"}}}, "24:00 only as end_time"},
		{TimePeriod{Times: []TimeRange{{"", "10:00"}}}, "start_time: missing"},
		{TimePeriod{Weekdays: []string{"mondey"}}, `weekdays[0]: "mondey" is not a day of the week (did you mean "monday"?)`},
		{TimePeriod{Weekdays: []string{"saturday:sunday"}}, "weekdays[0]: saturday comes after sunday"},
		{TimePeriod{DaysOfMonth: []string{"0"}}, "days_of_month[0]: \"0\" is not a day of the month"},
		{TimePeriod{DaysOfMonth: []string{"-3:5"}}, "cannot start counting from the month's end"},
		{TimePeriod{DaysOfMonth: []string{"10:5"}}, "day 10 comes after day 5"},
		{TimePeriod{Months: []string{"13"}}, `months[0]: "13" is not a month`},
		{TimePeriod{Months: []string{"december:january"}}, "december comes after january"},
		{TimePeriod{Years: []string{"2027:2026"}}, "2027 comes after 2026"},
		{TimePeriod{Years: []string{"next"}}, `"next" is not a year`},
		{TimePeriod{Location: "Mars/Olympus"}, `location: unknown time zone "Mars/Olympus"`},
		{TimePeriod{Location: "../../etc/passwd"}, "is not a time zone name"},
	}
	for _, tt := range tests {
		err := tt.p.Validate()
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Validate(%+v) = %v, want %q", tt.p, err, tt.want)
		}
	}
	if err := (&TimeInterval{}).Validate(); err == nil || !strings.Contains(err.Error(), "needs a name") || !strings.Contains(err.Error(), "at least one period") {
		t.Errorf("empty interval: %v", err)
	}
}
