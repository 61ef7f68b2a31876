package app

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vigil-sec/vigil/internal/config"
)

const (
	newActionTitle = "Test Principal Calls a New API"
	mallory        = "arn:aws:iam::111122223333:user/mallory"
)

// callRecord is a successful CloudTrail call.
func callRecord(id, principal, action string, at time.Time) string {
	return fmt.Sprintf(`{"eventVersion":"1.09","eventTime":%q,"eventSource":"iam.amazonaws.com","eventName":%q,"awsRegion":"us-east-1","sourceIPAddress":"203.0.113.66","userAgent":"aws-cli/2","userIdentity":{"type":"IAMUser","arn":%q,"accountId":"111122223333"},"eventID":%q,"recipientAccountId":"111122223333","readOnly":true,"eventType":"AwsApiCall"}`,
		at.UTC().Format(time.RFC3339), action, principal, id)
}

type apiCall struct {
	principal, action string
	minute            int
}

// calls returns a CloudTrail body with the calls, minutes after t0, and
// their event IDs.
func calls(t0 time.Time, idBase int, cs ...apiCall) ([]byte, []string) {
	var recs, ids []string
	for i, c := range cs {
		id := fmt.Sprintf("7b1e2c3d-4e5f-4a6b-8c7d-%012d", idBase+i)
		recs = append(recs, callRecord(id, c.principal, c.action, t0.Add(time.Duration(c.minute)*time.Minute)))
		ids = append(ids, id)
	}
	return []byte(`{"Records":[` + strings.Join(recs, ",") + `]}`), ids
}

// startBaselines starts a server that runs the test baseline rule only,
// with a lateness of one second, and waits until detection runs.
func startBaselines(t *testing.T, dir string) (string, string, func()) {
	t.Helper()
	base, tok, stop := start(t, dir, func(c *config.Config) {
		c.Detect.Builtin = false
		c.Detect.BaselineRules = []string{filepath.Join("testdata", "new_action.baseline")}
		c.Detect.BaselineLateness = time.Second
	})
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

// TestServeBaselineSurvivesRestart learns mallory's calls, stops the server
// gracefully, starts it again and posts a call mallory made before and one
// it never made: only the new one fires, so the restart kept both the
// learned combinations and the end of the learning period.
func TestServeBaselineSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	t0 := time.Date(2026, 11, 21, 8, 0, 0, 0, time.UTC)
	var learn []apiCall
	for m := 0; m < 12; m++ {
		learn = append(learn, apiCall{mallory, "ListRoles", m})
	}
	first, _ := calls(t0, 0, learn...)
	base, admin, stop := startBaselines(t, dir)
	ingestCloudTrail(t, base, admin, first)
	waitStored(t, base, admin, len(learn))
	stop()
	if _, err := os.Stat(filepath.Join(dir, StateDir, "baselines.ckpt")); err != nil {
		t.Fatalf("no baseline checkpoint after a graceful stop: %v", err)
	}

	base, admin, stop = startBaselines(t, dir)
	defer stop()
	second, ids := calls(t0, 100,
		apiCall{mallory, "ListRoles", 20},
		apiCall{mallory, "GetSecretValue", 21},
		// A later call closes the buckets of the two before.
		apiCall{"arn:aws:iam::111122223333:user/bob", "ListUsers", 25})
	ingestCloudTrail(t, base, admin, second)
	waitStored(t, base, admin, len(learn)+3)
	deadline := time.Now().Add(20 * time.Second)
	var got []fullAlert
	for time.Now().Before(deadline) {
		if got = listAlerts(t, base, admin); len(got) > 0 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	// Let any further alert show up before counting.
	time.Sleep(200 * time.Millisecond)
	got = listAlerts(t, base, admin)
	if len(got) != 1 {
		t.Fatalf("want one alert, mallory's new GetSecretValue; got %+v", got)
	}
	a := got[0]
	if a.Rule.Title != newActionTitle || a.Principal != mallory || a.Account != "111122223333" || a.Count != 1 {
		t.Errorf("alert = %+v, want the test baseline's on mallory in 111122223333, counted once", a)
	}
	if diff := cmp.Diff([]string{ids[1]}, a.EventIDs); diff != "" {
		t.Errorf("alert's event IDs (-want +got):\n%s", diff)
	}
	checkMetricLines(t, base, admin, "vigil_baseline_matches_total 1")
}

func TestServeBaselineConfigErrors(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "bad.baseline")
	if err := os.WriteFile(bad, []byte("kind: sideways\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	notDB := filepath.Join(t.TempDir(), "geo.mmdb")
	if err := os.WriteFile(notDB, []byte("not a database"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		configure func(*config.Config)
		want      string
	}{
		{"rule does not load", func(c *config.Config) { c.Detect.BaselineRules = []string{bad} }, "baseline rules do not load"},
		{"missing rule path", func(c *config.Config) { c.Detect.BaselineRules = []string{bad + ".missing"} }, "baseline rules"},
		{"unreadable GeoIP database", func(c *config.Config) { c.Detect.GeoIPDatabase = notDB }, "opening the GeoIP database"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := config.Default()
			tt.configure(cfg)
			cfg.Server.Data = t.TempDir()
			srv, err := New(context.Background(), cfg, slog.New(slog.DiscardHandler), &strings.Builder{})
			if err == nil {
				srv.close()
				t.Fatal("New succeeded")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not say %q", err, tt.want)
			}
		})
	}
}
