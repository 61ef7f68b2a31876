package app

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vigil-sec/vigil/internal/config"
	"github.com/vigil-sec/vigil/internal/notify"
	"github.com/vigil-sec/vigil/internal/notify/receiver"
	"github.com/vigil-sec/vigil/internal/notify/webhook"
	"github.com/vigil-sec/vigil/internal/secret"
)

// Secrets of the test webhook: a token in its URL, the signing key and a
// header value. None may reach the log.
const (
	pathSecret   = "T0KEN-in-the-url-path-1234"
	signingKey   = "signing-key-secret-5678"
	headerSecret = "header-secret-9012"
)

// hook is a webhook receiver on 127.0.0.1. It answers every request with
// the status set by answer (200 at first) and records the requests.
type hook struct {
	t      *testing.T
	srv    *http.Server
	ln     net.Listener
	addr   string
	answer atomic.Int32

	mu   sync.Mutex
	reqs []hookRequest
	got  chan struct{}
}

// hookRequest is one request the hook received.
type hookRequest struct {
	Path    string
	Header  http.Header
	Body    []byte
	Payload webhook.Payload
	Status  int // what the hook answered
	At      time.Time
}

// newHook starts a hook; with down set, it only reserves its address and
// refuses connections until up is called.
func newHook(t *testing.T, down bool) *hook {
	t.Helper()
	h := &hook{t: t, got: make(chan struct{}, 1000)}
	h.answer.Store(http.StatusOK)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h.addr = ln.Addr().String()
	h.srv = &http.Server{Handler: http.HandlerFunc(h.serve), ReadHeaderTimeout: 5 * time.Second}
	t.Cleanup(func() { h.srv.Close() })
	if down {
		ln.Close()
		return h
	}
	h.ln = ln
	go h.srv.Serve(ln)
	return h
}

// up starts serving on the reserved address.
func (h *hook) up() {
	ln, err := net.Listen("tcp", h.addr)
	if err != nil {
		h.t.Fatalf("re-listening on %s: %v", h.addr, err)
	}
	go h.srv.Serve(ln)
}

// url is the hook's URL, with a secret token in its path.
func (h *hook) url() string { return "http://" + h.addr + "/hooks/" + pathSecret }

func (h *hook) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	status := int(h.answer.Load())
	req := hookRequest{Path: r.URL.Path, Header: r.Header.Clone(), Body: body, Status: status, At: time.Now()}
	if err := json.Unmarshal(body, &req.Payload); err != nil {
		h.t.Errorf("the webhook payload is not JSON: %v: %s", err, body)
	}
	h.mu.Lock()
	h.reqs = append(h.reqs, req)
	h.mu.Unlock()
	w.WriteHeader(status)
	h.got <- struct{}{}
}

// requests returns the requests so far.
func (h *hook) requests() []hookRequest {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]hookRequest(nil), h.reqs...)
}

// accepted returns the requests the hook answered with 2xx.
func (h *hook) accepted() []hookRequest {
	var out []hookRequest
	for _, r := range h.requests() {
		if r.Status < 300 {
			out = append(out, r)
		}
	}
	return out
}

// waitFor waits until want holds for the requests so far.
func (h *hook) waitFor(what string, want func([]hookRequest) bool) []hookRequest {
	h.t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		if reqs := h.requests(); want(reqs) {
			return reqs
		}
		select {
		case <-h.got:
		case <-time.After(50 * time.Millisecond):
		case <-deadline:
			h.t.Fatalf("the webhook never got %s; it got %d requests", what, len(h.requests()))
		}
	}
}

// waitAccepted waits for the n-th accepted request and returns it.
func (h *hook) waitAccepted(n int) hookRequest {
	h.t.Helper()
	h.waitFor("its notification", func([]hookRequest) bool { return len(h.accepted()) >= n })
	return h.accepted()[n-1]
}

// webhookTo configures one webhook receiver, the root route to it with
// group_wait 0 and the given group_interval, and short retries.
func webhookTo(url string, groupInterval time.Duration) func(*config.Config) {
	return func(c *config.Config) {
		wait, repeat := time.Duration(0), 4*time.Hour
		c.Log.Level = "debug"
		c.Notify.AllowPrivateTargets = []string{"127.0.0.0/8"}
		c.Notify.Receivers = []receiver.Config{{Name: "sec-webhook", Webhook: &webhook.Config{
			URL: secret.Secret(url), Secret: signingKey,
			Headers: map[string]secret.Secret{"Authorization": "Bearer " + headerSecret},
		}}}
		c.Notify.Route = notify.Route{Receiver: "sec-webhook", GroupBy: []string{"rule", "principal"},
			GroupWait: &wait, GroupInterval: &groupInterval, RepeatInterval: &repeat}
		c.Notify.Delivery.BackoffBase = 20 * time.Millisecond
		c.Notify.Delivery.BackoffMax = 200 * time.Millisecond
	}
}

// lockedBuffer collects log output written from server goroutines.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func debugLogger(b *lockedBuffer) *slog.Logger {
	return slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// noSecrets fails if a secret of the test webhook is in text.
func noSecrets(t *testing.T, what, text string) {
	t.Helper()
	for _, s := range []string{pathSecret, signingKey, headerSecret} {
		if strings.Contains(text, s) {
			t.Errorf("%s holds the secret %q", what, s)
		}
	}
}

// checkDelivery checks one webhook request against the documented
// payload and signature.
func checkDelivery(t *testing.T, r hookRequest, status, principal string, count int) {
	t.Helper()
	p := r.Payload
	if r.Path != "/hooks/"+pathSecret {
		t.Errorf("posted to %s", r.Path)
	}
	if err := webhook.Verify([]byte(signingKey), r.Header.Get(webhook.SignatureHeader), r.Body, time.Now(), webhook.DefaultTolerance); err != nil {
		t.Errorf("%s: the signature %q does not verify: %v", status, r.Header.Get(webhook.SignatureHeader), err)
	}
	if err := webhook.Verify([]byte("another key"), r.Header.Get(webhook.SignatureHeader), r.Body, time.Now(), webhook.DefaultTolerance); err == nil {
		t.Error("the signature verifies with any key")
	}
	if got := r.Header.Get(webhook.NotificationIDHeader); got != p.ID || !strings.HasPrefix(got, "ntf_") {
		t.Errorf("%s = %q, payload id %q", webhook.NotificationIDHeader, got, p.ID)
	}
	if got := r.Header.Get("Authorization"); got != "Bearer "+headerSecret {
		t.Errorf("custom header Authorization = %q", got)
	}
	if p.Version != "1" || p.Receiver != "sec-webhook" || p.Status != status || p.Severity != "critical" || p.Test || len(p.Alerts) != 1 {
		t.Fatalf("payload: %s", r.Body)
	}
	a := p.Alerts[0]
	if a.Rule.Title != "CloudTrail Logging Stopped" || a.Principal != principal || a.Count != count || a.Account != "111122223333" ||
		a.Cloud != "aws" || a.Action != "StopLogging" || len(a.EventIDs) != count || p.GroupLabels["principal"] != principal {
		t.Errorf("alert in the payload: %s", r.Body)
	}
	wantAlert := map[string]string{"firing": "open", "acknowledged": "acknowledged", "resolved": "resolved"}[status]
	if a.Status != wantAlert {
		t.Errorf("%s notification shows the alert %s", status, a.Status)
	}
}

func ingestStop(t *testing.T, base, token, id, principal string) {
	t.Helper()
	body := []byte(`{"Records":[` + record("StopLogging", id, principal, 0) + `]}`)
	if code := call(t, "POST", base+"/api/v1/ingest/cloudtrail", token, body, nil); code != http.StatusAccepted {
		t.Fatalf("ingest: %d", code)
	}
}

type entryList struct {
	Notifications []struct {
		ID, Status, Receiver string
		LastError            string `json:"last_error"`
		GroupStatus          string `json:"group_status"`
		Attempts             int
	}
	NextCursor string `json:"next_cursor"`
}

// waitNotifications waits until the outbox lists n notifications for the
// query.
func waitNotifications(t *testing.T, base, token, query string, n int) entryList {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		l := listNotifications(t, base, token, query)
		if len(l.Notifications) == n {
			return l
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s lists %d notifications, want %d: %+v", query, len(l.Notifications), n, l.Notifications)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func listNotifications(t *testing.T, base, token, query string) entryList {
	t.Helper()
	var l entryList
	if code := call(t, "GET", base+"/api/v1/notifications"+query, token, nil, &l); code != http.StatusOK {
		t.Fatalf("GET /api/v1/notifications%s: %d", query, code)
	}
	return l
}

// TestNotifyAlertLifecycle follows one alert from its first event to its
// resolution: each change reaches the webhook as the documented, signed
// payload, the API lists what was sent, /metrics counts it, and no secret
// reaches the log.
func TestNotifyAlertLifecycle(t *testing.T) {
	h := newHook(t, false)
	logs := &lockedBuffer{}
	_, base, admin, stop := startLogged(t, t.TempDir(), debugLogger(logs), webhookTo(h.url(), 200*time.Millisecond))
	defer stop()
	const mallory = "arn:aws:iam::111122223333:user/mallory"

	ingestStop(t, base, admin, "n-1", mallory)
	checkDelivery(t, h.waitAccepted(1), "firing", mallory, 1)

	// A second match counts the alert again: the group notifies again.
	ingestStop(t, base, admin, "n-2", mallory)
	checkDelivery(t, h.waitAccepted(2), "firing", mallory, 2)

	alerts := waitAlerts(t, base, admin, func(l alertList) bool { return len(l.Alerts) == 1 && l.Alerts[0].Count == 2 })
	id := alerts.Alerts[0].ID
	if code := call(t, "POST", base+"/api/v1/alerts/"+id+"/ack", admin, nil, nil); code != http.StatusOK {
		t.Fatalf("ack: %d", code)
	}
	checkDelivery(t, h.waitAccepted(3), "acknowledged", mallory, 2)
	if code := call(t, "POST", base+"/api/v1/alerts/"+id+"/resolve", admin, nil, nil); code != http.StatusOK {
		t.Fatalf("resolve: %d", code)
	}
	last := h.waitAccepted(4)
	checkDelivery(t, last, "resolved", mallory, 2)
	if got := h.requests(); len(got) != 4 {
		t.Errorf("the webhook got %d requests, want 4", len(got))
	}

	sent := waitNotifications(t, base, admin, "?status=sent", 4)
	if sent.Notifications[0].ID != last.Payload.ID || sent.Notifications[0].GroupStatus != "resolved" {
		t.Errorf("sent notifications, newest first: %+v", sent.Notifications)
	}
	var one notify.Entry
	if code := call(t, "GET", base+"/api/v1/notifications/"+last.Payload.ID, admin, nil, &one); code != http.StatusOK ||
		one.Status != notify.Sent || one.Notification.Alerts[0].ID != id {
		t.Errorf("GET the last notification: %d %+v", code, one)
	}
	var e struct{ Error, Code string }
	if code := call(t, "POST", base+"/api/v1/notifications/"+last.Payload.ID+"/retry", admin, nil, &e); code != http.StatusConflict || e.Code != "conflict" {
		t.Errorf("retry of a sent notification: %d %+v", code, e)
	}
	metrics := scrape(t, base, admin)
	for _, want := range []string{
		`vigil_notifications_sent_total{receiver="sec-webhook"} 4`,
		`vigil_notifications_pending{receiver="sec-webhook"} 0`,
		`vigil_notifications_failed_total{receiver="sec-webhook"} 0`,
		`vigil_notification_delivery_seconds_count 4`,
		`vigil_notify_alerts_dropped_total 0`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics has no %q", want)
		}
	}
	stop()
	noSecrets(t, "the server log", logs.String())
	if !strings.Contains(logs.String(), "notification sent") {
		t.Errorf("the debug log does not record the deliveries:\n%s", logs)
	}
}

func scrape(t *testing.T, base, token string) string {
	t.Helper()
	req, _ := http.NewRequest("GET", base+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// TestNotifyReceiverDownThenUp: a receiver that refuses connections gets
// its notification once it is up again, exactly once.
func TestNotifyReceiverDownThenUp(t *testing.T) {
	h := newHook(t, true)
	logs := &lockedBuffer{}
	_, base, admin, stop := startLogged(t, t.TempDir(), debugLogger(logs), webhookTo(h.url(), time.Second))
	defer stop()
	ingestStop(t, base, admin, "d-1", "arn:aws:iam::111122223333:user/eve")
	// Wait until delivery has failed a few times.
	var pending entryList
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		pending = listNotifications(t, base, admin, "?status=pending")
		if len(pending.Notifications) == 1 && pending.Notifications[0].Attempts >= 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no failing attempts: %+v", pending)
		}
	}
	n := pending.Notifications[0]
	if !strings.Contains(n.LastError, "connection refused") || !strings.Contains(n.LastError, "http://127.0.0.1:") {
		t.Errorf("last_error %q does not say the connection was refused, and where", n.LastError)
	}
	noSecrets(t, "last_error", n.LastError)
	h.up()
	got := h.waitAccepted(1)
	checkDelivery(t, got, "firing", "arn:aws:iam::111122223333:user/eve", 1)
	waitNotifications(t, base, admin, "?status=sent", 1)
	if reqs := h.requests(); len(reqs) != 1 || reqs[0].Payload.ID != n.ID {
		t.Errorf("the webhook got %d requests, want the one notification %s once", len(reqs), n.ID)
	}
	if m := scrape(t, base, admin); !strings.Contains(m, `vigil_notifications_pending{receiver="sec-webhook"} 0`) ||
		strings.Contains(m, `vigil_notification_retries_total{receiver="sec-webhook"} 0`) {
		t.Errorf("/metrics does not show the retries and the delivery")
	}
	stop()
	noSecrets(t, "the server log", logs.String())
}

// TestNotifyFailedRetryAndTest: a receiver that refuses the request
// dead-letters the notification; once fixed, a retry through the API
// delivers it. Test messages report the receiver's answer.
func TestNotifyFailedRetryAndTest(t *testing.T) {
	h := newHook(t, false)
	h.answer.Store(http.StatusBadRequest)
	logs := &lockedBuffer{}
	_, base, admin, stop := startLogged(t, t.TempDir(), debugLogger(logs), webhookTo(h.url(), time.Second))
	defer stop()
	ingestStop(t, base, admin, "f-1", "arn:aws:iam::111122223333:user/trudy")
	n := waitNotifications(t, base, admin, "?status=failed", 1).Notifications[0]
	if n.Attempts != 1 || !strings.Contains(n.LastError, "400") {
		t.Errorf("a 400 is permanent: %+v", n)
	}
	var e struct{ Error, Code string }
	// The test message meets the same refusal.
	if code := call(t, "POST", base+"/api/v1/notifications/test", admin, []byte(`{"receiver":"sec-webhook"}`), &e); code != http.StatusBadGateway ||
		e.Code != "receiver_failed" || !strings.Contains(e.Error, "400") {
		t.Errorf("test of a refusing receiver: %d %+v", code, e)
	}
	noSecrets(t, "the test error", e.Error)
	if code := call(t, "POST", base+"/api/v1/notifications/test", admin, []byte(`{"receiver":"pager"}`), &e); code != http.StatusNotFound ||
		!strings.Contains(e.Error, `"pager"`) || !strings.Contains(e.Error, "sec-webhook") {
		t.Errorf("test of an unknown receiver: %d %+v", code, e)
	}

	h.answer.Store(http.StatusOK)
	var res struct {
		Receiver string
		Sent     bool
	}
	if code := call(t, "POST", base+"/api/v1/notifications/test", admin, []byte(`{"receiver":"sec-webhook"}`), &res); code != http.StatusOK || !res.Sent {
		t.Errorf("test: %d %+v", code, res)
	}
	test := h.waitAccepted(1)
	if !test.Payload.Test || test.Payload.Alerts[0].Rule.ID != "vigil-test" {
		t.Errorf("test payload: %s", test.Body)
	}
	if code := call(t, "POST", base+"/api/v1/notifications/"+n.ID+"/retry", admin, nil, &e); code != http.StatusOK {
		t.Fatalf("retry: %d %+v", code, e)
	}
	checkDelivery(t, h.waitAccepted(2), "firing", "arn:aws:iam::111122223333:user/trudy", 1)
	waitNotifications(t, base, admin, "?status=sent", 1)
	if m := scrape(t, base, admin); !strings.Contains(m, `vigil_notifications_failed_total{receiver="sec-webhook"} 1`) ||
		!strings.Contains(m, `vigil_notifications_sent_total{receiver="sec-webhook"} 1`) {
		t.Errorf("/metrics does not count the failure and the delivery:\n%s", m)
	}
	stop()
	noSecrets(t, "the server log", logs.String())
}

// TestNotifyAcrossRestarts: an acknowledgement and a resolution held back
// by the group interval when the server stops are sent after the next
// start, and a group whose state was already notified is not notified
// again.
func TestNotifyAcrossRestarts(t *testing.T) {
	h := newHook(t, false)
	dir := t.TempDir()
	const bob = "arn:aws:iam::111122223333:user/bob"
	_, base, admin, stop := startServer(t, dir, webhookTo(h.url(), time.Hour))
	ingestStop(t, base, admin, "r-1", bob)
	checkDelivery(t, h.waitAccepted(1), "firing", bob, 1)
	alerts := waitAlerts(t, base, admin, func(l alertList) bool { return len(l.Alerts) == 1 })
	if code := call(t, "POST", base+"/api/v1/alerts/"+alerts.Alerts[0].ID+"/ack", admin, nil, nil); code != http.StatusOK {
		t.Fatalf("ack: %d", code)
	}
	// The group notified a moment ago: the acknowledgement waits for the
	// group interval, an hour. Stop before it goes out.
	stop()
	if n := len(h.requests()); n != 1 {
		t.Fatalf("the webhook got %d requests before the restart, want 1", n)
	}

	_, base, _, stop = startServer(t, dir, webhookTo(h.url(), time.Hour))
	checkDelivery(t, h.waitAccepted(2), "acknowledged", bob, 1)
	waitNotifications(t, base, admin, "?status=sent", 2)
	stop()

	// Nothing changed since: a third start sends nothing.
	_, base, _, stop = startServer(t, dir, webhookTo(h.url(), time.Hour))
	time.Sleep(500 * time.Millisecond) // time for a wrong notification to be queued
	if l := listNotifications(t, base, admin, ""); len(l.Notifications) != 2 {
		t.Errorf("the outbox has %d notifications after a start without changes, want 2: %+v", len(l.Notifications), l.Notifications)
	}
	if n := len(h.requests()); n != 2 {
		t.Errorf("the webhook got %d requests, want 2", n)
	}
	// A resolution held back when the server stops goes out after the
	// next start: recently resolved alerts are fed too.
	if code := call(t, "POST", base+"/api/v1/alerts/"+alerts.Alerts[0].ID+"/resolve", admin, nil, nil); code != http.StatusOK {
		t.Fatalf("resolve: %d", code)
	}
	stop()
	_, _, _, stop = startServer(t, dir, webhookTo(h.url(), time.Hour))
	defer stop()
	checkDelivery(t, h.waitAccepted(3), "resolved", bob, 1)
}

// TestNotifySilences: a silence created through the API holds an alert's
// notification back until the silence is expired.
func TestNotifySilences(t *testing.T) {
	h := newHook(t, false)
	_, base, admin, stop := startServer(t, t.TempDir(), webhookTo(h.url(), 200*time.Millisecond))
	defer stop()
	const tester = "arn:aws:iam::111122223333:user/pentester"
	var sil struct{ ID string }
	if code := call(t, "POST", base+"/api/v1/silences", admin, []byte(`{"matchers":["principal=\"`+tester+`\""],"duration":"1h","comment":"authorized test"}`), &sil); code != http.StatusCreated {
		t.Fatalf("create silence: %d", code)
	}
	ingestStop(t, base, admin, "s-1", tester)
	waitAlerts(t, base, admin, func(l alertList) bool { return len(l.Alerts) == 1 })
	// An alert nobody silenced goes out meanwhile.
	ingestStop(t, base, admin, "s-2", "arn:aws:iam::111122223333:user/intruder")
	checkDelivery(t, h.waitAccepted(1), "firing", "arn:aws:iam::111122223333:user/intruder", 1)
	time.Sleep(300 * time.Millisecond) // longer than the group interval
	if n := len(h.requests()); n != 1 {
		t.Fatalf("the webhook got %d requests while the silence is active, want only the unsilenced alert's", n)
	}
	if code := call(t, "DELETE", base+"/api/v1/silences/"+sil.ID, admin, nil, nil); code != http.StatusOK {
		t.Fatalf("expire silence: %d", code)
	}
	checkDelivery(t, h.waitAccepted(2), "firing", tester, 1)
}

// TestNotifyReload: new notification settings take effect; wrong ones
// change nothing.
func TestNotifyReload(t *testing.T) {
	first, second := newHook(t, false), newHook(t, false)
	srv, base, admin, stop := startServer(t, t.TempDir(), webhookTo(first.url(), time.Second))
	defer stop()
	ingestStop(t, base, admin, "l-1", "arn:aws:iam::111122223333:user/one")
	first.waitAccepted(1)

	bad := config.Default()
	webhookTo(second.url(), time.Second)(bad)
	bad.Notify.Route.Receiver = "nobody"
	if err := srv.ReloadNotify(bad); err == nil || !strings.Contains(err.Error(), "nobody") || !strings.Contains(err.Error(), "stay in place") {
		t.Errorf("reload with a route to an unknown receiver: %v", err)
	}
	ingestStop(t, base, admin, "l-2", "arn:aws:iam::111122223333:user/two")
	checkDelivery(t, first.waitAccepted(2), "firing", "arn:aws:iam::111122223333:user/two", 1)

	good := config.Default()
	webhookTo(second.url(), time.Second)(good)
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	if err := srv.ReloadNotify(good); err != nil {
		t.Fatal(err)
	}
	ingestStop(t, base, admin, "l-3", "arn:aws:iam::111122223333:user/three")
	checkDelivery(t, second.waitAccepted(1), "firing", "arn:aws:iam::111122223333:user/three", 1)
	if n := len(first.requests()); n != 2 {
		t.Errorf("the replaced webhook got %d requests, want 2", n)
	}
}
