// Package receiver lists every kind of notification receiver in one place:
// the configuration of a named receiver, and the building of a
// notify.Receiver from it.
package receiver

import (
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"unicode"

	"github.com/vigil-sec/vigil/internal/notify"
	"github.com/vigil-sec/vigil/internal/notify/email"
	"github.com/vigil-sec/vigil/internal/notify/field"
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

// MaxNameLength bounds a receiver's name.
const MaxNameLength = 128

// Validate checks the receiver's own fields: a name, and exactly one
// kind. The kind's configuration validates itself (its Validate method),
// so its problems are not repeated here.
func (c *Config) Validate() error {
	var errs field.Errors
	switch {
	case strings.TrimSpace(c.Name) == "":
		errs.Addf("name", "is required")
	case len(c.Name) > MaxNameLength:
		errs.Addf("name", "is longer than %d characters", MaxNameLength)
	case strings.ContainsFunc(c.Name, unicode.IsControl):
		errs.Addf("name", "has a control character")
	}
	switch kinds := c.kinds(); len(kinds) {
	case 0:
		errs.Addf("name", "receiver %q sets no kind: add one of %s", c.Name, strings.Join(Kinds, ", "))
	case 1:
	default:
		errs.Addf(kinds[1], "receiver %q sets %s; a receiver has exactly one kind", c.Name, strings.Join(kinds, " and "))
	}
	return errs.Err()
}

// Kinds lists the receiver kinds, as configuration keys.
var Kinds = []string{"webhook", "slack", "teams", "pagerduty", "opsgenie", "email", "log"}

// kinds returns the keys of the kinds that are set.
func (c *Config) kinds() []string {
	var out []string
	for i, set := range []bool{
		c.Webhook != nil, c.Slack != nil, c.Teams != nil, c.PagerDuty != nil, c.Opsgenie != nil, c.Email != nil, c.Log != nil,
	} {
		if set {
			out = append(out, Kinds[i])
		}
	}
	return out
}

// Kind returns the configuration key of the receiver's kind ("slack"),
// or "" when it sets none or several.
func (c *Config) Kind() string {
	if k := c.kinds(); len(k) == 1 {
		return k[0]
	}
	return ""
}

// Build returns the receiver c configures. HTTP receivers send with
// client, which should be an address-guarded client (package netguard);
// every receiver logs through logger.
func Build(c Config, client *http.Client, logger *slog.Logger) (notify.Receiver, error) {
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("receiver %q: %w", c.Name, err)
	}
	switch {
	case c.Webhook != nil:
		return built(webhook.New(c.Name, *c.Webhook, client, logger))
	case c.Slack != nil:
		return built(slack.New(c.Name, *c.Slack, client, logger))
	case c.Teams != nil:
		return built(teams.New(c.Name, *c.Teams, client, logger))
	case c.PagerDuty != nil:
		return built(pagerduty.New(c.Name, *c.PagerDuty, client, logger))
	case c.Opsgenie != nil:
		return built(opsgenie.New(c.Name, *c.Opsgenie, client, logger))
	case c.Email != nil:
		return built(email.New(c.Name, *c.Email, logger))
	default:
		return built(logreceiver.New(c.Name, *c.Log, logger))
	}
}

// built returns a constructor's result as a notify.Receiver, and a nil
// interface, not a nil pointer inside one, on error.
func built[R notify.Receiver](r R, err error) (notify.Receiver, error) {
	if err != nil {
		return nil, err
	}
	return r, nil
}
