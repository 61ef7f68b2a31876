package ruletest

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/vigil-sec/vigil/internal/decode"
	"github.com/vigil-sec/vigil/internal/detect"
)

func TestParseSuiteErrors(t *testing.T) {
	rec := `{eventName: A}`
	cases := []struct {
		name, suite, want string
	}{
		{"no cases", "cases: []", "no cases"},
		{"unknown key", "cases:\n  - {name: x, match: true, record: " + rec + ", bogus: 1}", "field bogus not found"},
		{"record and line", "cases:\n  - {name: x, record: " + rec + ", line: y}", `case "x" needs exactly one of record, line or events`},
		{"events without matches", "cases:\n  - {name: x, events: [{record: " + rec + "}]}", "say how many results they produce with matches: N"},
		{"events with match", "cases:\n  - {name: x, match: true, matches: 1, events: [{record: " + rec + "}]}", "use matches: N, not match"},
		{"events with a record", "cases:\n  - {name: x, matches: 1, record: " + rec + ", events: [{record: " + rec + "}]}", "put record, line, kind and log_group in each event"},
		{"empty events", "cases:\n  - {name: x, matches: 1, events: []}", "empty events list"},
		{"step without record", "cases:\n  - {name: x, matches: 1, events: [{time: +1s}]}", "event 1 needs exactly one of record or line"},
		{"bad time", "cases:\n  - {name: x, matches: 1, events: [{record: " + rec + ", time: yesterday}]}", `time "yesterday": want RFC 3339`},
		{"bad offset", "cases:\n  - {name: x, matches: 1, events: [{record: " + rec + ", time: +soon}]}", `time "+soon"`},
		{"bad every", "cases:\n  - {name: x, matches: 1, events: [{record: " + rec + ", repeat: 2, every: often}]}", `every "often"`},
		{"too many repeats", "cases:\n  - {name: x, matches: 1, events: [{record: " + rec + ", repeat: 60000}]}", "repeat must be between 1 and 50000"},
		{"negative matches", "cases:\n  - {name: x, matches: -1, events: [{record: " + rec + "}]}", "matches must not be negative"},
		{"vary on a line", "cases:\n  - {name: x, matches: 1, events: [{line: y, repeat: 2, vary: [a]}]}", "vary needs a record"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseSuite("x.tests.yml", []byte(tc.suite))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want it to say %q", err, tc.want)
			}
		})
	}
}

const rules = `title: Read
name: read
logsource: {product: aws, service: cloudtrail}
detection:
  sel: {eventName: GetFunction20150331v2}
  condition: sel
---
title: Reads of many functions
correlation:
  type: value_count
  rules: [read]
  group-by: [userIdentity.arn]
  timespan: 1m
  condition: {field: requestParameters.functionName, gte: 3}
`

const record = `{eventVersion: "1.09", eventTime: "2026-11-20T10:00:00Z", eventSource: lambda.amazonaws.com, eventName: GetFunction20150331v2, awsRegion: us-east-1, userIdentity: {type: IAMUser, arn: "arn:aws:iam::111122223333:user/bob"}, requestParameters: {functionName: orders}, eventID: 00000000-0000-4000-8000-000000000001}`

func TestRunSequences(t *testing.T) {
	suite := `cases:
  - name: three functions in 40 seconds
    matches: 1
    events:
      - {kind: cloudtrail, repeat: 3, every: 20s, vary: [requestParameters.functionName], record: ` + record + `}
  - name: the same function three times
    matches: 0
    events:
      - {kind: cloudtrail, repeat: 3, every: 20s, record: ` + record + `}
  - name: two, then a third one a minute later
    matches: 0
    events:
      - {kind: cloudtrail, time: "2026-11-20T10:00:00Z", repeat: 2, every: 1s, vary: [requestParameters.functionName], record: ` + record + `}
      - {kind: cloudtrail, time: +61s, record: {eventVersion: "1.09", eventTime: "2026-11-20T09:00:00Z", eventSource: lambda.amazonaws.com, eventName: GetFunction20150331v2, awsRegion: us-east-1, userIdentity: {type: IAMUser, arn: "arn:aws:iam::111122223333:user/bob"}, requestParameters: {functionName: third}, eventID: 00000000-0000-4000-8000-000000000002}}
  - name: two, then a third one 59 seconds later, wrongly expected not to match
    matches: 0
    events:
      - {kind: cloudtrail, time: "2026-11-20T10:00:00Z", repeat: 2, every: 1s, vary: [requestParameters.functionName], record: ` + record + `}
      - {kind: cloudtrail, time: +58s, record: {eventVersion: "1.09", eventTime: "2026-11-20T09:00:00Z", eventSource: lambda.amazonaws.com, eventName: GetFunction20150331v2, awsRegion: us-east-1, userIdentity: {type: IAMUser, arn: "arn:aws:iam::111122223333:user/bob"}, requestParameters: {functionName: third}, eventID: 00000000-0000-4000-8000-000000000002}}
  - name: vary on a field the record lacks
    matches: 1
    events:
      - {kind: cloudtrail, repeat: 2, vary: [requestParameters.missing], record: ` + record + `}
  - name: a single read
    match: false
    kind: cloudtrail
    record: ` + record + `
`
	s, err := ParseSuite("r.tests.yml", []byte(suite))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range Run(detect.File{Name: "r.yml", Data: []byte(rules)}, s, decode.Builtin(), detect.Options{}) {
		line := r.Case + ": " + r.Describe()
		if r.Err != nil {
			line = r.Case + ": " + r.Err.Error()
		}
		if r.Pass() {
			line += " (pass)"
		}
		got = append(got, line)
	}
	want := []string{
		"three functions in 40 seconds: 1 results, want 1 (pass)",
		"the same function three times: 0 results, want 0 (pass)",
		"two, then a third one a minute later: 0 results, want 0 (pass)",
		"two, then a third one 59 seconds later, wrongly expected not to match: 1 results, want 0",
		`vary on a field the record lacks: event 1: vary: "requestParameters.missing" is not a string field of the record`,
		"a single read: matched false, want false (pass)",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("results (-want +got):\n%s", diff)
	}
}
