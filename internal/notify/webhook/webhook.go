package webhook

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/vigil-sec/vigil/internal/notify"
	"github.com/vigil-sec/vigil/internal/notify/notifyhttp"
	"github.com/vigil-sec/vigil/internal/notify/redact"
)

// Receiver posts notifications to a webhook.
type Receiver struct {
	name   string
	cfg    Config
	sender *notifyhttp.Sender
	logger *slog.Logger
	now    func() time.Time
}

var _ notify.Receiver = (*Receiver)(nil)

// New returns a webhook receiver named name that sends with client (an
// address-guarded client, see package netguard).
func New(name string, cfg Config, client *http.Client, logger *slog.Logger) (*Receiver, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("receiver %q: webhook: %w", name, err)
	}
	red := redact.New(cfg.Secret).WithURL(cfg.URL)
	for _, v := range cfg.Headers {
		red = red.With(v)
	}
	r := &Receiver{
		name: name, cfg: cfg, now: time.Now,
		logger: logger.With("component", "notify", "receiver", name, "kind", "webhook"),
	}
	r.sender = &notifyhttp.Sender{Client: client, Redactor: red, Timeout: cfg.Timeout, Now: r.clock}
	return r, nil
}

func (r *Receiver) clock() time.Time { return r.now() }

// String names the receiver; it never shows the configuration.
func (r *Receiver) String() string { return "webhook receiver " + strconv.Quote(r.name) }

// GoString is String, so that %#v shows no secret either.
func (r *Receiver) GoString() string { return r.String() }

// Send posts n's payload. It returns no reference.
func (r *Receiver) Send(ctx context.Context, n *notify.Notification) (string, error) {
	if n.Status == notify.Resolved && r.cfg.SendResolved != nil && !*r.cfg.SendResolved {
		return "", nil
	}
	req, err := r.request(n)
	if err != nil {
		return "", err
	}
	resp, err := r.sender.Do(ctx, req)
	if err != nil {
		return "", err
	}
	r.logger.Debug("notification delivered", "notification", n.ID, "status", resp.Status)
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
