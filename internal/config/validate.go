package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Bounds checked by validation.
const (
	maxWorkers        = 1024
	maxBatch          = 1000
	minSharedTokenLen = 16
)

var (
	logLevels  = []string{"debug", "info", "warn", "error"}
	logFormats = []string{"text", "json"}
	busSchemes = []string{"nats", "tls", "ws", "wss"}
)

// validate checks the rules that a value's type cannot: ranges, formats,
// and rules across keys. Each problem is placed where the value came from.
func (l *loader) validate(c *Config) {
	s := &c.Server
	if err := checkListen(s.Listen); err != nil {
		l.keyf("server.listen", "%v", err)
	}
	if strings.TrimSpace(s.Data) == "" {
		l.keyf("server.data", "the data directory must not be empty")
	}
	l.nonNegative("server.shutdown_timeout", s.ShutdownTimeout)
	l.positiveSize("server.max_body_bytes", s.MaxBodyBytes)
	l.positiveSize("server.max_inflight_bytes", s.MaxInflightBytes)
	if s.MaxBodyBytes > 0 && s.MaxInflightBytes > 0 && s.MaxInflightBytes < s.MaxBodyBytes {
		l.keyf(l.placed("server.max_inflight_bytes", "server.max_body_bytes"),
			"server.max_inflight_bytes (%s) is smaller than server.max_body_bytes (%s), so a body of the largest allowed size could never be admitted",
			s.MaxInflightBytes, s.MaxBodyBytes)
	}

	l.oneOf("log.level", c.Log.Level, logLevels)
	l.oneOf("log.format", c.Log.Format, logFormats)

	if err := checkBusURL(c.Bus.URL); err != nil {
		l.keyf("bus.url", "%v", err)
	}
	l.positiveSize("bus.max_bytes", c.Bus.MaxBytes)
	l.nonNegative("bus.duplicate_window", c.Bus.DuplicateWindow)

	l.nonNegative("store.retention", c.Store.Retention)

	d := &c.Detect
	if d.Workers < 0 || d.Workers > maxWorkers {
		l.keyf("detect.workers", "must be from 0 (one per CPU) to %d, got %d", maxWorkers, d.Workers)
	}
	if d.Batch < 1 || d.Batch > maxBatch {
		l.keyf("detect.batch", "must be from 1 to %d, got %d", maxBatch, d.Batch)
	}
	if d.CorrelationLateness < time.Second || d.CorrelationLateness > 24*time.Hour {
		l.keyf("detect.correlation_lateness", "must be from 1s to 24h, got %s", d.CorrelationLateness)
	}
	for i, r := range d.Rules {
		if strings.TrimSpace(r) == "" {
			l.keyf("detect.rules", "entry %d is empty", i+1)
		}
	}
	if d.BaselineLateness < time.Second || d.BaselineLateness > 24*time.Hour {
		l.keyf("detect.baseline_lateness", "must be from 1s to 24h, got %s", d.BaselineLateness)
	}
	for i, r := range d.BaselineRules {
		if strings.TrimSpace(r) == "" {
			l.keyf("detect.baseline_rules", "entry %d is empty", i+1)
		}
	}

	l.nonNegative("alerts.dedup_window", c.Alerts.DedupWindow)

	l.validatePubSub(&c.Ingest.PubSub)
	l.validateNotify(&c.Notify)
}

func (l *loader) validatePubSub(p *PubSub) {
	const at = "ingest.pubsub."
	if p.JWKSURL != "" {
		if err := checkHTTPURL(p.JWKSURL); err != nil {
			l.keyf(at+"jwks_url", "%v", err)
		}
		if p.Audience == "" {
			l.keyf(l.placed(at+"audience", at+"jwks_url"),
				"ingest.pubsub.audience must be set when jwks_url is: it is the audience configured on the push subscription (by default the push endpoint's URL)")
		}
		if strings.TrimSpace(p.Issuer) == "" {
			l.keyf(l.placed(at+"issuer", at+"jwks_url"), "ingest.pubsub.issuer must be set when jwks_url is (Google's is https://accounts.google.com)")
		}
		if p.ServiceAccountEmail == "" {
			l.keyf(l.placed(at+"service_account_email", at+"jwks_url"),
				"ingest.pubsub.service_account_email must be set when jwks_url is: any Google account can mint a token for the push URL's audience, so only the push subscription's service account may be trusted")
		}
	} else {
		for _, kv := range [][2]string{{"audience", p.Audience}, {"service_account_email", p.ServiceAccountEmail}} {
			if kv[1] != "" {
				l.keyf(at+kv[0], "has no effect while ingest.pubsub.jwks_url is empty, so push requests would not be verified; set jwks_url (Google's is https://www.googleapis.com/oauth2/v3/certs)")
			}
		}
	}
	if e := p.ServiceAccountEmail; e != "" && (!strings.Contains(e, "@") || strings.ContainsAny(e, " \t\r\n")) {
		l.keyf(at+"service_account_email", "%q is not an e-mail address", e)
	}
	if p.SharedToken != "" {
		if msg := checkSecret(p.SharedToken); msg != "" {
			l.secretf(at+"shared_token", "%s", msg)
		} else if n := len([]rune(p.SharedToken.Reveal())); n < minSharedTokenLen {
			l.secretf(at+"shared_token", "is %d characters long; use at least %d (e.g. from `openssl rand -hex 32`)", n, minSharedTokenLen)
		}
	}
}

// keyf reports a problem with key where its value came from.
func (l *loader) keyf(key, format string, args ...any) {
	src, ok := l.src[key]
	l.atSource(src, ok, key, format, args...)
}

// secretf reports a problem with a secret, naming the <key>_file form and
// the file when the value was read from one. The message must not quote
// the secret.
func (l *loader) secretf(key, format string, args ...any) {
	src, ok := l.src[key]
	msg := fmt.Sprintf(format, args...)
	if ok && src.viaFile {
		key += "_file"
		msg = fmt.Sprintf("the secret in %q %s", src.secretFile, msg)
	}
	l.atSource(src, ok, key, "%s", msg)
}

// placed returns the first of keys whose value was set by the file or the
// environment, so that a rule across keys points at something the user
// wrote; with none set, the first key.
func (l *loader) placed(keys ...string) string {
	for _, k := range keys {
		if l.isSet(k) {
			return k
		}
	}
	return keys[0]
}

// isSet reports whether the file or the environment set key.
func (l *loader) isSet(key string) bool {
	_, ok := l.src[key]
	return ok
}

func (l *loader) nonNegative(key string, d time.Duration) {
	if d < 0 {
		l.keyf(key, "must not be negative, got %s", formatDuration(d))
	}
}

func (l *loader) positiveSize(key string, s Size) {
	if s <= 0 {
		l.keyf(key, "must be more than 0 bytes")
	}
}

func (l *loader) oneOf(key, v string, valid []string) {
	if slices.Contains(valid, v) {
		return
	}
	hint := ""
	if s := closest(v, valid); s != "" {
		hint = fmt.Sprintf(" (did you mean %q?)", s)
	}
	l.keyf(key, "unknown value %q%s; valid values: %s", v, hint, strings.Join(valid, ", "))
}

// checkListen checks that s is host:port with a numeric port. An empty host
// listens on every interface.
func checkListen(s string) error {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		var ae *net.AddrError
		if errors.As(err, &ae) {
			err = errors.New(ae.Err)
		}
		return fmt.Errorf("%q is not host:port (%v); e.g. \"127.0.0.1:8717\", or \":8717\" for every interface", s, err)
	}
	if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
		return fmt.Errorf("port %q in %q is not a number from 0 to 65535", port, s)
	}
	if host != "" && net.ParseIP(host) == nil && !validHostname(host) {
		return fmt.Errorf("host %q in %q is neither an IP address nor a host name", host, s)
	}
	return nil
}

// validHostname reports whether h is made of DNS labels.
func validHostname(h string) bool {
	if len(h) > 253 {
		return false
	}
	for label := range strings.SplitSeq(strings.TrimSuffix(h, "."), ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
				return false
			}
		}
	}
	return true
}

// checkBusURL checks a comma-separated list of NATS server URLs. Messages
// show URLs with their user information masked.
func checkBusURL(s string) error {
	if s == "" {
		return nil
	}
	for part := range strings.SplitSeq(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			return errors.New("empty URL in the comma-separated list")
		}
		u, err := url.Parse(part)
		if err != nil {
			return fmt.Errorf("%q is not a URL: %v", maskURLs(part), urlErr(err))
		}
		if !slices.Contains(busSchemes, u.Scheme) {
			return fmt.Errorf("%q: the scheme must be one of %s, e.g. \"nats://nats.internal:4222\"", maskURLs(part), strings.Join(busSchemes, ", "))
		}
		if u.Host == "" {
			return fmt.Errorf("%q has no host, e.g. \"nats://nats.internal:4222\"", maskURLs(part))
		}
	}
	return nil
}

// checkHTTPURL checks an https URL, or an http one on a loopback host
// (a test server); anything else could be intercepted.
func checkHTTPURL(s string) error {
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("%q is not a URL: %v", maskURLs(s), urlErr(err))
	}
	if u.User != nil {
		return fmt.Errorf("%q must not hold user information", maskURLs(s))
	}
	if u.Host == "" || u.Hostname() == "" {
		return fmt.Errorf("%q is not an absolute URL with a host", s)
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		if h := u.Hostname(); h == "localhost" || net.ParseIP(h) != nil && net.ParseIP(h).IsLoopback() {
			return nil
		}
		return fmt.Errorf("%q must use https (plain http is allowed only on a loopback host)", s)
	}
	return fmt.Errorf("%q must be an https URL", s)
}

// urlErr drops the URL from a *url.Error: it may hold credentials.
func urlErr(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// maskURLs replaces the user information (user:password@ or token@) of
// each URL in a comma-separated list with <secret>.
func maskURLs(s string) string {
	parts := strings.Split(s, ",")
	for i, p := range parts {
		start := 0
		if j := strings.Index(p, "://"); j >= 0 {
			start = j + 3
		}
		rest := p[start:]
		end := strings.IndexAny(rest, "/?#")
		if end < 0 {
			end = len(rest)
		}
		if at := strings.LastIndex(rest[:end], "@"); at >= 0 {
			parts[i] = p[:start] + redacted + rest[at:]
		}
	}
	return strings.Join(parts, ",")
}
