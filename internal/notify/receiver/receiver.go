// Package receiver lists every kind of notification receiver in one place:
// the configuration of a named receiver, and the building of a
// notify.Receiver from it.
package receiver

import (
	"github.com/vigil-sec/vigil/internal/notify/email"
	"github.com/vigil-sec/vigil/internal/notify/logreceiver"
	"github.com/vigil-sec/vigil/internal/notify/opsgenie"
	"github.com/vigil-sec/vigil/internal/notify/pagerduty"
	"github.com/vigil-sec/vigil/internal/notify/slack"
	"github.com/vigil-sec/vigil/internal/notify/teams"
	"github.com/vigil-sec/vigil/internal/notify/webhook"
)

// Config is one named receiver (notify.receivers[]): exactly one of the
// kinds is set.
type Config struct {
	Name      string              `yaml:"name"`
	Webhook   *webhook.Config     `yaml:"webhook"`
	Slack     *slack.Config       `yaml:"slack"`
	Teams     *teams.Config       `yaml:"teams"`
	PagerDuty *pagerduty.Config   `yaml:"pagerduty"`
	Opsgenie  *opsgenie.Config    `yaml:"opsgenie"`
	Email     *email.Config       `yaml:"email"`
	Log       *logreceiver.Config `yaml:"log"`
}
