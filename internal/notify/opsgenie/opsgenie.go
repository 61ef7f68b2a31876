package opsgenie

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"sort"
	"strings"

	"github.com/vigil-sec/vigil/internal/notify"
	"github.com/vigil-sec/vigil/internal/notify/field"
	"github.com/vigil-sec/vigil/internal/notify/notifyhttp"
	"github.com/vigil-sec/vigil/internal/notify/redact"
	"github.com/vigil-sec/vigil/internal/notify/template"
)

// Defaults.
const (
	DefaultAPIURL      = "https://api.opsgenie.com/"
	DefaultMessage     = `{{template "vigil.title" .}}`
	DefaultDescription = `{{template "vigil.text" .}}`
)

// kind names the receiver type in its logs, errors and String.
const kind = "opsgenie"

// Receiver creates, acknowledges and closes Opsgenie alerts.
type Receiver struct {
	notifyhttp.Base
	cfg         Config
	apiURL      string
	message     *template.Field
	description *template.Field
}

var _ notify.Receiver = (*Receiver)(nil)

// New returns an Opsgenie receiver named name that sends with client (an
// address-guarded client, see package netguard).
func New(name string, cfg Config, client *http.Client, logger *slog.Logger) (*Receiver, error) {
	if err := cfg.Validate(); err != nil {
		return nil, notifyhttp.ConfigError(name, kind, "", err)
	}
	r := &Receiver{
		Base: notifyhttp.NewBase(name, kind, logger,
			&notifyhttp.Sender{Client: client, Redactor: redact.New(cfg.APIKey), Timeout: cfg.Timeout}),
		cfg: cfg, apiURL: notifyhttp.BaseURL(cfg.APIURL, DefaultAPIURL),
	}
	var err error
	if r.message, err = template.NewField("message", cfg.Message, DefaultMessage); err != nil {
		return nil, notifyhttp.ConfigError(name, kind, "message", err)
	}
	if r.description, err = template.NewField("description", cfg.Description, DefaultDescription); err != nil {
		return nil, notifyhttp.ConfigError(name, kind, "description", err)
	}
	return r, nil
}

// Send creates the group's alert when it fires (a repeat with the same
// alias only raises its count), acknowledges it when the group is
// acknowledged, and closes it when the group resolves. It returns the
// alias.
func (r *Receiver) Send(ctx context.Context, n *notify.Notification) (string, error) {
	var path string
	var payload any
	switch n.Status {
	case notify.Acknowledged:
		path, payload = ActionPath(n.GroupKey, "acknowledge"), NewAction(n)
	case notify.Resolved:
		if r.cfg.SendResolved != nil && !*r.cfg.SendResolved {
			return "", nil
		}
		path, payload = ActionPath(n.GroupKey, "close"), NewAction(n)
	default:
		path = "v2/alerts"
		payload = NewCreate(n, &r.cfg, r.message.Text(n, r.Logger), r.description.Text(n, r.Logger))
	}
	body, err := json.Marshal(payload)
	if err != nil {
		return "", &notify.Error{Permanent: true, Err: fmt.Errorf("encoding the request: %w", err)}
	}
	_, err = r.Sender.Do(ctx, notifyhttp.Request{
		Method: http.MethodPost, URL: r.apiURL + path, Body: body,
		Header: http.Header{
			"Content-Type":  {"application/json"},
			"Authorization": {"GenieKey " + r.cfg.APIKey.Reveal()},
		},
	})
	if err != nil {
		return "", err
	}
	return Alias(n.GroupKey), nil
}

// Validate reports every problem with the configuration, each naming its
// field.
func (c *Config) Validate() error {
	var errs field.Errors
	errs.Add(field.Secret("api_key", c.APIKey, true))
	errs.Add(field.URL("api_url", c.APIURL, false))
	errs.Add(field.Template("message", c.Message, false))
	errs.Add(field.Template("description", c.Description, false))
	if len(c.Tags) > MaxTags {
		errs.Addf("tags", "has %d tags; Opsgenie takes at most %d", len(c.Tags), MaxTags)
	}
	for i, t := range c.Tags {
		if strings.TrimSpace(t) == "" || len([]rune(t)) > MaxTag {
			errs.Addf(fmt.Sprintf("tags[%d]", i), "must be 1 to %d characters", MaxTag)
		}
	}
	sevs := make([]string, 0, len(c.Priorities))
	for s := range c.Priorities {
		sevs = append(sevs, s)
	}
	sort.Strings(sevs)
	for _, s := range sevs {
		key := fmt.Sprintf("priorities[%s]", s)
		if _, ok := DefaultPriorities[s]; !ok {
			errs.Addf(key, "unknown severity; use critical, high, medium, low or informational")
		}
		if p := c.Priorities[s]; !slices.Contains([]string{"P1", "P2", "P3", "P4", "P5"}, p) {
			errs.Addf(key, "priority %q must be P1, P2, P3, P4 or P5", p)
		}
	}
	for i, rsp := range c.Responders {
		key := fmt.Sprintf("responders[%d]", i)
		set := 0
		for _, v := range []string{rsp.ID, rsp.Name, rsp.Username} {
			if v != "" {
				set++
			}
		}
		switch {
		case !slices.Contains([]string{"team", "user", "escalation", "schedule"}, rsp.Type):
			errs.Addf(key+".type", "must be team, user, escalation or schedule, got %q", rsp.Type)
		case set != 1:
			errs.Addf(key, "set exactly one of id, name and username")
		case rsp.Type == "user" && rsp.Name != "":
			errs.Addf(key+".name", "a user is named by id or username")
		case rsp.Type != "user" && rsp.Username != "":
			errs.Addf(key+".username", "only a user has a username; name a %s by id or name", rsp.Type)
		}
	}
	errs.Add(field.Timeout("timeout", c.Timeout))
	return errs.Err()
}
