package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/vigil-sec/vigil/internal/authz"
	"github.com/vigil-sec/vigil/internal/source"
	"github.com/vigil-sec/vigil/internal/store"
)

// Stable error codes, the "code" of an error response.
const (
	codeNotFound            = "not_found"
	codeMethodNotAllowed    = "method_not_allowed"
	codeUnauthorized        = "unauthorized"
	codeForbidden           = "forbidden"
	codeInvalid             = "invalid"
	codeBadCursor           = "bad_cursor"
	codeConflict            = "conflict"
	codeBusy                = "busy"
	codeTooLarge            = "too_large"
	codeBadGzip             = "bad_gzip"
	codeUnsupportedEncoding = "unsupported_encoding"
	codeUnknownKind         = "unknown_kind"
	codeNotFormat           = "not_format"
	codeNotReady            = "not_ready"
	codeReceiverFailed      = "receiver_failed"
	codeUnavailable         = "unavailable"
	codeInternal            = "internal"
)

// ErrorBody is the JSON of every error response (except on the Firehose
// endpoint, whose shape Firehose dictates).
type ErrorBody struct {
	Error string `json:"error"`
	Code  string `json:"code"`
}

// apiError is an error with the status, code and message the client sees.
// Its message must be safe to show.
type apiError struct {
	status  int
	code    string
	message string
}

func (e *apiError) Error() string { return e.message }

func errorf(status int, code, format string, args ...any) *apiError {
	return &apiError{status: status, code: code, message: fmt.Sprintf(format, args...)}
}

func invalidf(format string, args ...any) *apiError {
	return errorf(http.StatusBadRequest, codeInvalid, format, args...)
}

// subjectError names what a failed Backend call was about, so that a
// not-found error can say what was not found.
type subjectError struct {
	what string
	err  error
}

func (e *subjectError) Error() string { return e.what + ": " + e.err.Error() }
func (e *subjectError) Unwrap() error { return e.err }

func about(err error, format string, args ...any) error {
	if err == nil {
		return nil
	}
	return &subjectError{what: fmt.Sprintf(format, args...), err: err}
}

// classify maps an error to what the client sees. This is the one place
// where typed errors become statuses. internal reports whether the error
// is the server's fault and its text must stay in the log.
func classify(err error) (e *apiError, internal bool) {
	var ae *apiError
	var mbe *http.MaxBytesError
	var se *subjectError
	what := "resource"
	if errors.As(err, &se) {
		what = se.what
	}
	switch {
	case errors.As(err, &ae):
		return ae, false
	case errors.As(err, &mbe):
		return errorf(http.StatusRequestEntityTooLarge, codeTooLarge, "request body larger than %d bytes", mbe.Limit), false
	case errors.Is(err, ErrBusy):
		return errorf(http.StatusServiceUnavailable, codeBusy, "Vigil is busy and cannot accept data now: retry later"), false
	case errors.Is(err, store.ErrBadCursor):
		return errorf(http.StatusBadRequest, codeBadCursor, "invalid cursor: list again without one"), false
	case errors.Is(err, store.ErrNotFound):
		return errorf(http.StatusNotFound, codeNotFound, "%s not found", what), false
	case errors.Is(err, store.ErrConflict):
		return errorf(http.StatusConflict, codeConflict, "%s", err.Error()), false
	case errors.Is(err, ErrInvalid):
		return invalidf("%s", err.Error()), false
	case errors.Is(err, ErrUnknownReceiver):
		return errorf(http.StatusNotFound, codeNotFound, "%s", err.Error()), false
	case errors.Is(err, ErrReceiverFailed):
		return errorf(http.StatusBadGateway, codeReceiverFailed, "%s", err.Error()), false
	case errors.Is(err, source.ErrNotFormat):
		return errorf(http.StatusBadRequest, codeNotFormat, "%s", err.Error()), false
	case errors.Is(err, context.DeadlineExceeded):
		return errorf(http.StatusServiceUnavailable, codeUnavailable, "the request timed out: retry later"), true
	case errors.Is(err, context.Canceled):
		return errorf(http.StatusServiceUnavailable, codeUnavailable, "the request was canceled"), false
	}
	return errorf(http.StatusInternalServerError, codeInternal, "internal error"), true
}

// fail answers a request with an error and logs what should be logged:
// the real error for internal ones, never a token or the query string.
func (s *server) fail(c *call, err error) {
	e, internal := classify(err)
	// A token pasted where an ID belongs would otherwise be echoed in the
	// message and the log.
	e = &apiError{status: e.status, code: e.code, message: redactTokens(e.message)}
	attrs := append([]any{"request_id", c.id, "method", sanitizeMethod(c.r.Method), "route", routeName(c), "status", e.status, "code", e.code}, c.logAttrs...)
	switch {
	case internal:
		s.log.Error("request failed", append(attrs, "error", redactTokens(err.Error()))...)
		e = errorf(e.status, e.code, "%s (request %s)", e.message, c.id)
	case c.route != nil && c.route.Resource == authz.IngestData && e.status != http.StatusUnauthorized:
		// Data that did not get in matters to operators.
		s.log.Warn("ingest request refused", append(attrs, "error", e.message)...)
	default:
		s.log.Debug("request refused", append(attrs, "error", e.message)...)
	}
	h := c.w.Header()
	switch e.status {
	case http.StatusServiceUnavailable:
		h.Set("Retry-After", "1")
	case http.StatusUnauthorized:
		if e.code == codeUnauthorized && c.route != nil && c.route.Auth != AuthFirehose {
			v := `Bearer realm="vigil"`
			if c.r.Header.Get("Authorization") != "" {
				v += `, error="invalid_token"`
			}
			h.Set("WWW-Authenticate", v)
		}
	}
	if c.route != nil && c.route.Auth == AuthFirehose {
		s.writeFirehose(c, e.status, e.message)
		return
	}
	writeJSON(c.w, e.status, ErrorBody{Error: e.message, Code: e.code})
}

func routeName(c *call) string {
	if c.route == nil {
		return "unmatched"
	}
	return c.route.Method + " " + c.route.Pattern
}

// writeJSON writes v as the response. The body is encoded before the
// status is sent, so an encoding failure can still become a 500.
func writeJSON(w http.ResponseWriter, status int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		status = http.StatusInternalServerError
		buf.Reset()
		buf.WriteString(`{"error":"internal error: encoding the response","code":"internal"}` + "\n")
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// redactTokens replaces anything that looks like a Vigil token in s.
func redactTokens(s string) string {
	if !strings.Contains(s, authz.TokenPrefix) {
		return s
	}
	var b strings.Builder
	for {
		i := strings.Index(s, authz.TokenPrefix)
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		b.WriteString(s[:i])
		b.WriteString("<redacted token>")
		s = s[i+len(authz.TokenPrefix):]
		s = strings.TrimLeftFunc(s, func(r rune) bool { return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' })
	}
}
