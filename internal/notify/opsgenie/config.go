// Package opsgenie creates, acknowledges and closes Opsgenie alerts through
// the Alert API, keyed by alias so that repeats are idempotent.
package opsgenie

import (
	"time"

	"github.com/vigil-sec/vigil/internal/secret"
)

// Config is an Opsgenie receiver's configuration
// (notify.receivers[].opsgenie).
type Config struct {
	APIKey secret.Secret `yaml:"api_key"`
	// APIURL is the API base (default https://api.opsgenie.com/; the EU
	// instance is https://api.eu.opsgenie.com/).
	APIURL string `yaml:"api_url"`
	// Message and Description are text/template templates over
	// notify.Notification.
	Message     string   `yaml:"message"`
	Description string   `yaml:"description"`
	Tags        []string `yaml:"tags"`
	// Priorities maps Vigil severities to P1..P5 (defaults: critical P1,
	// high P2, medium P3, low P4, informational P5).
	Priorities map[string]string `yaml:"priorities"`
	// Responders are the teams, users, escalations or schedules the
	// alerts are assigned to (default: the API key's integration decides).
	Responders   []Responder   `yaml:"responders"`
	SendResolved *bool         `yaml:"send_resolved"`
	Timeout      time.Duration `yaml:"timeout"`
}

// Responder names one responder by id or by name (username for a user).
type Responder struct {
	// Type is team, user, escalation or schedule.
	Type     string `yaml:"type"`
	ID       string `yaml:"id"`
	Name     string `yaml:"name"`
	Username string `yaml:"username"`
}
