package config

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestEnvOverrides sets variables and checks the keys they override.
func TestEnvOverrides(t *testing.T) {
	jwks := []string{"VIGIL_INGEST_PUBSUB_JWKS_URL=https://example.com/certs", "VIGIL_INGEST_PUBSUB_AUDIENCE=aud",
		"VIGIL_INGEST_PUBSUB_SERVICE_ACCOUNT_EMAIL=push@p.iam.gserviceaccount.com"}
	withJWKS := func(c *Config) {
		c.Ingest.PubSub.JWKSURL, c.Ingest.PubSub.Audience = "https://example.com/certs", "aud"
		c.Ingest.PubSub.ServiceAccountEmail = "push@p.iam.gserviceaccount.com"
	}
	tests := []struct {
		env  []string
		want func(c *Config)
	}{
		{[]string{"VIGIL_SERVER_LISTEN=0.0.0.0:9000"}, func(c *Config) { c.Server.Listen = "0.0.0.0:9000" }},
		{[]string{"VIGIL_SERVER_DATA=/var/lib/vigil"}, func(c *Config) { c.Server.Data = "/var/lib/vigil" }},
		{[]string{"VIGIL_SERVER_SHUTDOWN_TIMEOUT=5s"}, func(c *Config) { c.Server.ShutdownTimeout = 5 * time.Second }},
		{[]string{"VIGIL_SERVER_MAX_BODY_BYTES=1MiB"}, func(c *Config) { c.Server.MaxBodyBytes = 1 << 20 }},
		{[]string{"VIGIL_SERVER_MAX_INFLIGHT_BYTES=1073741824"}, func(c *Config) { c.Server.MaxInflightBytes = 1 << 30 }},
		{[]string{"VIGIL_LOG_LEVEL=debug"}, func(c *Config) { c.Log.Level = "debug" }},
		{[]string{"VIGIL_LOG_FORMAT=json"}, func(c *Config) { c.Log.Format = "json" }},
		{[]string{"VIGIL_BUS_URL=nats://a:4222,nats://b:4222"}, func(c *Config) { c.Bus.URL = "nats://a:4222,nats://b:4222" }},
		{[]string{"VIGIL_BUS_MAX_BYTES=1GiB"}, func(c *Config) { c.Bus.MaxBytes = 1 << 30 }},
		{[]string{"VIGIL_BUS_DUPLICATE_WINDOW=1m"}, func(c *Config) { c.Bus.DuplicateWindow = time.Minute }},
		{[]string{"VIGIL_STORE_RETENTION=0"}, func(c *Config) { c.Store.Retention = 0 }},
		{[]string{"VIGIL_DETECT_BUILTIN=false"}, func(c *Config) { c.Detect.Builtin = false }},
		{[]string{"VIGIL_DETECT_RULES= a.yml, ,b/ "}, func(c *Config) { c.Detect.Rules = []string{"a.yml", "b/"} }},
		{[]string{"VIGIL_DETECT_RULES="}, func(c *Config) { c.Detect.Rules = []string{} }},
		{[]string{"VIGIL_DETECT_WORKERS=8"}, func(c *Config) { c.Detect.Workers = 8 }},
		{[]string{"VIGIL_DETECT_FIELD_MAPPING=/etc/vigil/fields.yml"}, func(c *Config) { c.Detect.FieldMapping = "/etc/vigil/fields.yml" }},
		{[]string{"VIGIL_DETECT_BATCH=100"}, func(c *Config) { c.Detect.Batch = 100 }},
		{[]string{"VIGIL_DETECT_CORRELATION_LATENESS=1h"}, func(c *Config) { c.Detect.CorrelationLateness = time.Hour }},
		{[]string{"VIGIL_DETECT_BASELINES=false"}, func(c *Config) { c.Detect.Baselines = false }},
		{[]string{"VIGIL_DETECT_BASELINE_RULES=a.baseline,b/"}, func(c *Config) { c.Detect.BaselineRules = []string{"a.baseline", "b/"} }},
		{[]string{"VIGIL_DETECT_GEOIP_DATABASE=geo.mmdb"}, func(c *Config) { c.Detect.GeoIPDatabase = "geo.mmdb" }},
		{[]string{"VIGIL_DETECT_BASELINE_LATENESS=10m"}, func(c *Config) { c.Detect.BaselineLateness = 10 * time.Minute }},
		{[]string{"VIGIL_ALERTS_DEDUP_WINDOW=2h"}, func(c *Config) { c.Alerts.DedupWindow = 2 * time.Hour }},
		{jwks, withJWKS},
		{[]string{"VIGIL_INGEST_PUBSUB_ISSUER=accounts.google.com"}, func(c *Config) { c.Ingest.PubSub.Issuer = "accounts.google.com" }},
		{append(jwks[:2:2], "VIGIL_INGEST_PUBSUB_SERVICE_ACCOUNT_EMAIL=a@b.iam.gserviceaccount.com"), func(c *Config) {
			withJWKS(c)
			c.Ingest.PubSub.ServiceAccountEmail = "a@b.iam.gserviceaccount.com"
		}},
		{[]string{"VIGIL_INGEST_PUBSUB_SHARED_TOKEN=0123456789abcdef-env"}, func(c *Config) {
			c.Ingest.PubSub.SharedToken = "0123456789abcdef-env"
		}},
		{[]string{"VIGIL_INGEST_PUBSUB_SHARED_TOKEN_FILE=testdata/secrets/pubsub-token"}, func(c *Config) {
			c.Ingest.PubSub.SharedToken = "pubsub-push-token-0123456789abcdef"
		}},
		{[]string{"VIGIL_NOTIFY_ALLOW_PRIVATE_TARGETS=10.0.0.0/8, 127.0.0.1/32"}, func(c *Config) {
			c.Notify.AllowPrivateTargets = []string{"10.0.0.0/8", "127.0.0.1/32"}
		}},
		{[]string{"VIGIL_NOTIFY_EXTERNAL_URL=https://vigil.example.com"}, func(c *Config) { c.Notify.ExternalURL = "https://vigil.example.com" }},
		{[]string{"VIGIL_NOTIFY_DELIVERY_MAX_AGE=48h"}, func(c *Config) { c.Notify.Delivery.MaxAge = 48 * time.Hour }},
		{[]string{"VIGIL_NOTIFY_DELIVERY_BACKOFF_BASE=5s"}, func(c *Config) { c.Notify.Delivery.BackoffBase = 5 * time.Second }},
		{[]string{"VIGIL_NOTIFY_DELIVERY_BACKOFF_MAX=1h"}, func(c *Config) { c.Notify.Delivery.BackoffMax = time.Hour }},
		{[]string{"VIGIL_NOTIFY_DELIVERY_CONCURRENCY=16"}, func(c *Config) { c.Notify.Delivery.Concurrency = 16 }},
		{[]string{"VIGIL_NOTIFY_DELIVERY_RETENTION=0"}, func(c *Config) { c.Notify.Delivery.Retention = 0 }},
		{[]string{"VIGIL_URL=http://ignored", "VIGIL_TOKEN=ignored", "VIGIL=x", "NOT_VIGIL_LOG_LEVEL=bogus", "MALFORMED"}, func(*Config) {}},
	}
	covered := map[string]bool{}
	for _, tt := range tests {
		t.Run(strings.Join(tt.env, " "), func(t *testing.T) {
			for _, kv := range tt.env {
				name, _, _ := strings.Cut(kv, "=")
				covered[name] = true
			}
			got := Default()
			if err := LoadEnv(got, tt.env); err != nil {
				t.Fatalf("LoadEnv: %v", err)
			}
			want := Default()
			tt.want(want)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
	for name, ev := range envVars(Default().schema()) {
		if _, ok := ev.val.(envless); !covered[name] && !ok {
			t.Errorf("no test case sets %s", name)
		}
	}
}

// TestEnvErrors checks that bad variables are reported by name, all at once.
func TestEnvErrors(t *testing.T) {
	tests := []struct {
		env  []string
		want []string
	}{
		{[]string{"VIGIL_SERVER_LISTEN=127.0.0.1"}, []string{`VIGIL_SERVER_LISTEN: "127.0.0.1" is not host:port`}},
		{[]string{"VIGIL_LOG_LEVEL=INFO"}, []string{`VIGIL_LOG_LEVEL: unknown value "INFO" (did you mean "info"?)`}},
		{[]string{"VIGIL_DETECT_BUILTIN=yes"}, []string{`VIGIL_DETECT_BUILTIN: expected true or false, got "yes"`}},
		{[]string{"VIGIL_DETECT_WORKERS=four"}, []string{`VIGIL_DETECT_WORKERS: expected a whole number, got "four"`}},
		{[]string{"VIGIL_DETECT_WORKERS=-1"}, []string{`VIGIL_DETECT_WORKERS: must be from 0 (one per CPU) to 1024, got -1`}},
		{[]string{"VIGIL_STORE_RETENTION=30d"}, []string{`VIGIL_STORE_RETENTION: bad duration "30d"`}},
		{[]string{"VIGIL_STORE_RETENTION="}, []string{`VIGIL_STORE_RETENTION: bad duration ""`}},
		{[]string{"VIGIL_BUS_MAX_BYTES=2GB"}, []string{`VIGIL_BUS_MAX_BYTES: bad size "2GB": decimal units are ambiguous`}},
		{[]string{"VIGIL_SERVER_LISTN=:1"}, []string{`VIGIL_SERVER_LISTN: no such setting (did you mean VIGIL_SERVER_LISTEN?); the server variables are VIGIL_SERVER_DATA, VIGIL_SERVER_LISTEN,`}},
		{[]string{"VIGIL_INGEST_PUBSUB_AUDIENCE=x"}, []string{`VIGIL_INGEST_PUBSUB_AUDIENCE: has no effect while ingest.pubsub.jwks_url is empty`}},
		{[]string{"VIGIL_DETECT_PLACEHOLDERS=a=b"}, []string{`VIGIL_DETECT_PLACEHOLDERS: cannot be set from the environment; set it in the config file`}},
		{[]string{"VIGIL_NOTIFY_ROUTE=x"}, []string{`VIGIL_NOTIFY_ROUTE: cannot be set from the environment; set it in the config file`}},
		{[]string{"VIGIL_NOTIFY_RECEIVERS_0_NAME=x"}, []string{`VIGIL_NOTIFY_RECEIVERS_0_NAME: no such setting`}},
		{[]string{"VIGIL_NOTIFY_DELIVERY_CONCURRENCY=0"}, []string{`VIGIL_NOTIFY_DELIVERY_CONCURRENCY: must be from 1 to 64, got 0`}},
		{[]string{"VIGIL_NOTIFY_EXTERNAL_URL=ftp://x"}, []string{`VIGIL_NOTIFY_EXTERNAL_URL: "ftp://x" must be an http or https URL`}},
		{[]string{"VIGIL_INGEST_PUBSUB_SHARED_TOKEN_FILE=testdata/secrets/nope"}, []string{`VIGIL_INGEST_PUBSUB_SHARED_TOKEN_FILE: cannot read secret file "testdata/secrets/nope": no such file or directory`}},
		{
			[]string{"VIGIL_INGEST_PUBSUB_SHARED_TOKEN=0123456789abcdef-env", "VIGIL_INGEST_PUBSUB_SHARED_TOKEN_FILE=testdata/secrets/pubsub-token"},
			[]string{`VIGIL_INGEST_PUBSUB_SHARED_TOKEN_FILE: set VIGIL_INGEST_PUBSUB_SHARED_TOKEN or VIGIL_INGEST_PUBSUB_SHARED_TOKEN_FILE, not both`},
		},
		{
			[]string{"VIGIL_INGEST_PUBSUB_SHARED_TOKEN_FILE=testdata/secrets/short-token"},
			[]string{`VIGIL_INGEST_PUBSUB_SHARED_TOKEN_FILE: the secret in "testdata/secrets/short-token" is 7 characters long`},
		},
		{
			[]string{"VIGIL_SERVER_MAX_BODY_BYTES=1GiB"},
			[]string{`VIGIL_SERVER_MAX_BODY_BYTES: server.max_inflight_bytes (64MiB) is smaller than server.max_body_bytes (1GiB)`},
		},
		{
			[]string{"VIGIL_LOG_LEVEL=loud", "VIGIL_LOG_FORMAT=xml", "VIGIL_DETECT_BATCH=0"},
			[]string{"VIGIL_LOG_LEVEL: unknown value", "VIGIL_LOG_FORMAT: unknown value", "VIGIL_DETECT_BATCH: must be from 1"},
		},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.env, " "), func(t *testing.T) {
			err := LoadEnv(Default(), tt.env)
			if err == nil {
				t.Fatalf("LoadEnv succeeded; want %q", tt.want)
			}
			lines := strings.Split(err.Error(), "\n")
			if len(lines) != len(tt.want) {
				t.Fatalf("got %d problems, want %d:\n%v", len(lines), len(tt.want), err)
			}
			for i, w := range tt.want {
				if !strings.Contains(lines[i], w) {
					t.Errorf("problem %d:\n got: %s\nwant: …%s…", i+1, lines[i], w)
				}
			}
		})
	}
}

// TestEnvOverridesFile checks precedence (environment over file over
// default) and that a secret given one way in the file can be replaced the
// other way by the environment.
func TestEnvOverridesFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "vigil.yaml")
	file := "log: {level: warn, format: json}\nserver: {data: /from/file}\ningest: {pubsub: {shared_token_file: testdata/secrets/pubsub-token}}\n"
	if err := os.WriteFile(path, []byte(file), 0o600); err != nil {
		t.Fatal(err)
	}
	env := []string{
		"VIGIL_LOG_LEVEL=error",
		"VIGIL_INGEST_PUBSUB_SHARED_TOKEN=0123456789abcdef-env",
		"VIGIL_LOG_LEVEL=debug", // a later entry wins
	}
	cfg, err := Load(path, WithEnviron(env))
	if err != nil {
		t.Fatal(err)
	}
	want := Default()
	want.Log = Log{Level: "debug", Format: "json"}
	want.Server.Data = "/from/file"
	want.Ingest.PubSub.SharedToken = "0123456789abcdef-env"
	if diff := cmp.Diff(want, cfg); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// TestEnvNames checks the naming rule VIGIL_<SECTION>_<KEY> for every key.
func TestEnvNames(t *testing.T) {
	var got []string
	for name := range envVars(Default().schema()) {
		got = append(got, name)
	}
	slices.Sort(got)
	want := []string{
		"VIGIL_ALERTS_DEDUP_WINDOW",
		"VIGIL_BUS_DUPLICATE_WINDOW", "VIGIL_BUS_MAX_BYTES", "VIGIL_BUS_URL",
		"VIGIL_DETECT_BASELINES", "VIGIL_DETECT_BASELINE_LATENESS", "VIGIL_DETECT_BASELINE_RULES",
		"VIGIL_DETECT_BATCH", "VIGIL_DETECT_BUILTIN", "VIGIL_DETECT_CORRELATION_LATENESS", "VIGIL_DETECT_FIELD_MAPPING", "VIGIL_DETECT_GEOIP_DATABASE", "VIGIL_DETECT_PLACEHOLDERS", "VIGIL_DETECT_RULES", "VIGIL_DETECT_WORKERS",
		"VIGIL_INGEST_PUBSUB_AUDIENCE", "VIGIL_INGEST_PUBSUB_ISSUER", "VIGIL_INGEST_PUBSUB_JWKS_URL",
		"VIGIL_INGEST_PUBSUB_SERVICE_ACCOUNT_EMAIL", "VIGIL_INGEST_PUBSUB_SHARED_TOKEN", "VIGIL_INGEST_PUBSUB_SHARED_TOKEN_FILE",
		"VIGIL_LOG_FORMAT", "VIGIL_LOG_LEVEL",
		"VIGIL_NOTIFY_ALLOW_PRIVATE_TARGETS", "VIGIL_NOTIFY_DELIVERY_BACKOFF_BASE", "VIGIL_NOTIFY_DELIVERY_BACKOFF_MAX",
		"VIGIL_NOTIFY_DELIVERY_CONCURRENCY", "VIGIL_NOTIFY_DELIVERY_MAX_AGE", "VIGIL_NOTIFY_DELIVERY_RETENTION",
		"VIGIL_NOTIFY_EXTERNAL_URL", "VIGIL_NOTIFY_RECEIVERS", "VIGIL_NOTIFY_ROUTE", "VIGIL_NOTIFY_TIME_INTERVALS",
		"VIGIL_SERVER_DATA", "VIGIL_SERVER_LISTEN", "VIGIL_SERVER_MAX_BODY_BYTES", "VIGIL_SERVER_MAX_INFLIGHT_BYTES", "VIGIL_SERVER_SHUTDOWN_TIMEOUT",
		"VIGIL_STORE_RETENTION",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}
