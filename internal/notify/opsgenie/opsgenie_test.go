package opsgenie

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
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

const apiKey = "0bfd6a3c-1d5e-4b6c-9a5e-2f9e7c1a8b42"

type call struct {
	method, path, query string
	body                []byte
}

// fakeOpsgenie is the Alert API: it checks the key and the request shape
// and keeps the alerts by alias.
type fakeOpsgenie struct {
	mu     sync.Mutex
	calls  []call
	alerts map[string]string // alias → status
}

func (f *fakeOpsgenie) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, call{r.Method, r.URL.EscapedPath(), r.URL.RawQuery, body})
	w.Header().Set("Content-Type", "application/json")
	reject := func(status int, msg string) {
		w.WriteHeader(status)
		json.NewEncoder(w).Encode(map[string]any{"message": msg, "took": 0.001, "requestId": "r"})
	}
	if r.Header.Get("Authorization") != "GenieKey "+apiKey {
		reject(http.StatusUnauthorized, "Could not authenticate")
		return
	}
	if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" {
		reject(http.StatusBadRequest, "bad request")
		return
	}
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		reject(http.StatusUnprocessableEntity, "invalid JSON")
		return
	}
	switch {
	case r.URL.Path == "/v2/alerts":
		msg, _ := m["message"].(string)
		alias, _ := m["alias"].(string)
		pr, _ := m["priority"].(string)
		if msg == "" || utf8.RuneCountInString(msg) > MaxMessage || alias == "" || len(alias) > MaxAlias ||
			!strings.Contains("P1 P2 P3 P4 P5", pr) || m["source"] != Source {
			reject(http.StatusUnprocessableEntity, "Request body is not processable")
			return
		}
		if tags, _ := m["tags"].([]any); len(tags) > MaxTags {
			reject(http.StatusUnprocessableEntity, "too many tags")
			return
		}
		f.alerts[alias] = "open"
	case strings.HasPrefix(r.URL.Path, "/v2/alerts/"):
		rest := strings.TrimPrefix(r.URL.Path, "/v2/alerts/")
		i := strings.LastIndex(rest, "/")
		alias, action := rest[:i], rest[i+1:]
		if r.URL.Query().Get("identifierType") != "alias" || (action != "acknowledge" && action != "close") {
			reject(http.StatusBadRequest, "bad identifier")
			return
		}
		if _, ok := f.alerts[alias]; !ok {
			reject(http.StatusNotFound, "Alert does not exist")
			return
		}
		f.alerts[alias] = action
	default:
		reject(http.StatusNotFound, "no such endpoint")
		return
	}
	w.WriteHeader(http.StatusAccepted)
	io.WriteString(w, `{"result":"Request will be processed","took":0.302,"requestId":"43a29c5c-3dbf-4fa4-9c26-f4f71023e120"}`)
}

func TestCreateAcknowledgeClose(t *testing.T) {
	og := &fakeOpsgenie{alerts: map[string]string{}}
	srv := httptest.NewServer(og)
	defer srv.Close()
	cfg := Config{
		APIKey: apiKey, APIURL: srv.URL, Tags: []string{"vigil", "prod"},
		Priorities: map[string]string{"high": "P1"},
		Responders: []Responder{{Type: "team", Name: "secops"}, {Type: "user", Username: "oncall@example.com"}},
	}
	r, err := New("og", cfg, notifytest.Client(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	n := template.Sample()
	alias := Alias(n.GroupKey)
	for _, st := range []notify.Status{notify.Firing, notify.Firing, notify.Acknowledged, notify.Resolved} {
		n.Status = st
		ref, err := r.Send(t.Context(), n)
		if err != nil {
			t.Fatalf("%s: %v", st, err)
		}
		if ref != alias {
			t.Errorf("ref %q, want %q", ref, alias)
		}
	}
	og.mu.Lock()
	defer og.mu.Unlock()
	paths := []string{}
	for _, c := range og.calls {
		paths = append(paths, c.path+"?"+c.query)
	}
	want := []string{"/v2/alerts?", "/v2/alerts?", "/v2/alerts/" + alias + "/acknowledge?identifierType=alias", "/v2/alerts/" + alias + "/close?identifierType=alias"}
	if diff := cmp.Diff(want, paths); diff != "" {
		t.Errorf("calls (-want +got):\n%s", diff)
	}
	if og.alerts[alias] != "close" {
		t.Errorf("alert state %q", og.alerts[alias])
	}
	notifytest.GoldenJSON(t, *update, "create.golden.json", og.calls[0].body)
	notifytest.GoldenJSON(t, *update, "acknowledge.golden.json", og.calls[2].body)
	notifytest.GoldenJSON(t, *update, "close.golden.json", og.calls[3].body)
	var c CreateRequest
	json.Unmarshal(og.calls[0].body, &c)
	if c.Priority != "P1" || c.Tags[0] != "vigil" || len(c.Responders) != 2 {
		t.Errorf("create %+v", c)
	}
}

func TestAlias(t *testing.T) {
	if got := Alias("rule=x,principal=alice@example.com"); got != "rule=x,principal=alice@example.com" {
		t.Errorf("a safe key changed: %q", got)
	}
	for _, key := range []string{`{}/{rule="x"}`, strings.Repeat("a", 600), "", "a b"} {
		got := Alias(key)
		if !strings.HasPrefix(got, "vigil-") || len(got) != 70 || got != Alias(key) {
			t.Errorf("Alias(%.20q) = %q", key, got)
		}
	}
	if Alias("a") == Alias("b") {
		t.Error("aliases collide")
	}
}

func TestCreateLimits(t *testing.T) {
	n := template.Sample()
	long := strings.Repeat("x", 20000)
	for i := range 30 {
		n.Alerts[0].Rule.Tags = append(n.Alerts[0].Rule.Tags, long[:60]+string(rune('a'+i)))
	}
	n.Alerts[0].Principal = long
	c := NewCreate(n, &Config{Tags: []string{"t"}}, long, long)
	if utf8.RuneCountInString(c.Message) > MaxMessage || utf8.RuneCountInString(c.Description) > MaxDescription ||
		len(c.Tags) > MaxTags || c.Priority != "P2" {
		t.Errorf("create: message %d, description %d, %d tags, %s", len(c.Message), len(c.Description), len(c.Tags), c.Priority)
	}
	total := 0
	for k, v := range c.Details {
		total += len(k) + len(v)
	}
	for _, tag := range c.Tags {
		if utf8.RuneCountInString(tag) > MaxTag {
			t.Errorf("tag of %d characters", len(tag))
		}
	}
	if total > MaxDetails {
		t.Errorf("details of %d characters", total)
	}
	if c := NewCreate(&notify.Notification{Severity: "unknown"}, &Config{}, "", ""); c.Message == "" || c.Priority != "P3" {
		t.Errorf("empty create %+v", c)
	}
}

func TestStatusMapping(t *testing.T) {
	notifytest.StatusTest{
		Notification: template.Sample(),
		New: notifytest.Build(New, "o", func(base string) Config {
			return Config{APIKey: apiKey, APIURL: base}
		}),
	}.Run(t)
}

func TestNoSecretLeaks(t *testing.T) {
	notifytest.LeakTest{
		Secrets:       []string{"LEAKY-genie-key-0123456789"},
		Notifications: notifytest.Notifications(template.Sample()),
		New: notifytest.Build(New, "leaky", func(base string) Config {
			return Config{APIKey: "LEAKY-genie-key-0123456789", APIURL: base + "/"}
		}),
	}.Run(t)
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want []string
	}{
		{"ok", Config{APIKey: "k", APIURL: "https://api.eu.opsgenie.com/", Priorities: map[string]string{"low": "P5"},
			Responders: []Responder{{Type: "team", ID: "4513b7ea"}, {Type: "user", Username: "a@b.c"}}}, nil},
		{"missing key", Config{}, []string{"api_key: is required (inline, or from a file with api_key_file)"}},
		{"everything wrong", Config{
			APIKey: "k", APIURL: "api.opsgenie.com", Message: "{{.X}}", Description: "{{end}}",
			Tags:       append(make([]string, 20), strings.Repeat("t", 51)),
			Priorities: map[string]string{"urgent": "P1", "high": "P0"},
			Responders: []Responder{{Type: "group", Name: "x"}, {Type: "team"}, {Type: "user", Name: "bob"}, {Type: "team", Username: "x"}},
			Timeout:    time.Hour,
		}, nil},
	}
	wantAll := []string{
		"api_url: the URL api.opsgenie.com must start with https:// (or http://)",
		`message: executing with the sample notification: template: message:1:2: executing "message" at <.X>: can't evaluate field X in type *notify.Notification`,
		"description: template: description:1: unexpected {{end}}",
		"tags: has 21 tags; Opsgenie takes at most 20",
	}
	for i := range 21 {
		wantAll = append(wantAll, "tags["+strconv.Itoa(i)+"]: must be 1 to 50 characters")
	}
	wantAll = append(wantAll,
		`priorities[high]: priority "P0" must be P1, P2, P3, P4 or P5`,
		"priorities[urgent]: unknown severity; use critical, high, medium, low or informational",
		`responders[0].type: must be team, user, escalation or schedule, got "group"`,
		"responders[1]: set exactly one of id, name and username",
		"responders[2].name: a user is named by id or username",
		"responders[3].username: only a user has a username; name a team by id or name",
		"timeout: must be from 0s (the default) to 5m0s, got 1h0m0s",
	)
	tests[2].want = wantAll
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := notifytest.ErrorLines(tt.cfg.Validate())
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Validate (-want +got):\n%s", diff)
			}
		})
	}
}
