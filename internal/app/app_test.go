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
	"sync"
	"testing"
	"time"

	"github.com/vigil-sec/vigil/internal/config"
)

// start runs a server on a free port with its data in dir and returns its
// base URL and admin token.
func start(t *testing.T, dir string, configure ...func(*config.Config)) (string, string, func()) {
	t.Helper()
	_, base, tok, stop := startServer(t, dir, configure...)
	return base, tok, stop
}

func startServer(t *testing.T, dir string, configure ...func(*config.Config)) (*Server, string, string, func()) {
	t.Helper()
	return startLogged(t, dir, slog.New(slog.DiscardHandler), configure...)
}

// startLogged is startServer with the server's log going to log.
func startLogged(t *testing.T, dir string, log *slog.Logger, configure ...func(*config.Config)) (*Server, string, string, func()) {
	t.Helper()
	cfg := config.Default()
	for _, c := range configure {
		c(cfg)
	}
	cfg.Server.Listen = "127.0.0.1:0"
	cfg.Server.Data = dir
	cfg.Server.ShutdownTimeout = 10 * time.Second
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := New(ctx, cfg, log, &out)
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
	// stop may be called more than once: the server stops the first time.
	var once sync.Once
	return srv, "http://" + srv.Addr(), strings.TrimSpace(string(tok)), func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("server: %v", err)
			}
		})
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
	checkMetrics(t, base, admin)
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
	req, _ := http.NewRequest("GET", base+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+admin)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(b), `vigil_decode_errors_total{kind="cloudtrail"} 1`) {
		t.Errorf("/metrics does not count the bad body: %s", b)
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

func TestSilencesApplyToExistingAlerts(t *testing.T) {
	base, admin, stop := start(t, t.TempDir())
	defer stop()
	body := []byte(`{"Records":[` + record("StopLogging", "s-1", "arn:aws:iam::111122223333:user/pentester", 0) + `]}`)
	call(t, "POST", base+"/api/v1/ingest/cloudtrail", admin, body, nil)
	waitAlerts(t, base, admin, func(l alertList) bool { return len(l.Alerts) == 1 })
	var sil struct{ ID string }
	code := call(t, "POST", base+"/api/v1/silences", admin, []byte(`{"matchers":["principal=\"arn:aws:iam::111122223333:user/pentester\""],"duration":"1h","comment":"authorized test"}`), &sil)
	if code != http.StatusCreated && code != http.StatusOK {
		t.Fatalf("create silence: %d", code)
	}
	var l struct{ Alerts []struct{ Silenced bool } }
	call(t, "GET", base+"/api/v1/alerts", admin, nil, &l)
	if len(l.Alerts) != 1 || !l.Alerts[0].Silenced {
		t.Errorf("an alert raised before the silence is not silenced: %+v", l)
	}
	call(t, "DELETE", base+"/api/v1/silences/"+sil.ID, admin, nil, nil)
	call(t, "GET", base+"/api/v1/alerts", admin, nil, &l)
	if len(l.Alerts) != 1 || l.Alerts[0].Silenced {
		t.Errorf("an alert stays silenced after its silence expired: %+v", l)
	}
}

// checkMetrics scrapes /metrics and checks the series the server exports.
func checkMetrics(t *testing.T, base, token string) {
	t.Helper()
	req, _ := http.NewRequest("GET", base+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	text := string(b)
	for _, want := range []string{
		`vigil_events_ingested_total{source="aws.cloudtrail"} 6`,
		`vigil_events_stored_total 3`,
		`vigil_alerts_total{rule="`,
		`severity="critical"} 1`,
		`vigil_detection_latency_seconds_count 3`,
		`vigil_stream_lag_messages`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("/metrics has no %q", want)
		}
	}
}

func TestReloadKeepsRulesOnError(t *testing.T) {
	rulesDir := t.TempDir()
	write := func(name, title, event string) {
		rule := "title: " + title + "\nid: 6b1f1d4e-3a1c-4c1e-9b7a-0f2d9e8c7b" + fmt.Sprintf("%02x", len(title)) + "\nlevel: high\nlogsource: {product: aws, service: cloudtrail}\ndetection:\n  sel:\n    eventName: " + event + "\n  condition: sel\n"
		if err := os.WriteFile(filepath.Join(rulesDir, name), []byte(rule), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("a.yml", "Custom A", "CustomA")
	srv, base, admin, stop := startServer(t, t.TempDir(), func(c *config.Config) {
		c.Detect.Builtin = false
		c.Detect.Rules = []string{rulesDir}
	})
	defer stop()
	post := func(id, name string) {
		body := []byte(`{"Records":[` + record(name, id, "arn:aws:iam::111122223333:user/"+id, 0) + `]}`)
		if code := call(t, "POST", base+"/api/v1/ingest/cloudtrail", admin, body, nil); code != http.StatusAccepted {
			t.Fatalf("ingest: %d", code)
		}
	}
	post("r1", "CustomA")
	waitAlerts(t, base, admin, func(l alertList) bool { return len(l.Alerts) == 1 })

	// A broken rule file: the reload fails and the running rules stay.
	if err := os.WriteFile(filepath.Join(rulesDir, "broken.yml"), []byte("title: x\nlogsource: {product: aws, service: cloudtrail}\ndetection:\n  sel:\n    a|nope: 1\n  condition: sel\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := srv.ReloadRules(); err == nil || !strings.Contains(err.Error(), "broken.yml:5") {
		t.Fatalf("reload with a broken rule: %v", err)
	}
	var e struct{ Error, Code string }
	if code := call(t, "POST", base+"/api/v1/rules/reload", admin, nil, &e); code != http.StatusBadRequest || !strings.Contains(e.Error, "broken.yml") {
		t.Errorf("API reload with a broken rule: %d %+v", code, e)
	}
	post("r2", "CustomA")
	waitAlerts(t, base, admin, func(l alertList) bool { return len(l.Alerts) == 2 })

	// Fixed, with a new rule: the reload takes.
	os.Remove(filepath.Join(rulesDir, "broken.yml"))
	write("b.yml", "Custom Bee", "CustomB")
	var st struct{ Loaded []struct{ Title string } }
	if code := call(t, "POST", base+"/api/v1/rules/reload", admin, nil, &st); code != http.StatusOK || len(st.Loaded) != 2 {
		t.Fatalf("reload: %d %+v", code, st)
	}
	post("r3", "CustomB")
	waitAlerts(t, base, admin, func(l alertList) bool { return len(l.Alerts) == 3 })
}
