package main

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// deniedBurst returns the CloudTrail records i in [from, to) of a burst of
// calls by mallory refused with AccessDenied, 15 s apart, and their IDs;
// with tick, a refused call by bob a minute later moves event time past
// the one-second lateness the test configures.
func deniedBurst(start time.Time, from, to int, tick bool) ([]byte, []string) {
	rec := func(id, who string, at time.Time) string {
		return fmt.Sprintf(`{"eventVersion":"1.09","eventTime":%q,"eventSource":"iam.amazonaws.com","eventName":"ListRoles","awsRegion":"us-east-1","sourceIPAddress":"203.0.113.66","userAgent":"aws-cli/2","userIdentity":{"type":"IAMUser","arn":"arn:aws:iam::111122223333:user/%s","accountId":"111122223333"},"errorCode":"AccessDenied","eventID":%q,"recipientAccountId":"111122223333"}`,
			at.UTC().Format(time.RFC3339), who, id)
	}
	var recs, ids []string
	for i := from; i < to; i++ {
		id := fmt.Sprintf("7c1e2d3f-4a5b-4c6d-8e9f-0a1b2c3d4e%02d", i)
		recs = append(recs, rec(id, "mallory", start.Add(time.Duration(i)*15*time.Second)))
		ids = append(ids, id)
	}
	if tick {
		recs = append(recs, rec(fmt.Sprintf("7c1e2d3f-4a5b-4c6d-8e9f-0a1b2c3d4f%02d", to), "bob", start.Add(time.Duration(to)*15*time.Second+time.Minute)))
	}
	return []byte(`{"Records":[` + strings.Join(recs, ",") + `]}`), ids
}

// TestCrashKeepsCorrelationState posts half of an AccessDenied burst,
// kills the server with SIGKILL before any periodic checkpoint, restarts
// it and posts the other half: the replay of the stored events rebuilds
// the windows, and the correlation fires once with all ten events.
func TestCrashKeepsCorrelationState(t *testing.T) {
	t.Setenv("VIGIL_DETECT_CORRELATION_LATENESS", "1s")
	dir, addr := t.TempDir(), freePort(t)
	start := time.Date(2026, 11, 21, 8, 0, 0, 0, time.UTC)
	first, ids1 := deniedBurst(start, 0, 5, false)
	second, ids2 := deniedBurst(start, 5, 10, true)

	s := startServe(t, dir, addr)
	if code := s.post(t, "/api/v1/ingest/cloudtrail", first, nil); code != http.StatusAccepted {
		t.Fatalf("ingest: %d", code)
	}
	waitEvents(t, s, 5)
	s.kill()

	s = startServe(t, dir, addr)
	s.stopAtEnd(t)
	if code := s.post(t, "/api/v1/ingest/cloudtrail", second, nil); code != http.StatusAccepted {
		t.Fatalf("ingest: %d", code)
	}
	type alertRow struct {
		Count    int      `json:"count"`
		EventIDs []string `json:"event_ids"`
		Rule     struct{ Title string }
	}
	got := waitAlerts[alertRow](t, s)
	want := []alertRow{{Count: 1, EventIDs: append(ids1, ids2...)}}
	want[0].Rule.Title = "Burst of Access Denied Errors for One Principal"
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("alerts after a crash and restart (-want +got):\n%s\nlog:\n%s", diff, s.log.String())
	}
}

func waitEvents(t *testing.T, s *server, n int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		var st struct{ Events int }
		s.get(t, "/api/v1/stats", &st)
		if st.Events >= n {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("fewer than %d events stored:\n%s", n, s.log.String())
}

// alerts returns the server's alerts, decoded as T.
func alerts[T any](t *testing.T, s *server) []T {
	t.Helper()
	var got struct{ Alerts []T }
	s.get(t, "/api/v1/alerts?limit=100", &got)
	return got.Alerts
}

// waitAlerts returns the server's alerts once there is one, or what there
// is after 20 seconds.
func waitAlerts[T any](t *testing.T, s *server) []T {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		got := alerts[T](t, s)
		if len(got) > 0 || !time.Now().Before(deadline) {
			return got
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestCrashAfterAlertCountsItOnce posts a whole AccessDenied burst, waits
// for its alert, kills the server with SIGKILL before a periodic
// checkpoint holds the burst, and restarts it: the replay of the stored
// events completes the window again, and the alert still counts one
// match.
func TestCrashAfterAlertCountsItOnce(t *testing.T) {
	t.Setenv("VIGIL_DETECT_CORRELATION_LATENESS", "1s")
	dir, addr := t.TempDir(), freePort(t)
	start := time.Date(2026, 11, 21, 8, 0, 0, 0, time.UTC)
	burst, ids := deniedBurst(start, 0, 10, true)
	type alertRow struct {
		Count    int      `json:"count"`
		EventIDs []string `json:"event_ids"`
	}

	s := startServe(t, dir, addr)
	if code := s.post(t, "/api/v1/ingest/cloudtrail", burst, nil); code != http.StatusAccepted {
		t.Fatalf("ingest: %d", code)
	}
	if got := waitAlerts[alertRow](t, s); len(got) != 1 {
		t.Fatalf("before the crash: alerts %+v\nlog:\n%s", got, s.log.String())
	}
	s.kill()

	s = startServe(t, dir, addr)
	s.stopAtEnd(t)
	// An event posted after the restart is stored after the replay.
	marker, _ := deniedBurst(start, 50, 51, false)
	if code := s.post(t, "/api/v1/ingest/cloudtrail", marker, nil); code != http.StatusAccepted {
		t.Fatalf("ingest: %d", code)
	}
	waitEvents(t, s, 12)
	if !strings.Contains(s.log.String(), "replayed the events stored since its checkpoint") {
		t.Fatalf("the restart replayed nothing, so the test shows nothing:\n%s", s.log.String())
	}
	want := []alertRow{{Count: 1, EventIDs: ids}}
	if diff := cmp.Diff(want, alerts[alertRow](t, s)); diff != "" {
		t.Errorf("alerts after a crash that followed the alert (-want +got):\n%s\nlog:\n%s", diff, s.log.String())
	}
}
