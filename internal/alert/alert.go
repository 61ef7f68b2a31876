// Package alert defines alerts — deduplicated rule matches that responders
// acknowledge and resolve — their fingerprints and labels, and silences with
// Alertmanager-style matchers.
package alert

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"time"

	"github.com/vigil-sec/vigil/internal/event"
)

// Status is where an alert is in its life.
type Status string

// Statuses.
const (
	Open         Status = "open"
	Acknowledged Status = "acknowledged"
	Resolved     Status = "resolved"
)

// Valid reports whether s is a known status.
func (s Status) Valid() bool { return s == Open || s == Acknowledged || s == Resolved }

// MaxEventRefs bounds the event IDs an alert keeps; Count keeps counting.
const MaxEventRefs = 100

// Alert is one or more matches of a rule on events with the same key
// fields within the dedup window.
type Alert struct {
	ID          string    `json:"id"`
	Fingerprint string    `json:"fingerprint"`
	Rule        RuleRef   `json:"rule"`
	Severity    string    `json:"severity"`
	Status      Status    `json:"status"`
	Count       int       `json:"count"`
	FirstSeen   time.Time `json:"first_seen"`
	LastSeen    time.Time `json:"last_seen"`
	// Highlights of the first event.
	Cloud     string `json:"cloud,omitempty"`
	Source    string `json:"source,omitempty"`
	Account   string `json:"account,omitempty"`
	Region    string `json:"region,omitempty"`
	Principal string `json:"principal,omitempty"`
	SourceIP  string `json:"source_ip,omitempty"`
	Function  string `json:"function,omitempty"`
	Action    string `json:"action,omitempty"`
	// EventIDs are the first MaxEventRefs events that raised the alert.
	EventIDs  []string  `json:"event_ids"`
	Silenced  bool      `json:"silenced"`
	SilenceID string    `json:"silence_id,omitempty"`
	UpdatedAt time.Time `json:"updated_at"`
	UpdatedBy string    `json:"updated_by,omitempty"`
}

// RuleRef is the rule metadata an alert carries.
type RuleRef struct {
	ID    string   `json:"id"`
	Title string   `json:"title"`
	Level string   `json:"level"`
	Tags  []string `json:"tags"`
}

// KeyFields are the envelope fields that, with the rule, make an alert's
// fingerprint: matches of one rule on the same principal, account and
// function are one alert.
var KeyFields = []string{"account", "principal", "function"}

// Fingerprint returns the dedup key of a rule match on an event.
func Fingerprint(ruleID string, ev *event.Event) string {
	h := sha256.New()
	h.Write([]byte(ruleID))
	for _, f := range KeyFields {
		v, _ := ev.Envelope(f)
		h.Write([]byte{0})
		h.Write([]byte(v))
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// FromMatch builds a new alert for a rule match on an event.
func FromMatch(id string, rule RuleRef, ev *event.Event, now time.Time) *Alert {
	t := ev.Time
	if t.IsZero() {
		t = now
	}
	return &Alert{
		ID: id, Fingerprint: Fingerprint(rule.ID, ev), Rule: rule, Severity: rule.Level, Status: Open,
		Count: 1, FirstSeen: t, LastSeen: t,
		Cloud: ev.Cloud, Source: ev.Source, Account: ev.Account, Region: ev.Region, Principal: ev.Principal,
		SourceIP: ev.SourceIP, Function: ev.Function, Action: ev.Action,
		EventIDs: []string{ev.ID}, UpdatedAt: now,
	}
}

// Labels are the names silences and routes match on.
func (a *Alert) Labels() map[string]string {
	return map[string]string{
		"rule": a.Rule.ID, "rule_title": a.Rule.Title, "severity": a.Severity, "cloud": a.Cloud,
		"source": a.Source, "account": a.Account, "region": a.Region, "principal": a.Principal,
		"source_ip": a.SourceIP, "function": a.Function, "action": a.Action, "tags": strings.Join(a.Rule.Tags, ","),
	}
}

// LabelNames lists the labels an alert has.
func LabelNames() []string {
	return []string{"rule", "rule_title", "severity", "cloud", "source", "account", "region", "principal", "source_ip", "function", "action", "tags"}
}
