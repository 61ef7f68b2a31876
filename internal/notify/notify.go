// Package notify routes alerts to receivers — Slack, Microsoft Teams,
// PagerDuty, Opsgenie, signed webhooks, e-mail and the log — with
// Alertmanager's semantics: a routing tree of matchers, grouping, group
// timers, repeat intervals, mute time intervals and silences. Every
// notification is written to a durable outbox before it is sent and is
// retried with backoff until it is delivered or dead-lettered.
//
// Receivers live one per subpackage and implement Receiver.
package notify

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/vigil-sec/vigil/internal/alert"
)

// Status is what a notification says about its group of alerts.
type Status string

// Statuses. A group is firing while any of its alerts is open; it is
// acknowledged when all are acknowledged or resolved and at least one is
// acknowledged; it is resolved when all are resolved.
const (
	Firing       Status = "firing"
	Acknowledged Status = "acknowledged"
	Resolved     Status = "resolved"
)

// Notification is one message to one receiver about one group of alerts.
// It is what templates see; its fields are documented in
// docs/notifications.md.
type Notification struct {
	// ID identifies the notification in the outbox; retries keep it.
	ID string `json:"id"`
	// Receiver is the configured receiver's name.
	Receiver string `json:"receiver"`
	// GroupKey identifies the group (route and group labels) and is
	// stable for the group's life: receivers use it as their idempotency
	// or dedup key (PagerDuty dedup_key, Opsgenie alias, Slack thread).
	GroupKey string `json:"group_key"`
	// GroupLabels are the values of the route's group_by labels.
	GroupLabels map[string]string `json:"group_labels"`
	Status      Status            `json:"status"`
	// Severity is the highest severity among the alerts.
	Severity string        `json:"severity"`
	Alerts   []alert.Alert `json:"alerts"`
	// URL links to the alerts in Vigil ("" when no external URL is
	// configured).
	URL string `json:"url,omitempty"`
	// Test marks a message sent by `vigil notify test`.
	Test bool      `json:"test,omitempty"`
	Time time.Time `json:"time"`
	// Prior is what the receiver returned when it delivered the previous
	// notification of this group ("" if none), e.g. Slack's channel and
	// message ts, so that an acknowledgement updates the same message.
	Prior string `json:"-"`
}

// Receiver delivers notifications to one configured destination.
type Receiver interface {
	// Send delivers n. ref is kept with the group and passed back as
	// n.Prior on the group's next notification ("" when the receiver
	// has nothing to remember). A failed send returns an error; an
	// *Error says whether and when to retry.
	Send(ctx context.Context, n *Notification) (ref string, err error)
}

// ReceiverFunc adapts a function to Receiver.
type ReceiverFunc func(ctx context.Context, n *Notification) (string, error)

// Send calls f.
func (f ReceiverFunc) Send(ctx context.Context, n *Notification) (string, error) { return f(ctx, n) }

// Error is a failed delivery. Errors that are not *Error are retried.
type Error struct {
	// Status is the receiver's HTTP status or SMTP reply code, 0 when none.
	Status int
	// Permanent errors are not retried: the request itself is wrong
	// (e.g. 400, 401, 403, 404) and sending it again cannot succeed.
	Permanent bool
	// RetryAfter is the receiver's requested delay (HTTP Retry-After), 0
	// when it gave none.
	RetryAfter time.Duration
	// Err says what went wrong. It never contains a secret: no URL with
	// a token, no key, no password.
	Err error
}

func (e *Error) Error() string {
	if e.Status != 0 {
		return fmt.Sprintf("status %d: %v", e.Status, e.Err)
	}
	return e.Err.Error()
}

func (e *Error) Unwrap() error { return e.Err }

// IsPermanent reports whether err says retrying cannot succeed.
func IsPermanent(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Permanent
}

// RetryAfter returns the delay err asks for, or 0.
func RetryAfter(err error) time.Duration {
	var e *Error
	if errors.As(err, &e) {
		return e.RetryAfter
	}
	return 0
}
