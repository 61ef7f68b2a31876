package field

import (
	"net/url"
	"strings"
	"time"

	"github.com/vigil-sec/vigil/internal/notify/template"
	"github.com/vigil-sec/vigil/internal/secret"
)

// MaxTimeout bounds a receiver's timeout.
const MaxTimeout = 5 * time.Minute

// URL checks that raw is an absolute http or https URL with a host. When
// the URL is a secret (it carries a token) the error never quotes it.
func URL(key, raw string, isSecret bool) error {
	if raw == "" {
		return nil
	}
	quote := func() string {
		if isSecret {
			return ""
		}
		return " " + strings.TrimSpace(raw)
	}
	if strings.ContainsAny(raw, " \t\r\n") {
		return Errorf(key, "the URL%s contains white space", quote())
	}
	u, err := url.Parse(raw)
	if err != nil {
		return Errorf(key, "the URL%s does not parse; check its characters and percent-escapes", quote())
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return Errorf(key, "the URL%s must start with https:// (or http://)", quote())
	}
	if u.Host == "" || u.Hostname() == "" {
		return Errorf(key, "the URL%s has no host", quote())
	}
	return nil
}

// Timeout checks a receiver timeout: 0 (the default) or a positive
// duration up to MaxTimeout.
func Timeout(key string, d time.Duration) error {
	if d < 0 || d > MaxTimeout {
		return Errorf(key, "must be from 0s (the default) to %s, got %s", MaxTimeout, d)
	}
	return nil
}

// Template parses a text template (HTML when html is true) and executes
// it over the sample notification; "" is valid and means the default.
func Template(key, text string, html bool) error {
	if text == "" {
		return nil
	}
	return Wrap(key, template.Check(key, text, html))
}

// Secret checks that a secret holds no line break or control character.
// required reports an empty secret; key names the inline form, and the
// message mentions the <key>_file form.
func Secret(key string, s secret.Secret, required bool) error {
	if s == "" {
		if required {
			return Errorf(key, "is required (inline, or from a file with %s_file)", key)
		}
		return nil
	}
	if why := secret.Check(s); why != "" {
		return Errorf(key, "%s", why)
	}
	return nil
}
