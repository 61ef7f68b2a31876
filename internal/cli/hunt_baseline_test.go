package cli

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const newActionBaseline = `id: 6f1c7a52-0b7e-4c55-9d0e-2a5b8e3f4c12
title: New action
level: medium
tags: [attack.t1078.004]
falsepositives: [none]
kind: first_seen
events:
  - source: [aws.cloudtrail]
key: [principal]
new: [action]
learning: 2m
`

const newActionTests = `cases:
  - name: a new action after learning fires
    streams:
      - start: 2026-03-02T00:00:00Z
        duration: 10m
        per_minute: 1
        event: {source: aws.cloudtrail, principal: alice, action: ListRoles}
      - start: 2026-03-02T00:05:00Z
        duration: 1m
        per_minute: 1
        event: {source: aws.cloudtrail, principal: alice, action: GetSecretValue}
    want:
      - time: 2026-03-02T00:05:00Z
        key: {principal: alice, action: GetSecretValue}
`

// actionTrail is a CloudTrail file of mallory's calls, a minute apart.
func actionTrail(actions ...string) string {
	var recs []string
	for i, a := range actions {
		recs = append(recs, fmt.Sprintf(`{"eventVersion":"1.09","eventTime":"2026-11-20T10:%02d:00Z","eventSource":"iam.amazonaws.com","eventName":%q,"awsRegion":"us-east-1","userIdentity":{"type":"IAMUser","arn":"arn:aws:iam::111122223333:user/mallory"},"eventID":"00000000-0000-4000-8000-%012d"}`,
			i, a, i+1))
	}
	return `{"Records":[` + strings.Join(recs, ",") + `]}`
}

func TestHuntBaselineOutput(t *testing.T) {
	rules := t.TempDir()
	os.WriteFile(filepath.Join(rules, "new_action.baseline"), []byte(newActionBaseline), 0o600)
	// A Sigma rule that matches nothing, so that --no-baselines has a rule.
	os.WriteFile(filepath.Join(rules, "quiet.yml"), []byte("title: Quiet\nlogsource: {product: aws, service: cloudtrail}\ndetection:\n  sel: {eventName: NeverCalled}\n  condition: sel\n"), 0o600)
	logs := filepath.Join(t.TempDir(), "trail.json")
	// Learning ends at 10:02; ListRoles again is not new, GetSecretValue is.
	os.WriteFile(logs, []byte(actionTrail("ListRoles", "ListRoles", "ListRoles", "ListRoles", "GetSecretValue", "ListRoles")), 0o600)

	tests := []struct {
		name string
		args []string
		want []map[string]any
	}{
		{"baselines", nil, []map[string]any{{
			"kind": "baseline", "rule_id": "6f1c7a52-0b7e-4c55-9d0e-2a5b8e3f4c12", "title": "New action", "level": "medium",
			"time":  "2026-11-20T10:04:00Z",
			"group": map[string]any{"principal": "arn:aws:iam::111122223333:user/mallory", "action": "GetSecretValue"},
			"value": 1.0, "events": []any{"00000000-0000-4000-8000-000000000005"},
		}}},
		{"no baselines", []string{"--no-baselines"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"hunt", "--no-builtin", "--rules", rules, "--format", "jsonl"}, tt.args...)
			code, out, errOut := run(t, "", append(args, logs)...)
			if code != ExitOK {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			var got []map[string]any
			for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
				if line == "" {
					continue
				}
				var m map[string]any
				if err := json.Unmarshal([]byte(line), &m); err != nil {
					t.Fatalf("line %q: %v", line, err)
				}
				got = append(got, map[string]any{"kind": m["kind"], "rule_id": m["rule_id"], "title": m["title"], "level": m["level"],
					"time": m["time"], "group": m["group"], "value": m["value"], "events": m["events"]})
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("matches (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRulesBaselineLintAndTest(t *testing.T) {
	good := t.TempDir()
	os.WriteFile(filepath.Join(good, "new_action.baseline"), []byte(newActionBaseline), 0o600)
	os.WriteFile(filepath.Join(good, "new_action.tests.baseline"), []byte(newActionTests), 0o600)
	failing := t.TempDir()
	os.WriteFile(filepath.Join(failing, "new_action.baseline"), []byte(newActionBaseline), 0o600)
	os.WriteFile(filepath.Join(failing, "new_action.tests.baseline"), []byte(strings.Replace(newActionTests, "GetSecretValue}\n    want", "ListRoles}\n    want", 1)), 0o600)
	bad := t.TempDir()
	os.WriteFile(filepath.Join(bad, "broken.baseline"), []byte("id: x\ntitle: Broken\nkind: sideways\n"), 0o600)
	untested := t.TempDir()
	os.WriteFile(filepath.Join(untested, "new_action.baseline"), []byte(newActionBaseline), 0o600)

	tests := []struct {
		name     string
		args     []string
		code     int
		out, err string // substrings of stdout and stderr
	}{
		{"lint good dir", []string{"rules", "lint", good}, ExitOK, "", "1 baseline file: 1 baselines active, 0 inactive; 0 errors, 0 warnings"},
		{"lint given file", []string{"rules", "lint", filepath.Join(good, "new_action.baseline")}, ExitOK, "", "0 errors, 0 warnings"},
		{"lint broken", []string{"rules", "lint", bad}, ExitFailure, "error: ", "1 errors"},
		{"lint untested", []string{"rules", "lint", untested}, ExitOK, "has no test cases in new_action.tests.baseline", "1 warnings"},
		{"lint built-in", []string{"rules", "lint", "--builtin-baselines"}, ExitOK, "", "14 baselines active, 0 inactive; 0 errors, 0 warnings"},
		{"test good", []string{"rules", "test", "-v", good}, ExitOK, "ok   " + filepath.Join(good, "new_action.baseline"), "1 passed, 0 failed, 0 rule files without tests"},
		{"test given test file", []string{"rules", "test", filepath.Join(good, "new_action.tests.baseline")}, ExitOK, "", "1 passed, 0 failed"},
		{"test failing", []string{"rules", "test", failing}, ExitFailure, "FAIL " + filepath.Join(failing, "new_action.baseline"), "0 passed, 1 failed"},
		{"test untested", []string{"rules", "test", untested}, ExitFailure, "NONE ", "0 passed, 0 failed, 1 rule files without tests"},
		{"test built-in", []string{"rules", "test", "--builtin-baselines"}, ExitOK, "", " passed, 0 failed, 0 rule files without tests"},
		{"no paths", []string{"rules", "test"}, ExitUsage, "", "--builtin-baselines"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := run(t, "", tt.args...)
			if code != tt.code {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tt.code, out, errOut)
			}
			if !strings.Contains(out, tt.out) || !strings.Contains(errOut, tt.err) {
				t.Errorf("stdout %q lacks %q or stderr %q lacks %q", out, tt.out, errOut, tt.err)
			}
		})
	}
}

// TestHuntWarnsOfEarlyEvents checks that a hunt says when an input went
// back more than a day before the first event a first_seen rule read,
// which then taught the rule without moving the start of its learning
// period.
func TestHuntWarnsOfEarlyEvents(t *testing.T) {
	rules := t.TempDir()
	os.WriteFile(filepath.Join(rules, "new_action.baseline"), []byte(newActionBaseline), 0o600)
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "a.json"), []byte(actionTrail("ListRoles")), 0o600)
	older := strings.ReplaceAll(actionTrail("ListRoles", "GetUser"), "2026-11-20T", "2026-11-17T")
	os.WriteFile(filepath.Join(dir, "b.json"), []byte(older), 0o600)
	const warning = "baselines: 2 events came more than 24 hours older than the first event read of their first_seen rule"
	for _, files := range [][]string{{"a.json", "b.json"}, {"b.json", "a.json"}} {
		args := []string{"hunt", "--no-builtin", "--rules", rules, "--workers", "1"}
		for _, f := range files {
			args = append(args, filepath.Join(dir, f))
		}
		code, _, errOut := run(t, "", args...)
		if code != ExitOK {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		if got, want := strings.Contains(errOut, warning), files[0] == "a.json"; got != want {
			t.Errorf("inputs %v: warning %v, want %v; summary:\n%s", files, got, want, errOut)
		}
	}
}
