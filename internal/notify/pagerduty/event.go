package pagerduty

import (
	"crypto/sha256"
	"encoding/hex"
	"time"

	"github.com/vigil-sec/vigil/internal/notify"
	"github.com/vigil-sec/vigil/internal/notify/template"
)

// Events API v2 limits and values.
const (
	MaxSummary  = 1024
	MaxDedupKey = 255
	// MaxDetailAlerts bounds the alerts listed in custom_details.
	MaxDetailAlerts = 20
	Client          = "Vigil"
)

// Event is an Events API v2 event. Acknowledge and resolve events carry
// only the routing key, the action and the dedup key.
type Event struct {
	RoutingKey  string   `json:"routing_key"`
	EventAction string   `json:"event_action"`
	DedupKey    string   `json:"dedup_key"`
	Payload     *Payload `json:"payload,omitempty"`
	Links       []Link   `json:"links,omitempty"`
	Client      string   `json:"client,omitempty"`
	ClientURL   string   `json:"client_url,omitempty"`
}

// Payload is a trigger event's payload.
type Payload struct {
	Summary       string         `json:"summary"`
	Source        string         `json:"source"`
	Severity      string         `json:"severity"`
	Timestamp     string         `json:"timestamp,omitempty"`
	Component     string         `json:"component,omitempty"`
	Group         string         `json:"group,omitempty"`
	Class         string         `json:"class,omitempty"`
	CustomDetails map[string]any `json:"custom_details,omitempty"`
}

// Link is a link shown on the incident.
type Link struct {
	Href string `json:"href"`
	Text string `json:"text"`
}

// Texts are the rendered templates of a trigger event.
type Texts struct {
	Summary, Source, Component, Group, Class string
}

// Severity maps a Vigil severity to PagerDuty's: critical → critical,
// high → error, medium → warning, low and informational → info; an
// unknown severity is treated as error.
func Severity(s string) string {
	switch s {
	case "critical":
		return "critical"
	case "high":
		return "error"
	case "medium":
		return "warning"
	case "low", "informational":
		return "info"
	}
	return "error"
}

// DedupKey returns the dedup key of a group: its key when it fits in 255
// characters, otherwise "vigil-" and the hex SHA-256 of it.
func DedupKey(groupKey string) string {
	if len(groupKey) <= MaxDedupKey && groupKey != "" {
		return groupKey
	}
	sum := sha256.Sum256([]byte(groupKey))
	return "vigil-" + hex.EncodeToString(sum[:])
}

// Action returns the event action for a notification's status.
func Action(s notify.Status) string {
	switch s {
	case notify.Acknowledged:
		return "acknowledge"
	case notify.Resolved:
		return "resolve"
	}
	return "trigger"
}

// NewEvent builds the event for n.
func NewEvent(n *notify.Notification, routingKey string, t Texts) Event {
	e := Event{RoutingKey: routingKey, EventAction: Action(n.Status), DedupKey: DedupKey(n.GroupKey)}
	if e.EventAction != "trigger" {
		return e
	}
	summary := template.Truncate(oneLine(t.Summary), MaxSummary)
	if summary == "" {
		summary = "Vigil alert"
	}
	source := template.Truncate(oneLine(t.Source), 255)
	if source == "" {
		source = "vigil"
	}
	e.Payload = &Payload{
		Summary: summary, Source: source, Severity: Severity(n.Severity), Timestamp: timestamp(n),
		Component: template.Truncate(oneLine(t.Component), 255), Group: template.Truncate(oneLine(t.Group), 255),
		Class: template.Truncate(oneLine(t.Class), 255), CustomDetails: details(n),
	}
	if n.URL != "" {
		e.Links = []Link{{Href: n.URL, Text: "View in Vigil"}}
		e.ClientURL = n.URL
	}
	e.Client = Client
	return e
}

func oneLine(s string) string {
	out := make([]rune, 0, len(s))
	space := false
	for _, r := range s {
		if r == '\n' || r == '\r' || r == '\t' || r == ' ' {
			space = len(out) > 0
			continue
		}
		if space {
			out = append(out, ' ')
			space = false
		}
		out = append(out, r)
	}
	return string(out)
}

// timestamp is when the group was first seen, or the notification's time.
func timestamp(n *notify.Notification) string {
	var t time.Time
	for i := range n.Alerts {
		if fs := n.Alerts[i].FirstSeen; !fs.IsZero() && (t.IsZero() || fs.Before(t)) {
			t = fs
		}
	}
	if t.IsZero() {
		t = n.Time
	}
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// details are the custom_details of a trigger: the group and up to
// MaxDetailAlerts alerts.
func details(n *notify.Notification) map[string]any {
	d := map[string]any{
		"status": string(n.Status), "severity": n.Severity, "alert_count": len(n.Alerts),
		"group_key": n.GroupKey, "group_labels": n.GroupLabels,
	}
	if n.URL != "" {
		d["vigil_url"] = n.URL
	}
	if n.Test {
		d["test"] = true
	}
	alerts := []map[string]any{}
	for i := range n.Alerts {
		if i == MaxDetailAlerts {
			d["alerts_not_listed"] = len(n.Alerts) - MaxDetailAlerts
			break
		}
		a := &n.Alerts[i]
		m := map[string]any{
			"rule": a.Rule.ID, "title": a.Rule.Title, "severity": a.Severity, "status": string(a.Status),
			"count": a.Count, "first_seen": a.FirstSeen.UTC().Format(time.RFC3339), "last_seen": a.LastSeen.UTC().Format(time.RFC3339),
		}
		for k, v := range map[string]string{
			"cloud": a.Cloud, "account": a.Account, "region": a.Region, "principal": a.Principal,
			"source_ip": a.SourceIP, "function": a.Function, "action": a.Action,
		} {
			if v != "" {
				m[k] = template.Truncate(v, 512)
			}
		}
		if len(a.Rule.Tags) > 0 {
			m["tags"] = a.Rule.Tags
		}
		alerts = append(alerts, m)
	}
	d["alerts"] = alerts
	return d
}
