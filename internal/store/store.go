// Package store persists Vigil's state: events for search, alerts,
// silences and API tokens, in SQLite on disk (WAL mode, migrations embedded
// and applied at start-up). The types here are what the API and the
// pipeline exchange with it.
package store

import (
	"encoding/json"
	"errors"
	"time"

	"github.com/vigil-sec/vigil/internal/alert"
)

// Errors callers map to statuses.
var (
	ErrNotFound = errors.New("not found")
	ErrConflict = errors.New("conflict")
	// ErrBadCursor means a pagination cursor was not one this store issued.
	ErrBadCursor = errors.New("invalid cursor")
)

// MaxLimit bounds one page of a list.
const MaxLimit = 1000

// DefaultLimit is the page size when none is given.
const DefaultLimit = 100

// AlertFilter selects alerts. Zero fields do not filter. Results are newest
// last_seen first.
type AlertFilter struct {
	Status    []alert.Status
	Severity  []string
	RuleID    string
	Principal string
	Account   string
	Function  string
	Since     time.Time // last_seen at or after
	Until     time.Time // last_seen before
	Limit     int
	Cursor    string
}

// EventQuery selects stored events. Zero fields do not filter. Results are
// newest first.
type EventQuery struct {
	ID        string // one event, e.g. one an alert refers to
	Principal string
	SourceIP  string
	Action    string
	Function  string
	Account   string
	Source    string
	Since     time.Time // time at or after
	Until     time.Time // time before
	Limit     int
	Cursor    string
}

// StoredEvent is an event as stored: its ID, time and the JSON envelope
// with the native record under "raw".
type StoredEvent struct {
	ID   string          `json:"id"`
	Time time.Time       `json:"time"`
	JSON json.RawMessage `json:"event"`
}

// Token is an API token's metadata. Only the token's hash is stored; the
// token itself is shown once, when it is created.
type Token struct {
	ID        string     `json:"id"`
	Name      string     `json:"name"`
	Role      string     `json:"role"`
	CreatedBy string     `json:"created_by"`
	CreatedAt time.Time  `json:"created_at"`
	LastUsed  *time.Time `json:"last_used,omitempty"`
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
	Revoked   bool       `json:"revoked"`
}

// Stats are counts for the stats endpoint.
type Stats struct {
	Events         int64            `json:"events"`
	OldestEvent    *time.Time       `json:"oldest_event,omitempty"`
	NewestEvent    *time.Time       `json:"newest_event,omitempty"`
	Alerts         map[string]int64 `json:"alerts_by_status"`
	AlertsBySev    map[string]int64 `json:"alerts_by_severity"`
	ActiveSilences int64            `json:"active_silences"`
}
