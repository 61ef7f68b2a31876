package pagerduty

import (
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"

	"github.com/vigil-sec/vigil/internal/notify"
	"github.com/vigil-sec/vigil/internal/notify/notifytest"
	"github.com/vigil-sec/vigil/internal/notify/template"
)

var update = notifytest.Update()

const routingKey = "R0123456789abcdef0123456789abcde"

// schemaErrors checks an event against the Events API v2 schema and
// returns what PagerDuty would list in "errors".
func schemaErrors(raw []byte) []string {
	var e map[string]json.RawMessage
	if err := json.Unmarshal(raw, &e); err != nil {
		return []string{"not JSON"}
	}
	str := func(m map[string]json.RawMessage, k string) (string, bool) {
		var s string
		if m[k] == nil || json.Unmarshal(m[k], &s) != nil {
			return "", false
		}
		return s, true
	}
	var errs []string
	for k := range e {
		if !slices.Contains([]string{"routing_key", "event_action", "dedup_key", "payload", "links", "images", "client", "client_url"}, k) {
			errs = append(errs, "unknown field "+k)
		}
	}
	if k, ok := str(e, "routing_key"); !ok || len(k) != 32 {
		errs = append(errs, "routing_key must be a 32-character string")
	}
	action, _ := str(e, "event_action")
	if !slices.Contains([]string{"trigger", "acknowledge", "resolve"}, action) {
		errs = append(errs, "event_action is invalid")
	}
	if d, ok := str(e, "dedup_key"); e["dedup_key"] != nil && (!ok || len(d) > 255) || action != "trigger" && d == "" {
		errs = append(errs, "dedup_key is invalid")
	}
	if action != "trigger" {
		return errs
	}
	var p map[string]json.RawMessage
	if json.Unmarshal(e["payload"], &p) != nil {
		return append(errs, "payload is required")
	}
	if s, ok := str(p, "summary"); !ok || s == "" || utf8.RuneCountInString(s) > 1024 {
		errs = append(errs, "payload.summary must be 1 to 1024 characters")
	}
	if s, ok := str(p, "source"); !ok || s == "" {
		errs = append(errs, "payload.source is required")
	}
	if s, _ := str(p, "severity"); !slices.Contains([]string{"critical", "error", "warning", "info"}, s) {
		errs = append(errs, "payload.severity is invalid")
	}
	if s, ok := str(p, "timestamp"); ok {
		if _, err := time.Parse(time.RFC3339, s); err != nil {
			errs = append(errs, "payload.timestamp is not ISO 8601")
		}
	}
	if p["custom_details"] != nil {
		var cd map[string]any
		if json.Unmarshal(p["custom_details"], &cd) != nil {
			errs = append(errs, "payload.custom_details must be an object")
		}
	}
	var links []map[string]string
	if e["links"] != nil && json.Unmarshal(e["links"], &links) != nil {
		errs = append(errs, "links must be a list")
	}
	for _, l := range links {
		if !strings.HasPrefix(l["href"], "http") {
			errs = append(errs, "links[].href is invalid")
		}
	}
	if len(raw) > 512*1024 {
		errs = append(errs, "the event is larger than 512 KB")
	}
	return errs
}

// fakePD is an Events API v2 endpoint.
type fakePD struct {
	mu     sync.Mutex
	events [][]byte
}

func (f *fakePD) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	w.Header().Set("Content-Type", "application/json")
	if r.Method != http.MethodPost || r.URL.Path != "/v2/enqueue" || r.Header.Get("Content-Type") != "application/json" {
		w.WriteHeader(http.StatusNotFound)
		return
	}
	if errs := schemaErrors(body); len(errs) > 0 {
		w.WriteHeader(http.StatusBadRequest)
		json.NewEncoder(w).Encode(map[string]any{"status": "invalid event", "message": "Event object is invalid", "errors": errs})
		return
	}
	f.mu.Lock()
	f.events = append(f.events, body)
	f.mu.Unlock()
	var e Event
	json.Unmarshal(body, &e)
	w.WriteHeader(http.StatusAccepted)
	json.NewEncoder(w).Encode(map[string]any{"status": "success", "message": "Event processed", "dedup_key": e.DedupKey})
}

func TestTriggerAcknowledgeResolve(t *testing.T) {
	pd := &fakePD{}
	srv := httptest.NewServer(pd)
	defer srv.Close()
	r, err := New("oncall", Config{RoutingKey: routingKey, URL: srv.URL + "/v2/enqueue"}, notifytest.Client(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	n := template.Sample()
	for _, st := range []notify.Status{notify.Firing, notify.Acknowledged, notify.Resolved} {
		n.Status = st
		ref, err := r.Send(t.Context(), n)
		if err != nil {
			t.Fatalf("%s: %v", st, err)
		}
		if ref != n.GroupKey {
			t.Errorf("%s: ref %q", st, ref)
		}
	}
	pd.mu.Lock()
	defer pd.mu.Unlock()
	if len(pd.events) != 3 {
		t.Fatalf("%d events", len(pd.events))
	}
	for i, name := range []string{"trigger", "acknowledge", "resolve"} {
		var e Event
		json.Unmarshal(pd.events[i], &e)
		if e.EventAction != name || e.DedupKey != n.GroupKey || e.RoutingKey != routingKey {
			t.Errorf("event %d: %s %q", i, e.EventAction, e.DedupKey)
		}
		notifytest.GoldenJSON(t, *update, "event-"+name+".golden.json", pd.events[i])
	}
}

func TestEventSchemaForEdgeCases(t *testing.T) {
	long := strings.Repeat("é", 3000)
	n := template.Sample()
	n.GroupKey = strings.Repeat("k", 300)
	n.Severity = "whatever"
	texts := Texts{Summary: long + "\n\tsecond line", Source: "", Component: long, Group: long, Class: long}
	for range 100 {
		n.Alerts = append(n.Alerts, n.Alerts[0])
	}
	b, _ := json.Marshal(NewEvent(n, routingKey, texts))
	if errs := schemaErrors(b); len(errs) > 0 {
		t.Errorf("schema errors: %v", errs)
	}
	e := NewEvent(n, routingKey, texts)
	if !strings.HasPrefix(e.DedupKey, "vigil-") || len(e.DedupKey) > 255 || e.DedupKey != DedupKey(n.GroupKey) {
		t.Errorf("dedup key %q", e.DedupKey)
	}
	if strings.Contains(e.Payload.Summary, "\n") || e.Payload.Source != "vigil" || e.Payload.Severity != "error" {
		t.Errorf("payload %+v", e.Payload)
	}
	if got := e.Payload.CustomDetails["alerts_not_listed"]; got != 82 {
		t.Errorf("alerts_not_listed = %v", got)
	}
	// Empty alerts and no URL.
	b, _ = json.Marshal(NewEvent(&notify.Notification{Status: notify.Firing, GroupKey: "g"}, routingKey, Texts{}))
	if errs := schemaErrors(b); len(errs) > 0 {
		t.Errorf("schema errors: %v", errs)
	}
}

func TestSeverity(t *testing.T) {
	for in, want := range map[string]string{
		"critical": "critical", "high": "error", "medium": "warning", "low": "info", "informational": "info", "": "error",
	} {
		if got := Severity(in); got != want {
			t.Errorf("Severity(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestInvalidEventIsPermanent(t *testing.T) {
	srv := httptest.NewServer(&fakePD{})
	defer srv.Close()
	r, err := New("oncall", Config{RoutingKey: "short", URL: srv.URL + "/v2/enqueue"}, notifytest.Client(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	_, err = r.Send(t.Context(), template.Sample())
	var ne *notify.Error
	if !errors.As(err, &ne) || !ne.Permanent || ne.Status != http.StatusBadRequest ||
		!strings.Contains(err.Error(), "routing_key must be a 32-character string") {
		t.Errorf("err = %v", err)
	}
}

func TestSendResolvedOff(t *testing.T) {
	pd := &fakePD{}
	srv := httptest.NewServer(pd)
	defer srv.Close()
	off := false
	r, _ := New("oncall", Config{RoutingKey: routingKey, URL: srv.URL + "/v2/enqueue", SendResolved: &off}, notifytest.Client(), slog.New(slog.DiscardHandler))
	n := template.Sample()
	n.Status = notify.Resolved
	if _, err := r.Send(t.Context(), n); err != nil {
		t.Fatal(err)
	}
	pd.mu.Lock()
	defer pd.mu.Unlock()
	if len(pd.events) != 0 {
		t.Errorf("%d events sent", len(pd.events))
	}
}

func TestStatusMapping(t *testing.T) {
	notifytest.StatusTest{
		Notification: template.Sample(),
		New: notifytest.Build(New, "p", func(base string) Config {
			return Config{RoutingKey: routingKey, URL: base + "/v2/enqueue"}
		}),
	}.Run(t)
}

func TestNoSecretLeaks(t *testing.T) {
	notifytest.LeakTest{
		Secrets:       []string{"LEAKYroutingKEY0123456789abcdefg"},
		Notifications: notifytest.Notifications(template.Sample()),
		New: notifytest.Build(New, "leaky", func(base string) Config {
			return Config{RoutingKey: "LEAKYroutingKEY0123456789abcdefg", URL: base + "/v2/enqueue"}
		}),
	}.Run(t)
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want []string
	}{
		{"ok", Config{RoutingKey: routingKey, Summary: "{{.Severity}}", Class: "x"}, nil},
		{"missing key", Config{}, []string{"routing_key: is required (inline, or from a file with routing_key_file)"}},
		{"bad", Config{RoutingKey: "a\nb", URL: "events.pagerduty.com", Source: "{{", Component: "{{.X}}", Timeout: -1}, []string{
			"routing_key: has a line break at byte 1 (only one trailing newline is removed)",
			"url: the URL events.pagerduty.com must start with https:// (or http://)",
			"source: template: source:1: unclosed action",
			`component: executing with the sample notification: template: component:1:2: executing "component" at <.X>: can't evaluate field X in type *notify.Notification`,
			"timeout: must be from 0s (the default) to 5m0s, got -1ns",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := notifytest.ErrorLines(tt.cfg.Validate())
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Validate (-want +got):\n%s", diff)
			}
		})
	}
	if _, err := New("x", Config{}, nil, slog.New(slog.DiscardHandler)); err == nil || !strings.HasPrefix(err.Error(), `receiver "x": pagerduty: routing_key`) {
		t.Errorf("New = %v", err)
	}
}
