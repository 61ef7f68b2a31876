package opsgenie

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/vigil-sec/vigil/internal/notify"
	"github.com/vigil-sec/vigil/internal/notify/template"
)

// Alert API limits.
const (
	MaxMessage     = 130
	MaxAlias       = 512
	MaxDescription = 15000
	MaxTags        = 20
	MaxTag         = 50
	MaxDetails     = 8000 // all keys and values together
	MaxEntity      = 512
	Source         = "Vigil"
)

// DefaultPriorities maps Vigil severities to Opsgenie priorities.
var DefaultPriorities = map[string]string{
	"critical": "P1", "high": "P2", "medium": "P3", "low": "P4", "informational": "P5",
}

// CreateRequest is the body of POST /v2/alerts.
type CreateRequest struct {
	Message     string            `json:"message"`
	Alias       string            `json:"alias"`
	Description string            `json:"description,omitempty"`
	Responders  []ResponderRef    `json:"responders,omitempty"`
	Tags        []string          `json:"tags,omitempty"`
	Details     map[string]string `json:"details,omitempty"`
	Entity      string            `json:"entity,omitempty"`
	Source      string            `json:"source"`
	Priority    string            `json:"priority"`
	Note        string            `json:"note,omitempty"`
}

// ResponderRef is a responder in a create request.
type ResponderRef struct {
	Type     string `json:"type"`
	ID       string `json:"id,omitempty"`
	Name     string `json:"name,omitempty"`
	Username string `json:"username,omitempty"`
}

// ActionRequest is the body of the acknowledge and close requests.
type ActionRequest struct {
	Source string `json:"source"`
	Note   string `json:"note"`
}

// Alias returns the alert alias of a group: the group key when it is at
// most 512 characters of letters, digits and -._~:=,@ (which need no
// escaping in the acknowledge and close URLs), otherwise "vigil-" and the
// hex SHA-256 of the key.
func Alias(groupKey string) string {
	ok := groupKey != "" && len(groupKey) <= MaxAlias
	for _, r := range groupKey {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-._~:=,@", r)) {
			ok = false
			break
		}
	}
	if ok {
		return groupKey
	}
	sum := sha256.Sum256([]byte(groupKey))
	return "vigil-" + hex.EncodeToString(sum[:])
}

// ActionPath returns the path, relative to the API base, of the
// acknowledge or close request for a group.
func ActionPath(groupKey, action string) string {
	return "v2/alerts/" + url.PathEscape(Alias(groupKey)) + "/" + action + "?identifierType=alias"
}

// NewCreate builds the create request for n from the rendered message and
// description.
func NewCreate(n *notify.Notification, cfg *Config, message, description string) CreateRequest {
	message = strings.Join(strings.Fields(message), " ")
	if message == "" {
		message = "Vigil alert"
	}
	c := CreateRequest{
		Message: template.Truncate(message, MaxMessage), Alias: Alias(n.GroupKey),
		Description: template.Truncate(description, MaxDescription), Source: Source,
		Priority: priority(cfg.Priorities, n.Severity), Tags: tags(cfg.Tags, n),
		Details: details(n),
	}
	if len(n.Alerts) > 0 {
		a := &n.Alerts[0]
		c.Entity = template.Truncate(firstNonEmpty(a.Function, a.Account, a.Cloud), MaxEntity)
	}
	for _, r := range cfg.Responders {
		c.Responders = append(c.Responders, ResponderRef(r))
	}
	return c
}

// NewAction builds an acknowledge or close request.
func NewAction(n *notify.Notification) ActionRequest {
	note := "Acknowledged in Vigil."
	if n.Status == notify.Resolved {
		note = "Resolved in Vigil."
	}
	if n.URL != "" {
		note += " " + n.URL
	}
	return ActionRequest{Source: Source, Note: note}
}

func priority(custom map[string]string, severity string) string {
	if p, ok := custom[severity]; ok {
		return p
	}
	if p, ok := DefaultPriorities[severity]; ok {
		return p
	}
	return "P3"
}

// tags are the configured tags, then the severity, then the rules' tags,
// distinct, at most MaxTags of at most MaxTag characters.
func tags(configured []string, n *notify.Notification) []string {
	var out []string
	add := func(t string) {
		t = template.Truncate(strings.TrimSpace(t), MaxTag)
		if t != "" && len(out) < MaxTags && !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	for _, t := range configured {
		add(t)
	}
	add(n.Severity)
	for i := range n.Alerts {
		for _, t := range n.Alerts[i].Rule.Tags {
			add(t)
		}
	}
	return out
}

// details describe the group in at most MaxDetails characters.
func details(n *notify.Notification) map[string]string {
	d := map[string]string{}
	total := 0
	add := func(k, v string) {
		v = template.Truncate(v, 1000)
		if v == "" || total+len(k)+len(v) > MaxDetails {
			return
		}
		d[k] = v
		total += len(k) + len(v)
	}
	add("status", string(n.Status))
	add("severity", n.Severity)
	add("alert_count", fmt.Sprint(len(n.Alerts)))
	add("vigil_url", n.URL)
	add("group_key", n.GroupKey)
	if len(n.Alerts) > 0 {
		a := &n.Alerts[0]
		add("rule", a.Rule.ID)
		add("rule_title", a.Rule.Title)
		add("principal", a.Principal)
		add("cloud", a.Cloud)
		add("account", a.Account)
		add("region", a.Region)
		add("function", a.Function)
		add("action", a.Action)
		add("source_ip", a.SourceIP)
		add("first_seen", a.FirstSeen.UTC().Format("2006-01-02T15:04:05Z07:00"))
	}
	return d
}

func firstNonEmpty(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}
