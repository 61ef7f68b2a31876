package client_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/vigil-sec/vigil/internal/alert"
	"github.com/vigil-sec/vigil/internal/api"
	"github.com/vigil-sec/vigil/internal/api/apitest"
	"github.com/vigil-sec/vigil/internal/authz"
	"github.com/vigil-sec/vigil/internal/client"
	"github.com/vigil-sec/vigil/internal/notify"
	"github.com/vigil-sec/vigil/internal/store"
)

func setup(t *testing.T, role string) (*apitest.Backend, *client.Client) {
	t.Helper()
	b := apitest.New(nil)
	srv := httptest.NewServer(api.New(b, api.Options{Metrics: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		io.WriteString(w, "vigil_up 1\n")
	})}))
	t.Cleanup(srv.Close)
	c, err := client.New(srv.URL+"/", b.Token(role), srv.Client())
	if err != nil {
		t.Fatal(err)
	}
	return b, c
}

func TestClient(t *testing.T) {
	b, c := setup(t, authz.Admin)
	ctx := context.Background()
	if err := c.Health(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.Ready(ctx); err != nil {
		t.Fatal(err)
	}
	if m, err := c.Metrics(ctx); err != nil || m != "vigil_up 1\n" {
		t.Errorf("Metrics = %q, %v", m, err)
	}
	alerts, next, err := c.ListAlerts(ctx, store.AlertFilter{Status: []alert.Status{alert.Open, alert.Acknowledged}, Severity: []string{"high"}, Limit: 10,
		Since: time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)})
	if err != nil || len(alerts) != 1 || alerts[0].ID != "alt_1" || next != "" {
		t.Fatalf("ListAlerts = %v, %q, %v", alerts, next, err)
	}
	f := b.AlertFilters()[0]
	if len(f.Status) != 2 || f.Limit != 10 || f.Since.Year() != 2020 {
		t.Errorf("filter sent: %+v", f)
	}
	a, err := c.AckAlert(ctx, "alt_1")
	if err != nil || a.Status != alert.Acknowledged || a.UpdatedBy != "admin-token" {
		t.Errorf("AckAlert = %+v, %v", a, err)
	}
	if a, err = c.ResolveAlert(ctx, "alt_1"); err != nil || a.Status != alert.Resolved {
		t.Errorf("ResolveAlert = %+v, %v", a, err)
	}
	if a, err = c.GetAlert(ctx, "alt_2"); err != nil || a.Severity != "critical" {
		t.Errorf("GetAlert = %+v, %v", a, err)
	}
	evs, _, err := c.SearchEvents(ctx, store.EventQuery{Principal: "eve@example.com"})
	if err != nil || len(evs) != 1 || evs[0].ID != "evt_2" {
		t.Errorf("SearchEvents = %+v, %v", evs, err)
	}
	m, _ := alert.ParseMatcher(`severity=~"high|critical"`)
	s, err := c.CreateSilence(ctx, api.SilenceRequest{Matchers: []api.MatcherSpec{{Name: m.Name, Op: m.Op, Value: m.Value}}, Duration: "2h", Comment: "deploy"})
	if err != nil || s.ID == "" || s.Matchers[0].String() != `severity=~"high|critical"` {
		t.Fatalf("CreateSilence = %+v, %v", s, err)
	}
	if got, err := c.GetSilence(ctx, s.ID); err != nil || got.Comment != "deploy" {
		t.Errorf("GetSilence = %+v, %v", got, err)
	}
	if _, err := c.ExpireSilence(ctx, s.ID); err != nil {
		t.Error(err)
	}
	sils, err := c.ListSilences(ctx, true)
	if err != nil || len(sils) != 2 {
		t.Errorf("ListSilences = %d, %v", len(sils), err)
	}
	if st, err := c.Rules(ctx); err != nil || len(st.Loaded) != 1 {
		t.Errorf("Rules = %+v, %v", st, err)
	}
	if _, err := c.ReloadRules(ctx); err != nil {
		t.Error(err)
	}
	ct, err := c.CreateToken(ctx, "ci", authz.Ingest, 24*time.Hour)
	if err != nil || !authz.WellFormed(ct.Plaintext) || ct.ExpiresAt == nil {
		t.Fatalf("CreateToken = %+v, %v", ct, err)
	}
	toks, err := c.ListTokens(ctx)
	if err != nil || len(toks) != 7 {
		t.Errorf("ListTokens = %d, %v", len(toks), err)
	}
	if err := c.RevokeToken(ctx, ct.ID); err != nil {
		t.Error(err)
	}
	if st, err := c.Stats(ctx); err != nil || st.Events != 2 {
		t.Errorf("Stats = %+v, %v", st, err)
	}
	res, err := c.Ingest(ctx, "cloudtrail", strings.NewReader(`{"Records":[]}`))
	if err != nil || res.Accepted != 1 {
		t.Errorf("Ingest = %+v, %v", res, err)
	}
	// An ID with a slash stays one path segment.
	_, err = c.GetAlert(ctx, "a/b")
	var ae *client.APIError
	if !errors.As(err, &ae) || ae.Status != 404 || ae.Code != "not_found" || !strings.Contains(ae.Message, `"a/b"`) {
		t.Errorf("GetAlert(a/b) = %v", err)
	}
}

func TestAPIErrors(t *testing.T) {
	_, c := setup(t, authz.Viewer)
	ctx := context.Background()
	_, err := c.AckAlert(ctx, "alt_1")
	var ae *client.APIError
	if !errors.As(err, &ae) || ae.Status != 403 || ae.Code != "forbidden" || ae.Message == "" {
		t.Errorf("viewer ack: %#v", err)
	}
	if _, _, err := c.ListAlerts(ctx, store.AlertFilter{Cursor: "junk"}); !errors.As(err, &ae) || ae.Code != "bad_cursor" {
		t.Errorf("bad cursor: %v", err)
	}
	bad, _ := client.New(c.URL(), "vgl_nope", nil)
	if _, err := bad.Stats(ctx); !errors.As(err, &ae) || ae.Status != 401 {
		t.Errorf("bad token: %v", err)
	}
	// A proxy's HTML error page.
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "<html>bad gateway</html>", http.StatusBadGateway)
	}))
	defer proxy.Close()
	pc, _ := client.New(proxy.URL, "t", nil)
	if _, err := pc.Stats(ctx); !errors.As(err, &ae) || ae.Status != 502 || ae.Message != "the server answered 502 Bad Gateway" {
		t.Errorf("proxy error: %v", err)
	}
}

func TestUnreachable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	c, err := client.New("http://"+addr, "t", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Health(context.Background()); !errors.Is(err, client.ErrUnreachable) {
		t.Errorf("closed port: %v", err)
	}
}

func TestNewRejectsBadURLs(t *testing.T) {
	for _, u := range []string{"", "127.0.0.1:8717", "ftp://x", "http://", "http://user:pw@host", "http://h?q=1"} {
		if _, err := client.New(u, "t", nil); err == nil {
			t.Errorf("New(%q) accepted", u)
		} else if strings.Contains(err.Error(), "pw") {
			t.Errorf("New(%q) error leaks the password: %v", u, err)
		}
	}
}

func TestNotifications(t *testing.T) {
	b, c := setup(t, authz.Responder)
	ctx := context.Background()
	list, next, err := c.ListNotifications(ctx, notify.ListFilter{Status: notify.Failed, Receiver: "sec-webhook", Limit: 5})
	if err != nil || len(list) != 1 || list[0].ID != "ntf_2" || list[0].LastError == "" || next != "" {
		t.Fatalf("ListNotifications(failed) = %+v, %q, %v", list, next, err)
	}
	list, next, err = c.ListNotifications(ctx, notify.ListFilter{Limit: 2})
	if err != nil || len(list) != 2 || next == "" {
		t.Fatalf("ListNotifications(limit 2) = %+v, %q, %v", list, next, err)
	}
	if rest, _, err := c.ListNotifications(ctx, notify.ListFilter{Limit: 2, Cursor: next}); err != nil || len(rest) != 1 || rest[0].ID != "ntf_1" {
		t.Errorf("the next page = %+v, %v", rest, err)
	}
	e, err := c.GetNotification(ctx, "ntf_1")
	if err != nil || e.Status != notify.Sent || e.Notification == nil || len(e.Notification.Alerts) != 1 {
		t.Errorf("GetNotification = %+v, %v", e, err)
	}
	e, err = c.RetryNotification(ctx, "ntf_2")
	if err != nil || e.Status != notify.Pending {
		t.Errorf("RetryNotification = %+v, %v", e, err)
	}
	var ae *client.APIError
	if _, err := c.RetryNotification(ctx, "ntf_1"); !errors.As(err, &ae) || ae.Status != 409 || ae.Code != "conflict" {
		t.Errorf("retry of a sent notification: %v", err)
	}
	if res, err := c.TestReceiver(ctx, "sec-webhook"); err != nil || !res.Sent || res.Receiver != "sec-webhook" {
		t.Errorf("TestReceiver = %+v, %v", res, err)
	}
	if _, err := c.TestReceiver(ctx, "oncall"); !errors.As(err, &ae) || ae.Status != 502 || ae.Code != "receiver_failed" || !strings.Contains(ae.Message, apitest.ReceiverDown) {
		t.Errorf("TestReceiver(oncall) = %v", err)
	}
	if _, err := c.TestReceiver(ctx, "nope"); !errors.As(err, &ae) || ae.Status != 404 {
		t.Errorf("TestReceiver(nope) = %v", err)
	}
	if got := b.Tests(); len(got) != 3 {
		t.Errorf("the server tested %v", got)
	}
	// A viewer reads notifications but does not re-drive them.
	_, vc := setup(t, authz.Viewer)
	if _, _, err := vc.ListNotifications(ctx, notify.ListFilter{}); err != nil {
		t.Errorf("viewer list: %v", err)
	}
	if _, err := vc.RetryNotification(ctx, "ntf_2"); !errors.As(err, &ae) || ae.Status != 403 {
		t.Errorf("viewer retry: %v", err)
	}
}
