package app

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigil-sec/vigil/internal/config"
)

// start runs a server on a free port with its data in dir and returns its
// base URL and admin token.
func start(t *testing.T, dir string) (string, string, func()) {
	t.Helper()
	cfg := config.Default()
	cfg.Server.Listen = "127.0.0.1:0"
	cfg.Server.Data = dir
	cfg.Server.ShutdownTimeout = 10 * time.Second
	var out bytes.Buffer
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := New(ctx, cfg, slog.New(slog.DiscardHandler), &out)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Listen(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	tok, err := os.ReadFile(filepath.Join(dir, AdminTokenFile))
	if err != nil {
		t.Fatal(err)
	}
	return "http://" + srv.Addr(), strings.TrimSpace(string(tok)), func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("server: %v", err)
		}
	}
}

func call(t *testing.T, method, url, token string, body []byte, out any) int {
	t.Helper()
	req, _ := http.NewRequest(method, url, bytes.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil && len(b) > 0 {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: %s: %v", method, url, b, err)
		}
	}
	return resp.StatusCode
}

type alertList struct {
	Alerts []struct {
		ID, Status, Severity string
		Count                int
		Rule                 struct{ Title string }
	}
}

func waitAlerts(t *testing.T, base, token string, want func(alertList) bool) alertList {
	t.Helper()
	var got alertList
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		got = alertList{}
		call(t, "GET", base+"/api/v1/alerts?limit=1000", token, nil, &got)
		if want(got) {
			return got
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("alerts never reached the expected state: %+v", got)
	return got
}

func record(name, id, principal string, sec int) string {
	return fmt.Sprintf(`{"eventVersion":"1.09","eventTime":"%s","eventSource":"cloudtrail.amazonaws.com","eventName":%q,"awsRegion":"us-east-1","sourceIPAddress":"203.0.113.50","userAgent":"aws-cli/2","userIdentity":{"type":"IAMUser","arn":%q,"accountId":"111122223333"},"eventID":%q,"recipientAccountId":"111122223333","requestParameters":{"name":"main"}}`,
		time.Now().UTC().Add(time.Duration(sec)*time.Second).Format(time.RFC3339), name, principal, id)
}

func TestServeIngestToAlert(t *testing.T) {
	dir := t.TempDir()
	base, admin, stop := start(t, dir)
	body := []byte(`{"Records":[` + record("StopLogging", "e-1", "arn:aws:iam::111122223333:user/mallory", 0) + `,` +
		record("StopLogging", "e-2", "arn:aws:iam::111122223333:user/mallory", 1) + `,` +
		record("DescribeTrails", "e-3", "arn:aws:iam::111122223333:user/mallory", 2) + `]}`)
	var res struct{ Accepted, Duplicates int }
	if code := call(t, "POST", base+"/api/v1/ingest/cloudtrail", admin, body, &res); code != http.StatusAccepted || res.Accepted != 3 {
		t.Fatalf("ingest: %d %+v", code, res)
	}
	// The same file again: every event is a duplicate.
	if code := call(t, "POST", base+"/api/v1/ingest/auto", admin, body, &res); code != http.StatusAccepted || res.Accepted != 0 || res.Duplicates != 3 {
		t.Fatalf("replay: %d %+v", code, res)
	}
	got := waitAlerts(t, base, admin, func(l alertList) bool { return len(l.Alerts) == 1 && l.Alerts[0].Count == 2 })
	if got.Alerts[0].Rule.Title != "CloudTrail Logging Stopped" || got.Alerts[0].Severity != "critical" {
		t.Errorf("alert %+v", got.Alerts[0])
	}
	var evs struct{ Events []json.RawMessage }
	call(t, "GET", base+"/api/v1/events?principal=arn:aws:iam::111122223333:user/mallory", admin, nil, &evs)
	if len(evs.Events) != 3 {
		t.Errorf("event search found %d events, want 3", len(evs.Events))
	}
	if code := call(t, "POST", base+"/api/v1/alerts/"+got.Alerts[0].ID+"/ack", admin, nil, nil); code != http.StatusOK {
		t.Errorf("ack: %d", code)
	}
	stop()

	// Restart on the same data: state is kept, nothing is processed twice.
	base, admin2, stop := start(t, dir)
	defer stop()
	if admin2 != admin {
		t.Error("a restart created a new admin token")
	}
	got = waitAlerts(t, base, admin, func(l alertList) bool { return len(l.Alerts) == 1 })
	if got.Alerts[0].Status != "acknowledged" || got.Alerts[0].Count != 2 {
		t.Errorf("after restart: %+v", got.Alerts[0])
	}
}

func TestServeRejectsBadInput(t *testing.T) {
	base, admin, stop := start(t, t.TempDir())
	defer stop()
	var e struct{ Error, Code string }
	if code := call(t, "POST", base+"/api/v1/ingest/cloudtrail", admin, []byte(`{"nope":1}`), &e); code != http.StatusBadRequest || e.Code == "" {
		t.Errorf("not CloudTrail: %d %+v", code, e)
	}
	if code := call(t, "POST", base+"/api/v1/ingest/auto", admin, []byte(`{"Records":[`), &e); code != http.StatusBadRequest {
		t.Errorf("truncated JSON: %d %+v", code, e)
	}
	if code := call(t, "GET", base+"/api/v1/alerts", "", nil, &e); code != http.StatusUnauthorized {
		t.Errorf("no token: %d", code)
	}
	var st struct{ Events int64 }
	call(t, "GET", base+"/api/v1/stats", admin, nil, &st)
	if st.Events != 0 {
		t.Errorf("bad input stored %d events", st.Events)
	}
}

func TestDemoPayloadMovesDates(t *testing.T) {
	in := []byte(`{"eventTime":"2024-06-03T09:12:00Z","logStream":"2024/06/03/[$LATEST]x","timestamp":1717406394000}`)
	today := time.Date(2026, 11, 22, 15, 0, 0, 0, time.UTC)
	out, err := demoPayload(in, today)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"eventTime":"2026-11-22T09:12:00Z","logStream":"2026/11/22/[$LATEST]x","timestamp":` +
		fmt.Sprint(1717406394000+today.Truncate(24*time.Hour).Sub(demoDay).Milliseconds()) + `}`
	if string(out) != want {
		t.Errorf("got  %s\nwant %s", out, want)
	}
}
