// Package config loads Vigil's configuration for `vigil serve`: a strictly
// decoded YAML file (vigil.yaml), defaults for every key so that no file is
// needed, VIGIL_* environment overrides, secrets that never print, and
// validation that reports every problem at once with file:line:col.
//
// The keys are described once, in schema.go; decoding, environment
// overrides, printing (Redacted) and the reference (docs/configuration.md) all follow
// that table.
package config

import (
	"log/slog"
	"time"
)

// Config is the whole configuration of `vigil serve`.
type Config struct {
	Server Server
	Log    Log
	Bus    Bus
	Store  Store
	Detect Detect
	Alerts Alerts
	Ingest Ingest
	Notify Notify
}

// Server is the HTTP server and the data directory.
type Server struct {
	Listen           string        // host:port
	Data             string        // data directory
	ShutdownTimeout  time.Duration // how long shutdown waits for requests in flight
	MaxBodyBytes     Size          // ingest request body limit, also after gunzip
	MaxInflightBytes Size          // request bodies being processed at once; above it ingest answers 503
}

// Log is the server's own logging.
type Log struct {
	Level  string // debug, info, warn or error
	Format string // text or json
}

// Bus is the durable event stream.
type Bus struct {
	URL             string // NATS URL(s); "" runs embedded JetStream in <data>/bus
	MaxBytes        Size
	DuplicateWindow time.Duration
}

// Store is the event store.
type Store struct {
	Retention time.Duration // events older are deleted; 0 keeps them forever
}

// Detect is the detection engine.
type Detect struct {
	Builtin      bool                // load the built-in rule pack
	Rules        []string            // extra rule files and directories
	Placeholders map[string][]string // values for the Sigma expand modifier
	FieldMapping string              // a YAML file of extra rule field names per source
	Workers      int                 // 0 = one per CPU
	Batch        int
	// CorrelationLateness is how far behind the latest event time an
	// event may arrive and still count in correlations.
	CorrelationLateness time.Duration
	// Baselines turns on the baseline rules (rate spikes and first-seen
	// behaviour): the built-in ones when Builtin is set, and BaselineRules.
	Baselines     bool
	BaselineRules []string // extra baseline rule files and directories
	// GeoIPDatabase is a MaxMind-format database that gives baselines the
	// asn and country of source IP addresses; empty leaves the rules that
	// need them inactive.
	GeoIPDatabase string
	// BaselineLateness is how far behind the newest event time an event
	// may arrive and still count in baseline buckets.
	BaselineLateness time.Duration
}

// Alerts is alert handling.
type Alerts struct {
	DedupWindow time.Duration
}

// Ingest is per-source ingest settings.
type Ingest struct {
	PubSub PubSub
}

// PubSub authenticates Google Pub/Sub push requests.
type PubSub struct {
	JWKSURL             string // when set, push requests must carry a valid Google OIDC JWT
	Audience            string
	Issuer              string
	ServiceAccountEmail string // optional: the expected email claim
	SharedToken         Secret // optional: a token push URLs must carry as ?token=
}

// Default returns the configuration used when no file and no environment
// variable says otherwise.
func Default() *Config {
	return &Config{
		Server: Server{
			Listen:           "127.0.0.1:8717",
			Data:             "./vigil-data",
			ShutdownTimeout:  30 * time.Second,
			MaxBodyBytes:     10 << 20,
			MaxInflightBytes: 64 << 20,
		},
		Log: Log{Level: "info", Format: "text"},
		Bus: Bus{
			MaxBytes:        2 << 30,
			DuplicateWindow: 10 * time.Minute,
		},
		Store: Store{Retention: 720 * time.Hour},
		Detect: Detect{
			Builtin:      true,
			Rules:        []string{},
			Placeholders: map[string][]string{},
			Batch:        4,

			CorrelationLateness: 15 * time.Minute,
			Baselines:           true,
			BaselineRules:       []string{},
			BaselineLateness:    5 * time.Minute,
		},
		Alerts: Alerts{DedupWindow: time.Hour},
		Ingest: Ingest{PubSub: PubSub{Issuer: "https://accounts.google.com"}},
		Notify: defaultNotify(),
	}
}

// SlogLevel returns Level as a slog.Level; unknown levels (which Validate
// rejects) give slog.LevelInfo.
func (l Log) SlogLevel() slog.Level {
	switch l.Level {
	case "debug":
		return slog.LevelDebug
	case "warn":
		return slog.LevelWarn
	case "error":
		return slog.LevelError
	}
	return slog.LevelInfo
}
