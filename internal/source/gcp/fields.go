package gcp

import (
	"net/netip"
	"strings"

	"github.com/vigil-sec/vigil/internal/event"
	"github.com/vigil-sec/vigil/internal/jsondoc"
)

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
