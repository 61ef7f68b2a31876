package cli

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/vigil-sec/vigil/internal/api"
	"github.com/vigil-sec/vigil/internal/api/apitest"
	"github.com/vigil-sec/vigil/internal/authz"
)

func TestNotifyTestCommand(t *testing.T) {
	b := apiServer(t, authz.Responder)
	for _, c := range []struct {
		args        []string
		code        int
		out, errOut string
		wantJSON    *api.TestResult
	}{
		{args: []string{"notify", "test", "sec-webhook", "--format", "table"}, code: ExitOK, out: "test notification accepted by sec-webhook\n"},
		{args: []string{"notify", "test", "sec-webhook"}, code: ExitOK, wantJSON: &api.TestResult{Receiver: "sec-webhook", Sent: true}},
		{args: []string{"notify", "test", "oncall"}, code: ExitFailure, errOut: "vigil: " + apitest.ReceiverDown + "\n"},
		{args: []string{"notify", "test", "pager"}, code: ExitFailure, errOut: `vigil: unknown receiver "pager": the configured receivers are oncall, sec-webhook` + "\n"},
	} {
		code, out, errOut := runClient(t, c.args...)
		if code != c.code {
			t.Errorf("%v: exit %d, want %d (%q)", c.args, code, c.code, errOut)
		}
		if c.wantJSON != nil {
			var got api.TestResult
			if err := json.Unmarshal([]byte(out), &got); err != nil || got != *c.wantJSON {
				t.Errorf("%v: output %q", c.args, out)
			}
		} else if out != c.out {
			t.Errorf("%v: output %q, want %q", c.args, out, c.out)
		}
		if c.errOut != "" && (!strings.HasPrefix(errOut, "vigil: ") || !strings.HasSuffix(errOut, strings.TrimPrefix(c.errOut, "vigil: "))) {
			t.Errorf("%v: stderr %q, want %q", c.args, errOut, c.errOut)
		}
	}
	if diff := cmp.Diff([]string{"sec-webhook", "sec-webhook", "oncall", "pager"}, b.Tests()); diff != "" {
		t.Errorf("receivers tested (-want +got):\n%s", diff)
	}
	// A viewer may not send test messages; a missing receiver is a usage error.
	apiServer(t, authz.Viewer)
	if code, _, errOut := runClient(t, "notify", "test", "sec-webhook"); code != ExitFailure || !strings.Contains(errOut, "may not write notifications") {
		t.Errorf("viewer: exit %d %q", code, errOut)
	}
	for _, args := range [][]string{{"notify", "test"}, {"notify", "test", "a", "b"}, {"notify", "send"}} {
		if code, _, errOut := runClient(t, args...); code != ExitUsage || strings.Count(errOut, "\n") != 1 {
			t.Errorf("%v: exit %d %q, want a one-line usage error", args, code, errOut)
		}
	}
}

func TestNotificationsCommands(t *testing.T) {
	apiServer(t, authz.Responder)
	code, out, errOut := runClient(t, "notifications", "list", "--format", "table")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != ExitOK || len(lines) != 4 || !strings.HasPrefix(lines[0], "ID ") || !strings.HasPrefix(lines[1], "ntf_3 ") ||
		!strings.Contains(lines[1], "pending") || !strings.Contains(lines[1], "next ") || !strings.Contains(lines[2], "status 400: invalid payload") ||
		!strings.Contains(lines[3], "rule=rule-1") {
		t.Fatalf("list table: exit %d\n%s%s", code, out, errOut)
	}
	code, out, _ = runClient(t, "notifications", "list", "--status", "failed", "--receiver", "sec-webhook")
	var list api.NotificationList
	if err := json.Unmarshal([]byte(out), &list); code != ExitOK || err != nil || len(list.Notifications) != 1 || list.Notifications[0].ID != "ntf_2" {
		t.Fatalf("list --status failed: exit %d %v\n%s", code, err, out)
	}
	code, out, _ = runClient(t, "notifications", "list", "--status", "sent", "--receiver", "oncall")
	if code != ExitOK || !strings.Contains(out, `"notifications": []`) {
		t.Errorf("an empty list is not [] in JSON: %s", out)
	}
	code, _, errOut = runClient(t, "notifications", "list", "--limit", "1", "--format", "table")
	if code != ExitOK || !strings.Contains(errOut, "--cursor 1") {
		t.Errorf("no next-page hint: %q", errOut)
	}
	code, out, _ = runClient(t, "notifications", "show", "ntf_1", "--format", "table")
	if code != ExitOK || !strings.Contains(out, "status:") || !strings.Contains(out, "sent") || !strings.Contains(out, "alt_1") ||
		!strings.Contains(out, "Lambda function policy opened to everyone") {
		t.Errorf("show:\n%s", out)
	}
	code, out, errOut = runClient(t, "notifications", "retry", "ntf_2", "--format", "table")
	if code != ExitOK || out != "ntf_2 pending\n" {
		t.Errorf("retry: exit %d %q %q", code, out, errOut)
	}
	// Sent and unknown ones are refused; the others are still retried.
	code, out, errOut = runClient(t, "notifications", "retry", "ntf_1", "ntf_404")
	if code != ExitFailure || out != "" || !strings.Contains(errOut, "vigil: ntf_1: notification ntf_1 is sent; only failed notifications can be retried") ||
		!strings.Contains(errOut, `vigil: ntf_404: notification "ntf_404" not found`) {
		t.Errorf("retry of sent and unknown: exit %d %q %q", code, out, errOut)
	}
	for _, args := range [][]string{
		{"notifications", "list", "--status", "done"},
		{"notifications", "list", "--limit", "5000"},
		{"notifications", "retry"},
		{"notifications", "show"},
		{"notifications", "purge"},
	} {
		if code, _, errOut := runClient(t, args...); code != ExitUsage || strings.Count(errOut, "\n") != 1 {
			t.Errorf("%v: exit %d %q, want a one-line usage error", args, code, errOut)
		}
	}
}
