package webhook

import (
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vigil-sec/vigil/internal/notify"
	"github.com/vigil-sec/vigil/internal/notify/notifytest"
	"github.com/vigil-sec/vigil/internal/notify/template"
	"github.com/vigil-sec/vigil/internal/secret"
)

var update = notifytest.Update()

var fixedNow = time.Date(2026, 11, 22, 18, 2, 3, 0, time.UTC)

func newReceiver(t *testing.T, cfg Config) (*Receiver, *notifytest.Buffer) {
	t.Helper()
	logger, logs := notifytest.Logger()
	r, err := New("sec-webhook", cfg, notifytest.Client(), logger)
	if err != nil {
		t.Fatal(err)
	}
	r.now = func() time.Time { return fixedNow }
	return r, logs
}

type captured struct {
	method, path, query string
	header              http.Header
	body                []byte
}

func captureServer(t *testing.T, status int) (*httptest.Server, func() []captured) {
	var mu sync.Mutex
	var got []captured
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, captured{r.Method, r.URL.Path, r.URL.RawQuery, r.Header.Clone(), body})
		mu.Unlock()
		w.WriteHeader(status)
	}))
	t.Cleanup(srv.Close)
	return srv, func() []captured {
		mu.Lock()
		defer mu.Unlock()
		return append([]captured(nil), got...)
	}
}

func TestRequestFormat(t *testing.T) {
	srv, requests := captureServer(t, http.StatusNoContent)
	key := "whsec-0123456789"
	r, _ := newReceiver(t, Config{
		URL:     secret.Secret(srv.URL + "/hooks/vigil?token=abc"),
		Secret:  secret.Secret(key),
		Headers: map[string]secret.Secret{"Authorization": "Bearer tok", "X-Team": "sec"},
	})
	n := template.Sample()
	ref, err := r.Send(t.Context(), n)
	if err != nil || ref != "" {
		t.Fatalf("Send = %q, %v", ref, err)
	}
	reqs := requests()
	if len(reqs) != 1 {
		t.Fatalf("%d requests", len(reqs))
	}
	got := reqs[0]
	if got.method != http.MethodPost || got.path != "/hooks/vigil" || got.query != "token=abc" {
		t.Errorf("request %s %s?%s", got.method, got.path, got.query)
	}
	for h, want := range map[string]string{
		"Content-Type":         "application/json",
		"User-Agent":           "Vigil/test",
		NotificationIDHeader:   n.ID,
		"Authorization":        "Bearer tok",
		"X-Team":               "sec",
		SignatureHeader + "-x": "",
	} {
		if strings.HasSuffix(h, "-x") {
			continue
		}
		if v := got.header.Get(h); v != want {
			t.Errorf("header %s = %q, want %q", h, v, want)
		}
	}
	// Verify the signature the way a consumer does.
	sig := got.header.Get(SignatureHeader)
	if !strings.HasPrefix(sig, "t=1795370523,v1=") {
		t.Errorf("signature %q", sig)
	}
	if err := Verify([]byte(key), sig, got.body, fixedNow.Add(time.Minute), DefaultTolerance); err != nil {
		t.Errorf("Verify: %v", err)
	}
	if err := Verify([]byte("wrong"), sig, got.body, fixedNow, DefaultTolerance); !errors.Is(err, ErrBadSignature) {
		t.Errorf("Verify with a wrong key = %v", err)
	}
	// The body is the documented payload.
	var p map[string]any
	if err := json.Unmarshal(got.body, &p); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"version", "id", "receiver", "status", "group_key", "group_labels", "severity", "url", "test", "time", "alerts", "truncated_alerts"} {
		if _, ok := p[k]; !ok {
			t.Errorf("payload lacks %q", k)
		}
	}
	if p["version"] != "1" {
		t.Errorf("version %v", p["version"])
	}
	notifytest.GoldenJSON(t, *update, "payload.golden.json", got.body)
}

func TestNoSecretNoSignature(t *testing.T) {
	srv, requests := captureServer(t, http.StatusOK)
	r, _ := newReceiver(t, Config{URL: secret.Secret(srv.URL)})
	if _, err := r.Send(t.Context(), template.Sample()); err != nil {
		t.Fatal(err)
	}
	if h := requests()[0].header.Get(SignatureHeader); h != "" {
		t.Errorf("signature %q sent without a secret", h)
	}
}

func TestMaxAlerts(t *testing.T) {
	p := NewPayload(template.Sample(), 1)
	if len(p.Alerts) != 1 || p.TruncatedAlerts != 1 {
		t.Errorf("%d alerts, %d truncated", len(p.Alerts), p.TruncatedAlerts)
	}
	p = NewPayload(template.Sample(), 0)
	if len(p.Alerts) != 2 || p.TruncatedAlerts != 0 {
		t.Errorf("%d alerts, %d truncated", len(p.Alerts), p.TruncatedAlerts)
	}
	// Empty lists are [] and not null, so that consumers need no null checks.
	b, _ := json.Marshal(NewPayload(&notify.Notification{ID: "x", Status: notify.Firing}, 0))
	for _, want := range []string{`"alerts":[]`, `"group_labels":{}`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("%s lacks %s", b, want)
		}
	}
}

func TestSendResolved(t *testing.T) {
	srv, requests := captureServer(t, http.StatusOK)
	no := false
	r, _ := newReceiver(t, Config{URL: secret.Secret(srv.URL), SendResolved: &no})
	n := template.Sample()
	n.Status = notify.Resolved
	if _, err := r.Send(t.Context(), n); err != nil {
		t.Fatal(err)
	}
	n.Status = notify.Acknowledged
	if _, err := r.Send(t.Context(), n); err != nil {
		t.Fatal(err)
	}
	reqs := requests()
	if len(reqs) != 1 || !strings.Contains(string(reqs[0].body), `"status":"acknowledged"`) {
		t.Errorf("want only the acknowledgement sent, got %d requests", len(reqs))
	}
}

func TestStatusMapping(t *testing.T) {
	notifytest.StatusTest{
		Notification: template.Sample(),
		New: notifytest.Build(New, "w", func(base string) Config {
			return Config{URL: secret.Secret(base + "/hook")}
		}),
	}.Run(t)
}

func TestNoSecretLeaks(t *testing.T) {
	secrets := []string{"pathTOKEN0123456789", "queryTOKEN987654321", "hmacKEY-abcdefghij", "headerVALUE-zyxwvut", "basicPASS-13579"}
	notifytest.LeakTest{
		Secrets:       secrets,
		Notifications: notifytest.Notifications(template.Sample()),
		New: notifytest.Build(New, "leaky", func(base string) Config {
			return Config{
				URL:     secret.Secret(strings.Replace(base, "http://", "http://user:basicPASS-13579@", 1) + "/hooks/pathTOKEN0123456789?token=queryTOKEN987654321"),
				Secret:  "hmacKEY-abcdefghij",
				Headers: map[string]secret.Secret{"X-Api-Key": "headerVALUE-zyxwvut"},
			}
		}),
	}.Run(t)
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want []string // one line per problem; nil = valid
	}{
		{"minimal", Config{URL: "https://hooks.example.com/x"}, nil},
		{"full", Config{URL: "http://hooks.example.com/x", Secret: "s", Headers: map[string]secret.Secret{"Authorization": "Bearer x"}, MaxAlerts: 10, Timeout: 30 * time.Second}, nil},
		{"no url", Config{}, []string{"url: is required (inline, or from a file with url_file)"}},
		{"bad scheme", Config{URL: "ftp://hooks.example.com/TOKEN"}, []string{"url: the URL must start with https:// (or http://)"}},
		{"no host", Config{URL: "https:///TOKEN"}, []string{"url: the URL has no host"}},
		{"unparsable", Config{URL: "https://hooks.example.com/%zzTOKEN"}, []string{"url: the URL does not parse; check its characters and percent-escapes"}},
		{"every problem", Config{
			URL: "https://h.example.com/TOKEN\n", Secret: "a\x01b",
			Headers:   map[string]secret.Secret{"Bad Name": "v", "Content-Type": "x", "x-vigil-foo": "y", "X-Ok": "line\nbreak"},
			MaxAlerts: -1, Timeout: time.Hour,
		}, []string{
			"url: has a line break at byte 27 (only one trailing newline is removed)",
			"url: the URL contains white space",
			"secret: has a control character at byte 1",
			"headers[Bad Name]: is not a valid HTTP header name",
			"headers[Content-Type]: is set by Vigil or by HTTP and cannot be configured",
			"headers[X-Ok]: has a line break at byte 4 (only one trailing newline is removed)",
			"headers[x-vigil-foo]: X-Vigil- headers are Vigil's own and cannot be configured",
			"max_alerts: must be 0 (all alerts) or more, got -1",
			"timeout: must be from 0s (the default) to 5m0s, got 1h0m0s",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			var got []string
			if err != nil {
				got = strings.Split(err.Error(), "\n")
				if strings.Contains(err.Error(), "TOKEN") {
					t.Errorf("the error quotes the URL: %v", err)
				}
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Validate (-want +got):\n%s", diff)
			}
		})
	}
	if _, err := New("bad", Config{}, notifytest.Client(), slog.New(slog.DiscardHandler)); err == nil ||
		!strings.HasPrefix(err.Error(), `receiver "bad": webhook: url: is required`) {
		t.Errorf("New = %v", err)
	}
}

func TestVerify(t *testing.T) {
	key := []byte("k")
	body := []byte(`{"version":"1"}`)
	t0 := time.Unix(1_800_000_000, 0)
	good := Sign(key, t0, body)
	_, v1, _ := strings.Cut(good, ",")
	tests := []struct {
		name   string
		header string
		body   string
		now    time.Time
		want   error
	}{
		{"good", good, string(body), t0, nil},
		{"within tolerance", good, string(body), t0.Add(4 * time.Minute), nil},
		{"rotated key listed second", "t=1800000000,v1=" + strings.Repeat("00", 32) + "," + v1, string(body), t0, nil},
		{"replayed later", good, string(body), t0.Add(6 * time.Minute), ErrTooOld},
		{"from the future", good, string(body), t0.Add(-6 * time.Minute), ErrTooOld},
		{"tampered body", good, `{"version":"2"}`, t0, ErrBadSignature},
		{"tampered time", strings.Replace(good, "t=1800000000", "t=1800000001", 1), string(body), t0, ErrBadSignature},
		{"no signature", "t=1800000000", string(body), t0, ErrNoSignature},
		{"no time", v1, string(body), t0, ErrNoSignature},
		{"garbage", "nonsense", string(body), t0, ErrNoSignature},
		{"short hex", "t=1800000000,v1=abcd", string(body), t0, ErrNoSignature},
	}
	for _, tt := range tests {
		err := Verify(key, tt.header, []byte(tt.body), tt.now, DefaultTolerance)
		if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
			t.Errorf("%s: Verify = %v, want %v", tt.name, err, tt.want)
		}
	}
}

func FuzzVerify(f *testing.F) {
	f.Add("t=1800000000,v1=" + strings.Repeat("ab", 32))
	f.Add("t=,v1=")
	f.Add(",,,=,=")
	f.Fuzz(func(t *testing.T, header string) {
		body := []byte("body")
		if len(header) > 4096 {
			return
		}
		err := Verify([]byte("k"), header, body, time.Unix(1_800_000_000, 0), DefaultTolerance)
		if err == nil && !strings.Contains(header, Sign([]byte("k"), time.Unix(1_800_000_000, 0), body)[len("t=1800000000,"):]) {
			// Accepting needs the right MAC somewhere in the header.
			t.Fatalf("accepted %q", header)
		}
	})
}
