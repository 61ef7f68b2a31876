package detect

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestReadFieldMapping(t *testing.T) {
	dir := t.TempDir()
	write := func(body string) string {
		p := filepath.Join(dir, "m.yml")
		os.WriteFile(p, []byte(body), 0o600)
		return p
	}
	m, err := ReadFieldMapping(write("aws.cloudtrail:\n  user: [userIdentity.arn]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := m.paths("aws.cloudtrail", "user"); len(got) != 1 || got[0] != "userIdentity.arn" {
		t.Errorf("user maps to %v", got)
	}
	if got := m.paths("gcp.audit", "gcp.audit.method_name"); got[0] != "protoPayload.methodName" {
		t.Errorf("defaults lost: %v", got)
	}
	// A rule using the mapped name matches.
	rule := rule("  sel:\n    user|endswith: /Dev-Ops\n  condition: sel")
	if !matches(t, rule, Options{FieldMapping: m}, ctEvent(t, record)) {
		t.Error("a rule on a mapped field does not match")
	}
	for body, want := range map[string]string{
		"nope.source:\n  a: [b]\n":          `unknown source "nope.source"`,
		"aws.cloudtrail:\n  a: []\n":        "needs one or more non-empty paths",
		"aws.cloudtrail:\n  vigil.x: [a]\n": "cannot be mapped",
		"aws.cloudtrail: [1, 2]\n":          "want: source: {field: [path, ...]}",
	} {
		if _, err := ReadFieldMapping(write(body)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v, want %q", body, err, want)
		}
	}
}
