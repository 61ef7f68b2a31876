package notify_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vigil-sec/vigil/internal/alert"
	"github.com/vigil-sec/vigil/internal/notify"
	"github.com/vigil-sec/vigil/internal/store"
)

var t0 = time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)

// fakeClock is a Clock that moves only when told.
type fakeClock struct {
	mu      sync.Mutex
	now     time.Time
	waiters []waiter
}

type waiter struct {
	at time.Time
	c  chan time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) At(t time.Time) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan time.Time, 1)
	if !t.After(c.now) {
		ch <- c.now
		return ch
	}
	c.waiters = append(c.waiters, waiter{t, ch})
	return ch
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	kept := c.waiters[:0]
	for _, w := range c.waiters {
		if w.at.After(c.now) {
			kept = append(kept, w)
			continue
		}
		w.c <- c.now
	}
	c.waiters = kept
}

// waitFor polls cond; the deadline only guards against a hang.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func openStore(t *testing.T, path string) *store.DB {
	t.Helper()
	db, err := store.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	return db
}

var opts = notify.Options{
	Route: notify.Route{Receiver: "hook", GroupBy: []string{"rule"}, GroupWait: ptr(time.Duration(0)),
		GroupInterval: ptr(time.Minute), RepeatInterval: ptr(4 * time.Hour)},
	Delivery: notify.Delivery{MaxAge: time.Hour, BackoffBase: time.Second, BackoffMax: 2 * time.Second, Concurrency: 2, Retention: 720 * time.Hour},
}

func ptr[T any](v T) *T { return &v }

func testAlert(id string) alert.Alert {
	return alert.Alert{ID: id, Fingerprint: "fp-" + id, Rule: alert.RuleRef{ID: "rule-" + id, Title: "IAM backdoor", Level: "high", Tags: []string{"attack.t1098"}},
		Severity: "high", Status: alert.Open, Count: 1, FirstSeen: t0, LastSeen: t0, UpdatedAt: t0, Cloud: "aws", Account: "111122223333",
		Principal: "arn:aws:iam::111122223333:user/dev-alice", EventIDs: []string{"e1"}}
}

// running is a service running against a store, with its clock.
type running struct {
	svc   *notify.Service
	db    *store.DB
	clock *fakeClock
	stop  func()
}

func start(t *testing.T, o notify.Options, receivers map[string]notify.Receiver, db *store.DB, clock *fakeClock) *running {
	t.Helper()
	svc, err := notify.New(o, receivers, db.Outbox(), nil, clock, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := svc.Run(ctx); err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	var once sync.Once
	r := &running{svc: svc, db: db, clock: clock, stop: func() { once.Do(func() { cancel(); <-done }) }}
	t.Cleanup(r.stop)
	return r
}

// entries lists the outbox, oldest first.
func (r *running) entries(t *testing.T) []*notify.Entry {
	t.Helper()
	es, _, err := r.db.Outbox().List(context.Background(), notify.ListFilter{})
	if err != nil {
		t.Fatal(err)
	}
	for i, j := 0, len(es)-1; i < j; i, j = i+1, j-1 {
		es[i], es[j] = es[j], es[i]
	}
	return es
}

func (r *running) waitEntry(t *testing.T, what string, cond func(e *notify.Entry) bool) *notify.Entry {
	t.Helper()
	var got *notify.Entry
	waitFor(t, what, func() bool {
		es := r.entries(t)
		if len(es) == 0 {
			return false
		}
		got = es[len(es)-1]
		return cond(got)
	})
	return got
}

// webhook is a real HTTP endpoint whose answers a test scripts, and a
// Receiver that POSTs notifications to it the way receivers do.
type webhook struct {
	srv     *httptest.Server
	mu      sync.Mutex
	answers []func(w http.ResponseWriter) // one per request; the last repeats
	got     []notify.Notification
	at      []time.Time
	clock   *fakeClock
}

func newWebhook(t *testing.T, clock *fakeClock, answers ...func(w http.ResponseWriter)) *webhook {
	wh := &webhook{answers: answers, clock: clock}
	wh.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var n notify.Notification
		if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" || json.NewDecoder(r.Body).Decode(&n) != nil {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		wh.mu.Lock()
		i := min(len(wh.got), len(wh.answers)-1)
		wh.got = append(wh.got, n)
		wh.at = append(wh.at, clock.Now())
		answer := wh.answers[i]
		wh.mu.Unlock()
		answer(w)
	}))
	t.Cleanup(wh.srv.Close)
	return wh
}

func (wh *webhook) requests() int {
	wh.mu.Lock()
	defer wh.mu.Unlock()
	return len(wh.got)
}

func status(code int, header ...string) func(w http.ResponseWriter) {
	return func(w http.ResponseWriter) {
		for i := 0; i+1 < len(header); i += 2 {
			w.Header().Set(header[i], header[i+1])
		}
		w.WriteHeader(code)
	}
}

// hangUp drops the connection: the receiver looks down.
func hangUp(w http.ResponseWriter) {
	conn, _, err := w.(http.Hijacker).Hijack()
	if err == nil {
		conn.Close()
	}
}

// receiver posts to the webhook with a token in the URL, as a Slack or
// Teams webhook URL carries one.
func (wh *webhook) receiver() notify.Receiver {
	return notify.ReceiverFunc(func(ctx context.Context, n *notify.Notification) (string, error) {
		body, _ := json.Marshal(n)
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, wh.srv.URL+"/hooks/T0001/secret-token-1234", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		resp, err := wh.srv.Client().Do(req)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		switch {
		case resp.StatusCode < 300:
			return "ref-" + n.ID, nil
		case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
			secs, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
			return "", &notify.Error{Status: resp.StatusCode, RetryAfter: time.Duration(secs) * time.Second, Err: errors.New(resp.Status)}
		}
		return "", &notify.Error{Status: resp.StatusCode, Permanent: true, Err: errors.New(resp.Status)}
	})
}

func TestDeliveryFaults(t *testing.T) {
	tests := []struct {
		name     string
		answers  []func(w http.ResponseWriter)
		advance  []time.Duration // clock moves between attempts
		requests int
		want     notify.DeliveryStatus
		lastErr  string
	}{
		{"down, then up: delivered once", []func(http.ResponseWriter){hangUp, hangUp, status(200)}, []time.Duration{2 * time.Second, 2 * time.Second}, 3, notify.Sent, "EOF"},
		{"500, then 200", []func(http.ResponseWriter){status(500), status(200)}, []time.Duration{2 * time.Second}, 2, notify.Sent, "status 500: 500 Internal Server Error"},
		{"a permanent error fails at once", []func(http.ResponseWriter){status(401)}, nil, 1, notify.Failed, "status 401: 401 Unauthorized"},
		{"max age dead-letters", []func(http.ResponseWriter){status(503)}, []time.Duration{30 * time.Minute, 30 * time.Minute}, 3, notify.Failed, "gave up after 3 attempts in 1h0m0s (delivery.max_age 1h0m0s): status 503"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := &fakeClock{now: t0}
			wh := newWebhook(t, clock, tt.answers...)
			db := openStore(t, filepath.Join(t.TempDir(), "vigil.db"))
			defer db.Close()
			o := opts
			o.Delivery.BackoffMax = 30 * time.Minute
			r := start(t, o, map[string]notify.Receiver{"hook": wh.receiver()}, db, clock)
			r.svc.Handle(testAlert("a1"))
			for i, d := range tt.advance {
				waitFor(t, fmt.Sprintf("attempt %d", i+1), func() bool { return wh.requests() == i+1 })
				// Recorded: the next attempt lies ahead (while the entry is
				// claimed it is the past one).
				r.waitEntry(t, "the retry to be recorded", func(e *notify.Entry) bool {
					return e.Attempts == i+1 && e.NextAttempt != nil && e.NextAttempt.After(clock.Now())
				})
				clock.Advance(d)
			}
			e := r.waitEntry(t, "the outcome", func(e *notify.Entry) bool { return e.Status != notify.Pending })
			if e.Status != tt.want || e.Attempts != tt.requests || !strings.Contains(e.LastError, tt.lastErr) {
				t.Errorf("entry: status %s attempts %d last error %q; want %s, %d, %q", e.Status, e.Attempts, e.LastError, tt.want, tt.requests, tt.lastErr)
			}
			if strings.Contains(e.LastError, "secret-token") {
				t.Errorf("the stored error leaks the URL's token: %s", e.LastError)
			}
			r.stop()
			if n := wh.requests(); n != tt.requests {
				t.Errorf("%d requests, want %d", n, tt.requests)
			}
			if es := r.entries(t); len(es) != 1 {
				t.Errorf("%d notifications in the outbox, want 1", len(es))
			}
		})
	}
}

func TestRetryAfterIsHonoured(t *testing.T) {
	clock := &fakeClock{now: t0}
	wh := newWebhook(t, clock, status(429, "Retry-After", "90"), status(200))
	db := openStore(t, filepath.Join(t.TempDir(), "vigil.db"))
	defer db.Close()
	r := start(t, opts, map[string]notify.Receiver{"hook": wh.receiver()}, db, clock)
	r.svc.Handle(testAlert("a1"))
	e := r.waitEntry(t, "the 429 to be recorded", func(e *notify.Entry) bool { return e.LastError != "" })
	if want := t0.Add(90 * time.Second); e.NextAttempt == nil || !e.NextAttempt.Equal(want) {
		t.Fatalf("next attempt %v, want %v (Retry-After: 90)", e.NextAttempt, want)
	}
	clock.Advance(89 * time.Second)
	clock.Advance(time.Second)
	r.waitEntry(t, "delivery", func(e *notify.Entry) bool { return e.Status == notify.Sent })
	r.stop()
	if len(wh.at) != 2 || wh.at[1].Sub(wh.at[0]) < 90*time.Second {
		t.Errorf("requests at %v; the second must wait 90s", wh.at)
	}
}

// TestRestartMidRetry stops the service and closes the store while a
// notification waits for its retry; a new service on the reopened store
// delivers it, once, and the alerts fed again do not make a second one.
func TestRestartMidRetry(t *testing.T) {
	clock := &fakeClock{now: t0}
	wh := newWebhook(t, clock, status(500), status(200))
	path := filepath.Join(t.TempDir(), "vigil.db")
	db := openStore(t, path)
	r := start(t, opts, map[string]notify.Receiver{"hook": wh.receiver()}, db, clock)
	r.svc.Handle(testAlert("a1"))
	r.waitEntry(t, "the failure to be recorded", func(e *notify.Entry) bool { return e.LastError != "" })
	r.stop()
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	db = openStore(t, path)
	defer db.Close()
	r = start(t, opts, map[string]notify.Receiver{"hook": wh.receiver()}, db, clock)
	r.svc.Handle(testAlert("a1")) // the app feeds the open alerts again at start
	clock.Advance(2 * time.Second)
	e := r.waitEntry(t, "delivery after the restart", func(e *notify.Entry) bool { return e.Status == notify.Sent })
	clock.Advance(time.Minute) // past any group timer
	waitFor(t, "the group to settle", func() bool { return r.svc.Stats().Groups == 1 })
	r.stop()
	if wh.requests() != 2 || e.Attempts != 2 {
		t.Errorf("%d requests, %d attempts; want 2 and 2", wh.requests(), e.Attempts)
	}
	if es := r.entries(t); len(es) != 1 {
		t.Errorf("%d notifications in the outbox, want 1: the restart must not notify again", len(es))
	}
}

func TestRetryRedrivesFailed(t *testing.T) {
	clock := &fakeClock{now: t0}
	wh := newWebhook(t, clock, status(403), status(200))
	db := openStore(t, filepath.Join(t.TempDir(), "vigil.db"))
	defer db.Close()
	r := start(t, opts, map[string]notify.Receiver{"hook": wh.receiver()}, db, clock)
	r.svc.Handle(testAlert("a1"))
	e := r.waitEntry(t, "the failure", func(e *notify.Entry) bool { return e.Status == notify.Failed })
	if _, err := r.svc.Retry(context.Background(), "ntf_nope"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Retry(unknown) = %v, want ErrNotFound", err)
	}
	got, err := r.svc.Retry(context.Background(), e.ID)
	if err != nil || got.Status != notify.Pending {
		t.Fatalf("Retry = %+v, %v", got, err)
	}
	r.waitEntry(t, "delivery", func(e *notify.Entry) bool { return e.Status == notify.Sent })
	if es := r.entries(t); len(es) != 1 || es[0].ID != e.ID {
		t.Errorf("outbox %v; want the one notification, sent", es)
	}
}

// TestGroupStory follows one group: its messages carry the receiver's
// reference from the previous one, the resolution forgets it, and the
// same labels later start a new story.
func TestGroupStory(t *testing.T) {
	clock := &fakeClock{now: t0}
	var mu sync.Mutex
	var seen []string
	rcv := notify.ReceiverFunc(func(_ context.Context, n *notify.Notification) (string, error) {
		mu.Lock()
		defer mu.Unlock()
		seen = append(seen, fmt.Sprintf("%s prior=%q", n.Status, n.Prior))
		return "msg-" + strconv.Itoa(len(seen)), nil
	})
	count := func() int { mu.Lock(); defer mu.Unlock(); return len(seen) }
	db := openStore(t, filepath.Join(t.TempDir(), "vigil.db"))
	defer db.Close()
	r := start(t, opts, map[string]notify.Receiver{"hook": rcv}, db, clock)
	a := testAlert("a1")
	r.svc.Handle(a)
	waitFor(t, "firing", func() bool { return count() == 1 })
	a.Status = alert.Acknowledged
	clock.Advance(time.Minute)
	r.svc.Handle(a)
	waitFor(t, "acknowledged", func() bool { return count() == 2 })
	a.Status = alert.Resolved
	clock.Advance(time.Minute)
	r.svc.Handle(a)
	waitFor(t, "resolved", func() bool { return count() == 3 })
	r.waitEntry(t, "the resolution to be recorded", func(e *notify.Entry) bool { return e.Status == notify.Sent && e.Notification.Status == notify.Resolved })
	b := testAlert("a2")
	b.Rule.ID = a.Rule.ID
	clock.Advance(time.Minute)
	r.svc.Handle(b)
	waitFor(t, "a new story", func() bool { return count() == 4 })
	r.stop()
	want := []string{`firing prior=""`, `acknowledged prior="msg-1"`, `resolved prior="msg-2"`, `firing prior=""`}
	if diff := cmp.Diff(want, seen); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestConcurrencyPerReceiver(t *testing.T) {
	clock := &fakeClock{now: t0}
	release := make(chan struct{})
	var inflight, peak, total atomic.Int32
	rcv := notify.ReceiverFunc(func(ctx context.Context, n *notify.Notification) (string, error) {
		cur := inflight.Add(1)
		defer inflight.Add(-1)
		for {
			p := peak.Load()
			if cur <= p || peak.CompareAndSwap(p, cur) {
				break
			}
		}
		total.Add(1)
		select {
		case <-release:
		case <-ctx.Done():
		}
		return "", nil
	})
	db := openStore(t, filepath.Join(t.TempDir(), "vigil.db"))
	defer db.Close()
	r := start(t, opts, map[string]notify.Receiver{"hook": rcv}, db, clock)
	for i := range 6 {
		r.svc.Handle(testAlert(fmt.Sprintf("a%d", i)))
	}
	waitFor(t, "two sends in flight", func() bool { return inflight.Load() == 2 })
	close(release)
	waitFor(t, "all six sent", func() bool {
		es := r.entries(t)
		if len(es) != 6 {
			return false
		}
		for _, e := range es {
			if e.Status != notify.Sent {
				return false
			}
		}
		return true
	})
	r.stop()
	if peak.Load() != 2 || total.Load() != 6 {
		t.Errorf("peak %d total %d; want at most Concurrency (2) at once and 6 in all", peak.Load(), total.Load())
	}
}

func TestTestNotification(t *testing.T) {
	clock := &fakeClock{now: t0}
	var got *notify.Notification
	ok := notify.ReceiverFunc(func(_ context.Context, n *notify.Notification) (string, error) { got = n; return "", nil })
	broken := notify.ReceiverFunc(func(context.Context, *notify.Notification) (string, error) {
		_, err := http.Get("http://127.0.0.1:1/services/T000/B000/XXXXsecretXXXX")
		return "", err
	})
	db := openStore(t, filepath.Join(t.TempDir(), "vigil.db"))
	defer db.Close()
	o := opts
	o.ExternalURL = "https://vigil.example.com"
	svc, err := notify.New(o, map[string]notify.Receiver{"hook": ok, "broken": broken}, db.Outbox(), nil, clock, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.Test(context.Background(), "hook"); err != nil {
		t.Fatal(err)
	}
	if got == nil || !got.Test || got.Receiver != "hook" || len(got.Alerts) != 1 || got.Status != notify.Firing || got.URL != "https://vigil.example.com" {
		t.Errorf("test notification: %+v", got)
	}
	err = svc.Test(context.Background(), "broken")
	if err == nil || strings.Contains(err.Error(), "XXXXsecretXXXX") || !strings.Contains(err.Error(), `receiver "broken" failed`) {
		t.Errorf("Test(broken) = %v; want a failure without the URL's token", err)
	}
	if err := svc.Test(context.Background(), "nope"); err == nil || !strings.Contains(err.Error(), "the configured receivers are broken, hook") {
		t.Errorf("Test(nope) = %v", err)
	}
	if es, _, _ := db.Outbox().List(context.Background(), notify.ListFilter{}); len(es) != 0 {
		t.Errorf("test notifications went to the outbox: %d", len(es))
	}
}

func TestNewAndReloadCheckTheConfig(t *testing.T) {
	clock := &fakeClock{now: t0}
	db := openStore(t, filepath.Join(t.TempDir(), "vigil.db"))
	defer db.Close()
	hook := notify.ReceiverFunc(func(context.Context, *notify.Notification) (string, error) { return "", nil })
	if _, err := notify.New(opts, map[string]notify.Receiver{"other": hook}, db.Outbox(), nil, clock, nil); err == nil ||
		!strings.Contains(err.Error(), `route.receiver: no receiver named "hook"`) {
		t.Errorf("New with a missing receiver = %v", err)
	}
	var mu sync.Mutex
	var to []string
	rec := func(name string) notify.Receiver {
		return notify.ReceiverFunc(func(_ context.Context, n *notify.Notification) (string, error) {
			mu.Lock()
			defer mu.Unlock()
			to = append(to, name)
			return "", nil
		})
	}
	r := start(t, opts, map[string]notify.Receiver{"hook": rec("hook")}, db, clock)
	bad := opts
	bad.Route.Routes = []notify.Route{{Matchers: []string{"severity=~("}}}
	if err := r.svc.Reload(bad, map[string]notify.Receiver{"hook": rec("hook")}); err == nil || !strings.Contains(err.Error(), "matchers[0]") {
		t.Errorf("Reload(bad) = %v", err)
	}
	good := opts
	good.Route.Routes = []notify.Route{{Matchers: []string{"severity=high"}, Receiver: "pager"}}
	if err := r.svc.Reload(good, map[string]notify.Receiver{"hook": rec("hook"), "pager": rec("pager")}); err != nil {
		t.Fatal(err)
	}
	r.svc.Handle(testAlert("a1"))
	waitFor(t, "delivery", func() bool { mu.Lock(); defer mu.Unlock(); return len(to) == 1 })
	r.stop()
	if to[0] != "pager" {
		t.Errorf("sent to %v, want the reloaded route's receiver", to)
	}
}
