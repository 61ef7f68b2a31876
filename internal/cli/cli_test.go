package cli

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// run runs the CLI with args and returns the exit code and streams.
func run(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := Run(context.Background(), append([]string{"vigil"}, args...), strings.NewReader(stdin), &out, &errOut)
	return code, out.String(), errOut.String()
}

func examples(parts ...string) string {
	return filepath.Join(append([]string{"..", "..", "examples", "logs"}, parts...)...)
}

func TestVersion(t *testing.T) {
	code, out, _ := run(t, "", "version")
	if code != ExitOK || !strings.HasPrefix(out, "vigil ") || !strings.Contains(out, "go1.") {
		t.Errorf("version: code %d, output %q", code, out)
	}
}

func TestUsageErrors(t *testing.T) {
	cases := [][]string{
		{"decode"},
		{"decode", "--source", "nope", "x"},
		{"decode", "--bogus-flag", "x"},
		{"decode", "does-not-exist.json"},
		{"hunt", "--format", "xml", examples()},
		{"hunt", "--min-level", "severe", examples()},
		{"hunt", "--no-builtin", examples()},
		{"version", "extra"},
	}
	for _, args := range cases {
		code, _, errOut := run(t, "", args...)
		if code != ExitUsage {
			t.Errorf("%v: exit %d, want %d (stderr %q)", args, code, ExitUsage, errOut)
		}
		if !strings.HasPrefix(errOut, "vigil: ") || strings.Count(strings.TrimSpace(errOut), "\n") != 0 {
			t.Errorf("%v: stderr should be one line starting with \"vigil: \", got %q", args, errOut)
		}
	}
}

func TestDecodeExamples(t *testing.T) {
	code, out, errOut := run(t, "", "decode", examples())
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	sources := map[string]int{}
	for _, l := range lines {
		var ev struct {
			Cloud, Source, Action string
			Raw                   json.RawMessage
		}
		if err := json.Unmarshal([]byte(l), &ev); err != nil {
			t.Fatalf("output line is not JSON: %v\n%s", err, l)
		}
		if ev.Cloud == "" || ev.Action == "" || len(ev.Raw) == 0 {
			t.Errorf("event lacks cloud, action or raw: %s", l)
		}
		sources[ev.Source]++
	}
	for _, s := range []string{"aws.cloudtrail", "aws.lambda", "azure.activity", "gcp.audit"} {
		if sources[s] == 0 {
			t.Errorf("no %s events decoded from the examples: %v", s, sources)
		}
	}
	if !strings.Contains(errOut, "decoded 4 inputs: ") || !strings.Contains(errOut, "0 errors") {
		t.Errorf("summary: %q", errOut)
	}
	if _, noRaw, _ := run(t, "", "decode", "--no-raw", examples("gcp")); strings.Contains(noRaw, `"raw"`) {
		t.Error("--no-raw output still has raw records")
	}
}

func TestDecodeBadRecords(t *testing.T) {
	in := `{"eventVersion":"1.09","eventTime":"2026-11-20T10:00:00Z","eventSource":"s3.amazonaws.com","eventName":"GetObject","awsRegion":"us-east-1"}
{"eventVersion":"1.09","eventTime":
{"eventVersion":"1.09","eventTime":"2026-11-20T10:00:02Z","eventSource":"s3.amazonaws.com","eventName":"PutObject","awsRegion":"us-east-1"}
`
	code, out, errOut := run(t, in, "decode", "-")
	if code != ExitFailure {
		t.Errorf("exit %d, want %d", code, ExitFailure)
	}
	if n := strings.Count(out, "\n"); n != 2 {
		t.Errorf("%d events written, want 2 (the good records)", n)
	}
	if !strings.Contains(errOut, "-: line 2: invalid JSON") || !strings.Contains(errOut, "3 records, 2 events, 1 errors") {
		t.Errorf("stderr = %q", errOut)
	}
	code, out, _ = run(t, in, "decode", "--strict", "-")
	if code != ExitFailure || strings.Count(out, "\n") != 1 {
		t.Errorf("--strict: exit %d, %d events; want exit 1 after the first event", code, strings.Count(out, "\n"))
	}
}

func TestHuntFormats(t *testing.T) {
	code, out, errOut := run(t, "", "hunt", "--format", "jsonl", "--min-level", "high", examples())
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	titles := map[string]bool{}
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("not JSON: %s", l)
		}
		if m["level"] != "high" && m["level"] != "critical" {
			t.Errorf("--min-level high let through %v", m["level"])
		}
		for _, k := range matchColumns {
			if _, ok := m[k]; !ok {
				t.Errorf("match lacks %q: %s", k, l)
			}
		}
		titles[m["title"].(string)] = true
	}
	for _, want := range []string{"CloudTrail Logging Stopped", "Lambda Function URL Created or Changed Without Authentication"} {
		if !titles[want] {
			t.Errorf("hunt over the examples did not report %q; got %v", want, titles)
		}
	}
	if !strings.Contains(errOut, "rules: ") || !strings.Contains(errOut, "events/s") {
		t.Errorf("summary: %q", errOut)
	}

	code, out, _ = run(t, "", "hunt", "--format", "csv", examples("aws"))
	rows, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if code != ExitOK || err != nil || len(rows) < 2 || strings.Join(rows[0], ",") != strings.Join(matchColumns, ",") {
		t.Errorf("csv: exit %d, err %v, rows %v", code, err, rows[:min(len(rows), 2)])
	}
	code, out, _ = run(t, "", "hunt", examples("gcp"))
	if code != ExitOK || !strings.HasPrefix(out, "TIME") {
		t.Errorf("table: exit %d, output %q", code, out)
	}
	if code, _, _ := run(t, "", "hunt", "--fail-on-match", examples("gcp")); code != ExitFailure {
		t.Errorf("--fail-on-match with matches: exit %d", code)
	}
}

func TestHuntExtraRules(t *testing.T) {
	dir := t.TempDir()
	rule := `title: Any GCP audit entry from the attacker
id: 0b7e6a1c-1d1f-4c59-8a63-3c2f7f1f5b10
level: low
logsource: {product: gcp, service: gcp.audit}
detection:
  sel:
    protoPayload.requestMetadata.callerIp: 203.0.113.50
  condition: sel
`
	if err := os.WriteFile(filepath.Join(dir, "attacker.yml"), []byte(rule), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := run(t, "", "hunt", "--no-builtin", "--rules", dir, "--format", "jsonl", examples("gcp"))
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if n := strings.Count(out, "Any GCP audit entry from the attacker"); n == 0 {
		t.Errorf("extra rule did not match: %s", out)
	}
	if !strings.Contains(errOut, "rules: 1 loaded") {
		t.Errorf("summary: %s", errOut)
	}
}

func TestRulesLintAndTest(t *testing.T) {
	dir := t.TempDir()
	bad := "title: broken\nlogsource: {product: aws, service: cloudtrail}\ndetection:\n  sel:\n    eventName|startswith|bogus: x\n  condition: sel and missing\n"
	os.WriteFile(filepath.Join(dir, "broken.yml"), []byte(bad), 0o600)
	code, out, _ := run(t, "", "rules", "lint", dir)
	if code != ExitFailure || !strings.Contains(out, "broken.yml:5:") || !strings.Contains(out, "broken.yml:6:") {
		t.Errorf("lint: exit %d, output %q; want both problems with positions", code, out)
	}

	good := `title: Trail stopped
id: 4a3e1f0b-9c1d-4e7a-8b2c-5d6e7f8a9b0c
level: high
tags: [attack.defense-evasion, attack.t1562.008]
falsepositives: [planned maintenance]
logsource: {product: aws, service: cloudtrail}
detection:
  sel:
    eventName: StopLogging
  condition: sel
`
	tests := `cases:
  - name: stop
    match: true
    kind: cloudtrail
    record: {eventVersion: "1.09", eventTime: "2026-11-20T10:00:00Z", eventSource: cloudtrail.amazonaws.com, eventName: StopLogging, awsRegion: us-east-1, eventID: 1b2c3d4e-0000-4000-8000-000000000001}
  - name: start is wrongly expected to match
    match: true
    kind: cloudtrail
    record: {eventVersion: "1.09", eventTime: "2026-11-20T10:00:00Z", eventSource: cloudtrail.amazonaws.com, eventName: StartLogging, awsRegion: us-east-1, eventID: 1b2c3d4e-0000-4000-8000-000000000002}
`
	dir2 := t.TempDir()
	os.WriteFile(filepath.Join(dir2, "trail.yml"), []byte(good), 0o600)
	os.WriteFile(filepath.Join(dir2, "trail.tests.yml"), []byte(tests), 0o600)
	code, out, errOut := run(t, "", "rules", "test", dir2)
	if code != ExitFailure || !strings.Contains(out, "FAIL") || !strings.Contains(out, "start is wrongly expected to match: matched false, want true") {
		t.Errorf("test: exit %d, out %q, err %q", code, out, errOut)
	}
	if !strings.Contains(errOut, "1 passed, 1 failed") {
		t.Errorf("summary %q", errOut)
	}
	code, _, _ = run(t, "", "rules", "test", "../../rules")
	if code != ExitOK {
		t.Errorf("the built-in pack's tests fail under vigil rules test: exit %d", code)
	}
}

func TestHuntPlaceholdersAndFieldMapping(t *testing.T) {
	dir := t.TempDir()
	rule := `title: Known attacker account
id: 0b7e6a1c-1d1f-4c59-8a63-3c2f7f1f5b11
level: high
logsource: {product: gcp, service: gcp.audit}
detection:
  sel:
    caller|expand: '%attackers%'
  condition: sel
`
	os.WriteFile(filepath.Join(dir, "r.yml"), []byte(rule), 0o600)
	mapping := filepath.Join(t.TempDir(), "fields.yml")
	os.WriteFile(mapping, []byte("gcp.audit:\n  caller: [protoPayload.authenticationInfo.principalEmail]\n"), 0o600)
	// Without the placeholder's values the rule cannot compile.
	if code, _, errOut := run(t, "", "hunt", "--no-builtin", "--rules", dir, examples("gcp")); code != ExitOK || !strings.Contains(errOut, "placeholder %attackers% has no values") {
		t.Errorf("missing placeholder: exit %d, %s", code, errOut)
	}
	code, out, errOut := run(t, "", "hunt", "--no-builtin", "--rules", dir, "--format", "jsonl",
		"--placeholder", "attackers=mallory@example.com,alice.dev@example.com", "--field-mapping", mapping, examples("gcp"))
	if code != ExitOK || !strings.Contains(out, "Known attacker account") {
		t.Errorf("exit %d, out %q, err %q", code, out, errOut)
	}
	if code, _, _ := run(t, "", "hunt", "--placeholder", "nonsense", examples("gcp")); code != ExitUsage {
		t.Errorf("bad --placeholder: exit %d", code)
	}
}
