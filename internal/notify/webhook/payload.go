package webhook

import (
	"time"

	"github.com/vigil-sec/vigil/internal/notify"
)

// Version is the payload's schema version. Fields may be added within a
// version; a field is never removed or changed without a new version.
const Version = "1"

// Payload is the JSON body of every request, documented in
// docs/receivers.md.
type Payload struct {
	Version string `json:"version"`
	// ID identifies the notification; retries of it keep it, so it is
	// the idempotency key (also sent as X-Vigil-Notification-Id).
	ID       string `json:"id"`
	Receiver string `json:"receiver"`
	// Status is firing, acknowledged or resolved.
	Status string `json:"status"`
	// GroupKey identifies the group for its whole life.
	GroupKey    string            `json:"group_key"`
	GroupLabels map[string]string `json:"group_labels"`
	// Severity is the highest severity among the alerts.
	Severity string `json:"severity"`
	// URL links to the alerts in Vigil ("" when no external URL is set).
	URL  string    `json:"url"`
	Test bool      `json:"test"`
	Time time.Time `json:"time"`
	// Alerts are the group's alerts, at most max_alerts of them.
	Alerts []Alert `json:"alerts"`
	// TruncatedAlerts counts the alerts left out by max_alerts.
	TruncatedAlerts int `json:"truncated_alerts"`
}

// Alert is one alert of the group.
type Alert struct {
	ID          string    `json:"id"`
	Fingerprint string    `json:"fingerprint"`
	Status      string    `json:"status"`
	Severity    string    `json:"severity"`
	Rule        Rule      `json:"rule"`
	Count       int       `json:"count"`
	FirstSeen   time.Time `json:"first_seen"`
	LastSeen    time.Time `json:"last_seen"`
	Cloud       string    `json:"cloud"`
	Source      string    `json:"source"`
	Account     string    `json:"account"`
	Region      string    `json:"region"`
	Principal   string    `json:"principal"`
	SourceIP    string    `json:"source_ip"`
	Function    string    `json:"function"`
	Action      string    `json:"action"`
	EventIDs    []string  `json:"event_ids"`
}

// Rule is the rule that raised an alert.
type Rule struct {
	ID    string   `json:"id"`
	Title string   `json:"title"`
	Level string   `json:"level"`
	Tags  []string `json:"tags"`
}

// NewPayload builds the payload of n with at most maxAlerts alerts (0 for
// all).
func NewPayload(n *notify.Notification, maxAlerts int) Payload {
	p := Payload{
		Version: Version, ID: n.ID, Receiver: n.Receiver, Status: string(n.Status),
		GroupKey: n.GroupKey, GroupLabels: n.GroupLabels, Severity: n.Severity, URL: n.URL,
		Test: n.Test, Time: n.Time.UTC(), Alerts: []Alert{},
	}
	if p.GroupLabels == nil {
		p.GroupLabels = map[string]string{}
	}
	alerts := n.Alerts
	if maxAlerts > 0 && len(alerts) > maxAlerts {
		p.TruncatedAlerts = len(alerts) - maxAlerts
		alerts = alerts[:maxAlerts]
	}
	for i := range alerts {
		a := &alerts[i]
		tags := a.Rule.Tags
		if tags == nil {
			tags = []string{}
		}
		ids := a.EventIDs
		if ids == nil {
			ids = []string{}
		}
		p.Alerts = append(p.Alerts, Alert{
			ID: a.ID, Fingerprint: a.Fingerprint, Status: string(a.Status), Severity: a.Severity,
			Rule:  Rule{ID: a.Rule.ID, Title: a.Rule.Title, Level: a.Rule.Level, Tags: tags},
			Count: a.Count, FirstSeen: a.FirstSeen.UTC(), LastSeen: a.LastSeen.UTC(),
			Cloud: a.Cloud, Source: a.Source, Account: a.Account, Region: a.Region, Principal: a.Principal,
			SourceIP: a.SourceIP, Function: a.Function, Action: a.Action, EventIDs: ids,
		})
	}
	return p
}
