package receiver

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"go.yaml.in/yaml/v3"

	"github.com/vigil-sec/vigil/internal/notify/email"
	"github.com/vigil-sec/vigil/internal/notify/logreceiver"
	"github.com/vigil-sec/vigil/internal/notify/notifytest"
	"github.com/vigil-sec/vigil/internal/notify/opsgenie"
	"github.com/vigil-sec/vigil/internal/notify/pagerduty"
	"github.com/vigil-sec/vigil/internal/notify/slack"
	"github.com/vigil-sec/vigil/internal/notify/teams"
	"github.com/vigil-sec/vigil/internal/notify/template"
	"github.com/vigil-sec/vigil/internal/notify/webhook"
	"github.com/vigil-sec/vigil/internal/secret"
)

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want []string
	}{
		{"ok", Config{Name: "ops", Log: &logreceiver.Config{}}, nil},
		{"no name", Config{Log: &logreceiver.Config{}}, []string{"name: is required"}},
		{"no kind", Config{Name: "ops"}, []string{`name: receiver "ops" sets no kind: add one of webhook, slack, teams, pagerduty, opsgenie, email, log`}},
		{"two kinds", Config{Name: "ops", Slack: &slack.Config{}, Email: &email.Config{}}, []string{`email: receiver "ops" sets slack and email; a receiver has exactly one kind`}},
		{"long name", Config{Name: strings.Repeat("n", 129), Log: &logreceiver.Config{}}, []string{"name: is longer than 128 characters"}},
		{"control character", Config{Name: "a\x1b[31m", Log: &logreceiver.Config{}}, []string{"name: has a control character"}},
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

func TestBuildEveryKind(t *testing.T) {
	var mu sync.Mutex
	var hits []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		mu.Lock()
		hits = append(hits, r.URL.Path)
		mu.Unlock()
		switch {
		case strings.HasSuffix(r.URL.Path, "chat.postMessage"):
			io.WriteString(w, `{"ok":true,"channel":"C1","ts":"1.2"}`)
		case r.URL.Path == "/pd":
			w.WriteHeader(http.StatusAccepted)
			io.WriteString(w, `{"status":"success"}`)
		default:
			w.WriteHeader(http.StatusAccepted)
		}
	}))
	defer srv.Close()
	tests := []struct {
		cfg  Config
		want any
	}{
		{Config{Name: "w", Webhook: &webhook.Config{URL: secret.Secret(srv.URL + "/w")}}, &webhook.Receiver{}},
		{Config{Name: "s", Slack: &slack.Config{BotToken: "xoxb-1", Channel: "C1", APIURL: srv.URL + "/api/"}}, &slack.Receiver{}},
		{Config{Name: "t", Teams: &teams.Config{WebhookURL: secret.Secret(srv.URL + "/t")}}, &teams.Receiver{}},
		{Config{Name: "p", PagerDuty: &pagerduty.Config{RoutingKey: "k", URL: srv.URL + "/pd"}}, &pagerduty.Receiver{}},
		{Config{Name: "o", Opsgenie: &opsgenie.Config{APIKey: "k", APIURL: srv.URL + "/og/"}}, &opsgenie.Receiver{}},
		{Config{Name: "l", Log: &logreceiver.Config{}}, &logreceiver.Receiver{}},
	}
	for _, tt := range tests {
		r, err := Build(tt.cfg, notifytest.Client(), slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatalf("%s: %v", tt.cfg.Name, err)
		}
		if reflect.TypeOf(r) != reflect.TypeOf(tt.want) {
			t.Errorf("%s: built %T, want %T", tt.cfg.Name, r, tt.want)
		}
		if _, err := r.Send(t.Context(), template.Sample()); err != nil {
			t.Errorf("%s: Send: %v", tt.cfg.Name, err)
		}
	}
	want := []string{"/w", "/api/chat.postMessage", "/t", "/pd", "/og/v2/alerts"}
	mu.Lock()
	defer mu.Unlock()
	if diff := cmp.Diff(want, hits); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}
	r, err := Build(Config{Name: "e", Email: &email.Config{To: []string{"a@example.com"}, From: "v@example.com", Smarthost: "localhost:25"}}, nil, slog.New(slog.DiscardHandler))
	if _, ok := r.(*email.Receiver); err != nil || !ok {
		t.Errorf("email: %T, %v", r, err)
	}
}

func TestBuildErrors(t *testing.T) {
	for _, cfg := range []Config{
		{Name: "bad", Webhook: &webhook.Config{}},
		{Name: "none"},
		{Name: "", Log: &logreceiver.Config{}},
	} {
		r, err := Build(cfg, nil, slog.New(slog.DiscardHandler))
		if err == nil || r != nil {
			t.Errorf("Build(%s) = %v, %v; want a nil receiver and an error", cfg.Name, r, err)
		}
		if !strings.HasPrefix(err.Error(), fmt.Sprintf("receiver %q: ", cfg.Name)) {
			t.Errorf("error %q does not name the receiver", err)
		}
	}
}

// TestPrintedConfigHidesSecrets prints every kind's configuration with
// fmt, JSON and YAML and finds none of its secrets.
func TestPrintedConfigHidesSecrets(t *testing.T) {
	secrets := []string{"whURL-TOKEN-1", "whKEY-2", "whHEADER-3", "slackURL-4", "xoxb-SLACK-5", "teamsURL-6", "pdKEY-7", "ogKEY-8", "smtpPASS-9"}
	cfgs := []Config{
		{Name: "w", Webhook: &webhook.Config{URL: "https://h.example.com/whURL-TOKEN-1", Secret: "whKEY-2", Headers: map[string]secret.Secret{"X-Key": "whHEADER-3"}}},
		{Name: "s", Slack: &slack.Config{WebhookURL: "https://hooks.slack.com/slackURL-4"}},
		{Name: "s2", Slack: &slack.Config{BotToken: "xoxb-SLACK-5", Channel: "C1"}},
		{Name: "t", Teams: &teams.Config{WebhookURL: "https://t.example.com/teamsURL-6"}},
		{Name: "p", PagerDuty: &pagerduty.Config{RoutingKey: "pdKEY-7"}},
		{Name: "o", Opsgenie: &opsgenie.Config{APIKey: "ogKEY-8"}},
		{Name: "e", Email: &email.Config{Username: "u", Password: "smtpPASS-9"}},
	}
	texts := map[string]string{}
	for _, c := range cfgs {
		y, err := yaml.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		j, err := json.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		kind := reflect.ValueOf(c).FieldByName(map[string]string{
			"w": "Webhook", "s": "Slack", "s2": "Slack", "t": "Teams", "p": "PagerDuty", "o": "Opsgenie", "e": "Email",
		}[c.Name]).Elem().Interface()
		texts[c.Name] = fmt.Sprintf("%v | %+v | %#v | %s | %s | %+v | %#v", c, c, c, y, j, kind, kind)
		if !strings.Contains(string(y), "<secret>") {
			t.Errorf("%s: the YAML does not show that a secret is set:\n%s", c.Name, y)
		}
	}
	notifytest.AssertNoSecrets(t, secrets, texts)
}
