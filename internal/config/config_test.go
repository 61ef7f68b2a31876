package config

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestDefaultIsValid(t *testing.T) {
	if err := Default().Validate(); err != nil {
		t.Fatalf("Default() is invalid: %v", err)
	}
	cfg, err := Load("", WithEnviron(nil))
	if err != nil {
		t.Fatalf(`Load("") = %v`, err)
	}
	if diff := cmp.Diff(Default(), cfg); diff != "" {
		t.Errorf(`Load("") differs from Default() (-want +got):\n%s`, diff)
	}
}

// TestParseValues checks how each kind of value is read from YAML. Each
// case starts from Default() and changes what the snippet sets.
func TestParseValues(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want func(c *Config)
	}{
		{"empty file", "", func(*Config) {}},
		{"empty section", "server:\n", func(*Config) {}},
		{"size in bytes", "server: {max_body_bytes: 1048576}", func(c *Config) { c.Server.MaxBodyBytes = 1 << 20 }},
		{"size with suffix", "server: {max_body_bytes: 512KiB}", func(c *Config) { c.Server.MaxBodyBytes = 512 << 10 }},
		{"size with space and lower case", "bus: {max_bytes: 3 gib}", func(c *Config) { c.Bus.MaxBytes = 3 << 30 }},
		{"size with underscores", "bus: {max_bytes: 1_000_000}", func(c *Config) { c.Bus.MaxBytes = 1_000_000 }},
		{"duration", "store: {retention: 1h30m}", func(c *Config) { c.Store.Retention = 90 * time.Minute }},
		{"zero duration as a number", "store: {retention: 0}", func(c *Config) { c.Store.Retention = 0 }},
		{"bool", "detect: {builtin: false}", func(c *Config) { c.Detect.Builtin = false }},
		{"bool upper case", "detect: {builtin: FALSE}", func(c *Config) { c.Detect.Builtin = false }},
		{"int hex", "detect: {workers: 0x10}", func(c *Config) { c.Detect.Workers = 16 }},
		{"int underscores", "detect: {batch: 1_000}", func(c *Config) { c.Detect.Batch = 1_000 }},
		{"number as string", "ingest: {pubsub: {issuer: 12345}}", func(c *Config) { c.Ingest.PubSub.Issuer = "12345" }},
		{"null string", "bus: {url: }", func(c *Config) { c.Bus.URL = "" }},
		{"null list", "detect: {rules: }", func(*Config) {}},
		{"list", "detect: {rules: [a.yml, b/]}", func(c *Config) { c.Detect.Rules = []string{"a.yml", "b/"} }},
		{"placeholders", "detect: {placeholders: {admins: [a, b], empty: []}}", func(c *Config) {
			c.Detect.Placeholders = map[string][]string{"admins": {"a", "b"}, "empty": {}}
		}},
		{"alias", "log: {level: &l debug}\nalerts: {dedup_window: 5m}\ningest: {pubsub: {issuer: *l}}", func(c *Config) {
			c.Log.Level, c.Alerts.DedupWindow, c.Ingest.PubSub.Issuer = "debug", 5*time.Minute, "debug"
		}},
		{"merge key: own keys win", "bus: {<<: {max_bytes: 1GiB, duplicate_window: 1m}, duplicate_window: 2m}", func(c *Config) {
			c.Bus.MaxBytes, c.Bus.DuplicateWindow = 1<<30, 2*time.Minute
		}},
		{"merge key list: earlier wins", "bus: {<<: [{max_bytes: 1GiB}, {max_bytes: 2KiB, duplicate_window: 1m}]}", func(c *Config) {
			c.Bus.MaxBytes, c.Bus.DuplicateWindow = 1<<30, time.Minute
		}},
		{"listen on every interface", "server: {listen: ':0'}", func(c *Config) { c.Server.Listen = ":0" }},
		{"listen on IPv6", "server: {listen: '[::1]:8717'}", func(c *Config) { c.Server.Listen = "[::1]:8717" }},
		{"listen on a host name", "server: {listen: 'vigil.internal:8717'}", func(c *Config) { c.Server.Listen = "vigil.internal:8717" }},
		{"jwks on loopback http", "ingest: {pubsub: {jwks_url: 'http://127.0.0.1:9999/certs', audience: a, service_account_email: p@x.iam.gserviceaccount.com}}", func(c *Config) {
			c.Ingest.PubSub.JWKSURL, c.Ingest.PubSub.Audience = "http://127.0.0.1:9999/certs", "a"
			c.Ingest.PubSub.ServiceAccountEmail = "p@x.iam.gserviceaccount.com"
		}},
		{"bus URL with credentials", "bus: {url: 'nats://user:pw@nats:4222'}", func(c *Config) { c.Bus.URL = "nats://user:pw@nats:4222" }},
		{"inline secret", "ingest: {pubsub: {shared_token: 0123456789abcdef}}", func(c *Config) {
			c.Ingest.PubSub.SharedToken = "0123456789abcdef"
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse("vigil.yaml", []byte(tt.yaml))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			want := Default()
			tt.want(want)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseSize(t *testing.T) {
	tests := []struct {
		in      string
		want    Size
		wantErr string
	}{
		{"0", 0, ""},
		{"1234", 1234, ""},
		{"1234B", 1234, ""},
		{"1KiB", 1 << 10, ""},
		{"10MiB", 10 << 20, ""},
		{"10 MiB", 10 << 20, ""},
		{"2GiB", 2 << 30, ""},
		{"2gib", 2 << 30, ""},
		{"1TiB", 1 << 40, ""},
		{"", 0, "bad size"},
		{"MiB", 0, "bad size"},
		{"10MB", 0, "decimal units are ambiguous; use MiB"},
		{"1.5GiB", 0, "bad size"},
		{"-1", 0, "cannot be negative"},
		{"+1", 0, "bad size"},
		{"10PiB", 0, "bad size"},
		{"9223372036854775807", 1<<63 - 1, ""},
		{"9223372036854775808", 0, "too large"},
		{"8388608TiB", 0, "too large"},
		{"10\u212AiB", 0, "bad size"}, // the Kelvin sign folds to k
	}
	for _, tt := range tests {
		got, err := ParseSize(tt.in)
		switch {
		case tt.wantErr == "" && err != nil:
			t.Errorf("ParseSize(%q) = %v", tt.in, err)
		case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
			t.Errorf("ParseSize(%q) error = %v, want %q", tt.in, err, tt.wantErr)
		case got != tt.want:
			t.Errorf("ParseSize(%q) = %d, want %d", tt.in, got, tt.want)
		}
	}
}

func TestSizeString(t *testing.T) {
	for in, want := range map[Size]string{0: "0", 1: "1", 1023: "1023", 1024: "1KiB", 1536: "1536", 10 << 20: "10MiB", 3 << 30: "3GiB", 5 << 40: "5TiB", -1: "-1"} {
		if got := in.String(); got != want {
			t.Errorf("Size(%d).String() = %q, want %q", int64(in), got, want)
		}
	}
}

func TestFormatDuration(t *testing.T) {
	for in, want := range map[time.Duration]string{
		0: "0s", time.Second: "1s", 90 * time.Second: "1m30s", 10 * time.Minute: "10m", time.Hour: "1h",
		720 * time.Hour: "720h", time.Hour + 30*time.Minute: "1h30m", time.Hour + 5*time.Second: "1h0m5s", 1500 * time.Millisecond: "1.5s",
	} {
		if got := formatDuration(in); got != want {
			t.Errorf("formatDuration(%v) = %q, want %q", in, got, want)
		}
	}
}

func TestCheckListen(t *testing.T) {
	tests := []struct {
		in      string
		wantErr string
	}{
		{"127.0.0.1:8717", ""},
		{":8717", ""},
		{"[::1]:8717", ""},
		{"localhost:0", ""},
		{"vigil_1.internal:80", ""},
		{"127.0.0.1", "missing port in address"},
		{"", "missing port in address"},
		{"::1:8717", "too many colons"},
		{"127.0.0.1:http", `port "http"`},
		{"127.0.0.1:-1", `port "-1"`},
		{"127.0.0.1:65536", `port "65536"`},
		{"bad host:80", `host "bad host"`},
		{"-bad:80", `host "-bad"`},
	}
	for _, tt := range tests {
		err := checkListen(tt.in)
		if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
			t.Errorf("checkListen(%q) = %v, want %q", tt.in, err, tt.wantErr)
		}
	}
}

func TestCheckBusURL(t *testing.T) {
	tests := []struct {
		in      string
		wantErr string
	}{
		{"", ""},
		{"nats://nats:4222", ""},
		{"nats://a:4222, tls://b:4222,ws://c,wss://d", ""},
		{"nats://token@nats:4222", ""},
		{"nats.internal:4222", "the scheme must be one of"},
		{"nats://", "has no host"},
		{"nats://a:4222,,nats://b:4222", "empty URL"},
		{"nats://user:pass word@nats:4222", `"nats://<secret>@nats:4222" is not a URL`},
	}
	for _, tt := range tests {
		err := checkBusURL(tt.in)
		if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
			t.Errorf("checkBusURL(%q) = %v, want %q", tt.in, err, tt.wantErr)
		}
		if err != nil && (strings.Contains(err.Error(), "pass") || strings.Contains(err.Error(), "token")) {
			t.Errorf("checkBusURL(%q) leaks credentials: %v", tt.in, err)
		}
	}
}

func TestMaskURLs(t *testing.T) {
	for in, want := range map[string]string{
		"":                                     "",
		"nats://nats:4222":                     "nats://nats:4222",
		"nats://u:p@nats:4222":                 "nats://<secret>@nats:4222",
		"nats://tok@a:1,nats://b:2":            "nats://<secret>@a:1,nats://b:2",
		"u:p@host":                             "<secret>@host",
		"nats://a:1/path@not-userinfo":         "nats://a:1/path@not-userinfo",
		"nats://weird@user:p@ss@nats:4222/x?y": "nats://<secret>@nats:4222/x?y",
	} {
		if got := maskURLs(in); got != want {
			t.Errorf("maskURLs(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestErrorFormat(t *testing.T) {
	tests := []struct {
		err  *Error
		want string
	}{
		{&Error{File: "vigil.yaml", Line: 12, Col: 3, Key: "server.listen", Msg: "bad"}, "vigil.yaml:12:3: server.listen: bad"},
		{&Error{File: "vigil.yaml", Line: 4, Msg: "invalid YAML: x"}, "vigil.yaml:4: invalid YAML: x"},
		{&Error{File: "vigil.yaml", Msg: "too large"}, "vigil.yaml: too large"},
		{&Error{Env: "VIGIL_LOG_LEVEL", Key: "log.level", Msg: "bad"}, "VIGIL_LOG_LEVEL: bad"},
		{&Error{Key: "server.data", Msg: "empty"}, "server.data: empty"},
	}
	for _, tt := range tests {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("Error() = %q, want %q", got, tt.want)
		}
	}
	errs := Errors{tests[0].err, tests[3].err}
	if got, want := errs.Error(), "vigil.yaml:12:3: server.listen: bad\nVIGIL_LOG_LEVEL: bad"; got != want {
		t.Errorf("Errors.Error() = %q, want %q", got, want)
	}
	var one *Error
	if !errors.As(error(errs), &one) || one != tests[0].err {
		t.Errorf("errors.As(Errors) did not find the first problem")
	}
}

func TestTooManyProblems(t *testing.T) {
	var b strings.Builder
	b.WriteString("server:\n")
	for i := range 200 {
		b.WriteString("  unknown_" + strings.Repeat("x", i%7) + string(rune('a'+i%26)) + string(rune('a'+i/26)) + ": 1\n")
	}
	_, err := Parse("vigil.yaml", []byte(b.String()))
	var errs Errors
	if !errors.As(err, &errs) {
		t.Fatalf("Parse = %v, want Errors", err)
	}
	if len(errs) != maxProblems+1 || !strings.Contains(errs[maxProblems].Error(), "150 more problems not shown") {
		t.Errorf("got %d problems, last %v; want %d and a count of the rest", len(errs), errs[len(errs)-1], maxProblems+1)
	}
}

func TestTooManyNodes(t *testing.T) {
	var b strings.Builder
	b.WriteString("detect:\n  placeholders:\n    a: [")
	for range MaxNodes {
		b.WriteString("x,")
	}
	b.WriteString("x]\n")
	_, err := Parse("vigil.yaml", []byte(b.String()))
	if want := "vigil.yaml:3:8: the YAML has more than 50000 nodes"; err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("Parse = %v, want %q", err, want)
	}
}

func TestValidateNamesKeys(t *testing.T) {
	cfg := Default()
	cfg.Server.Data = ""
	cfg.Detect.Workers = -1
	err := cfg.Validate()
	want := "server.data: the data directory must not be empty\ndetect.workers: must be from 0 (one per CPU) to 1024, got -1"
	if err == nil || err.Error() != want {
		t.Errorf("Validate() = %v, want\n%s", err, want)
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "vigil.yaml")
	if err := os.WriteFile(path, []byte("log:\n  level: debug\nserver:\n  listen: 127.0.0.1:1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load(path, WithEnviron([]string{"VIGIL_SERVER_LISTEN=127.0.0.1:2", "PATH=/bin"}))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if cfg.Log.Level != "debug" || cfg.Server.Listen != "127.0.0.1:2" {
		t.Errorf("got level %q listen %q; want the file's level and the environment's listen", cfg.Log.Level, cfg.Server.Listen)
	}

	_, err = Load(filepath.Join(dir, "missing.yaml"), WithEnviron(nil))
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Load(missing) = %v, want fs.ErrNotExist", err)
	}

	big := filepath.Join(dir, "big.yaml")
	if err := os.WriteFile(big, pad(nil, MaxFileSize+1), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = Load(big, WithEnviron(nil))
	if err == nil || !strings.Contains(err.Error(), big+": the file is larger than 1048576 bytes") {
		t.Errorf("Load(big) = %v", err)
	}
	if err := os.WriteFile(big, pad(nil, MaxFileSize), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(big, WithEnviron(nil)); err != nil {
		t.Errorf("Load of a file of exactly MaxFileSize bytes = %v", err)
	}
}

// TestLoadReportsFileAndEnvTogether checks that one Load reports the file's
// problems and the environment's, each placed where it came from.
func TestLoadReportsFileAndEnvTogether(t *testing.T) {
	path := filepath.Join(t.TempDir(), "vigil.yaml")
	if err := os.WriteFile(path, []byte("log:\n  level: loud\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Load(path, WithEnviron([]string{"VIGIL_DETECT_WORKERS=-3", "VIGIL_STORE_RETENTION=forever"}))
	want := path + `:2:10: log.level: unknown value "loud"; valid values: debug, info, warn, error` + "\n" +
		`VIGIL_STORE_RETENTION: bad duration "forever": want a number with a unit (ns, us, ms, s, m, h), e.g. "90s", "10m", "720h"` + "\n" +
		"VIGIL_DETECT_WORKERS: must be from 0 (one per CPU) to 1024, got -3"
	if err == nil || err.Error() != want {
		t.Errorf("Load =\n%v\nwant\n%s", err, want)
	}
}

func TestSlogLevel(t *testing.T) {
	for _, lv := range logLevels {
		if got := (Log{Level: lv}).SlogLevel().String(); !strings.EqualFold(got, lv) {
			t.Errorf("SlogLevel(%q) = %s", lv, got)
		}
	}
}
