package cli

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/vigil-sec/vigil/internal/api"
	"github.com/vigil-sec/vigil/internal/api/apitest"
	"github.com/vigil-sec/vigil/internal/authz"
)

// apiServer starts the real API over the fake backend and points the
// client commands at it with a token of role.
func apiServer(t *testing.T, role string) *apitest.Backend {
	t.Helper()
	b := apitest.New(nil)
	srv := httptest.NewServer(api.New(b, api.Options{}))
	t.Cleanup(srv.Close)
	t.Setenv("VIGIL_URL", srv.URL)
	t.Setenv("VIGIL_TOKEN", b.Token(role))
	return b
}

// runClient runs the CLI with args through Run.
func runClient(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	return run(t, "", args...)
}

func TestClientCommandsRegistered(t *testing.T) {
	root := newRoot(&streams{in: strings.NewReader(""), out: io.Discard, errOut: io.Discard})
	names := map[string]bool{}
	for _, c := range root.Commands() {
		names[c.Name()] = true
		for _, sub := range c.Commands() {
			names[c.Name()+" "+sub.Name()] = true
		}
	}
	for _, want := range []string{"alerts list", "alerts show", "alerts ack", "alerts resolve", "events search", "silences add", "silences list", "silences expire", "tokens create", "tokens list", "tokens revoke",
		"notify test", "notifications list", "notifications show", "notifications retry"} {
		if !names[want] {
			t.Errorf("no %q command", want)
		}
	}
}

func TestAlertsCommands(t *testing.T) {
	b := apiServer(t, authz.Analyst)
	code, out, errOut := runClient(t, "alerts", "list", "--status", "open", "--severity", "high,critical", "--limit", "50", "--since", "7d")
	if code != ExitOK {
		t.Fatalf("list: exit %d: %s", code, errOut)
	}
	var list api.AlertList
	if err := json.Unmarshal([]byte(out), &list); err != nil || len(list.Alerts) != 1 || list.Alerts[0].ID != "alt_1" {
		t.Fatalf("list output (not a terminal, so JSON): %v\n%s", err, out)
	}
	f := b.AlertFilters()[0]
	if len(f.Status) != 1 || f.Status[0] != "open" || len(f.Severity) != 2 || f.Limit != 50 || f.Since.IsZero() {
		t.Errorf("filter sent: %+v", f)
	}
	code, out, _ = runClient(t, "alerts", "list", "--format", "table")
	if code != ExitOK || !strings.HasPrefix(out, "ID ") || !strings.Contains(out, "alt_1") || !strings.Contains(out, "alt_2") || !strings.Contains(out, "acknowledged") {
		t.Errorf("table:\n%s", out)
	}
	code, out, _ = runClient(t, "alerts", "show", "alt_2", "--format", "table")
	if code != ExitOK || !strings.Contains(out, "severity:") || !strings.Contains(out, "critical") || !strings.Contains(out, "eve@example.com") {
		t.Errorf("show:\n%s", out)
	}
	code, out, errOut = runClient(t, "alerts", "ack", "alt_1", "--format", "table")
	if code != ExitOK || out != "alt_1 acknowledged\n" {
		t.Errorf("ack: exit %d %q %q", code, out, errOut)
	}
	code, out, _ = runClient(t, "alerts", "resolve", "alt_1", "alt_2")
	if code != ExitOK || !strings.Contains(out, `"status": "resolved"`) {
		t.Errorf("resolve: exit %d %s", code, out)
	}
	// A missing alert among several: the others are done, exit 1.
	code, out, errOut = runClient(t, "alerts", "ack", "alt_1", "alt_404", "--format", "table")
	if code != ExitFailure || !strings.Contains(out, "alt_1 acknowledged") || errOut != "vigil: alt_404: alert \"alt_404\" not found\n" {
		t.Errorf("ack with a missing alert: exit %d %q %q", code, out, errOut)
	}
	code, _, errOut = runClient(t, "alerts", "show", "alt_404")
	if code != ExitFailure || errOut != "vigil: alert \"alt_404\" not found\n" {
		t.Errorf("show missing: exit %d %q", code, errOut)
	}
}

func TestEventsSearchCommand(t *testing.T) {
	b := apiServer(t, authz.Viewer)
	code, out, errOut := runClient(t, "events", "search", "--principal", "eve@example.com", "--source-ip", "198.51.100.4", "--format", "table")
	if code != ExitOK || !strings.Contains(out, "gcp.audit") || !strings.Contains(out, "evt_2") || strings.Contains(out, "evt_1") {
		t.Fatalf("search: exit %d\n%s%s", code, out, errOut)
	}
	if q := b.EventQueries()[0]; q.Principal != "eve@example.com" || q.SourceIP != "198.51.100.4" {
		t.Errorf("query sent: %+v", q)
	}
	code, out, _ = runClient(t, "events", "search", "--limit", "1")
	var list api.EventList
	if err := json.Unmarshal([]byte(out), &list); code != ExitOK || err != nil || len(list.Events) != 1 || list.NextCursor == "" {
		t.Errorf("json page: exit %d %v\n%s", code, err, out)
	}
	code, _, errOut = runClient(t, "events", "search", "--limit", "1", "--format", "table")
	if code != ExitOK || !strings.Contains(errOut, "--cursor 1") {
		t.Errorf("table page without a next-page hint: %q", errOut)
	}
}

func TestSilencesCommands(t *testing.T) {
	apiServer(t, authz.Analyst)
	code, out, errOut := runClient(t, "silences", "add", "--matcher", `severity=~"high|critical"`, "--matcher", `account="111122223333"`, "--duration", "2h", "--comment", "pen test")
	if code != ExitOK {
		t.Fatalf("add: exit %d %s", code, errOut)
	}
	var sil struct {
		ID        string `json:"id"`
		CreatedBy string `json:"created_by"`
		Matchers  []any  `json:"matchers"`
	}
	if err := json.Unmarshal([]byte(out), &sil); err != nil || sil.ID == "" || sil.CreatedBy != "analyst-token" || len(sil.Matchers) != 2 {
		t.Fatalf("add output: %v %s", err, out)
	}
	code, out, _ = runClient(t, "silences", "list", "--format", "table")
	if code != ExitOK || !strings.Contains(out, sil.ID) || !strings.Contains(out, `severity=~"high|critical"`) || !strings.Contains(out, "active") {
		t.Errorf("list:\n%s", out)
	}
	code, out, _ = runClient(t, "silences", "expire", sil.ID, "--format", "table")
	if code != ExitOK || out != "silence "+sil.ID+" expired\n" {
		t.Errorf("expire: exit %d %q", code, out)
	}
	code, out, _ = runClient(t, "silences", "list", "--expired", "--format", "table")
	if code != ExitOK || !strings.Contains(out, "expired") {
		t.Errorf("list --expired:\n%s", out)
	}
	// The server's validation comes back on one line, exit 1.
	code, _, errOut = runClient(t, "silences", "add", "--matcher", `severity="low"`, "--ends-at", "2001-01-01T00:00:00Z", "--comment", "x")
	if code != ExitFailure || !strings.HasPrefix(errOut, "vigil: ends_at is in the past") || strings.Count(errOut, "\n") != 1 {
		t.Errorf("past silence: exit %d %q", code, errOut)
	}
}

func TestTokensCommands(t *testing.T) {
	b := apiServer(t, authz.Admin)
	code, out, errOut := runClient(t, "tokens", "create", "--name", "firehose-prod", "--role", "ingest", "--ttl", "720h", "--format", "table")
	tok := strings.TrimSpace(out)
	if code != ExitOK || !authz.WellFormed(tok) || !strings.Contains(errOut, "not shown again") {
		t.Fatalf("create: exit %d %q %q", code, out, errOut)
	}
	if got, err := b.Authenticate(context.Background(), tok); err != nil || got.Role != "ingest" || got.CreatedBy != "admin-token" {
		t.Errorf("created token: %+v %v", got, err)
	}
	code, out, _ = runClient(t, "tokens", "list", "--format", "table")
	if code != ExitOK || !strings.Contains(out, "firehose-prod") || strings.Contains(out, "vgl_") {
		t.Errorf("list:\n%s", out)
	}
	code, out, _ = runClient(t, "tokens", "list")
	var list api.TokenList
	if err := json.Unmarshal([]byte(out), &list); code != ExitOK || err != nil || len(list.Tokens) != 7 {
		t.Fatalf("list json: %v %s", err, out)
	}
	var id string
	for _, tk := range list.Tokens {
		if tk.Name == "firehose-prod" {
			id = tk.ID
		}
	}
	code, out, _ = runClient(t, "tokens", "revoke", id, "--format", "table")
	if code != ExitOK || out != "token "+id+" revoked\n" {
		t.Errorf("revoke: exit %d %q", code, out)
	}
	code, _, errOut = runClient(t, "tokens", "revoke", tok)
	if code != ExitUsage || strings.Contains(errOut, tok) {
		t.Errorf("revoke by plaintext: exit %d %q", code, errOut)
	}
	code, _, errOut = runClient(t, "tokens", "create", "--name", "firehose-prod", "--role", "ingest")
	if code != ExitOK {
		t.Errorf("re-create after revoke: exit %d %q", code, errOut)
	}
	code, _, errOut = runClient(t, "tokens", "create", "--name", "firehose-prod", "--role", "viewer")
	if code != ExitFailure || !strings.Contains(errOut, "exists") {
		t.Errorf("duplicate: exit %d %q", code, errOut)
	}
}

func TestClientCommandErrors(t *testing.T) {
	apiServer(t, authz.Viewer)
	code, _, errOut := runClient(t, "alerts", "ack", "alt_1")
	if code != ExitFailure || !strings.HasPrefix(errOut, "vigil: ") || !strings.Contains(errOut, "may not write alerts") || strings.Count(errOut, "\n") != 1 {
		t.Errorf("forbidden: exit %d %q", code, errOut)
	}
	code, _, errOut = runClient(t, "tokens", "list")
	if code != ExitFailure || !strings.Contains(errOut, "may not read tokens") {
		t.Errorf("viewer lists tokens: exit %d %q", code, errOut)
	}
	t.Setenv("VIGIL_TOKEN", "vgl_"+strings.Repeat("a", 52))
	code, _, errOut = runClient(t, "alerts", "list")
	if code != ExitFailure || !strings.Contains(errOut, "invalid API token") {
		t.Errorf("bad token: exit %d %q", code, errOut)
	}

	for _, args := range [][]string{
		{"alerts", "list", "--status", "closed"},
		{"alerts", "list", "--since", "last week"},
		{"alerts", "list", "--limit", "5000"},
		{"alerts", "list", "--format", "xml"},
		{"alerts", "show"},
		{"alerts", "ack"},
		{"alerts", "list", "extra"},
		{"silences", "add", "--matcher", "colour=red", "--duration", "1h", "--comment", "c"},
		{"silences", "add", "--matcher", `severity="low"`, "--comment", "c"},
		{"silences", "add", "--matcher", `severity="low"`, "--duration", "1h"},
		{"silences", "add", "--duration", "1h", "--comment", "c"},
		{"tokens", "create", "--name", "x", "--role", "root"},
		{"tokens", "create", "--role", "viewer"},
		{"events", "search", "--bogus"},
		{"alerts", "bogus"},
		{"tokens", "mint"},
	} {
		code, _, errOut := runClient(t, args...)
		if code != ExitUsage || !strings.HasPrefix(errOut, "vigil: ") || strings.Count(errOut, "\n") != 1 {
			t.Errorf("%v: exit %d, stderr %q; want a one-line usage error", args, code, errOut)
		}
	}

	t.Setenv("VIGIL_TOKEN", "")
	code, _, errOut = runClient(t, "alerts", "list")
	if code != ExitUsage || errOut != "vigil: no API token: export VIGIL_TOKEN=<token> (an admin creates tokens with vigil tokens create)\n" {
		t.Errorf("no token: exit %d %q", code, errOut)
	}
	t.Setenv("VIGIL_TOKEN", "t")
	t.Setenv("VIGIL_URL", "127.0.0.1:8717")
	if code, _, errOut = runClient(t, "alerts", "list"); code != ExitUsage || !strings.Contains(errOut, "VIGIL_URL") {
		t.Errorf("bad URL: exit %d %q", code, errOut)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	t.Setenv("VIGIL_URL", "http://"+addr)
	code, _, errOut = runClient(t, "alerts", "list")
	if want := "vigil: cannot reach Vigil at http://" + addr + ": is vigil serve running?\n"; code != ExitFailure || errOut != want {
		t.Errorf("unreachable: exit %d %q, want %q", code, errOut, want)
	}
}

func TestClientGroupHelp(t *testing.T) {
	code, out, _ := runClient(t, "silences")
	if code != ExitOK || !strings.Contains(out, "expire") {
		t.Errorf("silences without a subcommand: exit %d\n%s", code, out)
	}
}

func TestTableCellsAreSafe(t *testing.T) {
	for in, want := range map[string]string{
		"":                       "-",
		"plain":                  "plain",
		"evil\x1b[31mred\x1b[0m": `evil\x1b[31mred\x1b[0m`,
		"tab\there\nnewline":     `tab\there\nnewline`,
		strings.Repeat("é", 70):  strings.Repeat("é", 59) + "…",
	} {
		if got := cell(in); got != want {
			t.Errorf("cell(%q) = %q, want %q", in, got, want)
		}
	}
}
