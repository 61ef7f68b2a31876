package api_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/vigil-sec/vigil/internal/api"
	"github.com/vigil-sec/vigil/internal/api/apitest"
	"github.com/vigil-sec/vigil/internal/authz"
	"github.com/vigil-sec/vigil/internal/notify"
)

func TestListNotifications(t *testing.T) {
	e := newEnv(t)
	viewer := e.b.Token(authz.Viewer)
	for _, c := range []struct {
		query string
		want  []string
		next  string
	}{
		{"", []string{"ntf_3", "ntf_2", "ntf_1"}, ""},
		{"?status=failed", []string{"ntf_2"}, ""},
		{"?status=pending&receiver=sec-webhook", []string{"ntf_3"}, ""},
		{"?receiver=oncall", []string{}, ""},
		{"?limit=2", []string{"ntf_3", "ntf_2"}, "2"},
		{"?limit=2&cursor=2", []string{"ntf_1"}, ""},
	} {
		r := e.do(t, req{method: "GET", path: "/api/v1/notifications" + c.query, token: viewer})
		if r.status != http.StatusOK {
			t.Errorf("%s: %d %s", c.query, r.status, r.body)
			continue
		}
		var got api.NotificationList
		r.json(t, &got)
		ids := []string{}
		for _, n := range got.Notifications {
			ids = append(ids, n.ID)
		}
		if diff := cmp.Diff(c.want, ids); diff != "" || got.NextCursor != c.next {
			t.Errorf("%s: IDs (-want +got):\n%s next %q, want %q", c.query, diff, got.NextCursor, c.next)
		}
	}
}

func TestNotificationSummary(t *testing.T) {
	e := newEnv(t)
	r := e.do(t, req{method: "GET", path: "/api/v1/notifications?status=pending", token: e.b.Token(authz.Viewer)})
	var got struct {
		Notifications []map[string]any `json:"notifications"`
	}
	r.json(t, &got)
	if len(got.Notifications) != 1 {
		t.Fatalf("got %s", r.body)
	}
	n := got.Notifications[0]
	for key, want := range map[string]any{
		"id": "ntf_3", "receiver": "sec-webhook", "group_key": "grp_1", "status": "pending", "attempts": 1.0,
		"last_error": "status 503: service unavailable", "group_status": "firing", "severity": "high", "alert_count": 1.0,
	} {
		if n[key] != want {
			t.Errorf("%s = %v, want %v", key, n[key], want)
		}
	}
	for _, key := range []string{"created_at", "updated_at", "next_attempt", "group_labels"} {
		if _, ok := n[key]; !ok {
			t.Errorf("no %s in %v", key, n)
		}
	}
	// A list leaves the alerts out; one notification has them.
	if _, ok := n["notification"]; ok {
		t.Errorf("the list holds the whole notification: %v", n)
	}
	r = e.do(t, req{method: "GET", path: "/api/v1/notifications/ntf_3", token: e.b.Token(authz.Viewer)})
	var full notify.Entry
	r.json(t, &full)
	if r.status != http.StatusOK || full.Notification == nil || len(full.Notification.Alerts) != 1 || full.Notification.Alerts[0].ID != "alt_1" {
		t.Errorf("GET one: %d %s", r.status, r.body)
	}
}

func TestNotificationErrors(t *testing.T) {
	e := newEnv(t)
	viewer, responder := e.b.Token(authz.Viewer), e.b.Token(authz.Responder)
	for _, c := range []struct {
		name         string
		q            req
		status       int
		code, substr string
	}{
		{"unknown status", req{method: "GET", path: "/api/v1/notifications?status=done", token: viewer}, 400, "invalid", `status "done": use pending, failed or sent`},
		{"status twice", req{method: "GET", path: "/api/v1/notifications?status=sent&status=failed", token: viewer}, 400, "invalid", "given 2 times"},
		{"unknown parameter", req{method: "GET", path: "/api/v1/notifications?state=sent", token: viewer}, 400, "invalid", `unknown query parameter "state"`},
		{"bad limit", req{method: "GET", path: "/api/v1/notifications?limit=0", token: viewer}, 400, "invalid", "limit"},
		{"bad cursor", req{method: "GET", path: "/api/v1/notifications?cursor=zz", token: viewer}, 400, "bad_cursor", "cursor"},
		{"unknown ID", req{method: "GET", path: "/api/v1/notifications/ntf_404", token: viewer}, 404, "not_found", `notification "ntf_404" not found`},
		{"retry unknown", req{method: "POST", path: "/api/v1/notifications/ntf_404/retry", token: responder}, 404, "not_found", `notification "ntf_404" not found`},
		{"retry sent", req{method: "POST", path: "/api/v1/notifications/ntf_1/retry", token: responder}, 409, "conflict", "is sent; only failed notifications can be retried"},
		{"retry pending", req{method: "POST", path: "/api/v1/notifications/ntf_3/retry", token: responder}, 409, "conflict", "is pending"},
		{"test unknown receiver", req{method: "POST", path: "/api/v1/notifications/test", token: responder, body: `{"receiver":"nope"}`}, 404, "not_found", `unknown receiver "nope": the configured receivers are oncall, sec-webhook`},
		{"test refused", req{method: "POST", path: "/api/v1/notifications/test", token: responder, body: `{"receiver":"oncall"}`}, 502, "receiver_failed", apitest.ReceiverDown},
		{"test without receiver", req{method: "POST", path: "/api/v1/notifications/test", token: responder, body: `{}`}, 400, "invalid", "name the receiver"},
		{"test empty body", req{method: "POST", path: "/api/v1/notifications/test", token: responder}, 400, "invalid", "empty"},
		{"test unknown field", req{method: "POST", path: "/api/v1/notifications/test", token: responder, body: `{"receiver":"sec-webhook","to":"x"}`}, 400, "invalid", `unknown field "to"`},
		{"test control character", req{method: "POST", path: "/api/v1/notifications/test", token: responder, body: `{"receiver":"a\u001bb"}`}, 400, "invalid", "control characters"},
		{"test long name", req{method: "POST", path: "/api/v1/notifications/test", token: responder, body: `{"receiver":"` + strings.Repeat("r", 200) + `"}`}, 400, "invalid", "longer than 128"},
		{"GET test", req{method: "GET", path: "/api/v1/notifications/test", token: responder}, 405, "method_not_allowed", "use POST"},
	} {
		r := e.do(t, c.q)
		checkError(t, c.name, r, c.status, c.code)
		var body api.ErrorBody
		r.json(t, &body)
		if !strings.Contains(body.Error, c.substr) {
			t.Errorf("%s: message %q does not say %q", c.name, body.Error, c.substr)
		}
	}
	// Refused tests call nothing; the named ones reach the backend.
	if diff := cmp.Diff([]string{"nope", "oncall"}, e.b.Tests()); diff != "" {
		t.Errorf("TestReceiver calls (-want +got):\n%s", diff)
	}
}

func TestRetryAndTestNotification(t *testing.T) {
	e := newEnv(t)
	responder := e.b.Token(authz.Responder)
	r := e.do(t, req{method: "POST", path: "/api/v1/notifications/ntf_2/retry", token: responder})
	var got notify.Entry
	r.json(t, &got)
	if r.status != http.StatusOK || got.Status != notify.Pending || got.NextAttempt == nil || !got.NextAttempt.Equal(epoch) {
		t.Errorf("retry: %d %s", r.status, r.body)
	}
	// Now pending, it cannot be retried again.
	checkError(t, "second retry", e.do(t, req{method: "POST", path: "/api/v1/notifications/ntf_2/retry", token: responder}), 409, "conflict")
	if !strings.Contains(e.logs.String(), "notification re-driven") || !strings.Contains(e.logs.String(), "by=responder-token") {
		t.Errorf("the re-drive is not logged with who did it:\n%s", e.logs)
	}

	r = e.do(t, req{method: "POST", path: "/api/v1/notifications/test", token: responder, body: `{"receiver":" sec-webhook "}`})
	var res api.TestResult
	r.json(t, &res)
	if r.status != http.StatusOK || res != (api.TestResult{Receiver: "sec-webhook", Sent: true}) {
		t.Errorf("test: %d %s", r.status, r.body)
	}
}
