package slack

import (
	"github.com/vigil-sec/vigil/internal/notify/field"
)

// Validate reports every problem with the configuration, each naming its
// field.
func (c *Config) Validate() error {
	var errs field.Errors
	switch {
	case c.WebhookURL == "" && c.BotToken == "":
		errs.Addf("webhook_url", "set webhook_url (an incoming webhook) or bot_token and channel (or their _file forms)")
	case c.WebhookURL != "" && c.BotToken != "":
		errs.Addf("bot_token", "set either webhook_url or bot_token, not both")
	case c.BotToken != "" && c.Channel == "":
		errs.Addf("channel", "is required with bot_token: the channel ID (C0123456789) or name to post to")
	case c.WebhookURL != "" && c.Channel != "":
		errs.Addf("channel", "applies only with bot_token; an incoming webhook posts to the channel it was created for")
	}
	errs.Add(field.Secret("webhook_url", c.WebhookURL, false))
	errs.Add(field.URL("webhook_url", c.WebhookURL.Reveal(), true))
	errs.Add(field.Secret("bot_token", c.BotToken, false))
	if c.APIURL != "" && c.WebhookURL != "" {
		errs.Addf("api_url", "applies only with bot_token")
	}
	errs.Add(field.URL("api_url", c.APIURL, false))
	errs.Add(field.Template("title", c.Title, false))
	errs.Add(field.Template("text", c.Text, false))
	errs.Add(field.Timeout("timeout", c.Timeout))
	return errs.Err()
}
