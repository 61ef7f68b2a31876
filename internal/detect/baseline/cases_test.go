package baseline_test

import (
	"strings"
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"

	"github.com/vigil-sec/vigil/internal/detect/baseline"
)

func TestParseSuiteErrors(t *testing.T) {
	tests := []struct {
		name, src, want string
	}{
		{"empty document", "---\n", "a test file must be a mapping, got null"},
		{"two documents", "cases: []\n---\ncases: []\n", "one YAML document"},
		{"no cases", "geo: []\n", "1:1: missing cases"},
		{"unknown key", "cases:\n  - name: x\n    streams: []\n    wnat: []\n", "4:5: unknown key \"wnat\""},
		{"bad start", "cases:\n  - name: x\n    streams:\n      - {start: yesterday, duration: 1m, per_minute: 1, event: {}}\n", "4:17: start \"yesterday\" is not a time"},
		{"missing per_minute", "cases:\n  - name: x\n    streams:\n      - {start: 2026-03-02T00:00:00Z, duration: 1m, event: {}}\n", "4:9: a stream needs per_minute"},
		{"bad outcome", "cases:\n  - name: x\n    streams:\n      - {start: 2026-03-02T00:00:00Z, duration: 1m, per_minute: 1, event: {outcome: maybe}}\n", "outcome must be success, failure or unknown"},
		{"time field", "cases:\n  - name: x\n    streams:\n      - {start: 2026-03-02T00:00:00Z, duration: 1m, per_minute: 1, event: {time: now}}\n", "unknown key \"time\" in event"},
		{"too many events", "cases:\n  - name: x\n    streams:\n      - {start: 2026-03-02T00:00:00Z, duration: 30d, per_minute: 1000, event: {}}\n", "more than 2000000"},
		{"bad day", "cases:\n  - name: x\n    streams:\n      - {start: 2026-03-02T00:00:00Z, duration: 1m, per_minute: 1, days: [someday], event: {}}\n", "day \"someday\""},
		{"empty hours", "cases:\n  - name: x\n    streams:\n      - {start: 2026-03-02T00:00:00Z, duration: 1m, per_minute: 1, hours: [9, 9], event: {}}\n", "hours [9, 9] is empty"},
		{"bad cidr", "geo:\n  - {cidr: somewhere, asn: 1}\ncases:\n  - {name: x, streams: []}\n", "2:12: cidr \"somewhere\""},
		{"want not a list", "cases:\n  - name: x\n    streams: [{start: 2026-03-02T00:00:00Z, duration: 1m, per_minute: 1, event: {}}]\n    want: {time: 2026-03-02T00:00:00Z}\n", "want must be a list"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := baseline.ParseSuite("x.tests.baseline", []byte(tt.src))
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.HasPrefix(err.Error(), "x.tests.baseline:") {
				t.Errorf("err = %v, want a positioned error saying %q", err, tt.want)
			}
		})
	}
}

// TestRunSuiteReports checks that the case runner tells a match that is
// missing from one that was not wanted, so a wrong case fails.
func TestRunSuiteReports(t *testing.T) {
	suite, err := baseline.ParseSuite("x.tests.baseline", []byte(`
cases:
    - name: wrong expectation
      streams:
          - {start: 2026-03-02T00:00:00Z, duration: 8d, per_minute: 2, event: {source: aws.cloudtrail, principal: p}}
          - {start: 2026-03-09T12:00:00Z, duration: 1m, per_minute: 200, event: {source: aws.cloudtrail, principal: p}}
      want:
          - {time: 2026-03-09T13:00:00Z, key: {principal: p}}
`))
	if err != nil {
		t.Fatal(err)
	}
	res := baseline.RunSuite(mustRules(t, apiRule), suite, baseline.Options{})
	if len(res) != 1 || res[0].Pass() {
		t.Fatalf("a wrong case passed: %+v", res)
	}
	r := res[0]
	if len(r.Missing) != 1 || !r.Missing[0].Time.Equal(time.Date(2026, 3, 9, 13, 0, 0, 0, time.UTC)) ||
		len(r.Unexpected) != 1 || !r.Unexpected[0].Time.Equal(time.Date(2026, 3, 9, 12, 0, 0, 0, time.UTC)) {
		t.Errorf("missing %+v, unexpected %+v", r.Missing, r.Unexpected)
	}
	for _, want := range []string{"missing match at 2026-03-09T13:00:00Z", "unexpected match of api at 2026-03-09T12:00:00Z"} {
		if !strings.Contains(r.Describe(), want) {
			t.Errorf("Describe() = %q, want it to say %q", r.Describe(), want)
		}
	}
}

// TestCaseEvents checks the generator: rate with fractions, hours, days,
// cycled values and raw records.
func TestCaseEvents(t *testing.T) {
	suite, err := baseline.ParseSuite("x.tests.baseline", []byte(`
cases:
    - name: gen
      streams:
          - start: 2026-03-06T22:00:00Z   # a Friday
            duration: 2d
            per_minute: 0.5
            hours: [23, 24]
            days: [sat]
            event: {source: aws.lambda, function: f, raw: {lambda: {type: REPORT, billedDurationMs: 5}}}
            cycle: {action: [a, b, c]}
      want: []
`))
	if err != nil {
		t.Fatal(err)
	}
	evs := suite.Cases[0].Events()
	if len(evs) != 30 {
		t.Fatalf("%d events, want 30 (every other minute of the hour 23:00 of Saturday)", len(evs))
	}
	var actions []string
	for _, ev := range evs[:4] {
		actions = append(actions, ev.Action)
	}
	if diff := gocmp.Diff([]string{"a", "b", "c", "a"}, actions); diff != "" {
		t.Errorf("cycled actions (-want +got):\n%s", diff)
	}
	first, last := evs[0].Time, evs[len(evs)-1].Time
	if !first.Equal(time.Date(2026, 3, 7, 23, 1, 0, 0, time.UTC)) || !last.Equal(time.Date(2026, 3, 7, 23, 59, 0, 0, time.UTC)) {
		t.Errorf("events from %v to %v", first, last)
	}
	if v, ok := evs[0].Raw.First("lambda.billedDurationMs").Float(); !ok || v != 5 {
		t.Errorf("raw billedDurationMs = %v, %v", v, ok)
	}
}
