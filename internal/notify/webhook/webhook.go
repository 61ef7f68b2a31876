package webhook

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/vigil-sec/vigil/internal/notify"
	"github.com/vigil-sec/vigil/internal/notify/notifyhttp"
	"github.com/vigil-sec/vigil/internal/notify/redact"
)

// kind names the receiver type in its logs, errors and String.
const kind = "webhook"

// Receiver posts notifications to a webhook.
type Receiver struct {
	notifyhttp.Base
	cfg Config
	now func() time.Time
}

var _ notify.Receiver = (*Receiver)(nil)

// New returns a webhook receiver named name that sends with client (an
// address-guarded client, see package netguard).
func New(name string, cfg Config, client *http.Client, logger *slog.Logger) (*Receiver, error) {
	if err := cfg.Validate(); err != nil {
		return nil, notifyhttp.ConfigError(name, kind, "", err)
	}
	red := redact.New(cfg.Secret).WithURL(cfg.URL)
	for _, v := range cfg.Headers {
		red = red.With(v)
	}
	r := &Receiver{cfg: cfg, now: time.Now}
	r.Base = notifyhttp.NewBase(name, kind, logger,
		&notifyhttp.Sender{Client: client, Redactor: red, Timeout: cfg.Timeout, Now: r.clock})
	return r, nil
}

func (r *Receiver) clock() time.Time { return r.now() }

// Send posts n's payload. It returns no reference.
func (r *Receiver) Send(ctx context.Context, n *notify.Notification) (string, error) {
	if n.Status == notify.Resolved && r.cfg.SendResolved != nil && !*r.cfg.SendResolved {
		return "", nil
	}
	req, err := r.request(n)
	if err != nil {
		return "", err
	}
	resp, err := r.Sender.Do(ctx, req)
	if err != nil {
		return "", err
	}
	r.Logger.Debug("notification delivered", "notification", n.ID, "status", resp.Status)
	return "", nil
}

// request builds the signed request for n.
func (r *Receiver) request(n *notify.Notification) (notifyhttp.Request, error) {
	body, err := json.Marshal(NewPayload(n, r.cfg.MaxAlerts))
	if err != nil {
		return notifyhttp.Request{}, &notify.Error{Permanent: true, Err: fmt.Errorf("encoding the payload: %w", err)}
	}
	h := http.Header{}
	for k, v := range r.cfg.Headers {
		h.Set(k, v.Reveal())
	}
	h.Set("Content-Type", "application/json")
	h.Set(NotificationIDHeader, n.ID)
	if r.cfg.Secret != "" {
		h.Set(SignatureHeader, Sign([]byte(r.cfg.Secret.Reveal()), r.now(), body))
	}
	return notifyhttp.Request{Method: http.MethodPost, URL: r.cfg.URL.Reveal(), Header: h, Body: body}, nil
}
