package cli

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const burstRule = `title: Denied
id: 0b7e6a1c-1d1f-4c59-8a63-3c2f7f1f5c01
name: denied_call
logsource: {product: aws, service: cloudtrail}
detection:
  sel: {errorCode: AccessDenied}
  condition: sel
---
title: Denied burst
id: 0b7e6a1c-1d1f-4c59-8a63-3c2f7f1f5c02
level: high
tags: [attack.discovery, attack.t1580]
falsepositives: [none]
correlation:
  type: event_count
  rules: [denied_call]
  group-by: [userIdentity.arn, awsRegion]
  timespan: 1m
  condition: {gte: 3}
`

// deniedTrail returns a CloudTrail file of n refused calls by user, 10
// seconds apart.
func deniedTrail(user string, n int) string {
	var recs []string
	for i := 0; i < n; i++ {
		recs = append(recs, fmt.Sprintf(`{"eventVersion":"1.09","eventTime":"2026-11-20T10:00:%02dZ","eventSource":"iam.amazonaws.com","eventName":"ListRoles","errorCode":"AccessDenied","awsRegion":"us-east-1","userIdentity":{"type":"IAMUser","arn":%q},"eventID":"00000000-0000-4000-8000-%012d"}`,
			10*i, user, i+1))
	}
	return `{"Records":[` + strings.Join(recs, ",") + `]}`
}

func TestHuntCorrelationOutput(t *testing.T) {
	rules := t.TempDir()
	os.WriteFile(filepath.Join(rules, "burst.yml"), []byte(burstRule), 0o600)
	logs := filepath.Join(t.TempDir(), "trail.json")
	os.WriteFile(logs, []byte(deniedTrail("arn:aws:iam::111122223333:user/mallory", 3)), 0o600)

	code, out, errOut := run(t, "", "hunt", "--no-builtin", "--rules", rules, "--format", "jsonl", logs)
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 1 {
		t.Fatalf("want only the correlation match (the referenced rule raises nothing of its own), got %q", lines)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &m); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"kind": "correlation", "title": "Denied burst", "level": "high", "rule_id": "0b7e6a1c-1d1f-4c59-8a63-3c2f7f1f5c02",
		"time":   "2026-11-20T10:00:20Z",
		"group":  map[string]any{"userIdentity.arn": "arn:aws:iam::111122223333:user/mallory", "awsRegion": "us-east-1"},
		"value":  3.0,
		"events": []any{"00000000-0000-4000-8000-000000000001", "00000000-0000-4000-8000-000000000002", "00000000-0000-4000-8000-000000000003"},
	}
	for k, v := range want {
		if diff := cmp.Diff(v, m[k]); diff != "" {
			t.Errorf("%s (-want +got):\n%s", k, diff)
		}
	}
	if !strings.Contains(errOut, "1 correlations") || !strings.Contains(errOut, "1  high  Denied burst") {
		t.Errorf("summary: %s", errOut)
	}

	code, out, _ = run(t, "", "hunt", "--no-builtin", "--rules", rules, "--format", "csv", logs)
	rows, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if code != ExitOK || err != nil || len(rows) != 2 {
		t.Fatalf("csv: exit %d, err %v, rows %q", code, err, rows)
	}
	row := map[string]string{}
	for i, col := range rows[0] {
		row[col] = rows[1][i]
	}
	if row["kind"] != "correlation" || row["group"] != "userIdentity.arn=arn:aws:iam::111122223333:user/mallory;awsRegion=us-east-1" ||
		!strings.HasPrefix(row["events"], "00000000-0000-4000-8000-000000000001 ") {
		t.Errorf("csv row %v", row)
	}

	code, out, _ = run(t, "", "hunt", "--no-builtin", "--rules", rules, logs)
	if code != ExitOK || !strings.Contains(out, "Denied burst") || !strings.Contains(out, "3 events") {
		t.Errorf("table: exit %d, %q", code, out)
	}

	// Two refusals are not a burst.
	os.WriteFile(logs, []byte(deniedTrail("arn:aws:iam::111122223333:user/mallory", 2)), 0o600)
	if code, out, _ := run(t, "", "hunt", "--no-builtin", "--rules", rules, "--format", "jsonl", "--fail-on-match", logs); code != ExitOK || out != "" {
		t.Errorf("below the threshold: exit %d, %q", code, out)
	}
}

func TestRulesTestCorrelationCases(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "burst.yml"), []byte(burstRule), 0o600)
	record := `{eventVersion: "1.09", eventTime: "2026-11-20T10:00:00Z", eventSource: iam.amazonaws.com, eventName: ListRoles, errorCode: AccessDenied, awsRegion: us-east-1, userIdentity: {type: IAMUser, arn: "arn:aws:iam::111122223333:user/mallory"}, eventID: 00000000-0000-4000-8000-000000000001}`
	tests := `cases:
  - name: three refusals in a minute
    matches: 1
    events:
      - {kind: cloudtrail, repeat: 3, every: 20s, record: ` + record + `}
  - name: three refusals over two minutes, wrongly expected to match
    matches: 1
    events:
      - {kind: cloudtrail, repeat: 3, every: 1m, record: ` + record + `}
  - name: one refusal
    match: false
    kind: cloudtrail
    record: ` + record + `
`
	os.WriteFile(filepath.Join(dir, "burst.tests.yml"), []byte(tests), 0o600)
	code, out, errOut := run(t, "", "rules", "test", dir)
	if code != ExitFailure || !strings.Contains(out, "three refusals over two minutes, wrongly expected to match: 0 results, want 1") {
		t.Errorf("exit %d, out %q", code, out)
	}
	if !strings.Contains(errOut, "2 passed, 1 failed") {
		t.Errorf("summary %q", errOut)
	}
	code, out, _ = run(t, "", "rules", "lint", dir)
	if code != ExitOK || strings.Contains(out, "warning") {
		t.Errorf("lint of a correlation with its building block: exit %d, %q", code, out)
	}
}
