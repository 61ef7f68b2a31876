// Package api serves Vigil's HTTP API: ingest endpoints for the cloud
// delivery services (generic, Amazon Data Firehose, Google Pub/Sub push,
// Azure Event Grid), and the JSON API over alerts, events, silences, rules,
// tokens, notifications and stats that the CLI and the UI use. Every route
// is in one table with the (resource, verb) a token's role must allow;
// errors are mapped to statuses in one place.
package api

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/vigil-sec/vigil/internal/alert"
	"github.com/vigil-sec/vigil/internal/decode"
	"github.com/vigil-sec/vigil/internal/notify"
	"github.com/vigil-sec/vigil/internal/store"
)

// Backend is what the API serves. The server wiring implements it over the
// bus, the store and the detection engine.
//
// Errors: store.ErrNotFound, store.ErrConflict, store.ErrBadCursor, ErrBusy,
// ErrInvalid, ErrUnknownReceiver, ErrReceiverFailed and source.ErrNotFormat
// (wrapped or not) map to their statuses. The text of an error wrapping
// ErrInvalid, store.ErrConflict, ErrUnknownReceiver, ErrReceiverFailed or
// source.ErrNotFormat is shown to the client, so it must hold no secret;
// any other error is logged and the client sees a generic message.
type Backend interface {
	// Authenticate returns the token's metadata; store.ErrNotFound for an
	// unknown, revoked or expired token.
	Authenticate(ctx context.Context, plaintext string) (store.Token, error)
	// Ingest decodes and durably queues a request body. body is already
	// size-limited and gunzipped. It returns an error wrapping ErrBusy when
	// the bus is full or unavailable, and one wrapping source.ErrNotFormat
	// when the body is not the format at all (nothing is stored then).
	Ingest(ctx context.Context, kind string, body []byte) (IngestResult, error)
	// ListAlerts returns a page of alerts and the cursor of the next page,
	// "" at the end.
	ListAlerts(ctx context.Context, f store.AlertFilter) ([]*alert.Alert, string, error)
	GetAlert(ctx context.Context, id string) (*alert.Alert, error)
	SetAlertStatus(ctx context.Context, id string, st alert.Status, by string) (*alert.Alert, error)
	SearchEvents(ctx context.Context, q store.EventQuery) ([]store.StoredEvent, string, error)
	ListSilences(ctx context.Context, includeExpired bool) ([]*alert.Silence, error)
	// CreateSilence stores a validated silence with an empty ID and returns
	// it with its ID.
	CreateSilence(ctx context.Context, s *alert.Silence) (*alert.Silence, error)
	GetSilence(ctx context.Context, id string) (*alert.Silence, error)
	ExpireSilence(ctx context.Context, id, by string) (*alert.Silence, error)
	Rules(ctx context.Context) RulesStatus
	ReloadRules(ctx context.Context) (RulesStatus, error)
	// CreateToken makes a token; the role is already checked with
	// authz.ValidRole. ttl 0 means the token does not expire.
	CreateToken(ctx context.Context, name, role, by string, ttl time.Duration) (plaintext string, t store.Token, err error)
	ListTokens(ctx context.Context) ([]store.Token, error)
	RevokeToken(ctx context.Context, id, by string) error
	Stats(ctx context.Context) (store.Stats, error)
	// ListNotifications returns a page of the notification outbox, newest
	// first, and the cursor of the next page ("" at the end).
	ListNotifications(ctx context.Context, f notify.ListFilter) ([]*notify.Entry, string, error)
	GetNotification(ctx context.Context, id string) (*notify.Entry, error)
	// RetryNotification re-drives a failed notification: it becomes
	// pending, due now. store.ErrConflict when it is not failed, or when
	// its group has delivered a newer one since.
	RetryNotification(ctx context.Context, id string) (*notify.Entry, error)
	// TestReceiver sends a test notification to the named receiver at
	// once. Its error wraps ErrUnknownReceiver when there is no such
	// receiver, and ErrReceiverFailed when the receiver refused the
	// message or could not be reached.
	TestReceiver(ctx context.Context, name string) error
	// Ready returns nil when the bus, the store and detection are up.
	Ready(ctx context.Context) error
}

// ErrBusy is wrapped by Backend.Ingest's error when the bus is full or
// unavailable. The client is told to retry (503 and Retry-After).
var ErrBusy = errors.New("busy")

// ErrInvalid is wrapped by a Backend error that is the client's fault, such
// as a value the store rejects. Its text is shown to the client (400).
var ErrInvalid = errors.New("invalid request")

// IngestResult says what happened to an ingest request's records.
type IngestResult struct {
	Accepted   int         `json:"accepted"`
	Duplicates int         `json:"duplicates"`
	Rejected   []Rejection `json:"rejected"`
}

// Rejection is a record that could not be decoded.
type Rejection struct {
	Index int    `json:"index"`
	Error string `json:"error"`
}

// RulesStatus lists the loaded, inactive and failed rules.
type RulesStatus struct {
	Loaded       []RuleInfo    `json:"loaded"`
	Inactive     []RuleInfo    `json:"inactive"`
	Failed       []RuleFailure `json:"failed"`
	Correlations int           `json:"correlations"`
}

// RuleInfo describes one rule. Reason says why an inactive rule is
// inactive.
type RuleInfo struct {
	ID     string   `json:"id"`
	Title  string   `json:"title"`
	Level  string   `json:"level"`
	File   string   `json:"file"`
	Tags   []string `json:"tags"`
	Reason string   `json:"reason,omitempty"`
}

// RuleFailure is a rule file that did not load.
type RuleFailure struct {
	File  string `json:"file"`
	Error string `json:"error"`
}

// Options configure the handler.
type Options struct {
	// MaxBodyBytes bounds an ingest request body, before and after gunzip.
	// 0 means DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// MaxInflightBytes bounds the memory ingest requests in progress may
	// reserve together (four times their body size each); over it ingest
	// answers 503 with Retry-After. 0 means DefaultMaxInflightBytes.
	MaxInflightBytes int64
	// Metrics serves GET /metrics; nil answers 404.
	Metrics http.Handler
	// Logger receives errors and request logs; nil discards them.
	Logger *slog.Logger
	// PubSub configures Google Pub/Sub push authentication.
	PubSub PubSubAuth
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// PubSubAuth configures OIDC authentication of Pub/Sub push requests. When
// JWKSURL is set, /api/v1/ingest/pubsub requires a Google-signed RS256 JWT
// in Authorization: Bearer instead of a Vigil token.
type PubSubAuth struct {
	JWKSURL  string // e.g. https://www.googleapis.com/oauth2/v3/certs
	Audience string // the push subscription's audience; required with JWKSURL
	Issuer   string // default https://accounts.google.com
	// ServiceAccountEmail, when set, must be the token's verified email.
	ServiceAccountEmail string
	// SharedToken, when set and JWKSURL is not, is also accepted as the
	// push endpoint's ?token= (a secret in the subscription's URL).
	SharedToken string
	HTTPClient  *http.Client // fetches the JWKS; nil means a client with a 10s timeout
}

// Bounds.
const (
	// DefaultMaxBodyBytes bounds an ingest body when Options do not.
	DefaultMaxBodyBytes = 10 << 20
	// DefaultMaxInflightBytes bounds the memory of ingest requests in
	// progress when Options do not.
	DefaultMaxInflightBytes = 64 << 20
	// MaxJSONBody bounds the JSON body of a non-ingest request.
	MaxJSONBody = 1 << 20
	// MaxJSONDepth bounds the nesting of a non-ingest JSON body.
	MaxJSONDepth = 16
)

// server holds what the handlers share.
type server struct {
	b       Backend
	log     *slog.Logger
	now     func() time.Time
	maxBody int64
	metrics http.Handler
	kinds   []string
	pubsub  *jwtVerifier // nil: Pub/Sub push takes Vigil tokens
	// pubsubShared is a secret also accepted as Pub/Sub push's ?token=.
	pubsubShared string

	maxInflight int64        // memory ingest requests may reserve together
	inflight    atomic.Int64 // memory they have reserved
}

// New returns the API handler.
func New(b Backend, opts Options) http.Handler {
	s := &server{
		b:       b,
		log:     opts.Logger,
		now:     opts.Now,
		maxBody: opts.MaxBodyBytes,
		metrics: opts.Metrics,
		kinds:   decode.Builtin().Kinds(),

		pubsubShared: opts.PubSub.SharedToken,
		maxInflight:  opts.MaxInflightBytes,
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.log = s.log.With("component", "api")
	if s.now == nil {
		s.now = time.Now
	}
	if s.maxBody <= 0 {
		s.maxBody = DefaultMaxBodyBytes
	}
	if s.maxInflight <= 0 {
		s.maxInflight = DefaultMaxInflightBytes
	}
	if opts.PubSub.JWKSURL != "" {
		s.pubsub = newJWTVerifier(opts.PubSub, s.now, s.log)
	}
	return s.routes()
}
