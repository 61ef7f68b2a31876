package template

import (
	"encoding/json"
	"fmt"
	"html"
	"net/url"
	"reflect"
	"slices"
	"strings"
	texttemplate "text/template"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/vigil-sec/vigil/internal/alert"
)

// FuncNames lists the functions templates may call besides text/template's
// built-ins, for documentation; Funcs describes each.
var FuncNames = []string{
	"upper", "lower", "title", "trim", "truncate", "default", "join", "split", "replace",
	"contains", "hasPrefix", "hasSuffix", "add", "sub", "formatTime", "rfc3339", "first",
	"distinct", "countStatus", "severityEmoji", "statusEmoji", "severityColor", "toJSON",
	"mrkdwn", "markdown",
}

// funcs returns the function map of t. The built-ins that build strings
// (print, printf, println, html, js, urlquery) are replaced by versions
// that refuse to build a value longer than MaxOutputSize, so that a
// template cannot grow a variable exponentially inside a loop.
func (t *Template) funcs() texttemplate.FuncMap {
	return texttemplate.FuncMap{
		stepFunc: t.step,

		"print":    func(args ...any) (string, error) { return bounded(fmt.Sprint(args...)) },
		"printf":   func(f string, args ...any) (string, error) { return bounded(fmt.Sprintf(f, args...)) },
		"println":  func(args ...any) (string, error) { return bounded(fmt.Sprintln(args...)) },
		"html":     func(args ...any) (string, error) { return bounded(html.EscapeString(evalArgs(args))) },
		"urlquery": func(args ...any) (string, error) { return bounded(url.QueryEscape(evalArgs(args))) },
		"js":       func(args ...any) (string, error) { return bounded(texttemplate.JSEscapeString(evalArgs(args))) },

		"upper":         func(v any) string { return strings.ToUpper(str(v)) },
		"lower":         func(v any) string { return strings.ToLower(str(v)) },
		"title":         func(v any) string { return title(str(v)) },
		"trim":          func(v any) string { return strings.TrimSpace(str(v)) },
		"truncate":      func(n int, v any) string { return Truncate(str(v), n) },
		"default":       dflt,
		"join":          join,
		"split":         func(sep string, v any) []string { return strings.SplitN(str(v), sep, 1000) },
		"replace":       func(old, new string, v any) (string, error) { return bounded(strings.ReplaceAll(str(v), old, new)) },
		"contains":      func(sub string, v any) bool { return strings.Contains(str(v), sub) },
		"hasPrefix":     func(prefix string, v any) bool { return strings.HasPrefix(str(v), prefix) },
		"hasSuffix":     func(suffix string, v any) bool { return strings.HasSuffix(str(v), suffix) },
		"add":           func(a, b int) int { return a + b },
		"sub":           func(a, b int) int { return a - b },
		"formatTime":    formatTime,
		"rfc3339":       func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
		"first":         first,
		"distinct":      distinct,
		"countStatus":   countStatus,
		"severityEmoji": func(v any) string { return SeverityEmoji(str(v)) },
		"statusEmoji":   func(v any) string { return StatusEmoji(str(v)) },
		"severityColor": func(v any) string { return SeverityColor(str(v)) },
		"toJSON":        toJSON,
		"mrkdwn":        func(v any) string { return Mrkdwn(str(v)) },
		"markdown":      func(v any) string { return Markdown(str(v)) },
	}
}

// str turns a value into text: strings and types based on string (such
// as notify.Status) as they are, anything else as fmt prints it.
func str(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case nil:
		return ""
	}
	if rv := reflect.ValueOf(v); rv.Kind() == reflect.String {
		return rv.String()
	}
	return fmt.Sprint(v)
}

func bounded(s string) (string, error) {
	if len(s) > MaxOutputSize {
		return "", fmt.Errorf("a value of %d bytes exceeds the limit of %d", len(s), MaxOutputSize)
	}
	return s, nil
}

// evalArgs formats the arguments of html, js and urlquery as the
// built-ins do.
func evalArgs(args []any) string {
	if len(args) == 1 {
		if s, ok := args[0].(string); ok {
			return s
		}
	}
	return fmt.Sprint(args...)
}

// title upper-cases the first letter of every word.
func title(s string) string {
	var b strings.Builder
	prev := ' '
	for _, r := range s {
		if !unicode.IsLetter(prev) && !unicode.IsDigit(prev) && prev != '\'' {
			r = unicode.ToTitle(r)
		}
		b.WriteRune(r)
		prev = r
	}
	return b.String()
}

// Truncate cuts s to at most n characters (runes), ending in "…" when
// it cut anything.
func Truncate(s string, n int) string {
	if n <= 0 {
		return ""
	}
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	i, count := 0, 0
	for j := range s {
		if count == n-1 {
			i = j
			break
		}
		count++
	}
	return s[:i] + "…"
}

// TruncateBytes cuts s to at most n bytes on a character boundary, ending
// in "…" when it cut anything.
func TruncateBytes(s string, n int) string {
	if len(s) <= n {
		return s
	}
	const ell = "…"
	if n < len(ell) {
		return ""
	}
	cut := n - len(ell)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + ell
}

// dflt returns v, or def when v is empty (the zero value, or an empty
// string, slice or map).
func dflt(def, v any) any {
	if v == nil {
		return def
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.String, reflect.Slice, reflect.Map, reflect.Array:
		if rv.Len() == 0 {
			return def
		}
	default:
		if rv.IsZero() {
			return def
		}
	}
	return v
}

// join joins the elements of a list (of strings or of anything printable)
// with sep.
func join(sep string, list any) (string, error) {
	var parts []string
	switch l := list.(type) {
	case []string:
		parts = l
	case nil:
		return "", nil
	default:
		rv := reflect.ValueOf(list)
		if rv.Kind() != reflect.Slice && rv.Kind() != reflect.Array {
			return "", fmt.Errorf("join: %T is not a list", list)
		}
		for i := range rv.Len() {
			parts = append(parts, fmt.Sprint(rv.Index(i).Interface()))
		}
	}
	return bounded(strings.Join(parts, sep))
}

// formatTime formats t with a Go layout ("2006-01-02 15:04 MST") or one of
// the names RFC3339, RFC1123, Kitchen, DateTime, DateOnly; the time is
// shown in UTC.
func formatTime(layout string, t time.Time) string {
	switch layout {
	case "RFC3339":
		layout = time.RFC3339
	case "RFC1123":
		layout = time.RFC1123
	case "Kitchen":
		layout = time.Kitchen
	case "DateTime":
		layout = time.DateTime
	case "DateOnly":
		layout = time.DateOnly
	}
	if len(layout) > 256 {
		layout = layout[:256]
	}
	return t.UTC().Format(layout)
}

// first returns the first alert, or an empty one when there is none, so
// that {{(first .Alerts).Rule.Title}} never fails.
func first(alerts []alert.Alert) alert.Alert {
	if len(alerts) == 0 {
		return alert.Alert{}
	}
	return alerts[0]
}

// distinct returns the distinct non-empty values of a label (see
// alert.LabelNames; "tag" gives every tag) among the alerts, in order of
// first appearance.
func distinct(label string, alerts []alert.Alert) ([]string, error) {
	if label != "tag" && !slices.Contains(alert.LabelNames(), label) {
		return nil, fmt.Errorf("distinct: unknown label %q (known: tag, %s)", label, strings.Join(alert.LabelNames(), ", "))
	}
	seen := map[string]bool{}
	var out []string
	addValue := func(v string) {
		if v != "" && !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	for i := range alerts {
		if label == "tag" {
			for _, tag := range alerts[i].Rule.Tags {
				addValue(tag)
			}
			continue
		}
		addValue(alerts[i].Labels()[label])
	}
	return out, nil
}

// countStatus counts the alerts with a status (open, acknowledged,
// resolved).
func countStatus(status string, alerts []alert.Alert) int {
	n := 0
	for i := range alerts {
		if string(alerts[i].Status) == status {
			n++
		}
	}
	return n
}

// SeverityEmoji returns an emoji for a Vigil severity.
func SeverityEmoji(severity string) string {
	switch strings.ToLower(severity) {
	case "critical":
		return "🔴"
	case "high":
		return "🟠"
	case "medium":
		return "🟡"
	case "low":
		return "🔵"
	default:
		return "⚪"
	}
}

// StatusEmoji returns an emoji for a notification or alert status.
func StatusEmoji(status string) string {
	switch status {
	case "firing", "open":
		return "🚨"
	case "acknowledged":
		return "👀"
	case "resolved":
		return "✅"
	default:
		return "ℹ️"
	}
}

// SeverityColor returns a colour (#rrggbb) for a Vigil severity.
func SeverityColor(severity string) string {
	switch strings.ToLower(severity) {
	case "critical":
		return "#b60205"
	case "high":
		return "#d93f0b"
	case "medium":
		return "#e4a100"
	case "low":
		return "#1d76db"
	default:
		return "#8a8a8a"
	}
}

// toJSON encodes v as JSON.
func toJSON(v any) (string, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return "", fmt.Errorf("toJSON: %w", err)
	}
	return bounded(string(b))
}

// Mrkdwn escapes &, < and > for Slack's mrkdwn, so that text from an
// event cannot form a link or a mention such as <!channel>.
func Mrkdwn(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

// markdownSpecial are the characters that form Markdown emphasis, code,
// links and HTML.
const markdownSpecial = "\\`*_[]()<>~"

// Markdown escapes the characters of s that Markdown would interpret, so
// that text from an event is shown as written and cannot form a link.
func Markdown(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(markdownSpecial, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}
