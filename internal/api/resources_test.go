package api_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vigil-sec/vigil/internal/alert"
	"github.com/vigil-sec/vigil/internal/api"
	"github.com/vigil-sec/vigil/internal/authz"
	"github.com/vigil-sec/vigil/internal/store"
)

func TestAlertFilters(t *testing.T) {
	e := newEnv(t)
	tok := e.b.Token(authz.Viewer)
	r := e.do(t, req{method: "GET", token: tok, path: "/api/v1/alerts?status=open,acknowledged&status=resolved&severity=high&severity=critical" +
		"&rule=rule-1&principal=p&account=a&function=f&since=2024-05-01T00:00:00Z&until=2024-05-02T00:00:00Z&limit=50&cursor=0"})
	if r.status != 200 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	got := e.b.AlertFilters()[0]
	want := store.AlertFilter{
		Status: []alert.Status{alert.Open, alert.Acknowledged, alert.Resolved}, Severity: []string{"high", "critical"},
		RuleID: "rule-1", Principal: "p", Account: "a", Function: "f",
		Since: time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC), Until: time.Date(2024, 5, 2, 0, 0, 0, 0, time.UTC),
		Limit: 50, Cursor: "0",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("filter (-want +got):\n%s", diff)
	}
	var list api.AlertList
	e.do(t, req{method: "GET", token: tok, path: "/api/v1/alerts?status=open"}).json(t, &list)
	if len(list.Alerts) != 1 || list.Alerts[0].ID != "alt_1" || list.NextCursor != "" {
		t.Errorf("open alerts: %+v", list)
	}
	r = e.do(t, req{method: "GET", token: tok, path: "/api/v1/alerts?limit=1"})
	r.json(t, &list)
	if len(list.Alerts) != 1 || list.NextCursor != "1" || !strings.Contains(string(r.body), `"next_cursor":"1"`) {
		t.Errorf("page 1: %s", r.body)
	}
	r = e.do(t, req{method: "GET", token: tok, path: "/api/v1/alerts?status=resolved"})
	if !strings.Contains(string(r.body), `"alerts":[]`) || !strings.Contains(string(r.body), `"next_cursor":""`) {
		t.Errorf("empty list should be [] with next_cursor \"\": %s", r.body)
	}
	for name, path := range map[string]string{
		"bad status":       "/api/v1/alerts?status=closed",
		"bad severity":     "/api/v1/alerts?severity=severe",
		"bad since":        "/api/v1/alerts?since=yesterday",
		"until before":     "/api/v1/alerts?since=2024-05-02T00:00:00Z&until=2024-05-01T00:00:00Z",
		"limit zero":       "/api/v1/alerts?limit=0",
		"limit huge":       "/api/v1/alerts?limit=100000",
		"limit word":       "/api/v1/alerts?limit=ten",
		"unknown param":    "/api/v1/alerts?statuss=open",
		"repeated single":  "/api/v1/alerts?rule=a&rule=b",
		"malformed query":  "/api/v1/alerts?rule=%zz",
		"long value":       "/api/v1/alerts?principal=" + strings.Repeat("p", 2000),
		"events bad param": "/api/v1/events?severity=high",
		"silences expired": "/api/v1/silences?expired=maybe",
	} {
		checkError(t, name, e.do(t, req{method: "GET", token: tok, path: path}), 400, "invalid")
	}
	checkError(t, "bad cursor", e.do(t, req{method: "GET", token: tok, path: "/api/v1/alerts?cursor=garbage"}), 400, "bad_cursor")
}

func TestEventSearch(t *testing.T) {
	e := newEnv(t)
	tok := e.b.Token(authz.Analyst)
	var list api.EventList
	e.do(t, req{method: "GET", token: tok, path: "/api/v1/events?principal=eve@example.com&source=gcp.audit&source_ip=198.51.100.4&action=x&function=billing&account=proj-1&limit=10"}).json(t, &list)
	q := e.b.EventQueries()[0]
	want := store.EventQuery{Principal: "eve@example.com", SourceIP: "198.51.100.4", Action: "x", Function: "billing", Account: "proj-1", Source: "gcp.audit", Limit: 10}
	if diff := cmp.Diff(want, q); diff != "" {
		t.Errorf("query (-want +got):\n%s", diff)
	}
	e.do(t, req{method: "GET", token: tok, path: "/api/v1/events?source_ip=198.51.100.4"}).json(t, &list)
	if len(list.Events) != 1 || list.Events[0].ID != "evt_2" || !strings.Contains(string(list.Events[0].JSON), `"source":"gcp.audit"`) {
		t.Errorf("events: %+v", list)
	}
}

func TestAlertStatus(t *testing.T) {
	e := newEnv(t)
	var a alert.Alert
	r := e.do(t, req{method: "POST", token: e.b.Token(authz.Analyst), path: "/api/v1/alerts/alt_1/ack"})
	r.json(t, &a)
	if r.status != 200 || a.Status != alert.Acknowledged || a.UpdatedBy != "analyst-token" {
		t.Errorf("ack: %d %+v", r.status, a)
	}
	e.do(t, req{method: "POST", token: e.b.Token(authz.Responder), path: "/api/v1/alerts/alt_1/resolve"}).json(t, &a)
	if a.Status != alert.Resolved || a.UpdatedBy != "responder-token" {
		t.Errorf("resolve: %+v", a)
	}
	e.b.Err = fmt.Errorf("alert alt_1 is resolved: %w", store.ErrConflict)
	checkError(t, "conflict", e.do(t, req{method: "POST", token: e.b.Token(authz.Analyst), path: "/api/v1/alerts/alt_1/ack"}), 409, "conflict")
}

func TestSilences(t *testing.T) {
	e := newEnv(t)
	tok := e.b.Token(authz.Analyst)
	post := func(body string) resp {
		return e.do(t, req{method: "POST", path: "/api/v1/silences", token: tok, body: body})
	}
	var s alert.Silence
	r := post(`{"matchers":["severity=~\"high|critical\"",{"name":"account","op":"=","value":"111122223333"}],"duration":"2h","comment":"deploy window"}`)
	r.json(t, &s)
	if r.status != 201 || s.ID == "" || s.CreatedBy != "analyst-token" || !s.StartsAt.Equal(epoch) || !s.EndsAt.Equal(epoch.Add(2*time.Hour)) ||
		len(s.Matchers) != 2 || s.Matchers[0].String() != `severity=~"high|critical"` || s.Matchers[1].String() != `account="111122223333"` {
		t.Errorf("create: %d %s", r.status, r.body)
	}
	r = post(`{"matchers":["rule=\"r\""],"starts_at":"2024-05-01T13:00:00Z","ends_at":"2024-05-01T15:00:00Z","comment":"c"}`)
	r.json(t, &s)
	if r.status != 201 || !s.StartsAt.Equal(epoch.Add(time.Hour)) || !s.EndsAt.Equal(epoch.Add(3*time.Hour)) {
		t.Errorf("create with times: %d %s", r.status, r.body)
	}
	for name, body := range map[string]string{
		"no matchers":       `{"matchers":[],"duration":"1h","comment":"c"}`,
		"bad label":         `{"matchers":["colour=\"red\""],"duration":"1h","comment":"c"}`,
		"bad regexp":        `{"matchers":["severity=~\"(\""],"duration":"1h","comment":"c"}`,
		"bad op":            `{"matchers":[{"name":"severity","op":"~","value":"x"}],"duration":"1h","comment":"c"}`,
		"matcher extra key": `{"matchers":[{"name":"severity","op":"=","value":"x","regex":true}],"duration":"1h","comment":"c"}`,
		"matcher number":    `{"matchers":[42],"duration":"1h","comment":"c"}`,
		"no end":            `{"matchers":["severity=\"low\""],"comment":"c"}`,
		"both ends":         `{"matchers":["severity=\"low\""],"duration":"1h","ends_at":"2024-05-01T15:00:00Z","comment":"c"}`,
		"bad duration":      `{"matchers":["severity=\"low\""],"duration":"2 days","comment":"c"}`,
		"negative duration": `{"matchers":["severity=\"low\""],"duration":"-1h","comment":"c"}`,
		"too long":          `{"matchers":["severity=\"low\""],"duration":"9000h","comment":"c"}`,
		"in the past":       `{"matchers":["severity=\"low\""],"starts_at":"2024-04-01T00:00:00Z","ends_at":"2024-04-02T00:00:00Z","comment":"c"}`,
		"no comment":        `{"matchers":["severity=\"low\""],"duration":"1h"}`,
		"unknown field":     `{"matchers":["severity=\"low\""],"duration":"1h","comment":"c","createdBy":"someone-else"}`,
		"malformed":         `{"matchers":["severity=\"low\""],"duration":"1h",`,
		"not an object":     `["severity=\"low\""]`,
		"trailing data":     `{"matchers":["severity=\"low\""],"duration":"1h","comment":"c"} {}`,
		"deep":              strings.Repeat(`{"a":`, 40) + `1` + strings.Repeat(`}`, 40),
		"deep in a string":  `{"matchers":["severity=\"low\""],"duration":"1h","comment":"` + strings.Repeat("[", 100) + `"}`,
		"empty":             ``,
		"bad time":          `{"matchers":["severity=\"low\""],"ends_at":"tomorrow","comment":"c"}`,
	} {
		r := post(body)
		if name == "deep in a string" {
			if r.status != 201 {
				t.Errorf("%s: brackets inside a string count as nesting: %d %s", name, r.status, r.body)
			}
			continue
		}
		checkError(t, name, r, 400, "invalid")
	}
	r = post(`{"matchers":["severity=\"low\""],"duration":"1h","comment":"` + strings.Repeat("x", 2<<20) + `"}`)
	checkError(t, "body over 1 MiB", r, 413, "too_large")
	r = post(`{"matchers":["severity=\"low\""],"duration":"1h","comment":"c","comment2":"d"}`)
	if !strings.Contains(string(r.body), "comment2") {
		t.Errorf("unknown-field error does not name the field: %s", r.body)
	}

	var list api.SilenceList
	e.do(t, req{method: "GET", path: "/api/v1/silences", token: tok}).json(t, &list)
	if len(list.Silences) != 4 {
		t.Errorf("list: %d silences", len(list.Silences))
	}
	e.do(t, req{method: "DELETE", path: "/api/v1/silences/sil_1", token: tok}).json(t, &s)
	if !s.EndsAt.Equal(epoch) {
		t.Errorf("expire: ends_at %v", s.EndsAt)
	}
	e.do(t, req{method: "GET", path: "/api/v1/silences", token: tok}).json(t, &list)
	if len(list.Silences) != 3 {
		t.Errorf("after expiry: %d active silences", len(list.Silences))
	}
	e.do(t, req{method: "GET", path: "/api/v1/silences?expired=true", token: tok}).json(t, &list)
	if len(list.Silences) != 4 {
		t.Errorf("with expired: %d silences", len(list.Silences))
	}
}

func TestTokens(t *testing.T) {
	e := newEnv(t)
	admin := e.b.Token(authz.Admin)
	var ct api.CreatedToken
	r := e.do(t, req{method: "POST", path: "/api/v1/tokens", token: admin, body: `{"name":"firehose-prod","role":"ingest","ttl":"720h"}`})
	r.json(t, &ct)
	if r.status != 201 || !authz.WellFormed(ct.Plaintext) || ct.ID == "" || ct.Name != "firehose-prod" || ct.Role != "ingest" ||
		ct.CreatedBy != "admin-token" || ct.ExpiresAt == nil || !ct.ExpiresAt.Equal(epoch.Add(720*time.Hour)) {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	// The new token works, for what its role allows.
	if r := e.do(t, req{method: "POST", path: "/api/v1/ingest/auto", token: ct.Plaintext, body: trail}); r.status != 202 {
		t.Errorf("new token: %d %s", r.status, r.body)
	}
	r = e.do(t, req{method: "GET", path: "/api/v1/tokens", token: admin})
	if r.status != 200 || strings.Contains(string(r.body), ct.Plaintext) || strings.Contains(string(r.body), "vgl_") {
		t.Errorf("token list shows a token: %s", r.body)
	}
	for name, body := range map[string]string{
		"bad role":    `{"name":"x","role":"root"}`,
		"no name":     `{"name":" ","role":"viewer"}`,
		"long name":   `{"name":"` + strings.Repeat("n", 101) + `","role":"viewer"}`,
		"control":     `{"name":"a\u001bb","role":"viewer"}`,
		"bad ttl":     `{"name":"x","role":"viewer","ttl":"forever"}`,
		"unknown key": `{"name":"x","role":"viewer","scopes":["all"]}`,
	} {
		checkError(t, name, e.do(t, req{method: "POST", path: "/api/v1/tokens", token: admin, body: body}), 400, "invalid")
	}
	checkError(t, "duplicate", e.do(t, req{method: "POST", path: "/api/v1/tokens", token: admin, body: `{"name":"firehose-prod","role":"viewer"}`}), 409, "conflict")
	r = e.do(t, req{method: "DELETE", path: "/api/v1/tokens/" + ct.Plaintext, token: admin})
	checkError(t, "revoke by plaintext", r, 400, "invalid")
	if r := e.do(t, req{method: "DELETE", path: "/api/v1/tokens/" + ct.ID, token: admin}); r.status != 204 || len(r.body) != 0 {
		t.Errorf("revoke: %d %s", r.status, r.body)
	}
	checkError(t, "revoked", e.do(t, req{method: "POST", path: "/api/v1/ingest/auto", token: ct.Plaintext, body: trail}), 401, "unauthorized")
}

func TestRulesAndStats(t *testing.T) {
	e := newEnv(t)
	var st api.RulesStatus
	r := e.do(t, req{method: "GET", path: "/api/v1/rules", token: e.b.Token(authz.Viewer)})
	r.json(t, &st)
	if len(st.Loaded) != 1 || len(st.Failed) != 1 || st.Correlations != 1 || !strings.Contains(string(r.body), `"reason":"no azure.signin source configured"`) {
		t.Errorf("rules: %s", r.body)
	}
	if r := e.do(t, req{method: "POST", path: "/api/v1/rules/reload", token: e.b.Token(authz.Responder)}); r.status != 200 {
		t.Errorf("reload: %d %s", r.status, r.body)
	}
	var stats store.Stats
	e.do(t, req{method: "GET", path: "/api/v1/stats", token: e.b.Token(authz.Viewer)}).json(t, &stats)
	if stats.Events != 2 || stats.Alerts["open"] != 1 {
		t.Errorf("stats: %+v", stats)
	}
	e.b.Err = errors.New("sqlite: database is locked")
	r = e.do(t, req{method: "GET", path: "/api/v1/stats", token: e.b.Token(authz.Viewer)})
	checkError(t, "internal", r, 500, "internal")
	if strings.Contains(string(r.body), "sqlite") || !strings.Contains(string(r.body), r.header.Get("X-Request-Id")) {
		t.Errorf("internal error body: %s", r.body)
	}
	e.b.Err = fmt.Errorf("%w: rule file local/x.yml does not parse", api.ErrInvalid)
	r = e.do(t, req{method: "POST", path: "/api/v1/rules/reload", token: e.b.Token(authz.Admin)})
	checkError(t, "invalid from backend", r, 400, "invalid")
	if !strings.Contains(string(r.body), "local/x.yml") {
		t.Errorf("ErrInvalid text not shown: %s", r.body)
	}
}
