package api

import (
	"net/http"
	"slices"
	"strings"

	"github.com/vigil-sec/vigil/internal/alert"
	"github.com/vigil-sec/vigil/internal/detect"
	"github.com/vigil-sec/vigil/internal/store"
)

// AlertList is the response of GET /api/v1/alerts.
type AlertList struct {
	Alerts     []*alert.Alert `json:"alerts"`
	NextCursor string         `json:"next_cursor"`
}

// EventList is the response of GET /api/v1/events.
type EventList struct {
	Events     []store.StoredEvent `json:"events"`
	NextCursor string              `json:"next_cursor"`
}

func (s *server) listAlerts(c *call) error {
	p, err := parseParams(c.r, "status", "severity", "rule", "principal", "account", "function", "since", "until", "limit", "cursor")
	if err != nil {
		return err
	}
	var f store.AlertFilter
	for _, st := range p.list("status") {
		if !alert.Status(st).Valid() {
			return invalidf("status %q: use open, acknowledged or resolved", truncate(st, 32))
		}
		f.Status = append(f.Status, alert.Status(st))
	}
	for _, sev := range p.list("severity") {
		if !slices.Contains(detect.Levels(), sev) {
			return invalidf("severity %q: use %s", truncate(sev, 32), strings.Join(detect.Levels(), ", "))
		}
		f.Severity = append(f.Severity, sev)
	}
	for name, dst := range map[string]*string{"rule": &f.RuleID, "principal": &f.Principal, "account": &f.Account, "function": &f.Function} {
		if *dst, err = p.str(name); err != nil {
			return err
		}
	}
	if f.Since, f.Until, err = p.timeRange(); err != nil {
		return err
	}
	if f.Limit, f.Cursor, err = p.page(); err != nil {
		return err
	}
	alerts, next, err := s.b.ListAlerts(c.ctx(), f)
	if err != nil {
		return err
	}
	if alerts == nil {
		alerts = []*alert.Alert{}
	}
	writeJSON(c.w, http.StatusOK, AlertList{Alerts: alerts, NextCursor: next})
	return nil
}

func (s *server) getAlert(c *call) error {
	id := c.r.PathValue("id")
	a, err := s.b.GetAlert(c.ctx(), id)
	if err != nil {
		return about(err, "alert %q", truncate(id, 64))
	}
	writeJSON(c.w, http.StatusOK, a)
	return nil
}

func (s *server) ackAlert(c *call) error     { return s.setAlertStatus(c, alert.Acknowledged) }
func (s *server) resolveAlert(c *call) error { return s.setAlertStatus(c, alert.Resolved) }

func (s *server) setAlertStatus(c *call, st alert.Status) error {
	id := c.r.PathValue("id")
	a, err := s.b.SetAlertStatus(c.ctx(), id, st, c.who.name)
	if err != nil {
		return about(err, "alert %q", truncate(id, 64))
	}
	writeJSON(c.w, http.StatusOK, a)
	return nil
}

func (s *server) searchEvents(c *call) error {
	p, err := parseParams(c.r, "id", "principal", "source_ip", "action", "function", "account", "source", "since", "until", "limit", "cursor")
	if err != nil {
		return err
	}
	var q store.EventQuery
	for name, dst := range map[string]*string{
		"id": &q.ID, "principal": &q.Principal, "source_ip": &q.SourceIP, "action": &q.Action,
		"function": &q.Function, "account": &q.Account, "source": &q.Source,
	} {
		if *dst, err = p.str(name); err != nil {
			return err
		}
	}
	if q.Since, q.Until, err = p.timeRange(); err != nil {
		return err
	}
	if q.Limit, q.Cursor, err = p.page(); err != nil {
		return err
	}
	events, next, err := s.b.SearchEvents(c.ctx(), q)
	if err != nil {
		return err
	}
	if events == nil {
		events = []store.StoredEvent{}
	}
	writeJSON(c.w, http.StatusOK, EventList{Events: events, NextCursor: next})
	return nil
}
