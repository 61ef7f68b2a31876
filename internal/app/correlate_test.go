package app

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vigil-sec/vigil/internal/config"
)

const (
	burstTitle = "Burst of Access Denied Errors for One Principal"
	blockTitle = "AWS API Call Refused for Lack of Permission"
)

// deniedRecord is a CloudTrail call refused with AccessDenied, a building
// block of the built-in AccessDenied burst correlation.
func deniedRecord(id, principal string, at time.Time) string {
	return fmt.Sprintf(`{"eventVersion":"1.09","eventTime":%q,"eventSource":"iam.amazonaws.com","eventName":"ListRoles","awsRegion":"us-east-1","sourceIPAddress":"203.0.113.66","userAgent":"aws-cli/2","userIdentity":{"type":"IAMUser","arn":%q,"accountId":"111122223333"},"errorCode":"AccessDenied","eventID":%q,"recipientAccountId":"111122223333","readOnly":true,"eventType":"AwsApiCall"}`,
		at.UTC().Format(time.RFC3339), principal, id)
}

// burst returns events i in [from, to) of a burst of refused calls by
// mallory, 15 s apart, and their IDs. With tick, a refused call by bob a
// minute after the last one follows, which moves event time past the
// lateness the tests configure (one second), so the burst is processed.
func burst(start time.Time, from, to int, tick bool) ([]byte, []string) {
	var recs, ids []string
	for i := from; i < to; i++ {
		id := fmt.Sprintf("5a0f3c8e-1d2b-4e6f-9a7c-3b5d7e9f1a%02d", i)
		recs = append(recs, deniedRecord(id, "arn:aws:iam::111122223333:user/mallory", start.Add(time.Duration(i)*15*time.Second)))
		ids = append(ids, id)
	}
	if tick {
		id := fmt.Sprintf("5a0f3c8e-1d2b-4e6f-9a7c-3b5d7e9f1b%02d", to)
		recs = append(recs, deniedRecord(id, "arn:aws:iam::111122223333:user/bob", start.Add(time.Duration(to)*15*time.Second+time.Minute)))
	}
	return []byte(`{"Records":[` + strings.Join(recs, ",") + `]}`), ids
}

// startCorrelating starts a server whose correlations tolerate one second
// of lateness, and waits until detection runs (its state is restored).
func startCorrelating(t *testing.T, dir string) (string, string, func()) {
	t.Helper()
	base, tok, stop := start(t, dir, func(c *config.Config) { c.Detect.CorrelationLateness = time.Second })
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if call(t, "GET", base+"/readyz", "", nil, nil) == http.StatusOK {
			return base, tok, stop
		}
		time.Sleep(20 * time.Millisecond)
	}
	stop()
	t.Fatal("the server never became ready")
	return "", "", nil
}

type fullAlert struct {
	ID        string   `json:"id"`
	Count     int      `json:"count"`
	Principal string   `json:"principal"`
	Action    string   `json:"action"`
	Account   string   `json:"account"`
	EventIDs  []string `json:"event_ids"`
	Rule      struct {
		ID, Title string
	} `json:"rule"`
}

func listAlerts(t *testing.T, base, token string) []fullAlert {
	t.Helper()
	var got struct{ Alerts []fullAlert }
	if code := call(t, "GET", base+"/api/v1/alerts?limit=1000", token, nil, &got); code != http.StatusOK {
		t.Fatalf("listing alerts: %d", code)
	}
	return got.Alerts
}

// waitBurstAlert waits for the burst correlation's alert and checks that
// it is the only alert, with every event of the burst.
func waitBurstAlert(t *testing.T, base, token string, ids []string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	var got []fullAlert
	for time.Now().Before(deadline) {
		got = listAlerts(t, base, token)
		if len(got) > 0 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if len(got) != 1 {
		t.Fatalf("want one alert, the burst correlation's; got %+v", got)
	}
	a := got[0]
	if a.Rule.Title != burstTitle || a.Count != 1 || a.Principal != "arn:aws:iam::111122223333:user/mallory" || a.Account != "111122223333" {
		t.Errorf("alert = %+v, want the burst correlation's, counted once, on mallory in 111122223333", a)
	}
	if diff := cmp.Diff(ids, a.EventIDs); diff != "" {
		t.Errorf("alert's event IDs (-want +got):\n%s", diff)
	}
}

func ingestCloudTrail(t *testing.T, base, token string, body []byte) {
	t.Helper()
	if code := call(t, "POST", base+"/api/v1/ingest/cloudtrail", token, body, nil); code != http.StatusAccepted {
		t.Fatalf("ingest: %d", code)
	}
}

func TestServeCorrelationAlert(t *testing.T) {
	base, admin, stop := startCorrelating(t, t.TempDir())
	defer stop()
	start := time.Date(2026, 11, 21, 8, 0, 0, 0, time.UTC)
	body, ids := burst(start, 0, 10, true)
	ingestCloudTrail(t, base, admin, body)
	waitBurstAlert(t, base, admin, ids)
	// Posting the burst again stores nothing new and counts nothing.
	ingestCloudTrail(t, base, admin, body)
	var st struct{ Events int }
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) && st.Events < 11 {
		call(t, "GET", base+"/api/v1/stats", admin, nil, &st)
	}
	waitBurstAlert(t, base, admin, ids)
	checkMetricLines(t, base, admin, "vigil_correlation_matches_total 1", `vigil_alerts_total{rule="30a238e4-12a0-4e4b-9ebb-4af4c91b186f",severity="medium"} 1`)
	if slices.ContainsFunc(listAlerts(t, base, admin), func(a fullAlert) bool { return a.Rule.Title == blockTitle }) {
		t.Error("the building-block rule raised an alert of its own")
	}
}

func checkMetricLines(t *testing.T, base, token string, want ...string) {
	t.Helper()
	req, _ := http.NewRequest("GET", base+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b strings.Builder
	if _, err := fmt.Fprint(&b, readAll(t, resp)); err != nil {
		t.Fatal(err)
	}
	for _, w := range want {
		if !strings.Contains(b.String(), w+"\n") {
			t.Errorf("/metrics lacks %q", w)
		}
	}
}

func readAll(t *testing.T, resp *http.Response) string {
	t.Helper()
	var sb strings.Builder
	buf := make([]byte, 32<<10)
	for {
		n, err := resp.Body.Read(buf)
		sb.Write(buf[:n])
		if err != nil {
			return sb.String()
		}
	}
}

// TestServeCorrelationSurvivesRestart posts half of a burst, stops the
// server gracefully (which checkpoints), starts it again and posts the
// other half: the correlation fires once, with all ten events.
func TestServeCorrelationSurvivesRestart(t *testing.T) {
	tests := []struct {
		name string
		// between runs, with the data directory
		between func(t *testing.T, dir string)
	}{
		{"graceful stop", func(t *testing.T, dir string) {
			if _, err := os.Stat(filepath.Join(dir, StateDir, "correlations.ckpt")); err != nil {
				t.Errorf("no checkpoint after a graceful stop: %v", err)
			}
		}},
		{"checkpoint lost, events replayed", func(t *testing.T, dir string) {
			// The state at the first start, before any event: what a
			// crash before the first periodic checkpoint leaves.
			if err := os.Rename(filepath.Join(dir, "first.ckpt"), filepath.Join(dir, StateDir, "correlations.ckpt")); err != nil {
				t.Fatal(err)
			}
		}},
		{"checkpoint corrupt", func(t *testing.T, dir string) {
			if err := os.WriteFile(filepath.Join(dir, StateDir, "correlations.ckpt"), []byte("VIGILSTA garbage"), 0o600); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			start0 := time.Date(2026, 11, 21, 8, 0, 0, 0, time.UTC)
			first, ids1 := burst(start0, 0, 5, false)
			second, ids2 := burst(start0, 5, 10, true)
			base, admin, stop := startCorrelating(t, dir)
			if err := copyFile(filepath.Join(dir, StateDir, "correlations.ckpt"), filepath.Join(dir, "first.ckpt")); err != nil {
				t.Fatal(err)
			}
			ingestCloudTrail(t, base, admin, first)
			waitStored(t, base, admin, 5)
			stop()
			tt.between(t, dir)
			base, admin, stop = startCorrelating(t, dir)
			defer stop()
			ingestCloudTrail(t, base, admin, second)
			if tt.name == "checkpoint corrupt" {
				// The state is gone: half a burst is not a burst.
				waitStored(t, base, admin, 11)
				time.Sleep(200 * time.Millisecond)
				if got := listAlerts(t, base, admin); len(got) != 0 {
					t.Fatalf("alerts from half a burst: %+v", got)
				}
				return
			}
			waitBurstAlert(t, base, admin, append(ids1, ids2...))
		})
	}
}

func copyFile(from, to string) error {
	b, err := os.ReadFile(from)
	if err != nil {
		return err
	}
	return os.WriteFile(to, b, 0o600)
}

func waitStored(t *testing.T, base, token string, n int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		var st struct{ Events int }
		call(t, "GET", base+"/api/v1/stats", token, nil, &st)
		if st.Events >= n {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("fewer than %d events stored", n)
}
