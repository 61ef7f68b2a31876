package main

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// newActionRule is a first_seen baseline that learns for ten minutes of
// event time: a principal calling an action it never called fires.
const newActionRule = `id: 0d7c4e21-5a3b-4f6e-8d9c-1b2a3c4d5e6f
title: Principal Calls a New API
level: medium
tags:
    - attack.t1078.004
falsepositives:
    - none, a test rule
kind: first_seen
events:
    - source: [aws.cloudtrail]
key: [principal]
new: [action]
learning: 10m
`

// apiCall is a successful CloudTrail call by user who, minute minutes
// after the start of the test's event time.
type apiCall struct {
	who, action string
	minute      int
}

// apiCalls returns a CloudTrail body with the calls, and their event IDs
// (numbered from idBase).
func apiCalls(start time.Time, idBase int, cs ...apiCall) ([]byte, []string) {
	var recs, ids []string
	for i, c := range cs {
		id := fmt.Sprintf("3f2e1d0c-9b8a-4765-8432-%012d", idBase+i)
		recs = append(recs, fmt.Sprintf(`{"eventVersion":"1.09","eventTime":%q,"eventSource":"iam.amazonaws.com","eventName":%q,"awsRegion":"us-east-1","sourceIPAddress":"203.0.113.66","userAgent":"aws-cli/2","userIdentity":{"type":"IAMUser","arn":"arn:aws:iam::111122223333:user/%s","accountId":"111122223333"},"eventID":%q,"recipientAccountId":"111122223333","readOnly":true,"eventType":"AwsApiCall"}`,
			start.Add(time.Duration(c.minute)*time.Minute).UTC().Format(time.RFC3339), c.action, c.who, id))
		ids = append(ids, id)
	}
	return []byte(`{"Records":[` + strings.Join(recs, ",") + `]}`), ids
}

// TestCrashKeepsBaselineState lets a first_seen baseline learn mallory's
// and bob's calls, kills the server with SIGKILL before any periodic
// checkpoint, restarts it and posts a call mallory made before and one it
// never made: the replay of the stored events rebuilds what was learned
// and when learning ended, so only the new call fires, once.
func TestCrashKeepsBaselineState(t *testing.T) {
	rule := filepath.Join(t.TempDir(), "new_action.baseline")
	if err := os.WriteFile(rule, []byte(newActionRule), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("VIGIL_DETECT_BUILTIN", "false")
	t.Setenv("VIGIL_DETECT_BASELINE_RULES", rule)
	t.Setenv("VIGIL_DETECT_BASELINE_LATENESS", "1s")
	dir, addr := t.TempDir(), freePort(t)
	start := time.Date(2026, 11, 21, 8, 0, 0, 0, time.UTC)
	var learn []apiCall
	for m := range 12 {
		learn = append(learn, apiCall{"mallory", "ListRoles", m}, apiCall{"bob", "ListUsers", m})
	}
	first, _ := apiCalls(start, 0, learn...)
	second, ids := apiCalls(start, 100,
		apiCall{"mallory", "ListRoles", 20},
		apiCall{"mallory", "GetSecretValue", 21},
		// A call bob made before, later, closes the buckets of the two
		// before and fires nothing itself.
		apiCall{"bob", "ListUsers", 25})

	s := startServe(t, dir, addr)
	if code := s.post(t, "/api/v1/ingest/cloudtrail", first, nil); code != http.StatusAccepted {
		t.Fatalf("ingest: %d", code)
	}
	waitEvents(t, s, len(learn))
	s.kill()

	s = startServe(t, dir, addr)
	s.stopAtEnd(t)
	// The checkpoint written before the kill held none of the calls: the
	// restart has to replay them all.
	if want := fmt.Sprintf("events=%d", len(learn)); !strings.Contains(s.log.String(), "replayed the events stored since its checkpoint") || !strings.Contains(s.log.String(), want) {
		t.Errorf("the restart does not log a replay of the %d stored calls:\n%s", len(learn), s.log.String())
	}
	if code := s.post(t, "/api/v1/ingest/cloudtrail", second, nil); code != http.StatusAccepted {
		t.Fatalf("ingest: %d", code)
	}
	waitEvents(t, s, len(learn)+3)
	type alertRow struct {
		Count     int      `json:"count"`
		Principal string   `json:"principal"`
		Action    string   `json:"action"`
		EventIDs  []string `json:"event_ids"`
		Rule      struct{ Title string }
	}
	waitAlerts[alertRow](t, s)
	// Let a wrong second alert show up before comparing.
	time.Sleep(300 * time.Millisecond)
	want := []alertRow{{Count: 1, Principal: "arn:aws:iam::111122223333:user/mallory", Action: "GetSecretValue", EventIDs: ids[1:2]}}
	want[0].Rule.Title = "Principal Calls a New API"
	if diff := cmp.Diff(want, alerts[alertRow](t, s)); diff != "" {
		t.Errorf("alerts after a crash and restart (-want +got):\n%s\nlog:\n%s", diff, s.log.String())
	}
}
