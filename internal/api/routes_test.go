package api_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/vigil-sec/vigil/internal/api"
	"github.com/vigil-sec/vigil/internal/api/apitest"
	"github.com/vigil-sec/vigil/internal/authz"
)

// samples are a valid request for every route, keyed by the route's method
// and pattern. A route without a sample fails the test, so a new route
// cannot skip the permission walk.
var samples = map[string]func(n int) req{
	"GET /healthz": func(int) req { return req{path: "/healthz"} },
	"GET /readyz":  func(int) req { return req{path: "/readyz"} },
	"GET /metrics": func(int) req { return req{path: "/metrics"} },
	"POST /api/v1/ingest/{kind}": func(int) req {
		return req{path: "/api/v1/ingest/cloudtrail", body: `{"Records":[]}`}
	},
	"POST /api/v1/ingest/firehose": func(int) req {
		return req{path: "/api/v1/ingest/firehose", body: `{"requestId":"r-1","timestamp":1,"records":[]}`,
			header: map[string]string{"X-Amz-Firehose-Request-Id": "r-1"}}
	},
	"POST /api/v1/ingest/pubsub": func(int) req {
		return req{path: "/api/v1/ingest/pubsub", body: `{"message":{"data":"e30=","messageId":"1"},"subscription":"projects/p/subscriptions/s"}`}
	},
	"POST /api/v1/ingest/eventgrid": func(int) req {
		return req{path: "/api/v1/ingest/eventgrid", body: `[{"id":"1","subject":"s","eventType":"Microsoft.Resources.ResourceWriteSuccess","eventTime":"2024-03-05T14:00:00Z","data":{}}]`}
	},
	"OPTIONS /api/v1/ingest/eventgrid": func(int) req {
		return req{path: "/api/v1/ingest/eventgrid", header: map[string]string{"WebHook-Request-Origin": "eventgrid.azure.net"}}
	},
	"GET /api/v1/alerts":               func(int) req { return req{path: "/api/v1/alerts?status=open"} },
	"GET /api/v1/alerts/{id}":          func(int) req { return req{path: "/api/v1/alerts/alt_1"} },
	"POST /api/v1/alerts/{id}/ack":     func(int) req { return req{path: "/api/v1/alerts/alt_1/ack"} },
	"POST /api/v1/alerts/{id}/resolve": func(int) req { return req{path: "/api/v1/alerts/alt_2/resolve"} },
	"GET /api/v1/events":               func(int) req { return req{path: "/api/v1/events?principal=eve@example.com"} },
	"GET /api/v1/silences":             func(int) req { return req{path: "/api/v1/silences?expired=true"} },
	"POST /api/v1/silences": func(int) req {
		return req{path: "/api/v1/silences", body: `{"matchers":["severity=\"low\""],"duration":"1h","comment":"maintenance"}`}
	},
	"GET /api/v1/silences/{id}":    func(int) req { return req{path: "/api/v1/silences/sil_1"} },
	"DELETE /api/v1/silences/{id}": func(int) req { return req{path: "/api/v1/silences/sil_1"} },
	"GET /api/v1/rules":            func(int) req { return req{path: "/api/v1/rules"} },
	"POST /api/v1/rules/reload":    func(int) req { return req{path: "/api/v1/rules/reload"} },
	"GET /api/v1/tokens":           func(int) req { return req{path: "/api/v1/tokens"} },
	"POST /api/v1/tokens": func(n int) req {
		return req{path: "/api/v1/tokens", body: fmt.Sprintf(`{"name":"ci-%d","role":"ingest","ttl":"24h"}`, n)}
	},
	"DELETE /api/v1/tokens/{id}": func(int) req { return req{path: "/api/v1/tokens/tok_spare"} },
	"GET /api/v1/stats":          func(int) req { return req{path: "/api/v1/stats"} },
	"GET /api/v1/notifications":  func(int) req { return req{path: "/api/v1/notifications?status=failed&limit=10"} },
	"GET /api/v1/notifications/{id}": func(int) req {
		return req{path: "/api/v1/notifications/ntf_1"}
	},
	"POST /api/v1/notifications/{id}/retry": func(int) req {
		return req{path: "/api/v1/notifications/ntf_2/retry", setup: func(b *apitest.Backend) { b.FailNotification("ntf_2") }}
	},
	"POST /api/v1/notifications/test": func(int) req {
		return req{path: "/api/v1/notifications/test", body: `{"receiver":"sec-webhook"}`}
	},
}

// TestEveryRouteEveryRole walks every route with every role, no token and
// a bad token, and checks the status against the permission table.
func TestEveryRouteEveryRole(t *testing.T) {
	e := newEnv(t)
	seen := map[string]bool{}
	n := 0
	for _, rt := range api.Routes() {
		key := rt.Method + " " + rt.Pattern
		seen[key] = true
		sample, ok := samples[key]
		if !ok {
			t.Errorf("route %s has no sample request in the test", key)
			continue
		}
		callers := append([]string{"", "bad"}, authz.Roles()...)
		for _, who := range callers {
			n++
			q := sample(n)
			q.method = rt.Method
			if q.setup != nil {
				q.setup(e.b)
			}
			switch who {
			case "":
			case "bad":
				q.token = "vgl_" + strings.Repeat("a", 52)
			default:
				q.token = e.b.Token(who)
			}
			r := e.do(t, q)
			what := fmt.Sprintf("%s as %q", key, who)
			if r.header.Get("X-Request-Id") == "" {
				t.Errorf("%s: no X-Request-Id", what)
			}
			switch {
			case rt.Auth == api.AuthNone || (who != "" && who != "bad" && authz.Allowed(who, rt.Resource, rt.Verb)):
				if r.status < 200 || r.status > 299 {
					t.Errorf("%s: status %d, want 2xx (body %s)", what, r.status, r.body)
				}
			case who == "" || who == "bad":
				checkRouteError(t, what, rt, r, http.StatusUnauthorized)
			default:
				checkRouteError(t, what, rt, r, http.StatusForbidden)
			}
		}
	}
	for key := range samples {
		if !seen[key] {
			t.Errorf("sample %s matches no route", key)
		}
	}
}

func checkRouteError(t *testing.T, what string, rt api.Route, r resp, status int) {
	t.Helper()
	if rt.Auth != api.AuthFirehose {
		checkError(t, what, r, status, map[int]string{401: "unauthorized", 403: "forbidden"}[status])
		if status == http.StatusUnauthorized && !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer") {
			t.Errorf("%s: 401 without WWW-Authenticate: Bearer", what)
		}
		return
	}
	checkFirehoseError(t, what, r, status)
}

func checkFirehoseError(t *testing.T, what string, r resp, status int) {
	t.Helper()
	if r.status != status {
		t.Errorf("%s: status %d, want %d (body %s)", what, r.status, status, r.body)
		return
	}
	if r.header.Get("Content-Type") != "application/json" {
		t.Errorf("%s: Content-Type %q", what, r.header.Get("Content-Type"))
	}
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Errorf("%s: body is not JSON: %s", what, r.body)
		return
	}
	if _, ok := m["requestId"].(string); !ok {
		t.Errorf("%s: no requestId: %s", what, r.body)
	}
	if _, ok := m["timestamp"].(float64); !ok {
		t.Errorf("%s: no timestamp: %s", what, r.body)
	}
	if msg, _ := m["errorMessage"].(string); msg == "" {
		t.Errorf("%s: no errorMessage: %s", what, r.body)
	}
}

func TestNotFoundAndMethodNotAllowed(t *testing.T) {
	e := newEnv(t)
	admin := e.b.Token(authz.Admin)
	checkError(t, "unknown path", e.do(t, req{method: "GET", path: "/api/v1/nope", token: admin}), 404, "not_found")
	checkError(t, "root", e.do(t, req{method: "GET", path: "/"}), 404, "not_found")
	checkError(t, "trailing slash", e.do(t, req{method: "GET", path: "/api/v1/alerts/", token: admin}), 404, "not_found")
	checkError(t, "unknown alert", e.do(t, req{method: "GET", path: "/api/v1/alerts/alt_404", token: admin}), 404, "not_found")
	r := e.do(t, req{method: "GET", path: "/api/v1/alerts/alt_404", token: admin})
	if !strings.Contains(string(r.body), `alert \"alt_404\" not found`) {
		t.Errorf("not-found message does not name the alert: %s", r.body)
	}
	checkError(t, "unknown silence", e.do(t, req{method: "DELETE", path: "/api/v1/silences/nope", token: admin}), 404, "not_found")
	checkError(t, "unknown token", e.do(t, req{method: "DELETE", path: "/api/v1/tokens/tok_nope", token: admin}), 404, "not_found")

	r = e.do(t, req{method: "PUT", path: "/api/v1/alerts", token: admin})
	checkError(t, "PUT alerts", r, 405, "method_not_allowed")
	if got := r.header.Get("Allow"); got != "GET, HEAD" {
		t.Errorf("Allow = %q", got)
	}
	r = e.do(t, req{method: "PATCH", path: "/api/v1/silences/sil_1", token: admin})
	checkError(t, "PATCH silence", r, 405, "method_not_allowed")
	if got := r.header.Get("Allow"); got != "DELETE, GET, HEAD" {
		t.Errorf("Allow = %q", got)
	}
	r = e.do(t, req{method: "GET", path: "/api/v1/ingest/eventgrid", token: admin})
	if got := r.header.Get("Allow"); r.status != 405 || got != "OPTIONS, POST" {
		t.Errorf("GET eventgrid: %d, Allow %q", r.status, got)
	}
	r = e.do(t, req{method: "GET", path: "/api/v1/ingest/firehose"})
	checkFirehoseError(t, "GET firehose", r, 405)
	if r := e.do(t, req{method: "HEAD", path: "/healthz"}); r.status != 200 || len(r.body) != 0 {
		t.Errorf("HEAD /healthz: %d %q", r.status, r.body)
	}
}

func TestAuthentication(t *testing.T) {
	e := newEnv(t)
	viewer := e.b.Token(authz.Viewer)
	for name, q := range map[string]req{
		"basic scheme":       {method: "GET", path: "/api/v1/alerts", header: map[string]string{"Authorization": "Basic " + viewer}},
		"query token on API": {method: "GET", path: "/api/v1/alerts?token=" + viewer},
		"revoked":            {method: "GET", path: "/api/v1/stats", token: "vgl_" + strings.Repeat("b", 52)},
		"huge":               {method: "GET", path: "/api/v1/stats", token: strings.Repeat("x", 5000)},
	} {
		checkError(t, name, e.do(t, q), 401, "unauthorized")
	}
	r := e.do(t, req{method: "GET", path: "/api/v1/stats", header: map[string]string{"Authorization": "bearer " + viewer}})
	if r.status != 200 {
		t.Errorf("lower-case bearer scheme: %d %s", r.status, r.body)
	}
	// The ingest role reads nothing.
	checkError(t, "ingest reads alerts", e.do(t, req{method: "GET", path: "/api/v1/alerts", token: e.b.Token(authz.Ingest)}), 403, "forbidden")
	// A revoked token stops working.
	admin := e.b.Token(authz.Admin)
	if r := e.do(t, req{method: "DELETE", path: "/api/v1/tokens/tok_viewer", token: admin}); r.status != 204 {
		t.Fatalf("revoke: %d %s", r.status, r.body)
	}
	checkError(t, "revoked viewer", e.do(t, req{method: "GET", path: "/api/v1/stats", token: viewer}), 401, "unauthorized")
}

func TestRequestID(t *testing.T) {
	e := newEnv(t)
	r := e.do(t, req{method: "GET", path: "/healthz", header: map[string]string{"X-Request-Id": "abc-123"}})
	if got := r.header.Get("X-Request-Id"); got != "abc-123" {
		t.Errorf("sane request ID not echoed: %q", got)
	}
	for _, bad := range []string{"has space", strings.Repeat("a", 200), "vgl_" + strings.Repeat("a", 52), "a/b<script>"} {
		r := e.do(t, req{method: "GET", path: "/healthz", header: map[string]string{"X-Request-Id": bad}})
		if got := r.header.Get("X-Request-Id"); got == bad || len(got) != 24 {
			t.Errorf("request ID %q: got %q, want a generated one", bad, got)
		}
	}
	a := e.do(t, req{method: "GET", path: "/healthz"}).header.Get("X-Request-Id")
	b := e.do(t, req{method: "GET", path: "/healthz"}).header.Get("X-Request-Id")
	if a == b {
		t.Error("generated request IDs repeat")
	}
}

func TestReadyAndMetrics(t *testing.T) {
	e := newEnv(t)
	e.b.ReadyErr = fmt.Errorf("bus: connection refused to nats://secret-host")
	r := e.do(t, req{method: "GET", path: "/readyz"})
	checkError(t, "not ready", r, 503, "not_ready")
	if strings.Contains(string(r.body), "secret-host") {
		t.Errorf("readyz leaks the internal error: %s", r.body)
	}
	r = e.do(t, req{method: "GET", path: "/metrics", token: e.b.Token(authz.Viewer)})
	if r.status != 200 || !strings.Contains(string(r.body), "vigil_up 1") {
		t.Errorf("metrics: %d %s", r.status, r.body)
	}
	e2 := newEnv(t, func(o *api.Options) { o.Metrics = nil })
	checkError(t, "no metrics", e2.do(t, req{method: "GET", path: "/metrics", token: e2.b.Token(authz.Admin)}), 404, "not_found")
}

// allowedRoles states, independently of the route and permission tables,
// which roles may call each route: a wrong resource or verb on a route, or
// a wrong grant in a role, fails TestRoutePermissionsAsSpecified.
var allowedRoles = map[string]string{
	"GET /metrics":                     "viewer analyst responder admin",
	"POST /api/v1/ingest/{kind}":       "admin ingest",
	"POST /api/v1/ingest/firehose":     "admin ingest",
	"POST /api/v1/ingest/pubsub":       "admin ingest",
	"POST /api/v1/ingest/eventgrid":    "admin ingest",
	"OPTIONS /api/v1/ingest/eventgrid": "admin ingest",
	"GET /api/v1/alerts":               "viewer analyst responder admin",
	"GET /api/v1/alerts/{id}":          "viewer analyst responder admin",
	"POST /api/v1/alerts/{id}/ack":     "analyst responder admin",
	"POST /api/v1/alerts/{id}/resolve": "analyst responder admin",
	"GET /api/v1/events":               "viewer analyst responder admin",
	"GET /api/v1/silences":             "viewer analyst responder admin",
	"POST /api/v1/silences":            "analyst responder admin",
	"GET /api/v1/silences/{id}":        "viewer analyst responder admin",
	"DELETE /api/v1/silences/{id}":     "analyst responder admin",
	"GET /api/v1/rules":                "viewer analyst responder admin",
	"POST /api/v1/rules/reload":        "responder admin",
	"GET /api/v1/tokens":               "admin",
	"POST /api/v1/tokens":              "admin",
	"DELETE /api/v1/tokens/{id}":       "admin",
	"GET /api/v1/stats":                "viewer analyst responder admin",

	"GET /api/v1/notifications":             "viewer analyst responder admin",
	"GET /api/v1/notifications/{id}":        "viewer analyst responder admin",
	"POST /api/v1/notifications/{id}/retry": "responder admin",
	"POST /api/v1/notifications/test":       "responder admin",
}

func TestRoutePermissionsAsSpecified(t *testing.T) {
	for _, rt := range api.Routes() {
		key := rt.Method + " " + rt.Pattern
		if rt.Auth == api.AuthNone {
			if _, listed := allowedRoles[key]; listed {
				t.Errorf("%s is public but listed with roles", key)
			}
			continue
		}
		want, ok := allowedRoles[key]
		if !ok {
			t.Errorf("%s: no expected roles stated", key)
			continue
		}
		for _, role := range authz.Roles() {
			if got, exp := authz.Allowed(role, rt.Resource, rt.Verb), slices.Contains(strings.Fields(want), role); got != exp {
				t.Errorf("%s as %s: allowed %v, want %v", key, role, got, exp)
			}
		}
	}
}
