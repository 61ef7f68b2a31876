// Package teams posts Adaptive Cards to Microsoft Teams through a
// Workflows (Power Automate) webhook.
package teams

import (
	"time"

	"github.com/vigil-sec/vigil/internal/secret"
)

// Config is a Teams receiver's configuration (notify.receivers[].teams).
type Config struct {
	WebhookURL secret.Secret `yaml:"webhook_url"`
	// Title and Text are text/template templates over notify.Notification.
	Title        string        `yaml:"title"`
	Text         string        `yaml:"text"`
	SendResolved *bool         `yaml:"send_resolved"`
	Timeout      time.Duration `yaml:"timeout"`
}
