// Package client is a typed Go client for Vigil's HTTP API, used by the
// CLI. Errors the server answers come back as *APIError; a server that
// cannot be reached gives an error wrapping ErrUnreachable.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/vigil-sec/vigil/internal/alert"
	"github.com/vigil-sec/vigil/internal/api"
	"github.com/vigil-sec/vigil/internal/notify"
	"github.com/vigil-sec/vigil/internal/store"
)

// maxResponse bounds a response body the client reads.
const maxResponse = 256 << 20

// ErrUnreachable is wrapped by the error of a request that could not
// connect to the server.
var ErrUnreachable = errors.New("cannot reach the server")

// APIError is an error the server answered.
type APIError struct {
	Status  int    // HTTP status
	Code    string // stable code, such as not_found
	Message string // for humans
}

func (e *APIError) Error() string {
	return e.Message
}

// Client calls one Vigil server with one token.
type Client struct {
	base  *url.URL
	token string
	hc    *http.Client
}

// New returns a client for the server at baseURL (such as
// http://127.0.0.1:8717) that authenticates with token. hc may be nil.
func New(baseURL, token string, hc *http.Client) (*Client, error) {
	u, err := url.Parse(strings.TrimRight(baseURL, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("server URL %q: want http://host:port or https://host", baseURL)
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("server URL %q: give only scheme, host, port and path", u.Redacted())
	}
	if hc == nil {
		hc = &http.Client{Timeout: 60 * time.Second}
	}
	return &Client{base: u, token: token, hc: hc}, nil
}

// URL returns the server's base URL.
func (c *Client) URL() string { return c.base.String() }

// do sends a request and decodes a 2xx JSON answer into out (unless out is
// nil).
func (c *Client) do(ctx context.Context, method, path string, q url.Values, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("encoding the request: %w", err)
		}
		body = bytes.NewReader(b)
	}
	return c.send(ctx, method, path, q, body, "application/json", out)
}

func (c *Client) send(ctx context.Context, method, path string, q url.Values, body io.Reader, contentType string, out any) error {
	// path is already escaped; the base URL has no query.
	target := c.base.String() + path
	if len(q) > 0 {
		target += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, target, body)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("Accept", "application/json")
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		var op *net.OpError
		if errors.As(err, &op) && op.Op == "dial" {
			return fmt.Errorf("%w at %s: %v", ErrUnreachable, c.base.Redacted(), op.Err)
		}
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse+1))
	if err != nil {
		return fmt.Errorf("%s %s: reading the response: %w", method, path, err)
	}
	if len(b) > maxResponse {
		return fmt.Errorf("%s %s: response larger than %d MiB", method, path, maxResponse>>20)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return apiError(resp, b)
	}
	if out == nil || resp.StatusCode == http.StatusNoContent {
		return nil
	}
	if raw, ok := out.(*[]byte); ok {
		*raw = b
		return nil
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("%s %s: the server's answer is not the expected JSON: %w", method, path, err)
	}
	return nil
}

// apiError decodes an error answer; a body that is not the API's error
// JSON (a proxy's page, say) becomes a message naming the status.
func apiError(resp *http.Response, b []byte) *APIError {
	e := &APIError{Status: resp.StatusCode}
	var body api.ErrorBody
	if json.Unmarshal(b, &body) == nil && body.Error != "" {
		e.Code, e.Message = body.Code, oneLine(body.Error)
		return e
	}
	e.Message = fmt.Sprintf("the server answered %s", resp.Status)
	return e
}

// oneLine keeps a server message to one printable line.
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
}

func setTime(q url.Values, name string, t time.Time) {
	if !t.IsZero() {
		q.Set(name, t.Format(time.RFC3339Nano))
	}
}

func setStr(q url.Values, name, v string) {
	if v != "" {
		q.Set(name, v)
	}
}

func setPage(q url.Values, limit int, cursor string) {
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	setStr(q, "cursor", cursor)
}

// Health checks /healthz.
func (c *Client) Health(ctx context.Context) error {
	return c.do(ctx, http.MethodGet, "/healthz", nil, nil, nil)
}

// Ready checks /readyz.
func (c *Client) Ready(ctx context.Context) error {
	return c.do(ctx, http.MethodGet, "/readyz", nil, nil, nil)
}

// Metrics returns the Prometheus exposition text of /metrics.
func (c *Client) Metrics(ctx context.Context) (string, error) {
	var raw []byte
	err := c.send(ctx, http.MethodGet, "/metrics", nil, nil, "", &raw)
	return string(raw), err
}

// Ingest sends log data (plain or gzip) to /api/v1/ingest/{kind}.
func (c *Client) Ingest(ctx context.Context, kind string, r io.Reader) (api.IngestResult, error) {
	var res api.IngestResult
	err := c.send(ctx, http.MethodPost, "/api/v1/ingest/"+url.PathEscape(kind), nil, r, "application/json", &res)
	return res, err
}

// ListAlerts returns a page of alerts and the next page's cursor.
func (c *Client) ListAlerts(ctx context.Context, f store.AlertFilter) ([]*alert.Alert, string, error) {
	q := url.Values{}
	for _, s := range f.Status {
		q.Add("status", string(s))
	}
	for _, s := range f.Severity {
		q.Add("severity", s)
	}
	setStr(q, "rule", f.RuleID)
	setStr(q, "principal", f.Principal)
	setStr(q, "account", f.Account)
	setStr(q, "function", f.Function)
	setTime(q, "since", f.Since)
	setTime(q, "until", f.Until)
	setPage(q, f.Limit, f.Cursor)
	var out api.AlertList
	err := c.do(ctx, http.MethodGet, "/api/v1/alerts", q, nil, &out)
	return out.Alerts, out.NextCursor, err
}

// GetAlert returns one alert.
func (c *Client) GetAlert(ctx context.Context, id string) (*alert.Alert, error) {
	var a alert.Alert
	if err := c.do(ctx, http.MethodGet, "/api/v1/alerts/"+url.PathEscape(id), nil, nil, &a); err != nil {
		return nil, err
	}
	return &a, nil
}

// AckAlert acknowledges an alert.
func (c *Client) AckAlert(ctx context.Context, id string) (*alert.Alert, error) {
	return c.alertAction(ctx, id, "ack")
}

// ResolveAlert resolves an alert.
func (c *Client) ResolveAlert(ctx context.Context, id string) (*alert.Alert, error) {
	return c.alertAction(ctx, id, "resolve")
}

func (c *Client) alertAction(ctx context.Context, id, action string) (*alert.Alert, error) {
	var a alert.Alert
	if err := c.do(ctx, http.MethodPost, "/api/v1/alerts/"+url.PathEscape(id)+"/"+action, nil, nil, &a); err != nil {
		return nil, err
	}
	return &a, nil
}

// SearchEvents returns a page of stored events and the next page's cursor.
func (c *Client) SearchEvents(ctx context.Context, q store.EventQuery) ([]store.StoredEvent, string, error) {
	v := url.Values{}
	setStr(v, "principal", q.Principal)
	setStr(v, "source_ip", q.SourceIP)
	setStr(v, "action", q.Action)
	setStr(v, "function", q.Function)
	setStr(v, "account", q.Account)
	setStr(v, "source", q.Source)
	setTime(v, "since", q.Since)
	setTime(v, "until", q.Until)
	setPage(v, q.Limit, q.Cursor)
	var out api.EventList
	err := c.do(ctx, http.MethodGet, "/api/v1/events", v, nil, &out)
	return out.Events, out.NextCursor, err
}

// ListSilences returns the active silences, and the expired ones too when
// includeExpired is set.
func (c *Client) ListSilences(ctx context.Context, includeExpired bool) ([]*alert.Silence, error) {
	q := url.Values{}
	if includeExpired {
		q.Set("expired", "true")
	}
	var out api.SilenceList
	err := c.do(ctx, http.MethodGet, "/api/v1/silences", q, nil, &out)
	return out.Silences, err
}

// CreateSilence creates a silence.
func (c *Client) CreateSilence(ctx context.Context, req api.SilenceRequest) (*alert.Silence, error) {
	var s alert.Silence
	if err := c.do(ctx, http.MethodPost, "/api/v1/silences", nil, req, &s); err != nil {
		return nil, err
	}
	return &s, nil
}

// GetSilence returns one silence.
func (c *Client) GetSilence(ctx context.Context, id string) (*alert.Silence, error) {
	var s alert.Silence
	if err := c.do(ctx, http.MethodGet, "/api/v1/silences/"+url.PathEscape(id), nil, nil, &s); err != nil {
		return nil, err
	}
	return &s, nil
}

// ExpireSilence ends a silence now.
func (c *Client) ExpireSilence(ctx context.Context, id string) (*alert.Silence, error) {
	var s alert.Silence
	if err := c.do(ctx, http.MethodDelete, "/api/v1/silences/"+url.PathEscape(id), nil, nil, &s); err != nil {
		return nil, err
	}
	return &s, nil
}

// Rules returns the loaded, inactive and failed rules.
func (c *Client) Rules(ctx context.Context) (api.RulesStatus, error) {
	var st api.RulesStatus
	err := c.do(ctx, http.MethodGet, "/api/v1/rules", nil, nil, &st)
	return st, err
}

// ReloadRules reloads the rules from disk.
func (c *Client) ReloadRules(ctx context.Context) (api.RulesStatus, error) {
	var st api.RulesStatus
	err := c.do(ctx, http.MethodPost, "/api/v1/rules/reload", nil, nil, &st)
	return st, err
}

// CreateToken creates a token; the plaintext is returned this once. ttl 0
// means the token does not expire.
func (c *Client) CreateToken(ctx context.Context, name, role string, ttl time.Duration) (api.CreatedToken, error) {
	req := api.TokenRequest{Name: name, Role: role}
	if ttl > 0 {
		req.TTL = ttl.String()
	}
	var out api.CreatedToken
	err := c.do(ctx, http.MethodPost, "/api/v1/tokens", nil, req, &out)
	return out, err
}

// ListTokens returns every token's metadata.
func (c *Client) ListTokens(ctx context.Context) ([]store.Token, error) {
	var out api.TokenList
	err := c.do(ctx, http.MethodGet, "/api/v1/tokens", nil, nil, &out)
	return out.Tokens, err
}

// RevokeToken revokes a token by ID.
func (c *Client) RevokeToken(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodDelete, "/api/v1/tokens/"+url.PathEscape(id), nil, nil, nil)
}

// Stats returns the server's counts.
func (c *Client) Stats(ctx context.Context) (store.Stats, error) {
	var st store.Stats
	err := c.do(ctx, http.MethodGet, "/api/v1/stats", nil, nil, &st)
	return st, err
}

// ListNotifications returns a page of the notification outbox, newest
// first, and the next page's cursor.
func (c *Client) ListNotifications(ctx context.Context, f notify.ListFilter) ([]api.NotificationSummary, string, error) {
	q := url.Values{}
	setStr(q, "status", string(f.Status))
	setStr(q, "receiver", f.Receiver)
	setPage(q, f.Limit, f.Cursor)
	var out api.NotificationList
	err := c.do(ctx, http.MethodGet, "/api/v1/notifications", q, nil, &out)
	return out.Notifications, out.NextCursor, err
}

// GetNotification returns one notification with its delivery state.
func (c *Client) GetNotification(ctx context.Context, id string) (*notify.Entry, error) {
	var e notify.Entry
	if err := c.do(ctx, http.MethodGet, "/api/v1/notifications/"+url.PathEscape(id), nil, nil, &e); err != nil {
		return nil, err
	}
	return &e, nil
}

// RetryNotification re-drives a failed notification.
func (c *Client) RetryNotification(ctx context.Context, id string) (*notify.Entry, error) {
	var e notify.Entry
	if err := c.do(ctx, http.MethodPost, "/api/v1/notifications/"+url.PathEscape(id)+"/retry", nil, nil, &e); err != nil {
		return nil, err
	}
	return &e, nil
}

// TestReceiver sends a test notification to a receiver. A receiver that
// does not accept it is an *APIError with the code receiver_failed.
func (c *Client) TestReceiver(ctx context.Context, receiver string) (api.TestResult, error) {
	var res api.TestResult
	err := c.do(ctx, http.MethodPost, "/api/v1/notifications/test", nil, api.TestRequest{Receiver: receiver}, &res)
	return res, err
}
