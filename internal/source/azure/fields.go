package azure

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"github.com/vigil-sec/vigil/internal/event"
	"github.com/vigil-sec/vigil/internal/jsondoc"
	"github.com/vigil-sec/vigil/internal/source"
)

// str returns v as a string if it is a JSON string, and "" otherwise.
func str(v jsondoc.Value) string {
	if v.Kind() == jsondoc.String {
		return v.Str()
	}
	return ""
}

// scalar returns the text of a string or number, and "" otherwise.
func scalar(v jsondoc.Value) string {
	switch v.Kind() {
	case jsondoc.String, jsondoc.Number:
		return v.Str()
	}
	return ""
}

// valueStr returns v itself when it is a string, or v.value when v is an
// object such as {"value": "...", "localizedValue": "..."}, the shape the
// Activity Log REST API uses.
func valueStr(v jsondoc.Value) string {
	if v.Kind() == jsondoc.Object {
		return str(v.Get("value"))
	}
	return str(v)
}

// cleanIP returns s if it is an IP address, the address part if it is
// address:port, and "" otherwise (Azure writes "<null>" or host names in some
// IP fields).
func cleanIP(s string) string {
	if s == "" {
		return ""
	}
	if _, err := netip.ParseAddr(s); err == nil {
		return s
	}
	if _, err := netip.ParseAddrPort(s); err == nil {
		// The address is a prefix of s, bracketed for IPv6.
		if s[0] == '[' {
			return s[1:strings.IndexByte(s, ']')]
		}
		return s[:strings.LastIndexByte(s, ':')]
	}
	return ""
}

// firstString returns the first non-empty string.
func firstString(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}

// outcomeOf maps Azure's result words (resultType, status.value, the
// result of an audit record) to an outcome.
func outcomeOf(s string) event.Outcome {
	switch {
	case strings.EqualFold(s, "Success"), strings.EqualFold(s, "Succeeded"):
		return event.Success
	case strings.EqualFold(s, "Failure"), strings.EqualFold(s, "Failed"),
		strings.EqualFold(s, "Timeout"):
		return event.Failure
	}
	// Start, Started, Accept, Accepted, In Progress, Active, Resolved,
	// Canceled and anything else say nothing about the result.
	return event.Unknown
}

// httpOutcome maps an HTTP status to an outcome: below 400 is success.
func httpOutcome(code int64) event.Outcome {
	if code < 400 {
		return event.Success
	}
	return event.Failure
}

var errNotObject = errors.New("record is not a JSON object")

func kindError(v jsondoc.Value) error {
	if v.Kind() == jsondoc.Object {
		return nil
	}
	return fmt.Errorf("%w (it is %s)", errNotObject, source.AKind(v.Kind()))
}

// lowerCache lowercases strings, remembering the last answer: the records
// of one document mostly share their subscription, site and region, so the
// cache saves an allocation per record.
type lowerCache struct{ in, out string }

func (c *lowerCache) lower(s string) string {
	if s == c.in {
		return c.out
	}
	out := strings.ToLower(s)
	c.in, c.out = s, out
	return out
}

// regionCache turns display names such as "East US" into ARM location names
// such as "eastus".
type regionCache struct{ in, out string }

func (c *regionCache) region(s string) string {
	if s == c.in {
		return c.out
	}
	out := s
	for i := 0; i < len(s); i++ {
		if b := s[i]; b == ' ' || 'A' <= b && b <= 'Z' {
			out = strings.ToLower(strings.ReplaceAll(s, " ", ""))
			break
		}
	}
	c.in, c.out = s, out
	return out
}

// cache holds the per-document caches.
type cache struct {
	sub, site lowerCache
	region    regionCache
}
