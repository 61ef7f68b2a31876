// Package notifyhttp sends the HTTP requests of notification receivers
// and turns what comes back into the delivery outcome the outbox acts on:
// nil for a 2xx answer, otherwise a *notify.Error that says whether to
// retry and when, with every secret removed from its text. Base holds
// what every HTTP receiver shares besides its configuration.
package notifyhttp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/vigil-sec/vigil/internal/netguard"
	"github.com/vigil-sec/vigil/internal/notify"
	"github.com/vigil-sec/vigil/internal/notify/redact"
)

// Bounds on what is read from a response and quoted in an error.
const (
	MaxResponseBody = 64 << 10
	MaxErrorBody    = 512
	// MaxRetryAfter caps the delay a server may ask for.
	MaxRetryAfter = time.Hour
	// DefaultTimeout bounds a request when the receiver sets no timeout.
	DefaultTimeout = 10 * time.Second
)

// Request is one HTTP request of a receiver.
type Request struct {
	Method string
	// URL is the target; it is a secret when it carries a token.
	URL    string
	Header http.Header
	Body   []byte
}

// Response is a 2xx answer, its body read up to MaxResponseBody.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// Sender sends requests with one client and removes one receiver's
// secrets from errors.
type Sender struct {
	Client   *http.Client
	Redactor *redact.Redactor
	// Timeout bounds each request (default DefaultTimeout).
	Timeout time.Duration
	// Now returns the current time, for Retry-After dates (default
	// time.Now).
	Now func() time.Time
}

// Do sends req. It returns the response when the status is 2xx;
// otherwise a *notify.Error: a transport failure is retryable unless the
// target was refused by the address guard or the URL is unusable, and an
// HTTP status is classified by Classify. The error quotes at most
// MaxErrorBody bytes of the response and never a secret known to the
// Redactor, nor a URL's path or query.
func (s *Sender) Do(ctx context.Context, req Request) (*Response, error) {
	timeout := s.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	hreq, err := http.NewRequestWithContext(ctx, req.Method, req.URL, bytes.NewReader(req.Body))
	if err != nil {
		// The error quotes the URL: describe it instead.
		return nil, &notify.Error{Permanent: true, Err: fmt.Errorf("cannot build the %s request to %s: check the URL", req.Method, redact.ShortURL(req.URL))}
	}
	for k, vs := range req.Header {
		hreq.Header[k] = vs
	}
	resp, err := s.Client.Do(hreq)
	if err != nil {
		return nil, s.transportError(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxResponseBody))
	// Drain a bounded remainder so that the connection can be reused.
	io.Copy(io.Discard, io.LimitReader(resp.Body, MaxResponseBody))
	if err != nil && resp.StatusCode/100 == 2 {
		return nil, &notify.Error{Status: resp.StatusCode, Err: s.Redactor.Error(fmt.Errorf("reading the response from %s: %w", hreq.URL.Host, err))}
	}
	if e := s.Classify(resp.StatusCode, resp.Header, body); e != nil {
		return nil, e
	}
	return &Response{Status: resp.StatusCode, Header: resp.Header, Body: body}, nil
}

// transportError classifies a failure to get any answer.
func (s *Sender) transportError(err error) *notify.Error {
	e := &notify.Error{Err: s.Redactor.Error(err)}
	// A refused address, scheme or redirect cannot succeed until the
	// configuration changes; anything else (a refused connection, a DNS
	// failure, a timeout) may be an outage, and is retried.
	e.Permanent = errors.Is(err, netguard.ErrRefused)
	return e
}

// Classify returns nil for a 2xx status and otherwise a *notify.Error:
// 408, 425, 429 and 5xx are retryable, with the Retry-After header's
// delay (seconds or an HTTP date); any other status is permanent. The
// error text quotes the start of body, with secrets removed.
func (s *Sender) Classify(status int, header http.Header, body []byte) *notify.Error {
	if status >= 200 && status < 300 {
		return nil
	}
	e := &notify.Error{Status: status, Permanent: !Retryable(status)}
	if !e.Permanent {
		e.RetryAfter = ParseRetryAfter(header.Get("Retry-After"), s.now())
	}
	msg := http.StatusText(status)
	if msg == "" {
		msg = "unexpected status"
	}
	if snippet := Snippet(body); snippet != "" {
		msg += ": " + snippet
	}
	e.Err = errors.New(s.Redactor.Redact(msg))
	return e
}

func (s *Sender) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// Retryable reports whether an HTTP status may succeed when sent again.
func Retryable(status int) bool {
	switch {
	case status == http.StatusRequestTimeout, status == http.StatusTooEarly, status == http.StatusTooManyRequests:
		return true
	case status >= 500 && status < 600:
		return status != http.StatusNotImplemented && status != http.StatusHTTPVersionNotSupported
	}
	return false
}

// ParseRetryAfter returns the delay of a Retry-After header value — a
// number of seconds or an HTTP date — capped to MaxRetryAfter, or 0 when
// v is empty, malformed or in the past.
func ParseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" || len(v) > 64 {
		return 0
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n <= 0 {
			return 0
		}
		if n > int64(MaxRetryAfter/time.Second) {
			return MaxRetryAfter
		}
		return time.Duration(n) * time.Second
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0
	}
	d := t.Sub(now)
	switch {
	case d <= 0:
		return 0
	case d > MaxRetryAfter:
		return MaxRetryAfter
	}
	return d
}

// Snippet returns the start of a response body for an error message: at
// most MaxErrorBody bytes of valid UTF-8 on one line, control characters
// replaced by spaces.
func Snippet(body []byte) string {
	truncated := false
	if len(body) > MaxErrorBody {
		body = body[:MaxErrorBody]
		truncated = true
	}
	var b strings.Builder
	for len(body) > 0 {
		r, n := utf8.DecodeRune(body)
		body = body[n:]
		switch {
		case r == utf8.RuneError && n <= 1:
			if len(body) == 0 && truncated {
				continue // a rune cut by the bound
			}
			b.WriteRune(utf8.RuneError)
		case unicode.IsControl(r):
			b.WriteByte(' ')
		default:
			b.WriteRune(r)
		}
	}
	out := strings.Join(strings.Fields(b.String()), " ")
	if truncated {
		out += "…"
	}
	return out
}

// BaseURL returns an API base URL ending in "/": configured, or def when
// configured is empty.
func BaseURL(configured, def string) string {
	if configured == "" {
		configured = def
	}
	if !strings.HasSuffix(configured, "/") {
		configured += "/"
	}
	return configured
}
