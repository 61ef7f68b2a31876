package teams

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/vigil-sec/vigil/internal/notify"
	"github.com/vigil-sec/vigil/internal/notify/field"
	"github.com/vigil-sec/vigil/internal/notify/notifyhttp"
	"github.com/vigil-sec/vigil/internal/notify/redact"
	"github.com/vigil-sec/vigil/internal/notify/template"
)

// Default templates.
const (
	DefaultTitle = `{{statusEmoji .Status}} {{template "vigil.title" .}}`
	DefaultText  = `{{template "vigil.markdown" .}}`
)

// kind names the receiver type in its logs, errors and String.
const kind = "teams"

// Receiver posts notifications to a Teams Workflows webhook.
type Receiver struct {
	notifyhttp.Base
	cfg   Config
	title *template.Field
	text  *template.Field
}

var _ notify.Receiver = (*Receiver)(nil)

// New returns a Teams receiver named name that sends with client (an
// address-guarded client, see package netguard).
func New(name string, cfg Config, client *http.Client, logger *slog.Logger) (*Receiver, error) {
	if err := cfg.Validate(); err != nil {
		return nil, notifyhttp.ConfigError(name, kind, "", err)
	}
	red := redact.New().WithURL(cfg.WebhookURL)
	r := &Receiver{
		Base: notifyhttp.NewBase(name, kind, logger, &notifyhttp.Sender{Client: client, Redactor: red, Timeout: cfg.Timeout}),
		cfg:  cfg,
	}
	var err error
	if r.title, err = template.NewField("title", cfg.Title, DefaultTitle); err != nil {
		return nil, notifyhttp.ConfigError(name, kind, "title", err)
	}
	if r.text, err = template.NewField("text", cfg.Text, DefaultText); err != nil {
		return nil, notifyhttp.ConfigError(name, kind, "text", err)
	}
	return r, nil
}

// Send posts n as an Adaptive Card. It returns no reference: a Workflows
// webhook cannot update a message.
func (r *Receiver) Send(ctx context.Context, n *notify.Notification) (string, error) {
	if n.Status == notify.Resolved && r.cfg.SendResolved != nil && !*r.cfg.SendResolved {
		return "", nil
	}
	body, err := json.Marshal(NewMessage(n, r.title.Text(n, r.Logger), r.text.Text(n, r.Logger)))
	if err != nil {
		return "", &notify.Error{Permanent: true, Err: fmt.Errorf("encoding the card: %w", err)}
	}
	_, err = r.Sender.Do(ctx, notifyhttp.Request{
		Method: http.MethodPost, URL: r.cfg.WebhookURL.Reveal(), Body: body,
		Header: http.Header{"Content-Type": {"application/json"}},
	})
	return "", err
}

// Validate reports every problem with the configuration, each naming its
// field.
func (c *Config) Validate() error {
	var errs field.Errors
	errs.Add(field.Secret("webhook_url", c.WebhookURL, true))
	errs.Add(field.URL("webhook_url", c.WebhookURL.Reveal(), true))
	errs.Add(field.Template("title", c.Title, false))
	errs.Add(field.Template("text", c.Text, false))
	errs.Add(field.Timeout("timeout", c.Timeout))
	return errs.Err()
}
