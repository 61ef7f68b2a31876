package config

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"go.yaml.in/yaml/v3"

	"github.com/vigil-sec/vigil/internal/secret"
)

const leaky = "hunter2-leaky-secret-value"

// jsonRedacted is how encoding/json writes "<secret>": it escapes < and >.
const jsonRedacted = `\u003csecret\u003e`

// shows reports whether out shows the redaction marker.
func shows(out string) bool {
	return strings.Contains(out, redacted) || strings.Contains(out, jsonRedacted)
}

// TestSecretPrintsRedacted checks every way a Secret could be printed.
func TestSecretPrintsRedacted(t *testing.T) {
	s := Secret(leaky)
	if s.Reveal() != leaky {
		t.Fatalf("Reveal() = %q", s.Reveal())
	}
	outputs := map[string]string{
		"String":   s.String(),
		"GoString": s.GoString(),
	}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%10.3s", "%-20v", "%t"} {
		outputs["fmt "+verb] = fmt.Sprintf(verb, s)
	}
	outputs["fmt pointer"] = fmt.Sprintf("%v", &s)
	outputs["fmt slice"] = fmt.Sprintf("%v %#v", []Secret{s}, []Secret{s})
	outputs["fmt map"] = fmt.Sprintf("%v", map[string]Secret{"k": s})
	outputs["error"] = fmt.Errorf("token %v rejected", s).Error()
	text, _ := s.MarshalText()
	outputs["MarshalText"] = string(text)
	j, err := json.Marshal(struct{ T Secret }{s})
	if err != nil {
		t.Fatal(err)
	}
	outputs["json"] = string(j)
	y, err := yaml.Marshal(struct{ T Secret }{s})
	if err != nil {
		t.Fatal(err)
	}
	outputs["yaml"] = string(y)
	var buf bytes.Buffer
	slog.New(slog.NewTextHandler(&buf, nil)).Info("m", "token", s, "ptr", &s)
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("m", "token", s, slog.Any("group", struct{ T Secret }{s}))
	outputs["slog"] = buf.String()
	for name, out := range outputs {
		if strings.Contains(out, "hunter2") {
			t.Errorf("%s leaks the secret: %s", name, out)
		}
		if !shows(out) {
			t.Errorf("%s = %q, want it to show %s", name, out, redacted)
		}
	}

	// An empty secret prints as "" in encodings, so that `vigil config
	// print` tells whether a secret is set.
	if j, _ := json.Marshal(Secret("")); string(j) != `""` {
		t.Errorf(`json.Marshal(Secret("")) = %s`, j)
	}
}

// TestSecretsNeverLeak loads configs that hold secrets, good and bad, and
// checks every output: Redacted, fmt of the whole Config, JSON, YAML, and
// every error message.
func TestSecretsNeverLeak(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	goodFile := write("good-token", leaky+"\n")
	shortFile := write("short-token", "hunter2\n")
	twoLines := write("two-lines", "hunter2-line-one-xx\nhunter2-line-two-xx\n")
	control := write("control", "hunter2-with-a-\x01-control-char\n")

	// Configs that load: the secret must not show anywhere.
	for _, src := range []struct {
		yaml string
		env  []string
	}{
		{yaml: "ingest: {pubsub: {shared_token: " + leaky + "}}"},
		{yaml: "ingest: {pubsub: {shared_token_file: " + goodFile + "}}"},
		{env: []string{"VIGIL_INGEST_PUBSUB_SHARED_TOKEN=" + leaky}},
		{env: []string{"VIGIL_INGEST_PUBSUB_SHARED_TOKEN_FILE=" + goodFile}},
	} {
		path := write("vigil.yaml", src.yaml)
		cfg, err := Load(path, WithEnviron(src.env))
		if err != nil {
			t.Fatalf("Load(%q, %q): %v", src.yaml, src.env, err)
		}
		if cfg.Ingest.PubSub.SharedToken.Reveal() != leaky {
			t.Fatalf("the secret was not loaded from %q %q", src.yaml, src.env)
		}
		j, err := json.Marshal(cfg)
		if err != nil {
			t.Fatal(err)
		}
		y, err := yaml.Marshal(cfg)
		if err != nil {
			t.Fatal(err)
		}
		for name, out := range map[string]string{
			"Redacted":  cfg.Redacted(),
			"%v":        fmt.Sprintf("%v", cfg),
			"%+v":       fmt.Sprintf("%+v", cfg),
			"%#v":       fmt.Sprintf("%#v", cfg),
			"%+v value": fmt.Sprintf("%+v", *cfg),
			"json":      string(j),
			"yaml":      string(y),
		} {
			if strings.Contains(out, "hunter2") {
				t.Errorf("%s leaks the secret loaded from %q %q:\n%s", name, src.yaml, src.env, out)
			}
			if !shows(out) {
				t.Errorf("%s does not show %s:\n%s", name, redacted, out)
			}
		}
	}

	// Configs that fail because of the secret, or beside it: no error may
	// quote it.
	for _, src := range []struct {
		yaml string
		env  []string
	}{
		{yaml: "ingest: {pubsub: {shared_token: hunter2}}"},
		{yaml: "ingest: {pubsub: {shared_token: \"hunter2-with-a-\\x01-control-char\"}}"},
		{yaml: "ingest: {pubsub: {shared_token: [hunter2-in-a-list]}}"},
		{yaml: "ingest: {pubsub: {shared_token: {hunter2: x}}}"},
		{yaml: "ingest: {pubsub: {shared_token_file: " + shortFile + "}}"},
		{yaml: "ingest: {pubsub: {shared_token_file: " + twoLines + "}}"},
		{yaml: "ingest: {pubsub: {shared_token_file: " + control + "}}"},
		{yaml: "ingest: {pubsub: {shared_token: " + leaky + ", shared_token_file: " + goodFile + "}}"},
		{yaml: "ingest: {pubsub: {shared_token: " + leaky + ", shared_token: " + leaky + "}}"},
		{yaml: "ingest: {pubsub: {shared_token: " + leaky + "}}\nlog: {level: nope}"},
		{yaml: "ingest:\n  pubsub:\n    shared_token: \"" + leaky + "\n  bad: [yaml"},
		{env: []string{"VIGIL_INGEST_PUBSUB_SHARED_TOKEN=hunter2"}},
		{env: []string{"VIGIL_INGEST_PUBSUB_SHARED_TOKEN=hunter2\nsecond-line"}},
		{env: []string{"VIGIL_INGEST_PUBSUB_SHARED_TOKEN_FILE=" + shortFile}},
		{env: []string{"VIGIL_INGEST_PUBSUB_SHARED_TOKEN_FILE=" + twoLines}},
		{env: []string{"VIGIL_INGEST_PUBSUB_SHARED_TOKEN=" + leaky, "VIGIL_INGEST_PUBSUB_SHARED_TOKEN_FILE=" + goodFile}},
		{env: []string{"VIGIL_INGEST_PUBSUB_SHARED_TOKN=" + leaky}},
	} {
		path := write("vigil.yaml", src.yaml)
		_, err := Load(path, WithEnviron(src.env))
		if err == nil {
			t.Errorf("Load(%q, %q) succeeded; want an error", src.yaml, src.env)
			continue
		}
		if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("the error for %q %q leaks the secret:\n%v", src.yaml, src.env, err)
		}
	}
}

func TestReadSecretFile(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		content string
		want    Secret
		wantErr string
	}{
		{"s3cr3t", "s3cr3t", ""},
		{"s3cr3t\n", "s3cr3t", ""},
		{"s3cr3t\r\n", "s3cr3t", ""},
		{"s3cr3t\n\n", "s3cr3t\n", ""}, // only one newline goes; validation then refuses the other
		{"  spaced  \n", "  spaced  ", ""},
		{"", "", "is empty"},
		{"\n", "", "is empty"},
		{strings.Repeat("x", secret.MaxFileSize), Secret(strings.Repeat("x", secret.MaxFileSize)), ""},
		{strings.Repeat("x", secret.MaxFileSize+1), "", "is larger than 65536 bytes"},
	}
	for i, tt := range tests {
		path := filepath.Join(dir, fmt.Sprint(i))
		if err := os.WriteFile(path, []byte(tt.content), 0o600); err != nil {
			t.Fatal(err)
		}
		got, err := readSecretFile(path)
		switch {
		case tt.wantErr == "" && err != nil:
			t.Errorf("case %d: %v", i, err)
		case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), path)):
			t.Errorf("case %d: error %v, want %q naming %s", i, err, tt.wantErr, path)
		case got != tt.want:
			t.Errorf("case %d: got %d bytes, want %d", i, len(got), len(tt.want))
		}
	}
	if _, err := readSecretFile(dir); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("readSecretFile(dir) = %v", err)
	}
	if _, err := readSecretFile(""); err == nil {
		t.Errorf(`readSecretFile("") succeeded`)
	}
}

// fakeReceiver stands in for the notification receivers to come: a config
// struct of its own with two secrets, decoded with the same helpers.
type fakeReceiver struct {
	URL        string
	RoutingKey Secret
	Password   Secret
}

func (r *fakeReceiver) fields() []field {
	return []field{
		leaf("url", strValue{&r.URL}),
		leaf("routing_key", secretValue{&r.RoutingKey}),
		leaf("password", secretValue{&r.Password}),
	}
}

// TestSecretMechanismIsGeneric decodes a test-only struct with the schema
// helpers: every secretValue key accepts <key> or <key>_file, has both
// environment forms, and prints redacted.
func TestSecretMechanismIsGeneric(t *testing.T) {
	files := map[string]Secret{"/run/secrets/pd": "pd-routing-key-from-file"}
	decode := func(src string) (*fakeReceiver, error) {
		var r fakeReceiver
		l := newLoader("receiver.yaml")
		l.readSecret = func(path string) (Secret, error) {
			if s, ok := files[path]; ok {
				return s, nil
			}
			return "", fmt.Errorf("cannot read secret file %q: no such file or directory", path)
		}
		root, ok := l.parseYAML([]byte(src))
		if ok {
			l.document(root, r.fields())
		}
		return &r, l.result()
	}

	r, err := decode("url: https://events.pagerduty.com\nrouting_key_file: /run/secrets/pd\npassword: pw-inline-value\n")
	if err != nil {
		t.Fatal(err)
	}
	want := fakeReceiver{URL: "https://events.pagerduty.com", RoutingKey: "pd-routing-key-from-file", Password: "pw-inline-value"}
	if diff := cmp.Diff(want, *r); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	printed, err := yaml.Marshal(sectionNode(r.fields()))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(printed), "url: https://events.pagerduty.com\nrouting_key: <secret>\npassword: <secret>\n"; got != want {
		t.Errorf("printed:\n%s\nwant:\n%s", got, want)
	}

	_, err = decode("routing_key: a\nrouting_key_file: /run/secrets/pd\npasword_file: /x\npassword_file: /run/secrets/missing\n")
	wantErr := "receiver.yaml:2:1: give routing_key or routing_key_file, not both (the other is at line 1)\n" +
		`receiver.yaml:3:1: unknown top-level key "pasword_file" (did you mean "password_file"?); valid keys: url, routing_key, routing_key_file, password, password_file` + "\n" +
		`receiver.yaml:4:16: password_file: cannot read secret file "/run/secrets/missing": no such file or directory`
	if err == nil || err.Error() != wantErr {
		t.Errorf("errors:\n%v\nwant:\n%s", err, wantErr)
	}

	vars := envVars([]field{section("notify", section("pagerduty", (&fakeReceiver{}).fields()...))})
	for _, name := range []string{"VIGIL_NOTIFY_PAGERDUTY_ROUTING_KEY", "VIGIL_NOTIFY_PAGERDUTY_ROUTING_KEY_FILE", "VIGIL_NOTIFY_PAGERDUTY_PASSWORD_FILE"} {
		if _, ok := vars[name]; !ok {
			t.Errorf("no environment variable %s", name)
		}
	}
}

// TestNotifySecretsNeverLeak loads receivers that hold secrets and checks
// that no output and no error shows them.
func TestNotifySecretsNeverLeak(t *testing.T) {
	good := `notify:
  receivers:
    - name: hook
      webhook:
        url: https://hooks.example.com/hunter2-url-token
        secret: hunter2-signing-key
        headers: {Authorization: Bearer hunter2-header}
    - name: pager
      pagerduty: {routing_key: hunter2-routing-key-0123456789}
  route: {receiver: hook}
`
	cfg, err := Parse("vigil.yaml", []byte(good))
	if err != nil {
		t.Fatal(err)
	}
	j, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	y, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for name, out := range map[string]string{
		"Redacted": cfg.Redacted(), "json": string(j), "yaml": string(y),
		"%+v": fmt.Sprintf("%+v", cfg.Notify.Receivers), "%#v": fmt.Sprintf("%#v", *cfg.Notify.Receivers[0].Webhook),
	} {
		if strings.Contains(out, "hunter2") {
			t.Errorf("%s leaks a secret:\n%s", name, out)
		}
	}
	for _, bad := range []string{
		"notify: {receivers: [{name: hook, webhook: {url: [https://hooks.example.com/hunter2]}}]}",
		"notify: {receivers: [{name: hook, webhook: {url: \"https://hooks.example.com/hunter2\\x01\"}}]}",
		"notify: {receivers: [{name: hook, webhook: {url: \"hunter2 not a url\"}}]}",
		"notify: {receivers: [{name: hook, webhook: {url: https://h.example.com/hunter2, url: https://h.example.com/hunter2}}]}",
		"notify: {receivers: [{name: hook, webhook: {url: https://h.example.com/x, headers: {A: [hunter2]}}}]}",
		"notify: {receivers: [{name: hook, slack: {webhook_url: \"hunter2://x\"}}]}",
	} {
		_, err := Parse("vigil.yaml", []byte(bad))
		if err == nil {
			t.Errorf("%s parsed; want an error", bad)
			continue
		}
		if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("the error for %s leaks a secret:\n%v", bad, err)
		}
	}
}
