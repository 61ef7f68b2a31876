package gcp

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/vigil-sec/vigil/internal/event"
	"github.com/vigil-sec/vigil/internal/jsondoc"
)

// parseTime parses an RFC 3339 timestamp as Cloud Logging writes it (up to
// nine fractional digits). A timestamp without a zone is UTC.
func parseTime(v jsondoc.Value, name string) (time.Time, error) {
	if v.Kind() != jsondoc.String {
		if !v.Exists() {
			return time.Time{}, fmt.Errorf("missing %q", name)
		}
		return time.Time{}, fmt.Errorf("%q is %s, want a string", name, aKind(v.Kind()))
	}
	s := v.Str()
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.UTC(), nil
	}
	if t, err := time.Parse("2006-01-02T15:04:05.999999999", s); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("%q is not an RFC 3339 time: %s", name, quote(s))
}

// quote quotes s for an error message, cut to a readable length.
func quote(s string) string {
	const max = 64
	if len(s) > max {
		return strconv.Quote(s[:max]) + "…"
	}
	return strconv.Quote(s)
}

// aKind names a JSON kind with its article: "an array", "a string", "null".
func aKind(k jsondoc.Kind) string {
	switch k {
	case jsondoc.Object, jsondoc.Array:
		return "an " + k.String()
	case jsondoc.Null, jsondoc.True, jsondoc.False, jsondoc.Missing:
		return k.String()
	}
	return "a " + k.String()
}

// str returns v as a string if it is a JSON string, and "" otherwise.
func str(v jsondoc.Value) string {
	if v.Kind() == jsondoc.String {
		return v.Str()
	}
	return ""
}

func firstString(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}

// cleanIP returns s if it is an IP address and "" otherwise: audit logs
// write "private" or "gce-internal-ip" for callers inside Google's network.
func cleanIP(s string) string {
	if s == "" {
		return ""
	}
	if _, err := netip.ParseAddr(s); err == nil {
		return s
	}
	return ""
}

// httpOutcome maps an HTTP status to an outcome: below 400 is success.
func httpOutcome(code int64) event.Outcome {
	if code < 400 {
		return event.Success
	}
	return event.Failure
}

// isErrorSeverity reports whether a LogEntry severity, by name or number,
// is ERROR or worse.
func isErrorSeverity(v jsondoc.Value) bool {
	if n, ok := v.Int(); ok {
		return n >= 500
	}
	switch v.Str() {
	case "ERROR", "CRITICAL", "ALERT", "EMERGENCY":
		return true
	}
	return false
}

// segmentAfter returns the path segment that follows the segment key in a
// resource name such as "projects/p/locations/l/functions/f", or "".
func segmentAfter(name, key string) string {
	for name != "" {
		i := strings.IndexByte(name, '/')
		if i < 0 {
			return ""
		}
		seg := name[:i]
		name = name[i+1:]
		if seg == key {
			if j := strings.IndexByte(name, '/'); j >= 0 {
				return name[:j]
			}
			return name
		}
	}
	return ""
}

// zoneRegion returns the region of a zone ("us-central1-a" gives
// "us-central1"), or zone itself when it does not look like one.
func zoneRegion(zone string) string {
	i := strings.LastIndexByte(zone, '-')
	if i > 0 && len(zone)-i == 2 && zone[i+1] >= 'a' && zone[i+1] <= 'z' {
		return zone[:i]
	}
	return zone
}
