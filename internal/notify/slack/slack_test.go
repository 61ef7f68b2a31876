package slack

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"

	"github.com/vigil-sec/vigil/internal/notify"
	"github.com/vigil-sec/vigil/internal/notify/notifytest"
	"github.com/vigil-sec/vigil/internal/notify/template"
	"github.com/vigil-sec/vigil/internal/secret"
)

var update = notifytest.Update()

// checkBlockKit checks a message against Block Kit's rules and limits.
func checkBlockKit(t *testing.T, raw []byte) {
	t.Helper()
	var m struct {
		Text   string `json:"text"`
		Blocks []map[string]json.RawMessage
	}
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("not JSON: %v", err)
	}
	if m.Text == "" || utf8.RuneCountInString(m.Text) > MaxMessageText {
		t.Errorf("top-level text of %d characters", utf8.RuneCountInString(m.Text))
	}
	if len(m.Blocks) == 0 || len(m.Blocks) > MaxBlocks {
		t.Errorf("%d blocks", len(m.Blocks))
	}
	textObj := func(where string, raw json.RawMessage, types string, limit int) {
		var o map[string]any
		if err := json.Unmarshal(raw, &o); err != nil {
			t.Errorf("%s: %v", where, err)
			return
		}
		typ, _ := o["type"].(string)
		text, _ := o["text"].(string)
		if !strings.Contains(types, typ) || typ == "" {
			t.Errorf("%s: text object type %q, want one of %s", where, typ, types)
		}
		if n := utf8.RuneCountInString(text); n == 0 || n > limit {
			t.Errorf("%s: text of %d characters (limit %d)", where, n, limit)
		}
		for k := range o {
			if k != "type" && k != "text" && k != "emoji" && k != "verbatim" {
				t.Errorf("%s: unknown text object field %q", where, k)
			}
		}
		if _, ok := o["emoji"]; ok && typ != "plain_text" {
			t.Errorf("%s: emoji on %s", where, typ)
		}
	}
	actionIDs := map[string]bool{}
	for i, b := range m.Blocks {
		var typ string
		json.Unmarshal(b["type"], &typ)
		where := fmt.Sprintf("block %d (%s)", i, typ)
		switch typ {
		case "header":
			textObj(where, b["text"], "plain_text", MaxHeaderText)
		case "section":
			var fields []json.RawMessage
			json.Unmarshal(b["fields"], &fields)
			if b["text"] == nil && len(fields) == 0 {
				t.Errorf("%s: neither text nor fields", where)
			}
			if b["text"] != nil {
				textObj(where, b["text"], "mrkdwn plain_text", MaxSectionText)
			}
			if len(fields) > MaxFields {
				t.Errorf("%s: %d fields", where, len(fields))
			}
			for j, f := range fields {
				textObj(fmt.Sprintf("%s field %d", where, j), f, "mrkdwn plain_text", MaxFieldText)
			}
		case "context":
			var els []json.RawMessage
			json.Unmarshal(b["elements"], &els)
			if len(els) == 0 || len(els) > MaxContextElements {
				t.Errorf("%s: %d elements", where, len(els))
			}
			for j, e := range els {
				textObj(fmt.Sprintf("%s element %d", where, j), e, "mrkdwn plain_text", MaxSectionText)
			}
		case "actions":
			var els []map[string]json.RawMessage
			json.Unmarshal(b["elements"], &els)
			if len(els) == 0 || len(els) > 25 {
				t.Errorf("%s: %d elements", where, len(els))
			}
			for _, e := range els {
				var et, url, id, style string
				json.Unmarshal(e["type"], &et)
				json.Unmarshal(e["url"], &url)
				json.Unmarshal(e["action_id"], &id)
				json.Unmarshal(e["style"], &style)
				if et != "button" {
					t.Errorf("%s: element type %q", where, et)
				}
				textObj(where+" button", e["text"], "plain_text", MaxButtonText)
				if !strings.HasPrefix(url, "http") || len(url) > MaxURL {
					t.Errorf("%s: button url %q", where, url)
				}
				if id == "" || len(id) > 255 || actionIDs[id] {
					t.Errorf("%s: action_id %q", where, id)
				}
				actionIDs[id] = true
				if style != "" && style != "primary" && style != "danger" {
					t.Errorf("%s: style %q", where, style)
				}
			}
		default:
			t.Errorf("%s: unexpected block type", where)
		}
	}
}

func TestMessageGolden(t *testing.T) {
	n := template.Sample()
	r, err := New("s", Config{WebhookURL: "https://hooks.slack.com/services/T/B/X"}, notifytest.Client(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range []notify.Status{notify.Firing, notify.Acknowledged, notify.Resolved} {
		n.Status = st
		b, _ := json.Marshal(NewMessage(n, r.title.Text(n, r.Logger), r.text.Text(n, r.Logger)))
		checkBlockKit(t, b)
		notifytest.GoldenJSON(t, *update, "message-"+string(st)+".golden.json", b)
	}
}

func TestMessageLimits(t *testing.T) {
	n := template.Sample()
	long := strings.Repeat("Ω<&>`", 2000)
	n.URL = "https://vigil.example.com/" + strings.Repeat("x", MaxURL) // too long for a button
	for i := range 1000 {
		a := n.Alerts[i%2]
		a.Principal = fmt.Sprintf("%s-%d", long, i)
		a.Function = long
		a.Rule.Title = long
		n.Alerts = append(n.Alerts, a)
	}
	b, _ := json.Marshal(NewMessage(n, long, long))
	checkBlockKit(t, b)
	if strings.Contains(string(b), "<&>") {
		t.Error("event values are not escaped")
	}
	// An empty title and text still make a valid message.
	b, _ = json.Marshal(NewMessage(&notify.Notification{Status: notify.Firing}, " ", ""))
	checkBlockKit(t, b)
}

func TestFieldsEscapeEventValues(t *testing.T) {
	n := template.Sample()
	n.Alerts[0].Principal = "<!channel>"
	n.Alerts[1].Function = "<https://evil.example|click me>"
	for _, f := range Fields(n) {
		if strings.Contains(f.Text, "<!") || strings.Contains(f.Text, "<https") {
			t.Errorf("field %q forms Slack markup", f.Text)
		}
	}
}

func TestWebhookMode(t *testing.T) {
	var mu sync.Mutex
	var got []*http.Request
	var bodies [][]byte
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got, bodies = append(got, r), append(bodies, b)
		mu.Unlock()
		io.WriteString(w, "ok")
	}))
	defer srv.Close()
	r, err := New("s", Config{WebhookURL: secret.Secret(srv.URL + "/services/T000/B000/XXXX")}, notifytest.Client(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	n := template.Sample()
	n.Prior = "C1/1.2" // ignored: a webhook cannot update
	n.Status = notify.Acknowledged
	ref, err := r.Send(t.Context(), n)
	if err != nil || ref != "" {
		t.Fatalf("Send = %q, %v", ref, err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 1 {
		t.Fatalf("%d requests", len(got))
	}
	req := got[0]
	if req.Method != http.MethodPost || req.URL.Path != "/services/T000/B000/XXXX" ||
		req.Header.Get("Content-Type") != "application/json; charset=utf-8" || req.Header.Get("Authorization") != "" {
		t.Errorf("request %s %s %v", req.Method, req.URL.Path, req.Header)
	}
	checkBlockKit(t, bodies[0])
	var m Message
	json.Unmarshal(bodies[0], &m)
	if m.Channel != "" || m.TS != "" {
		t.Errorf("webhook body names channel %q ts %q", m.Channel, m.TS)
	}
}

// fakeAPI is a Slack Web API that keeps the posted messages.
type fakeAPI struct {
	mu       sync.Mutex
	calls    []string
	messages map[string]Message // by ts
	next     int
	// fail makes the next call of a method answer ok:false with the code.
	fail map[string]string
}

func (f *fakeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	method := strings.TrimPrefix(r.URL.Path, "/api/")
	f.calls = append(f.calls, method)
	w.Header().Set("Content-Type", "application/json")
	if r.Method != http.MethodPost || r.Header.Get("Authorization") != "Bearer xoxb-test-token" ||
		!strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		json.NewEncoder(w).Encode(map[string]any{"ok": false, "error": "not_authed"})
		return
	}
	var m Message
	if err := json.NewDecoder(r.Body).Decode(&m); err != nil {
		json.NewEncoder(w).Encode(map[string]any{"ok": false, "error": "invalid_json"})
		return
	}
	if code := f.fail[method]; code != "" {
		delete(f.fail, method)
		json.NewEncoder(w).Encode(map[string]any{"ok": false, "error": code})
		return
	}
	switch method {
	case "chat.postMessage":
		if m.Channel != "#security" || m.TS != "" {
			json.NewEncoder(w).Encode(map[string]any{"ok": false, "error": "channel_not_found"})
			return
		}
		f.next++
		ts := fmt.Sprintf("1700000000.%06d", f.next)
		f.messages[ts] = m
		json.NewEncoder(w).Encode(map[string]any{"ok": true, "channel": "C0SEC", "ts": ts, "message": map[string]any{}})
	case "chat.update":
		if _, ok := f.messages[m.TS]; !ok || m.Channel != "C0SEC" {
			json.NewEncoder(w).Encode(map[string]any{"ok": false, "error": "message_not_found"})
			return
		}
		f.messages[m.TS] = m
		json.NewEncoder(w).Encode(map[string]any{"ok": true, "channel": "C0SEC", "ts": m.TS})
	default:
		json.NewEncoder(w).Encode(map[string]any{"ok": false, "error": "unknown_method"})
	}
}

func TestBotModePostsThenUpdates(t *testing.T) {
	api := &fakeAPI{messages: map[string]Message{}, fail: map[string]string{}}
	srv := httptest.NewServer(api)
	defer srv.Close()
	logger, logs := notifytest.Logger()
	r, err := New("s", Config{BotToken: "xoxb-test-token", Channel: "#security", APIURL: srv.URL + "/api"}, notifytest.Client(), logger)
	if err != nil {
		t.Fatal(err)
	}
	n := template.Sample()
	ref, err := r.Send(t.Context(), n)
	if err != nil || ref != "C0SEC/1700000000.000001" {
		t.Fatalf("post: %q, %v", ref, err)
	}
	n.Status, n.Prior = notify.Acknowledged, ref
	ref2, err := r.Send(t.Context(), n)
	if err != nil || ref2 != ref {
		t.Fatalf("update: %q, %v", ref2, err)
	}
	api.mu.Lock()
	updated := api.messages["1700000000.000001"]
	api.mu.Unlock()
	if !strings.Contains(updated.Text, "ACKNOWLEDGED") {
		t.Errorf("the message was not updated: %q", updated.Text)
	}
	if updated.UnfurlLinks != nil || updated.UnfurlMedia != nil {
		t.Error("chat.update was sent unfurl options")
	}
	b, _ := json.Marshal(updated)
	checkBlockKit(t, b)

	// The message was deleted in Slack: resolving posts a new one.
	api.mu.Lock()
	delete(api.messages, "1700000000.000001")
	api.mu.Unlock()
	n.Status = notify.Resolved
	ref3, err := r.Send(t.Context(), n)
	if err != nil || ref3 != "C0SEC/1700000000.000002" {
		t.Fatalf("resolve after deletion: %q, %v", ref3, err)
	}
	if !strings.Contains(logs.String(), "message_not_found") {
		t.Errorf("the fallback was not logged:\n%s", logs)
	}
	// A new firing notification of the group posts a new message.
	n.Status, n.Prior = notify.Firing, ref3
	if ref4, err := r.Send(t.Context(), n); err != nil || ref4 != "C0SEC/1700000000.000003" {
		t.Fatalf("firing again: %q, %v", ref4, err)
	}
	api.mu.Lock()
	defer api.mu.Unlock()
	want := []string{"chat.postMessage", "chat.update", "chat.update", "chat.postMessage", "chat.postMessage"}
	if diff := cmp.Diff(want, api.calls); diff != "" {
		t.Errorf("calls (-want +got):\n%s", diff)
	}
}

func TestBotModeErrors(t *testing.T) {
	tests := []struct {
		code      string
		permanent bool
		want      string
	}{
		{"invalid_auth", true, "Slack chat.postMessage failed: invalid_auth (the bot token is wrong)"},
		{"not_in_channel", true, "invite the bot"},
		{"ratelimited", false, "ratelimited"},
		{"internal_error", false, "internal_error"},
		{"something_new", false, "something_new"},
	}
	for _, tt := range tests {
		api := &fakeAPI{messages: map[string]Message{}, fail: map[string]string{"chat.postMessage": tt.code}}
		srv := httptest.NewServer(api)
		r, err := New("s", Config{BotToken: "xoxb-test-token", Channel: "#security", APIURL: srv.URL + "/api/"}, notifytest.Client(), slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		_, err = r.Send(t.Context(), template.Sample())
		srv.Close()
		var ne *notify.Error
		if !errors.As(err, &ne) || ne.Permanent != tt.permanent || ne.Status != http.StatusOK || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err = %v (permanent %v), want permanent %v and %q", tt.code, err, notify.IsPermanent(err), tt.permanent, tt.want)
		}
	}
}

func TestNonJSONAnswerIsRetried(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "<html>maintenance</html>")
	}))
	defer srv.Close()
	r, _ := New("s", Config{BotToken: "xoxb-test-token", Channel: "#security", APIURL: srv.URL + "/"}, notifytest.Client(), slog.New(slog.DiscardHandler))
	_, err := r.Send(t.Context(), template.Sample())
	if err == nil || notify.IsPermanent(err) || !strings.Contains(err.Error(), "maintenance") {
		t.Errorf("err = %v", err)
	}
}

func TestStatusMapping(t *testing.T) {
	for _, mode := range []string{"webhook", "bot"} {
		t.Run(mode, func(t *testing.T) {
			notifytest.StatusTest{
				Notification: template.Sample(),
				New: notifytest.Build(New, "s", func(base string) Config {
					if mode == "bot" {
						return Config{BotToken: "xoxb-1", Channel: "C1", APIURL: base}
					}
					return Config{WebhookURL: secret.Secret(base + "/services/x")}
				}),
			}.Run(t)
		})
	}
}

func TestNoSecretLeaks(t *testing.T) {
	t.Run("webhook", func(t *testing.T) {
		notifytest.LeakTest{
			Secrets:       []string{"T0LEAKTEAM/B0LEAKBOT/leakyWebhookToken123"},
			Notifications: notifytest.Notifications(template.Sample()),
			New: notifytest.Build(New, "leaky", func(base string) Config {
				return Config{WebhookURL: secret.Secret(base + "/services/T0LEAKTEAM/B0LEAKBOT/leakyWebhookToken123")}
			}),
		}.Run(t)
	})
	t.Run("bot", func(t *testing.T) {
		notifytest.LeakTest{
			Secrets:       []string{"xoxb-LEAKY-bot-token-4242"},
			Notifications: notifytest.Notifications(template.Sample()),
			New: notifytest.Build(New, "leaky", func(base string) Config {
				return Config{BotToken: "xoxb-LEAKY-bot-token-4242", Channel: "C0LEAK", APIURL: base + "/api/"}
			}),
		}.Run(t)
	})
}

func TestTemplateFailureFallsBack(t *testing.T) {
	var body []byte
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ = io.ReadAll(r.Body)
	}))
	defer srv.Close()
	logger, logs := notifytest.Logger()
	// Valid for the sample (2 alerts), failing for a group of one.
	r, err := New("s", Config{WebhookURL: secret.Secret(srv.URL), Title: `{{(index .Alerts 1).Rule.Title}}`}, notifytest.Client(), logger)
	if err != nil {
		t.Fatal(err)
	}
	n := template.Sample()
	n.Alerts = n.Alerts[:1]
	if _, err := r.Send(t.Context(), n); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(body), "[FIRING:1] high: Access key created") {
		t.Errorf("the default title was not used: %s", body)
	}
	if !strings.Contains(logs.String(), "template failed") {
		t.Errorf("the failure was not logged:\n%s", logs)
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want []string
	}{
		{"webhook", Config{WebhookURL: "https://hooks.slack.com/services/T/B/X"}, nil},
		{"bot", Config{BotToken: "xoxb-1", Channel: "C123", Title: "{{.Severity}}", Timeout: time.Second}, nil},
		{"neither", Config{}, []string{"webhook_url: set webhook_url (an incoming webhook) or bot_token and channel (or their _file forms)"}},
		{"both", Config{WebhookURL: "https://hooks.slack.com/x", BotToken: "xoxb-1", Channel: "C1"}, []string{"bot_token: set either webhook_url or bot_token, not both"}},
		{"bot without channel", Config{BotToken: "xoxb-1"}, []string{"channel: is required with bot_token: the channel ID (C0123456789) or name to post to"}},
		{"webhook with channel and api_url", Config{WebhookURL: "https://hooks.slack.com/x", Channel: "C1", APIURL: "https://slack.com/api/"}, []string{
			"channel: applies only with bot_token; an incoming webhook posts to the channel it was created for",
			"api_url: applies only with bot_token",
		}},
		{"bad templates and url", Config{WebhookURL: "hooks.slack.com/SECRET", Title: "{{.Nope}}", Text: "{{if}}", Timeout: -time.Second}, []string{
			"webhook_url: the URL must start with https:// (or http://)",
			`title: executing with the sample notification: template: title:1:2: executing "title" at <.Nope>: can't evaluate field Nope in type *notify.Notification`,
			"text: template: text:1: missing value for if",
			"timeout: must be from 0s (the default) to 5m0s, got -1s",
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
}

func TestParseRef(t *testing.T) {
	for ref, ok := range map[string]bool{"C1/1.2": true, "C1/": false, "/1.2": false, "": false, "C1": false} {
		if _, _, got := ParseRef(ref); got != ok {
			t.Errorf("ParseRef(%q) ok = %v", ref, got)
		}
	}
}

func FuzzParseAPIResponse(f *testing.F) {
	f.Add([]byte(`{"ok":true,"channel":"C1","ts":"1.2"}`))
	f.Add([]byte(`{"ok":false,"error":"invalid_auth"}`))
	f.Add([]byte(`{"ok":false}`))
	f.Add([]byte(`<html>`))
	f.Fuzz(func(t *testing.T, body []byte) {
		ar, err := ParseAPIResponse(body)
		if err != nil {
			return
		}
		if !ar.OK && ar.Error == "" {
			t.Fatal("a failed answer without an error code")
		}
		if len(ar.Error) > 200 || len(ar.Channel) > 200 || len(ar.TS) > 200 {
			t.Fatal("unbounded field")
		}
	})
}
