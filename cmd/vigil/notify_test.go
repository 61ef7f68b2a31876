package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/vigil-sec/vigil/internal/notify/webhook"
)

// Secrets of the test webhook, none of which may reach the server's log.
const (
	hookPathSecret   = "T0KEN-in-the-url-path-4242"
	hookSigningKey   = "signing-key-from-a-file-4343"
	hookHeaderSecret = "header-secret-4444"
)

// receiverHook is a webhook receiver on 127.0.0.1 that answers with the
// status in answer and records every request.
type receiverHook struct {
	t      *testing.T
	addr   string
	srv    *http.Server
	answer atomic.Int32

	mu   sync.Mutex
	reqs []hookCall
}

type hookCall struct {
	header  http.Header
	body    []byte
	payload webhook.Payload
	status  int
}

// startHook starts a receiver; with down set it only reserves a port and
// refuses connections until up.
func startHook(t *testing.T, down bool) *receiverHook {
	t.Helper()
	h := &receiverHook{t: t}
	h.answer.Store(http.StatusOK)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h.addr = ln.Addr().String()
	h.srv = &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		c := hookCall{header: r.Header.Clone(), body: body, status: int(h.answer.Load())}
		if r.URL.Path != "/hooks/"+hookPathSecret {
			t.Errorf("the webhook was posted to %s", r.URL.Path)
		}
		if err := json.Unmarshal(body, &c.payload); err != nil {
			t.Errorf("the payload is not JSON: %v", err)
		}
		h.mu.Lock()
		h.reqs = append(h.reqs, c)
		h.mu.Unlock()
		w.WriteHeader(c.status)
	})}
	t.Cleanup(func() { h.srv.Close() })
	if down {
		ln.Close()
	} else {
		go h.srv.Serve(ln)
	}
	return h
}

func (h *receiverHook) up() {
	ln, err := net.Listen("tcp", h.addr)
	if err != nil {
		h.t.Fatalf("re-listening on %s: %v", h.addr, err)
	}
	go h.srv.Serve(ln)
}

func (h *receiverHook) calls() []hookCall {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]hookCall(nil), h.reqs...)
}

// waitCall waits for the n-th request the hook answered 2xx.
func (h *receiverHook) waitCall(n int) hookCall {
	h.t.Helper()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		var ok []hookCall
		for _, c := range h.calls() {
			if c.status < 300 {
				ok = append(ok, c)
			}
		}
		if len(ok) >= n {
			return ok[n-1]
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("the webhook accepted %d notifications, want %d", len(ok), n)
		}
	}
}

// verify checks a delivery's signature and what it says.
func verifyCall(t *testing.T, c hookCall, status, principal string) {
	t.Helper()
	if err := webhook.Verify([]byte(hookSigningKey), c.header.Get("X-Vigil-Signature"), c.body, time.Now(), 5*time.Minute); err != nil {
		t.Errorf("X-Vigil-Signature %q: %v", c.header.Get("X-Vigil-Signature"), err)
	}
	if c.header.Get("Authorization") != "Bearer "+hookHeaderSecret || c.header.Get("X-Vigil-Notification-Id") != c.payload.ID {
		t.Errorf("headers: %v", c.header)
	}
	p := c.payload
	if p.Version != "1" || p.Status != status || len(p.Alerts) != 1 || p.Alerts[0].Principal != principal ||
		p.Alerts[0].Rule.Title != "CloudTrail Logging Stopped" {
		t.Errorf("payload: %s", c.body)
	}
}

// writeNotifyConfig writes a vigil.yaml that sends every alert to the
// webhook at addr, signed with a key kept in a file.
func writeNotifyConfig(t *testing.T, dir, addr string) string {
	t.Helper()
	keyFile := filepath.Join(dir, "webhook.secret")
	if err := os.WriteFile(keyFile, []byte(hookSigningKey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf(`log: {level: debug}
notify:
  allow_private_targets: ["127.0.0.0/8"]
  receivers:
    - name: sec-webhook
      webhook:
        url: "http://%s/hooks/%s"
        secret_file: %q
        headers: {Authorization: "Bearer %s"}
  route:
    receiver: sec-webhook
    group_by: [rule, principal]
    group_wait: 0s
    group_interval: 200ms
  delivery:
    backoff_base: 200ms
    backoff_max: 1s
`, addr, hookPathSecret, keyFile, hookHeaderSecret)
	path := filepath.Join(dir, "vigil.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func (s *server) post(t *testing.T, path string, body []byte, out any) int {
	t.Helper()
	req, _ := http.NewRequest("POST", s.base+path, strings.NewReader(string(body)))
	req.Header.Set("Authorization", "Bearer "+s.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil {
		json.Unmarshal(b, out)
	}
	return resp.StatusCode
}

func stopRecord(id, principal string) []byte {
	return fmt.Appendf(nil, `{"Records":[{"eventVersion":"1.09","eventTime":"%s","eventSource":"cloudtrail.amazonaws.com","eventName":"StopLogging","awsRegion":"us-east-1","sourceIPAddress":"203.0.113.50","userAgent":"aws-cli/2","userIdentity":{"type":"IAMUser","arn":%q,"accountId":"111122223333"},"eventID":%q,"recipientAccountId":"111122223333"}]}`,
		time.Now().UTC().Format(time.RFC3339), principal, id)
}

func (s *server) ingest(t *testing.T, id, principal string) {
	t.Helper()
	if code := s.post(t, "/api/v1/ingest/cloudtrail", stopRecord(id, principal), nil); code != http.StatusAccepted {
		t.Fatalf("ingest: %d", code)
	}
}

type outbox struct {
	Notifications []struct {
		ID, Status string
		Attempts   int
		LastError  string     `json:"last_error"`
		Next       *time.Time `json:"next_attempt"`
	}
}

// waitOutbox polls GET /api/v1/notifications until want holds.
func (s *server) waitOutbox(t *testing.T, query string, want func(outbox) bool) outbox {
	t.Helper()
	var o outbox
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		o = outbox{}
		s.get(t, "/api/v1/notifications"+query, &o)
		if want(o) {
			return o
		}
		if time.Now().After(deadline) {
			t.Fatalf("the outbox never reached the expected state: %+v\n%s", o, s.log)
		}
	}
}

func noHookSecrets(t *testing.T, what, text string) {
	t.Helper()
	for _, sec := range []string{hookPathSecret, hookSigningKey, hookHeaderSecret} {
		if strings.Contains(text, sec) {
			t.Errorf("%s holds the secret %q", what, sec)
		}
	}
}

// TestServeNotifications runs vigil serve with a webhook receiver: an
// alert reaches it signed as documented, so does its acknowledgement and
// a test message from the CLI; after SIGHUP the reloaded configuration
// sends to a second receiver which is down, then up, and gets the
// notification once. No secret reaches the log.
func TestServeNotifications(t *testing.T) {
	if testing.Short() {
		t.Skip("starts vigil serve")
	}
	first, second := startHook(t, false), startHook(t, true)
	dir := t.TempDir()
	cfg := writeNotifyConfig(t, dir, first.addr)
	s := startServe(t, filepath.Join(dir, "data"), freePort(t), "--config", cfg)
	defer s.cmd.Process.Kill()

	const mallory = "arn:aws:iam::111122223333:user/mallory"
	s.ingest(t, "e2e-1", mallory)
	verifyCall(t, first.waitCall(1), "firing", mallory)
	var alerts struct{ Alerts []struct{ ID string } }
	s.get(t, "/api/v1/alerts", &alerts)
	if len(alerts.Alerts) != 1 {
		t.Fatalf("alerts: %+v", alerts)
	}
	if code := s.post(t, "/api/v1/alerts/"+alerts.Alerts[0].ID+"/ack", nil, nil); code != http.StatusOK {
		t.Fatalf("ack: %d", code)
	}
	verifyCall(t, first.waitCall(2), "acknowledged", mallory)

	cli := exec.Command(os.Args[0], "notify", "test", "sec-webhook", "--format", "table")
	cli.Env = append(os.Environ(), "VIGIL_TEST_MAIN=1", "VIGIL_URL="+s.base, "VIGIL_TOKEN="+s.token)
	if out, err := cli.CombinedOutput(); err != nil || string(out) != "test notification accepted by sec-webhook\n" {
		t.Errorf("vigil notify test: %v %q", err, out)
	}
	if c := first.waitCall(3); !c.payload.Test {
		t.Errorf("the test message is not marked as a test: %s", c.body)
	}

	// The same file, now naming the second receiver: SIGHUP reloads it.
	writeNotifyConfig(t, dir, second.addr)
	s.cmd.Process.Signal(syscall.SIGHUP)
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(s.log.String(), "notification settings reloaded"); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("SIGHUP did not reload the notification settings:\n%s", s.log)
		}
	}
	const eve = "arn:aws:iam::111122223333:user/eve"
	s.ingest(t, "e2e-2", eve)
	o := s.waitOutbox(t, "?status=pending", func(o outbox) bool { return len(o.Notifications) == 1 && o.Notifications[0].Attempts >= 2 })
	if !strings.Contains(o.Notifications[0].LastError, "connection refused") {
		t.Errorf("last_error %q", o.Notifications[0].LastError)
	}
	second.up()
	verifyCall(t, second.waitCall(1), "firing", eve)
	s.waitOutbox(t, "?status=pending", func(o outbox) bool { return len(o.Notifications) == 0 })
	if n := len(second.calls()); n != 1 {
		t.Errorf("the second receiver got %d requests, want 1", n)
	}
	if n := len(first.calls()); n != 3 {
		t.Errorf("the first receiver got %d requests after the reload, want 3 in all", n)
	}

	s.cmd.Process.Signal(syscall.SIGTERM)
	if err := s.cmd.Wait(); err != nil {
		t.Errorf("vigil serve did not exit cleanly: %v", err)
	}
	noHookSecrets(t, "the server log", s.log.String())
	if !strings.Contains(s.log.String(), "notification not delivered; retrying") {
		t.Errorf("the log does not record the failed attempts:\n%s", s.log)
	}
}

// TestServeNotifyKilledMidRetry kills vigil serve with SIGKILL while a
// notification is being retried (the receiver answers 500), restarts it,
// and checks that the notification is delivered once the receiver
// answers 200, exactly once.
func TestServeNotifyKilledMidRetry(t *testing.T) {
	if testing.Short() {
		t.Skip("starts vigil serve twice")
	}
	h := startHook(t, false)
	h.answer.Store(http.StatusInternalServerError)
	dir := t.TempDir()
	cfg := writeNotifyConfig(t, dir, h.addr)
	data, addr := filepath.Join(dir, "data"), freePort(t)
	s := startServe(t, data, addr, "--config", cfg)
	const trudy = "arn:aws:iam::111122223333:user/trudy"
	s.ingest(t, "kill-1", trudy)
	// Kill between attempts: after the second failure is recorded and
	// before the next try.
	o := s.waitOutbox(t, "?status=pending", func(o outbox) bool {
		return len(o.Notifications) == 1 && o.Notifications[0].Attempts >= 2 && o.Notifications[0].Next != nil && o.Notifications[0].Next.After(time.Now())
	})
	id := o.Notifications[0].ID
	s.cmd.Process.Signal(syscall.SIGKILL)
	s.cmd.Wait()
	firstLog := s.log.String()
	failed := len(h.calls())

	h.answer.Store(http.StatusOK)
	s = startServe(t, data, addr, "--config", cfg)
	defer func() {
		s.cmd.Process.Signal(syscall.SIGTERM)
		s.cmd.Wait()
	}()
	// A kill during a send leaves a claim that expires after its lease
	// (two minutes); hence the long wait in that rare case.
	var ok []hookCall
	for deadline := time.Now().Add(3 * time.Minute); len(ok) == 0; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the notification was not delivered after the restart:\n%s", s.log)
		}
		ok = nil
		for _, c := range h.calls() {
			if c.status == http.StatusOK {
				ok = append(ok, c)
			}
		}
	}
	verifyCall(t, ok[0], "firing", trudy)
	if ok[0].payload.ID != id {
		t.Errorf("delivered %s, want the notification %s that was being retried", ok[0].payload.ID, id)
	}
	s.waitOutbox(t, "?status=sent", func(o outbox) bool { return len(o.Notifications) == 1 && o.Notifications[0].ID == id })
	s.cmd.Process.Signal(syscall.SIGTERM)
	if err := s.cmd.Wait(); err != nil {
		t.Errorf("vigil serve did not exit cleanly: %v", err)
	}
	delivered := 0
	for _, c := range h.calls() {
		if c.status == http.StatusOK {
			delivered++
		}
	}
	if delivered != 1 {
		t.Errorf("the notification was delivered %d times, want once", delivered)
	}
	t.Logf("%d failed attempts before SIGKILL, %d requests in all", failed, len(h.calls()))
	noHookSecrets(t, "the log before the kill", firstLog)
	noHookSecrets(t, "the log after the restart", s.log.String())
}
