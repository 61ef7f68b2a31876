package teams

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
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

// checkCard checks a Workflows message against the Adaptive Card schema's
// rules for the elements the receiver uses.
func checkCard(t *testing.T, raw []byte) {
	t.Helper()
	if len(raw) > 28000 {
		t.Errorf("message of %d bytes", len(raw))
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	atts, _ := m["attachments"].([]any)
	if m["type"] != "message" || len(atts) != 1 {
		t.Fatalf("type %v with %d attachments", m["type"], len(atts))
	}
	att := atts[0].(map[string]any)
	if att["contentType"] != ContentType {
		t.Errorf("contentType %v", att["contentType"])
	}
	card, _ := att["content"].(map[string]any)
	if card["type"] != "AdaptiveCard" || card["$schema"] != SchemaURL {
		t.Errorf("card type %v schema %v", card["type"], card["$schema"])
	}
	if v, err := strconv.ParseFloat(fmt.Sprint(card["version"]), 64); err != nil || v < 1.4 {
		t.Errorf("version %v, want 1.4 or later", card["version"])
	}
	var checkElements func(where string, els []any)
	checkElements = func(where string, els []any) {
		if len(els) == 0 {
			t.Errorf("%s: no elements", where)
		}
		for i, e := range els {
			el := e.(map[string]any)
			w := fmt.Sprintf("%s[%d] %v", where, i, el["type"])
			switch el["type"] {
			case "TextBlock":
				if s, _ := el["text"].(string); strings.TrimSpace(s) == "" {
					t.Errorf("%s: empty text", w)
				}
				for k, allowed := range map[string][]string{
					"size": {"Small", "Default", "Medium", "Large", "ExtraLarge"}, "weight": {"Lighter", "Default", "Bolder"},
					"color": {"Default", "Dark", "Light", "Accent", "Good", "Warning", "Attention"}, "spacing": {"None", "Small", "Default", "Medium", "Large", "ExtraLarge", "Padding"},
				} {
					if v, ok := el[k]; ok && !strings.Contains(strings.Join(allowed, " "), fmt.Sprint(v)) {
						t.Errorf("%s: %s %v", w, k, v)
					}
				}
			case "FactSet":
				facts, _ := el["facts"].([]any)
				if len(facts) == 0 {
					t.Errorf("%s: no facts", w)
				}
				for _, f := range facts {
					fm := f.(map[string]any)
					if fm["title"] == "" || fm["value"] == "" || len(fm) != 2 {
						t.Errorf("%s: fact %v", w, fm)
					}
				}
			case "Container":
				if s := fmt.Sprint(el["style"]); !strings.Contains("default emphasis good attention warning accent", s) {
					t.Errorf("%s: style %s", w, s)
				}
				items, _ := el["items"].([]any)
				checkElements(w+".items", items)
			default:
				t.Errorf("%s: unexpected element", w)
			}
		}
	}
	body, _ := card["body"].([]any)
	checkElements("body", body)
	acts, _ := card["actions"].([]any)
	for _, a := range acts {
		am := a.(map[string]any)
		if am["type"] != "Action.OpenUrl" || am["title"] == "" || !strings.HasPrefix(fmt.Sprint(am["url"]), "http") {
			t.Errorf("action %v", am)
		}
	}
}

func TestCardGolden(t *testing.T) {
	r, err := New("t", Config{WebhookURL: "https://example.webhook.office.com/x"}, notifytest.Client(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	n := template.Sample()
	for _, st := range []notify.Status{notify.Firing, notify.Acknowledged, notify.Resolved} {
		n.Status = st
		b, _ := json.Marshal(NewMessage(n, r.title.Text(n, r.Logger), r.text.Text(n, r.Logger)))
		checkCard(t, b)
		notifytest.GoldenJSON(t, *update, "card-"+string(st)+".golden.json", b)
	}
}

func TestCardLimitsAndEscaping(t *testing.T) {
	n := template.Sample()
	long := strings.Repeat("日本[x](https://evil)", 3000)
	for i := range 500 {
		a := n.Alerts[i%2]
		a.Principal = fmt.Sprintf("%s %d", long, i)
		a.Rule.Title = long
		n.Alerts = append(n.Alerts, a)
	}
	n.URL = ""
	b, _ := json.Marshal(NewMessage(n, long, long))
	checkCard(t, b)
	for _, f := range Facts(n) {
		if strings.Contains(f.Value, "[x](") {
			t.Errorf("fact %s forms a Markdown link", f.Title)
		}
	}
	// No URL, no button; an empty text is left out.
	var m Message
	json.Unmarshal(b, &m)
	if len(m.Attachments[0].Content.Actions) != 0 {
		t.Error("a button without a URL")
	}
	b, _ = json.Marshal(NewMessage(&notify.Notification{Status: notify.Resolved}, "", ""))
	checkCard(t, b)
}

func TestRequestFormat(t *testing.T) {
	var mu sync.Mutex
	var req *http.Request
	var body []byte
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		req = r
		body, _ = io.ReadAll(r.Body)
		w.WriteHeader(http.StatusAccepted) // what Workflows answers
	}))
	defer srv.Close()
	url := srv.URL + "/workflows/abc/triggers/manual/paths/invoke?api-version=2016-06-01&sig=SIGNATURE"
	r, err := New("t", Config{WebhookURL: secret.Secret(url)}, notifytest.Client(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if ref, err := r.Send(t.Context(), template.Sample()); err != nil || ref != "" {
		t.Fatalf("Send = %q, %v", ref, err)
	}
	mu.Lock()
	defer mu.Unlock()
	if req.Method != http.MethodPost || req.URL.Path != "/workflows/abc/triggers/manual/paths/invoke" ||
		req.URL.Query().Get("sig") != "SIGNATURE" || req.Header.Get("Content-Type") != "application/json" {
		t.Errorf("request %s %s %v", req.Method, req.URL, req.Header)
	}
	checkCard(t, body)
}

func TestStatusMapping(t *testing.T) {
	notifytest.StatusTest{
		Notification: template.Sample(),
		New: notifytest.Build(New, "t", func(base string) Config {
			return Config{WebhookURL: secret.Secret(base + "/workflows/x")}
		}),
	}.Run(t)
}

func TestNoSecretLeaks(t *testing.T) {
	notifytest.LeakTest{
		Secrets:       []string{"leakyWorkflowID0042", "leakySIGvalue-QrStUvWxYz"},
		Notifications: notifytest.Notifications(template.Sample()),
		New: notifytest.Build(New, "leaky", func(base string) Config {
			return Config{WebhookURL: secret.Secret(base + "/workflows/leakyWorkflowID0042/triggers/manual/paths/invoke?api-version=2016-06-01&sig=leakySIGvalue-QrStUvWxYz")}
		}),
	}.Run(t)
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want []string
	}{
		{"ok", Config{WebhookURL: "https://x.logic.azure.com/workflows/1", Title: "{{.Severity}}", Timeout: time.Minute}, nil},
		{"missing", Config{}, []string{"webhook_url: is required (inline, or from a file with webhook_url_file)"}},
		{"bad", Config{WebhookURL: "x.logic.azure.com/SECRET", Text: "{{.Nope}}", Timeout: time.Hour}, []string{
			"webhook_url: the URL must start with https:// (or http://)",
			`text: executing with the sample notification: template: text:1:2: executing "text" at <.Nope>: can't evaluate field Nope in type *notify.Notification`,
			"timeout: must be from 0s (the default) to 5m0s, got 1h0m0s",
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
