package pagerduty

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"

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

// Receiver sends Events API v2 events to PagerDuty.
type Receiver struct {
	name   string
	cfg    Config
	url    string
	sender *notifyhttp.Sender
	logger *slog.Logger
	fields map[string]*template.Field
}

var _ notify.Receiver = (*Receiver)(nil)

// New returns a PagerDuty receiver named name that sends with client (an
// address-guarded client, see package netguard).
func New(name string, cfg Config, client *http.Client, logger *slog.Logger) (*Receiver, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("receiver %q: pagerduty: %w", name, err)
	}
	r := &Receiver{
		name: name, cfg: cfg, url: cfg.URL, fields: map[string]*template.Field{},
		logger: logger.With("component", "notify", "receiver", name, "kind", "pagerduty"),
	}
	if r.url == "" {
		r.url = DefaultURL
	}
	for _, f := range cfg.templates() {
		t, err := template.NewField(f.key, f.text, f.def)
		if err != nil {
			return nil, fmt.Errorf("receiver %q: pagerduty: %s: %w", name, f.key, err)
		}
		r.fields[f.key] = t
	}
	r.sender = &notifyhttp.Sender{Client: client, Redactor: redact.New(cfg.RoutingKey), Timeout: cfg.Timeout}
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

// String names the receiver; it never shows the configuration.
func (r *Receiver) String() string { return "pagerduty receiver " + strconv.Quote(r.name) }

// GoString is String, so that %#v shows no secret either.
func (r *Receiver) GoString() string { return r.String() }

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
			Summary: r.fields["summary"].Text(n, r.logger), Source: r.fields["source"].Text(n, r.logger),
			Component: r.fields["component"].Text(n, r.logger), Group: r.fields["group"].Text(n, r.logger),
			Class: r.fields["class"].Text(n, r.logger),
		}
	}
	body, err := json.Marshal(NewEvent(n, r.cfg.RoutingKey.Reveal(), texts))
	if err != nil {
		return "", &notify.Error{Permanent: true, Err: fmt.Errorf("encoding the event: %w", err)}
	}
	resp, err := r.sender.Do(ctx, notifyhttp.Request{
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
		r.logger.Warn("PagerDuty accepted the event with an unexpected answer", "notification", n.ID, "status", resp.Status,
			"answer", r.sender.Redactor.Redact(notifyhttp.Snippet(resp.Body)))
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
