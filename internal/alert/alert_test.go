package alert

import (
	"strings"
	"testing"
	"time"

	"github.com/vigil-sec/vigil/internal/event"
)

func TestFingerprint(t *testing.T) {
	a := &event.Event{Account: "1", Principal: "arn:p", Function: "f", SourceIP: "1.2.3.4"}
	b := &event.Event{Account: "1", Principal: "arn:p", Function: "f", SourceIP: "5.6.7.8"}
	c := &event.Event{Account: "1", Principal: "arn:q", Function: "f"}
	if Fingerprint("r", a) != Fingerprint("r", b) {
		t.Error("source IP changed the fingerprint; it is not a key field")
	}
	if Fingerprint("r", a) == Fingerprint("r", c) || Fingerprint("r", a) == Fingerprint("s", a) {
		t.Error("different principal or rule gave the same fingerprint")
	}
	// Field boundaries matter: ("ab","c") differs from ("a","bc").
	x := &event.Event{Account: "ab", Principal: "c"}
	y := &event.Event{Account: "a", Principal: "bc"}
	if Fingerprint("r", x) == Fingerprint("r", y) {
		t.Error("fingerprint ignores field boundaries")
	}
}

func TestParseMatcher(t *testing.T) {
	labels := map[string]string{"severity": "high", "rule": "abc", "tags": "attack.t1098,attack.persistence"}
	cases := []struct {
		in   string
		want bool
		err  string
	}{
		{`severity=high`, true, ""},
		{`severity="high"`, true, ""},
		{`severity!=high`, false, ""},
		{`severity=~"high|critical"`, true, ""},
		{`severity=~"hig"`, false, ""}, // anchored
		{`severity!~"low|medium"`, true, ""},
		{`tags=~".*attack\\.t1098.*"`, true, ""},
		{`function=""`, true, ""},
		{`nope=x`, false, `unknown label "nope"`},
		{`severity`, false, "want name=value"},
		{`severity=~"("`, false, "invalid regular expression"},
		{`severity="unterminated`, false, "bad quoted value"},
	}
	for _, c := range cases {
		m, err := ParseMatcher(c.in)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%s: error %v, want %q", c.in, err, c.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", c.in, err)
			continue
		}
		if got := m.Matches(labels); got != c.want {
			t.Errorf("%s matches = %v, want %v", c.in, got, c.want)
		}
	}
}

func TestSilence(t *testing.T) {
	now := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	m1, _ := ParseMatcher(`severity="high"`)
	m2, _ := ParseMatcher(`account="111122223333"`)
	s := &Silence{Matchers: []*Matcher{m1, m2}, StartsAt: now, EndsAt: now.Add(time.Hour), Comment: "maintenance"}
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	if !s.Active(now) || s.Active(now.Add(time.Hour)) || s.Active(now.Add(-time.Second)) {
		t.Error("Active window wrong")
	}
	if !s.Matches(map[string]string{"severity": "high", "account": "111122223333"}) || s.Matches(map[string]string{"severity": "high"}) {
		t.Error("all matchers must match")
	}
	for _, bad := range []*Silence{
		{Matchers: nil, StartsAt: now, EndsAt: now.Add(time.Hour), Comment: "x"},
		{Matchers: []*Matcher{m1}, StartsAt: now, EndsAt: now, Comment: "x"},
		{Matchers: []*Matcher{m1}, StartsAt: now, EndsAt: now.Add(time.Hour), Comment: " "},
		{Matchers: []*Matcher{{Name: "severity", Op: "~~", Value: "x"}}, StartsAt: now, EndsAt: now.Add(time.Hour), Comment: "x"},
	} {
		if bad.Validate() == nil {
			t.Errorf("invalid silence accepted: %+v", bad)
		}
	}
}

func TestFromMatchAndLabels(t *testing.T) {
	now := time.Now().UTC()
	ev := &event.Event{ID: "e1", Cloud: "aws", Source: event.SourceCloudTrail, Account: "1", Principal: "p", Action: "StopLogging"}
	a := FromMatch("a1", RuleRef{ID: "r", Title: "T", Level: "critical", Tags: []string{"attack.t1562.008"}}, ev, now)
	if a.FirstSeen != now || a.Count != 1 || a.Status != Open || a.Severity != "critical" || a.EventIDs[0] != "e1" {
		t.Errorf("alert = %+v", a)
	}
	l := a.Labels()
	for _, n := range LabelNames() {
		if _, ok := l[n]; !ok {
			t.Errorf("label %q missing", n)
		}
	}
	if l["tags"] != "attack.t1562.008" || l["action"] != "StopLogging" {
		t.Errorf("labels = %v", l)
	}
}
