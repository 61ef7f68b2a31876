// Package pagerduty sends PagerDuty Events API v2 events: trigger with
// the group key as dedup_key, then acknowledge and resolve as the alerts
// are acknowledged and resolved in Vigil.
package pagerduty

import (
	"time"

	"github.com/vigil-sec/vigil/internal/secret"
)

// Config is a PagerDuty receiver's configuration
// (notify.receivers[].pagerduty).
type Config struct {
	RoutingKey secret.Secret `yaml:"routing_key"`
	// URL is the Events API v2 endpoint (default
	// https://events.pagerduty.com/v2/enqueue).
	URL string `yaml:"url"`
	// Summary, Source and Component are text/template templates over
	// notify.Notification.
	Summary      string        `yaml:"summary"`
	Source       string        `yaml:"source"`
	Component    string        `yaml:"component"`
	Class        string        `yaml:"class"`
	Group        string        `yaml:"group"`
	SendResolved *bool         `yaml:"send_resolved"`
	Timeout      time.Duration `yaml:"timeout"`
}
