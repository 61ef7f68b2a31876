package authz

import (
	"strings"
	"testing"
)

// want is the permission table in words, as the design states it. The
// test checks every (role, resource, verb) against it.
var want = map[string][]string{
	Viewer:    {"alerts:read", "events:read", "silences:read", "rules:read", "stats:read", "notifications:read"},
	Analyst:   {"alerts:read", "events:read", "silences:read", "rules:read", "stats:read", "notifications:read", "alerts:write", "silences:write"},
	Responder: {"alerts:read", "events:read", "silences:read", "rules:read", "stats:read", "alerts:write", "silences:write", "rules:write", "notifications:read", "notifications:write"},
	Admin:     {"*"},
	Ingest:    {"ingest:write"},
}

func TestPermissionTable(t *testing.T) {
	if len(Roles()) != len(want) {
		t.Fatalf("Roles() = %v, want the %d roles of the table", Roles(), len(want))
	}
	for _, role := range Roles() {
		perms, ok := want[role]
		if !ok {
			t.Fatalf("role %q is not in the test's table", role)
		}
		for _, res := range Resources() {
			for _, verb := range Verbs() {
				expect := perms[0] == "*"
				for _, p := range perms {
					expect = expect || p == res+":"+verb
				}
				if got := Allowed(role, res, verb); got != expect {
					t.Errorf("Allowed(%q, %q, %q) = %v, want %v", role, res, verb, got, expect)
				}
			}
		}
	}
}

func TestDenyFirst(t *testing.T) {
	for _, role := range Roles() {
		if role == Admin {
			continue
		}
		for _, verb := range Verbs() {
			if Allowed(role, Tokens, verb) {
				t.Errorf("%s may %s tokens; only admins may", role, verb)
			}
		}
	}
	// A deny rule beats an allow rule that would match.
	r := Role{Name: "x", Deny: []Rule{{Alerts, Write}}, Allow: []Rule{{Any, Any}}}
	roles = append(roles, r)
	defer func() { roles = roles[:len(roles)-1] }()
	if Allowed("x", Alerts, Write) || !Allowed("x", Alerts, Read) {
		t.Error("deny rules are not checked before allow rules")
	}
}

func TestUnknownNeverAllowed(t *testing.T) {
	for _, c := range [][3]string{
		{"root", Alerts, Read}, {"", Alerts, Read}, {Admin, "secrets", Read}, {Admin, Alerts, "delete"},
		{Admin, Any, Read}, {Admin, Alerts, Any}, {"Admin", Alerts, Read},
	} {
		if Allowed(c[0], c[1], c[2]) {
			t.Errorf("Allowed(%q, %q, %q) = true", c[0], c[1], c[2])
		}
	}
	if ValidRole("root") || ValidRole("") || !ValidRole(Responder) {
		t.Error("ValidRole is wrong")
	}
}

func TestToken(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		tok, err := NewToken()
		if err != nil {
			t.Fatal(err)
		}
		if !WellFormed(tok) || len(tok) != 4+52 || strings.ToLower(tok) != tok {
			t.Fatalf("NewToken() = %q: not a well-formed token", tok)
		}
		if seen[tok] {
			t.Fatalf("NewToken repeated %q", tok)
		}
		seen[tok] = true
		h := HashToken(tok)
		if len(h) != 64 || !MatchHash(tok, h) || MatchHash(tok+"x", h) {
			t.Fatalf("HashToken/MatchHash broken for %q: %q", tok, h)
		}
	}
	for _, bad := range []string{"", "vgl_", "tok_abc", "VGL_" + strings.Repeat("a", 52), "vgl_" + strings.Repeat("a", 51) + "1", "vgl_" + strings.Repeat("a", 53)} {
		if WellFormed(bad) {
			t.Errorf("WellFormed(%q) = true", bad)
		}
	}
}
