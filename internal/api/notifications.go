package api

import (
	"errors"
	"net/http"
	"strings"
	"time"
	"unicode"

	"github.com/vigil-sec/vigil/internal/notify"
	"github.com/vigil-sec/vigil/internal/store"
)

// ErrUnknownReceiver is wrapped by Backend.TestReceiver's error when no
// receiver has the name. Its text is shown to the client (404), so it may
// name the configured receivers but nothing of their configuration.
var ErrUnknownReceiver = errors.New("unknown receiver")

// ErrReceiverFailed is wrapped by Backend.TestReceiver's error when the
// receiver did not accept the test message. Its text is shown to the
// client (502), so it must hold no secret (notify.SendError's does not).
var ErrReceiverFailed = errors.New("the receiver did not accept the message")

// NotificationSummary is a notification in the outbox as lists show it:
// its delivery state and what it says, without its alerts.
type NotificationSummary struct {
	ID        string                `json:"id"`
	Receiver  string                `json:"receiver"`
	GroupKey  string                `json:"group_key"`
	Status    notify.DeliveryStatus `json:"status"`
	Attempts  int                   `json:"attempts"`
	LastError string                `json:"last_error,omitempty"`
	CreatedAt time.Time             `json:"created_at"`
	UpdatedAt time.Time             `json:"updated_at"`
	// NextAttempt is when a pending notification is tried next.
	NextAttempt *time.Time `json:"next_attempt,omitempty"`
	SentAt      *time.Time `json:"sent_at,omitempty"`
	// GroupStatus is what the notification says of its group: firing,
	// acknowledged or resolved.
	GroupStatus notify.Status     `json:"group_status"`
	Severity    string            `json:"severity"`
	GroupLabels map[string]string `json:"group_labels"`
	AlertCount  int               `json:"alert_count"`
}

// Summarize returns the list form of an outbox entry.
func Summarize(e *notify.Entry) NotificationSummary {
	s := NotificationSummary{
		ID: e.ID, Receiver: e.Receiver, GroupKey: e.GroupKey, Status: e.Status, Attempts: e.Attempts,
		LastError: e.LastError, CreatedAt: e.CreatedAt, UpdatedAt: e.UpdatedAt, NextAttempt: e.NextAttempt,
		SentAt: e.SentAt, GroupLabels: map[string]string{},
	}
	if s.Status != notify.Pending {
		s.NextAttempt = nil
	}
	if n := e.Notification; n != nil {
		s.GroupStatus, s.Severity, s.AlertCount = n.Status, n.Severity, len(n.Alerts)
		if n.GroupLabels != nil {
			s.GroupLabels = n.GroupLabels
		}
	}
	return s
}

// NotificationList is the response of GET /api/v1/notifications.
type NotificationList struct {
	Notifications []NotificationSummary `json:"notifications"`
	NextCursor    string                `json:"next_cursor"`
}

// TestRequest is the body of POST /api/v1/notifications/test.
type TestRequest struct {
	Receiver string `json:"receiver"`
}

// TestResult is the response of a test message the receiver accepted.
type TestResult struct {
	Receiver string `json:"receiver"`
	Sent     bool   `json:"sent"`
}

// maxReceiverName bounds a receiver name in a request.
const maxReceiverName = 128

func (s *server) listNotifications(c *call) error {
	p, err := parseParams(c.r, "status", "receiver", "limit", "cursor")
	if err != nil {
		return err
	}
	var f notify.ListFilter
	st, err := p.str("status")
	if err != nil {
		return err
	}
	if f.Status = notify.DeliveryStatus(st); st != "" && !f.Status.Valid() {
		return invalidf("status %q: use pending, failed or sent", truncate(st, 32))
	}
	if f.Receiver, err = p.str("receiver"); err != nil {
		return err
	}
	if f.Limit, f.Cursor, err = p.page(); err != nil {
		return err
	}
	entries, next, err := s.b.ListNotifications(c.ctx(), f)
	if err != nil {
		return err
	}
	out := NotificationList{Notifications: make([]NotificationSummary, 0, len(entries)), NextCursor: next}
	for _, e := range entries {
		out.Notifications = append(out.Notifications, Summarize(e))
	}
	writeJSON(c.w, http.StatusOK, out)
	return nil
}

func (s *server) getNotification(c *call) error {
	id := c.r.PathValue("id")
	e, err := s.b.GetNotification(c.ctx(), id)
	if err != nil {
		return about(err, "notification %q", truncate(id, 64))
	}
	writeJSON(c.w, http.StatusOK, e)
	return nil
}

func (s *server) retryNotification(c *call) error {
	id := c.r.PathValue("id")
	e, err := s.b.RetryNotification(c.ctx(), id)
	if errors.Is(err, store.ErrNotFound) {
		return about(err, "notification %q", truncate(id, 64))
	}
	if err != nil {
		return err // a conflict's text names the notification and says why
	}
	s.log.Info("notification re-driven", "request_id", c.id, "notification", e.ID, "receiver", e.Receiver, "by", c.who.name)
	writeJSON(c.w, http.StatusOK, e)
	return nil
}

func (s *server) testNotification(c *call) error {
	var req TestRequest
	if err := decodeJSON(c, &req); err != nil {
		return err
	}
	name := strings.TrimSpace(req.Receiver)
	switch {
	case name == "":
		return invalidf("name the receiver to test: {\"receiver\": \"<name>\"}")
	case len(name) > maxReceiverName:
		return invalidf("receiver name longer than %d bytes", maxReceiverName)
	case strings.ContainsFunc(name, func(r rune) bool { return !unicode.IsPrint(r) }):
		return invalidf("receiver name holds control characters")
	}
	err := s.b.TestReceiver(c.ctx(), name)
	s.log.Info("test notification", "request_id", c.id, "receiver", name, "by", c.who.name, "sent", err == nil)
	if err != nil {
		return err
	}
	writeJSON(c.w, http.StatusOK, TestResult{Receiver: name, Sent: true})
	return nil
}
