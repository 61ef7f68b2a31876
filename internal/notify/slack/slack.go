package slack

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/vigil-sec/vigil/internal/notify"
	"github.com/vigil-sec/vigil/internal/notify/notifyhttp"
	"github.com/vigil-sec/vigil/internal/notify/redact"
	"github.com/vigil-sec/vigil/internal/notify/template"
)

// Defaults.
const (
	DefaultAPIURL = "https://slack.com/api/"
	DefaultTitle  = `{{statusEmoji .Status}} {{template "vigil.title" .}}`
	DefaultText   = `{{template "vigil.slack.text" .}}`
)

// kind names the receiver type in its logs, errors and String.
const kind = "slack"

// Receiver posts notifications to Slack.
type Receiver struct {
	notifyhttp.Base
	cfg    Config
	apiURL string
	title  *template.Field
	text   *template.Field
}

var _ notify.Receiver = (*Receiver)(nil)

// New returns a Slack receiver named name that sends with client (an
// address-guarded client, see package netguard).
func New(name string, cfg Config, client *http.Client, logger *slog.Logger) (*Receiver, error) {
	if err := cfg.Validate(); err != nil {
		return nil, notifyhttp.ConfigError(name, kind, "", err)
	}
	red := redact.New(cfg.BotToken).WithURL(cfg.WebhookURL)
	r := &Receiver{
		Base: notifyhttp.NewBase(name, kind, logger, &notifyhttp.Sender{Client: client, Redactor: red, Timeout: cfg.Timeout}),
		cfg:  cfg, apiURL: notifyhttp.BaseURL(cfg.APIURL, DefaultAPIURL),
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

// Send posts n. With an incoming webhook every notification is a new
// message and the reference is empty. With a bot token a firing
// notification posts a new message and returns "<channel>/<ts>"; an
// acknowledged or resolved one updates the message named by n.Prior
// (chat.update), or posts a new one when that message is gone.
func (r *Receiver) Send(ctx context.Context, n *notify.Notification) (string, error) {
	if n.Status == notify.Resolved && r.cfg.SendResolved != nil && !*r.cfg.SendResolved {
		return "", nil
	}
	msg := NewMessage(n, r.title.Text(n, r.Logger), r.text.Text(n, r.Logger))
	if r.cfg.WebhookURL != "" {
		body, err := json.Marshal(msg)
		if err != nil {
			return "", &notify.Error{Permanent: true, Err: fmt.Errorf("encoding the message: %w", err)}
		}
		_, err = r.Sender.Do(ctx, notifyhttp.Request{
			Method: http.MethodPost, URL: r.cfg.WebhookURL.Reveal(), Body: body,
			Header: http.Header{"Content-Type": {"application/json; charset=utf-8"}},
		})
		return "", err
	}
	if n.Prior != "" && n.Status != notify.Firing {
		if channel, ts, ok := ParseRef(n.Prior); ok {
			update := msg
			update.Channel, update.TS = channel, ts
			update.UnfurlLinks, update.UnfurlMedia = nil, nil
			_, err := r.call(ctx, "chat.update", update)
			var ae *APIError
			switch {
			case err == nil:
				return n.Prior, nil
			case errors.As(err, &ae) && ae.gone():
				r.Logger.Info("the message to update is gone; posting a new one", "notification", n.ID, "error", ae.Code)
			default:
				return "", err
			}
		}
	}
	msg.Channel, msg.TS = r.cfg.Channel, ""
	resp, err := r.call(ctx, "chat.postMessage", msg)
	if err != nil {
		return "", err
	}
	if resp.Channel == "" || resp.TS == "" {
		return "", nil
	}
	return resp.Channel + "/" + resp.TS, nil
}

// ParseRef splits a reference "<channel>/<ts>".
func ParseRef(ref string) (channel, ts string, ok bool) {
	channel, ts, ok = strings.Cut(ref, "/")
	return channel, ts, ok && channel != "" && ts != ""
}

// call calls a Web API method with the bot token.
func (r *Receiver) call(ctx context.Context, method string, msg Message) (APIResponse, error) {
	body, err := json.Marshal(msg)
	if err != nil {
		return APIResponse{}, &notify.Error{Permanent: true, Err: fmt.Errorf("encoding the message: %w", err)}
	}
	resp, err := r.Sender.Do(ctx, notifyhttp.Request{
		Method: http.MethodPost, URL: r.apiURL + method, Body: body,
		Header: http.Header{
			"Content-Type":  {"application/json; charset=utf-8"},
			"Authorization": {"Bearer " + r.cfg.BotToken.Reveal()},
		},
	})
	if err != nil {
		return APIResponse{}, err
	}
	ar, err := ParseAPIResponse(resp.Body)
	if err != nil {
		return APIResponse{}, &notify.Error{Status: resp.Status, Err: r.Sender.Redactor.Error(fmt.Errorf("%s: %w", method, err))}
	}
	if !ar.OK {
		// The code comes from the server, which may echo anything.
		ae := &APIError{Method: method, Code: r.Sender.Redactor.Redact(notifyhttp.Snippet([]byte(ar.Error)))}
		return APIResponse{}, &notify.Error{
			Status: resp.Status, Permanent: ae.permanent(), RetryAfter: notifyhttp.ParseRetryAfter(resp.Header.Get("Retry-After"), time.Now()),
			Err: ae,
		}
	}
	return ar, nil
}

// APIResponse is the part of a Web API answer the receiver reads.
type APIResponse struct {
	OK      bool   `json:"ok"`
	Error   string `json:"error"`
	Channel string `json:"channel"`
	TS      string `json:"ts"`
}

// ParseAPIResponse decodes a Web API answer (at most
// notifyhttp.MaxResponseBody bytes).
func ParseAPIResponse(body []byte) (APIResponse, error) {
	var ar APIResponse
	if err := json.Unmarshal(body, &ar); err != nil {
		return APIResponse{}, fmt.Errorf("the answer is not the Web API's JSON: %s", notifyhttp.Snippet(body))
	}
	// Bound what is kept of fields that only a broken server fills.
	ar.Error = template.TruncateBytes(ar.Error, 200)
	ar.Channel = template.TruncateBytes(ar.Channel, 200)
	ar.TS = template.TruncateBytes(ar.TS, 200)
	if !ar.OK && ar.Error == "" {
		ar.Error = "unknown_error"
	}
	return ar, nil
}

// APIError is a Web API call answered with "ok": false.
type APIError struct {
	Method string
	Code   string
}

func (e *APIError) Error() string {
	msg := fmt.Sprintf("Slack %s failed: %s", e.Method, e.Code)
	if hint := hints[e.Code]; hint != "" {
		msg += " (" + hint + ")"
	}
	return msg
}

// hints say what to do about the common errors.
var hints = map[string]string{
	"invalid_auth":      "the bot token is wrong",
	"not_authed":        "no bot token was sent",
	"token_revoked":     "the bot token was revoked; install the app again",
	"account_inactive":  "the bot's workspace or user is deactivated",
	"missing_scope":     "the app needs the chat:write scope",
	"channel_not_found": "check the channel ID and that the bot can see it",
	"not_in_channel":    "invite the bot to the channel",
	"is_archived":       "the channel is archived",
	"invalid_blocks":    "Slack refused the message layout; check the title and text templates",
	"msg_too_long":      "the text template renders too much",
	"ratelimited":       "Slack is rate limiting the bot",
}

// retryable are the error codes that may succeed when sent again.
var retryable = map[string]bool{
	"ratelimited": true, "internal_error": true, "fatal_error": true, "service_unavailable": true,
	"request_timeout": true, "team_added_to_org": true, "unknown_error": true,
}

func (e *APIError) permanent() bool {
	if retryable[e.Code] {
		return false
	}
	_, known := hints[e.Code]
	return known || e.Code == "invalid_arguments" || e.Code == "message_not_found" ||
		e.Code == "cant_update_message" || e.Code == "edit_window_closed" || e.Code == "no_text" ||
		e.Code == "too_many_attachments" || e.Code == "invalid_arg_name" || e.Code == "restricted_action"
}

// gone reports whether chat.update failed because the message cannot be
// updated any more, so that a new one is posted instead.
func (e *APIError) gone() bool {
	switch e.Code {
	case "message_not_found", "cant_update_message", "edit_window_closed":
		return true
	}
	return false
}
