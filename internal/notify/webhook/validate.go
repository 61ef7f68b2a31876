package webhook

import (
	"fmt"
	"net/textproto"
	"slices"
	"strings"

	"github.com/vigil-sec/vigil/internal/notify/field"
)

// reservedHeaders are set by the receiver or by HTTP itself and cannot be
// configured.
var reservedHeaders = []string{
	"Connection", "Content-Length", "Content-Type", "Host", "Te", "Trailer", "Transfer-Encoding",
	"Upgrade", "User-Agent",
}

// Validate reports every problem with the configuration, each naming its
// field.
func (c *Config) Validate() error {
	var errs field.Errors
	errs.Add(field.Secret("url", c.URL, true))
	errs.Add(field.URL("url", c.URL.Reveal(), true))
	errs.Add(field.Secret("secret", c.Secret, false))
	names := make([]string, 0, len(c.Headers))
	for name := range c.Headers {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		key := fmt.Sprintf("headers[%s]", name)
		canon := textproto.CanonicalMIMEHeaderKey(name)
		switch {
		case !validHeaderName(name):
			errs.Addf(key, "is not a valid HTTP header name")
		case slices.Contains(reservedHeaders, canon):
			errs.Addf(key, "is set by Vigil or by HTTP and cannot be configured")
		case strings.HasPrefix(canon, "X-Vigil-"):
			errs.Addf(key, "X-Vigil- headers are Vigil's own and cannot be configured")
		}
		errs.Add(field.Secret(key, c.Headers[name], false))
	}
	if c.MaxAlerts < 0 {
		errs.Addf("max_alerts", "must be 0 (all alerts) or more, got %d", c.MaxAlerts)
	}
	errs.Add(field.Timeout("timeout", c.Timeout))
	return errs.Err()
}

// validHeaderName reports whether s is an HTTP token (RFC 9110).
func validHeaderName(s string) bool {
	if s == "" || len(s) > 256 {
		return false
	}
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
		case strings.ContainsRune("!#$%&'*+-.^_`|~", r):
		default:
			return false
		}
	}
	return true
}
