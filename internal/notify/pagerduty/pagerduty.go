package pagerduty

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

// Defaults.
const (
	DefaultURL       = "https://events.pagerduty.com/v2/enqueue"
	DefaultSummary   = `{{template "vigil.title" .}}`
	DefaultSource    = `{{with first .Alerts}}{{or .Account .Cloud "vigil"}}{{end}}`
	DefaultComponent = `{{(first .Alerts).Function}}`
	DefaultGroup     = `{{(first .Alerts).Region}}`
	DefaultClass     = `{{(first .Alerts).Rule.ID}}`
)

// kind names the receiver type in its logs, errors and String.
const kind = "pagerduty"

// Receiver sends Events API v2 events to PagerDuty.
type Receiver struct {
	notifyhttp.Base
	cfg    Config
	url    string
	fields map[string]*template.Field
}

var _ notify.Receiver = (*Receiver)(nil)

// New returns a PagerDuty receiver named name that sends with client (an
// address-guarded client, see package netguard).
func New(name string, cfg Config, client *http.Client, logger *slog.Logger) (*Receiver, error) {
	if err := cfg.Validate(); err != nil {
		return nil, notifyhttp.ConfigError(name, kind, "", err)
	}
	r := &Receiver{
		Base: notifyhttp.NewBase(name, kind, logger,
			&notifyhttp.Sender{Client: client, Redactor: redact.New(cfg.RoutingKey), Timeout: cfg.Timeout}),
		cfg: cfg, url: cfg.URL, fields: map[string]*template.Field{},
	}
	if r.url == "" {
		r.url = DefaultURL
	}
	for _, f := range cfg.templates() {
		t, err := template.NewField(f.key, f.text, f.def)
		if err != nil {
			return nil, notifyhttp.ConfigError(name, kind, f.key, err)
		}
		r.fields[f.key] = t
	}
	return r, nil
}

type templateField struct{ key, text, def string }

func (c *Config) templates() []templateField {
	return []templateField{
		{"summary", c.Summary, DefaultSummary}, {"source", c.Source, DefaultSource},
		{"component", c.Component, DefaultComponent}, {"group", c.Group, DefaultGroup},
		{"class", c.Class, DefaultClass},
	}
}

// Send sends the event for n: trigger when firing, acknowledge and resolve
// as the group is acknowledged and resolved, all with the group's dedup
// key, so that a repeat or a retry updates the same incident. It returns
// the dedup key.
func (r *Receiver) Send(ctx context.Context, n *notify.Notification) (string, error) {
	if n.Status == notify.Resolved && r.cfg.SendResolved != nil && !*r.cfg.SendResolved {
		return "", nil
	}
	var texts Texts
	if Action(n.Status) == "trigger" {
		texts = Texts{
			Summary: r.fields["summary"].Text(n, r.Logger), Source: r.fields["source"].Text(n, r.Logger),
			Component: r.fields["component"].Text(n, r.Logger), Group: r.fields["group"].Text(n, r.Logger),
			Class: r.fields["class"].Text(n, r.Logger),
		}
	}
	body, err := json.Marshal(NewEvent(n, r.cfg.RoutingKey.Reveal(), texts))
	if err != nil {
		return "", &notify.Error{Permanent: true, Err: fmt.Errorf("encoding the event: %w", err)}
	}
	resp, err := r.Sender.Do(ctx, notifyhttp.Request{
		Method: http.MethodPost, URL: r.url, Body: body,
		Header: http.Header{"Content-Type": {"application/json"}},
	})
	if err != nil {
		return "", err
	}
	var ans struct {
		Status   string `json:"status"`
		DedupKey string `json:"dedup_key"`
	}
	if json.Unmarshal(resp.Body, &ans) != nil || ans.Status != "success" {
		r.Logger.Warn("PagerDuty accepted the event with an unexpected answer", "notification", n.ID, "status", resp.Status,
			"answer", r.Sender.Redactor.Redact(notifyhttp.Snippet(resp.Body)))
	}
	return DedupKey(n.GroupKey), nil
}

// Validate reports every problem with the configuration, each naming its
// field.
func (c *Config) Validate() error {
	var errs field.Errors
	errs.Add(field.Secret("routing_key", c.RoutingKey, true))
	errs.Add(field.URL("url", c.URL, false))
	for _, f := range c.templates() {
		errs.Add(field.Template(f.key, f.text, false))
	}
	errs.Add(field.Timeout("timeout", c.Timeout))
	return errs.Err()
}
