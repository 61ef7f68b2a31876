package baseline_test

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vigil-sec/vigil/internal/detect/baseline"
	"github.com/vigil-sec/vigil/internal/detect/sigma"
)

var update = flag.Bool("update", false, "rewrite golden files")

const fullRule = `
id: 6f0c2d3e-aaaa-4bbb-8ccc-0123456789ab
name: test_cost
title: Cost spike
description: GB-seconds per function.
author: Vigil
level: high
tags: [attack.impact, attack.t1496]
falsepositives: [load tests]
kind: rate
events:
    - source: aws.lambda
      raw.lambda.type: [REPORT, platform.report]
    - source: azure.appservice_http
      source_ip: {exists: true}
except:
    - function: [canary, smoke-test]
key: [account, function]
value:
    field: raw.lambda.billedDurationMs
    times: raw.lambda.memorySizeMB
    scale: 0.0000009765625
bucket: 5m
learning: 2w
cooldown: 90m
max_keys: 5000
threshold: {zscore: 5, ratio: 6, min: 1_000, min_events: 3}
---
id: second
title: New region
kind: first_seen
events: {source: aws.cloudtrail, error_code: 429}
key: account
new: [region]
key_learning: 3d
`

func TestParseValid(t *testing.T) {
	rules, err := baseline.Parse("full.baseline", []byte(fullRule))
	if err != nil {
		t.Fatal(err)
	}
	want := []*baseline.Rule{
		{
			ID: "6f0c2d3e-aaaa-4bbb-8ccc-0123456789ab", Name: "test_cost", Title: "Cost spike", Description: "GB-seconds per function.",
			Author: "Vigil", Level: "high", Tags: []string{"attack.impact", "attack.t1496"}, FalsePositives: []string{"load tests"},
			Kind: baseline.Rate,
			Events: []baseline.Clause{
				{Conds: []baseline.Cond{{Field: "source", Values: []string{"aws.lambda"}}, {Field: "raw.lambda.type", Values: []string{"REPORT", "platform.report"}}}},
				{Conds: []baseline.Cond{{Field: "source", Values: []string{"azure.appservice_http"}}, {Field: "source_ip", Exists: true}}},
			},
			Except: []baseline.Clause{{Conds: []baseline.Cond{{Field: "function", Values: []string{"canary", "smoke-test"}}}}},
			Key:    []string{"account", "function"},
			Value:  &baseline.Value{Field: "raw.lambda.billedDurationMs", Times: "raw.lambda.memorySizeMB", Scale: 0.0000009765625, Aggregate: baseline.AggregateSum},
			Bucket: 5 * time.Minute, Seasonality: baseline.SeasonalityWeek, Cooldown: 90 * time.Minute,
			Threshold: baseline.Threshold{ZScore: 5, Ratio: 6, Min: 1000, MinEvents: 3},
			Learning:  14 * 24 * time.Hour, MaxKeys: 5000, File: "full.baseline", Line: 2,
		},
		{
			ID: "second", Title: "New region", Kind: baseline.FirstSeen,
			Events:   []baseline.Clause{{Conds: []baseline.Cond{{Field: "source", Values: []string{"aws.cloudtrail"}}, {Field: "error_code", Values: []string{"429"}}}}},
			Key:      []string{"account"},
			New:      []string{"region"},
			Learning: baseline.DefaultLearning, KeyLearning: 72 * time.Hour, File: "full.baseline", Line: 29,
		},
	}
	if diff := cmp.Diff(want, rules); diff != "" {
		t.Errorf("Parse mismatch (-want +got):\n%s", diff)
	}
}

// TestParseDefaults checks what a rate rule that sets only what it must
// gets.
func TestParseDefaults(t *testing.T) {
	rules, err := baseline.Parse("min.baseline", []byte("id: x\ntitle: X\nkind: rate\nevents: [{source: aws.cloudtrail}]\nkey: [principal]\n"))
	if err != nil {
		t.Fatal(err)
	}
	r := rules[0]
	got := []any{r.Bucket, r.Learning, r.Cooldown, r.Seasonality, r.Threshold, r.Value}
	want := []any{time.Minute, 7 * 24 * time.Hour, time.Hour, "week",
		baseline.Threshold{ZScore: 4, Ratio: 3, Min: 10, MinEvents: 1}, (*baseline.Value)(nil)}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("defaults (-want +got):\n%s", diff)
	}
	mean, err := baseline.Parse("mean.baseline", []byte("id: x\ntitle: X\nkind: rate\nevents: [{source: aws.lambda}]\nkey: [function]\nvalue: {field: raw.lambda.durationMs, aggregate: mean}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if mean[0].Seasonality != baseline.SeasonalityNone {
		t.Errorf("a mean's seasonality is %q, want none", mean[0].Seasonality)
	}
}

var positionRE = regexp.MustCompile(`^testdata/invalid/[a-z_]+\.baseline:\d+:\d+: `)

// TestParseInvalid parses each file of testdata/invalid, each with one
// mistake, and compares the errors with the golden .err file beside it
// (go test -update rewrites them). Every error names file:line:col.
func TestParseInvalid(t *testing.T) {
	files, err := filepath.Glob("testdata/invalid/*.baseline")
	if err != nil || len(files) == 0 {
		t.Fatalf("no invalid rules: %v", err)
	}
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), baseline.Ext), func(t *testing.T) {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			rules, err := baseline.Parse(filepath.ToSlash(file), data)
			if err == nil {
				t.Fatalf("parsed without error: %+v", rules)
			}
			if len(rules) != 0 {
				t.Errorf("a rule with a problem was returned: %+v", rules[0])
			}
			var list sigma.ErrorList
			if !errors.As(err, &list) {
				t.Fatalf("error %T is not a positioned error list: %v", err, err)
			}
			for _, line := range strings.Split(err.Error(), "\n") {
				if !positionRE.MatchString(line) {
					t.Errorf("error without file:line:col: %q", line)
				}
			}
			golden := strings.TrimSuffix(file, baseline.Ext) + ".err"
			got := err.Error() + "\n"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if diff := cmp.Diff(string(want), got); diff != "" {
				t.Errorf("errors differ from %s (-want +got):\n%s", golden, diff)
			}
		})
	}
}

func TestParseBounds(t *testing.T) {
	big := "id: x\ntitle: X\nkind: rate\nkey: [principal]\nevents: [{source: aws.cloudtrail}]\ndescription: " + strings.Repeat("a", 1<<20) + "\n"
	if _, err := baseline.Parse("big.baseline", []byte(big)); err == nil || !strings.Contains(err.Error(), "more than the limit") {
		t.Errorf("a file over 1 MiB: err = %v", err)
	}
	deep := "id: x\ntitle: X\nkind: rate\nkey: [principal]\nevents: " + strings.Repeat("[", 40) + strings.Repeat("]", 40) + "\n"
	if _, err := baseline.Parse("deep.baseline", []byte(deep)); err == nil || !strings.Contains(err.Error(), "too deep") {
		t.Errorf("deep nesting: err = %v", err)
	}
	docs := strings.Repeat("id: x\ntitle: X\nkind: rate\nkey: [principal]\nevents: [{source: aws.cloudtrail}]\n---\n", 70)
	if _, err := baseline.Parse("many.baseline", []byte(docs)); err == nil || !strings.Contains(err.Error(), "too many YAML documents") {
		t.Errorf("70 documents: err = %v", err)
	}
}

func TestParseDuration(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		err  bool
	}{
		{"90s", 90 * time.Second, false},
		{"1h30m", 90 * time.Minute, false},
		{"7d", 7 * 24 * time.Hour, false},
		{"2w", 14 * 24 * time.Hour, false},
		{"1.5d", 0, true},
		{"d", 0, true},
		{"seven days", 0, true},
		{"99999999d", 0, true},
	}
	for _, tt := range tests {
		got, err := baseline.ParseDuration(tt.in)
		if (err != nil) != tt.err || got != tt.want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v, error %v", tt.in, got, err, tt.want, tt.err)
		}
		if err == nil {
			back, err := baseline.ParseDuration(baseline.FormatDuration(got))
			if err != nil || back != got {
				t.Errorf("FormatDuration(%v) = %q does not read back", got, baseline.FormatDuration(got))
			}
		}
	}
}

func TestFileNames(t *testing.T) {
	tests := []struct {
		name       string
		rule, test bool
	}{
		{"spike.baseline", true, false},
		{"dir/spike.tests.baseline", false, true},
		{"spike.yml", false, false},
		{"spike.baseline.yml", false, false},
	}
	for _, tt := range tests {
		if baseline.IsFile(tt.name) != tt.rule || baseline.IsTestFile(tt.name) != tt.test {
			t.Errorf("%s: IsFile, IsTestFile = %v, %v; want %v, %v", tt.name, baseline.IsFile(tt.name), baseline.IsTestFile(tt.name), tt.rule, tt.test)
		}
	}
	if got := baseline.TestFileOf("a/b.baseline"); got != "a/b.tests.baseline" {
		t.Errorf("TestFileOf = %q", got)
	}
}

func TestLoad(t *testing.T) {
	ruleA := "id: same\ntitle: A\nkind: rate\nevents: [{source: aws.cloudtrail}]\nkey: [principal]\n"
	ruleGeo := "id: geo\ntitle: G\nkind: first_seen\nevents: [{source: aws.cloudtrail}]\nkey: [principal]\nnew: [country]\n"
	files := []baseline.File{
		{Name: "a.baseline", Data: []byte(ruleA)},
		{Name: "b.baseline", Data: []byte("# comment\n" + ruleA)},
		{Name: "g.baseline", Data: []byte(ruleGeo)},
		{Name: "bad.baseline", Data: []byte("id: bad\ntitle: B\nkind: rate\n")},
	}
	set := baseline.Load(files, baseline.Geo{})
	if len(set.Rules) != 1 || set.Rules[0].File != "a.baseline" {
		t.Errorf("active rules = %v, want the one of a.baseline", set.Rules)
	}
	var failed []string
	for _, f := range set.Failed {
		failed = append(failed, f.Error())
	}
	want := []string{
		"b.baseline:2:1: duplicate rule id same, also in a.baseline:1",
		"bad.baseline:1:1: missing events: say which events the rule reads, for example events: [{source: aws.cloudtrail}]\n" +
			"bad.baseline:1:1: missing key: a rate rule needs the fields that tell its series apart, such as key: [function]",
	}
	if diff := cmp.Diff(want, failed); diff != "" {
		t.Errorf("failures (-want +got):\n%s", diff)
	}
	if len(set.Inactive) != 1 || !strings.Contains(set.Inactive[0].Reason, "no MaxMind-format database with countries") {
		t.Errorf("inactive = %+v, want the country rule with its reason", set.Inactive)
	}
	if _, err := baseline.New(set.Rules, baseline.Options{}); err != nil {
		t.Errorf("New: %v", err)
	}
	if _, err := baseline.New([]*baseline.Rule{set.Inactive[0].Rule}, baseline.Options{}); err == nil {
		t.Error("New accepted a rule that needs a country database without one")
	}
}

func TestReadPaths(t *testing.T) {
	dir := t.TempDir()
	rule := "id: x\ntitle: X\nkind: rate\nevents: [{source: aws.cloudtrail}]\nkey: [principal]\n"
	for name, data := range map[string]string{
		"a.baseline": rule, "a.tests.baseline": "cases: []", "sigma.yml": "title: not a baseline", "sub/b.baseline": rule,
	} {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	files, err := baseline.ReadPaths([]string{dir, filepath.Join(dir, "a.baseline")})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range files {
		names = append(names, strings.TrimPrefix(filepath.ToSlash(f.Name), filepath.ToSlash(dir)+"/"))
	}
	if diff := cmp.Diff([]string{"a.baseline", "sub/b.baseline", "a.baseline"}, names); diff != "" {
		t.Errorf("files (-want +got):\n%s", diff)
	}
	if _, err := baseline.ReadPaths([]string{filepath.Join(dir, "missing")}); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Errorf("missing path: err = %v", err)
	}
}
