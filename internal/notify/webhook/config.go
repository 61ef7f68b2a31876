// Package webhook sends notifications as a documented, versioned JSON
// payload to any HTTP endpoint, signed with HMAC-SHA256 so that receivers
// can reject forgeries and replays.
package webhook

import (
	"time"

	"github.com/vigil-sec/vigil/internal/secret"
)

// Config is a webhook receiver's configuration (notify.receivers[].webhook).
type Config struct {
	// URL is where payloads are POSTed. It may carry a token, so it is a secret.
	URL secret.Secret `yaml:"url"`
	// Secret keys the X-Vigil-Signature HMAC; empty sends no signature.
	Secret secret.Secret `yaml:"secret"`
	// Headers are added to every request; values may carry credentials.
	Headers map[string]secret.Secret `yaml:"headers"`
	// MaxAlerts bounds the alerts in one payload (0 = all); the payload
	// says how many were left out.
	MaxAlerts int `yaml:"max_alerts"`
	// SendResolved sends a notification when the group resolves (default true).
	SendResolved *bool         `yaml:"send_resolved"`
	Timeout      time.Duration `yaml:"timeout"`
}
