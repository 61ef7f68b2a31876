// Package slack posts Block Kit messages to Slack, through an incoming
// webhook or with a bot token through chat.postMessage, and in bot mode
// updates the message when the alerts are acknowledged or resolved.
package slack

import (
	"time"

	"github.com/vigil-sec/vigil/internal/secret"
)

// Config is a Slack receiver's configuration (notify.receivers[].slack).
// Exactly one of WebhookURL and BotToken is set.
type Config struct {
	WebhookURL secret.Secret `yaml:"webhook_url"`
	BotToken   secret.Secret `yaml:"bot_token"`
	// Channel is the channel ID or name for bot-token mode.
	Channel string `yaml:"channel"`
	// APIURL is Slack's Web API base URL (default https://slack.com/api/).
	APIURL string `yaml:"api_url"`
	// Title and Text are text/template templates over notify.Notification.
	Title        string        `yaml:"title"`
	Text         string        `yaml:"text"`
	SendResolved *bool         `yaml:"send_resolved"`
	Timeout      time.Duration `yaml:"timeout"`
}
