package slack

import (
	"fmt"
	"strings"

	"github.com/vigil-sec/vigil/internal/alert"
	"github.com/vigil-sec/vigil/internal/notify"
	"github.com/vigil-sec/vigil/internal/notify/template"
)

// Block Kit limits (https://api.slack.com/reference/block-kit).
const (
	MaxBlocks          = 50
	MaxHeaderText      = 150
	MaxSectionText     = 3000
	MaxFields          = 10
	MaxFieldText       = 2000
	MaxContextElements = 10
	MaxButtonText      = 75
	MaxURL             = 3000
	// MaxMessageText bounds the top-level text, the notification
	// fallback (Slack truncates at 40,000 and advises far less).
	MaxMessageText = 3000
)

// Message is the body of an incoming-webhook post and of chat.postMessage
// and chat.update.
type Message struct {
	Channel string  `json:"channel,omitempty"`
	TS      string  `json:"ts,omitempty"`
	Text    string  `json:"text"`
	Blocks  []Block `json:"blocks"`
	// UnfurlLinks and UnfurlMedia are false for new messages (no link
	// previews) and left out of updates, which do not take them.
	UnfurlLinks *bool `json:"unfurl_links,omitempty"`
	UnfurlMedia *bool `json:"unfurl_media,omitempty"`
}

// Block is a layout block: header, section, context or actions.
type Block struct {
	Type     string `json:"type"`
	Text     *Text  `json:"text,omitempty"`
	Fields   []Text `json:"fields,omitempty"`
	Elements []any  `json:"elements,omitempty"`
}

// Text is a text object: plain_text or mrkdwn.
type Text struct {
	Type  string `json:"type"`
	Text  string `json:"text"`
	Emoji bool   `json:"emoji,omitempty"`
}

// Button is a link button.
type Button struct {
	Type     string `json:"type"`
	Text     Text   `json:"text"`
	URL      string `json:"url"`
	ActionID string `json:"action_id"`
	Style    string `json:"style,omitempty"`
}

func plain(s string, limit int) *Text {
	return &Text{Type: "plain_text", Text: template.Truncate(s, limit), Emoji: true}
}

func mrkdwn(s string, limit int) Text {
	return Text{Type: "mrkdwn", Text: template.Truncate(s, limit)}
}

// NewMessage builds the Block Kit message for n from the rendered title
// and text (mrkdwn): a header, the text, a section of fields (severity,
// rule, principal, account, region, function), a context line, and a
// button to the alerts in Vigil. Values from events are escaped so that
// they cannot form links or mentions. Every limit of Block Kit is kept.
func NewMessage(n *notify.Notification, title, text string) Message {
	title = strings.Join(strings.Fields(title), " ")
	if title == "" {
		title = strings.ToUpper(string(n.Status))
	}
	no := false
	m := Message{Text: template.Truncate(title, MaxMessageText), UnfurlLinks: &no, UnfurlMedia: &no}
	m.Blocks = append(m.Blocks, Block{Type: "header", Text: plain(title, MaxHeaderText)})
	if strings.TrimSpace(text) != "" {
		t := mrkdwn(text, MaxSectionText)
		m.Blocks = append(m.Blocks, Block{Type: "section", Text: &t})
	}
	if fields := Fields(n); len(fields) > 0 {
		m.Blocks = append(m.Blocks, Block{Type: "section", Fields: fields})
	}
	m.Blocks = append(m.Blocks, Block{Type: "context", Elements: []any{contextText(n)}})
	if n.URL != "" && len(n.URL) <= MaxURL && (strings.HasPrefix(n.URL, "https://") || strings.HasPrefix(n.URL, "http://")) {
		b := Button{Type: "button", Text: *plain("View in Vigil", MaxButtonText), URL: n.URL, ActionID: "vigil_open"}
		if n.Status == notify.Firing && (n.Severity == "critical" || n.Severity == "high") {
			b.Style = "danger"
		}
		m.Blocks = append(m.Blocks, Block{Type: "actions", Elements: []any{b}})
	}
	return m
}

// Fields returns the section fields of n: each names a value shared by
// the alerts, or the first few of several.
func Fields(n *notify.Notification) []Text {
	var out []Text
	add := func(name, value string) {
		if value != "" && len(out) < MaxFields {
			out = append(out, mrkdwn("*"+name+"*\n"+value, MaxFieldText))
		}
	}
	add("Severity", template.SeverityEmoji(n.Severity)+" "+template.Mrkdwn(n.Severity))
	add("Status", template.StatusEmoji(string(n.Status))+" "+string(n.Status)+fmt.Sprintf(" · %d alert(s)", len(n.Alerts)))
	add("Rule", summary(n.Alerts, func(a *alert.Alert) string { return a.Rule.Title }, false))
	add("Principal", summary(n.Alerts, func(a *alert.Alert) string { return a.Principal }, true))
	add("Account", summary(n.Alerts, func(a *alert.Alert) string {
		if a.Account == "" {
			return ""
		}
		return strings.TrimSpace(a.Cloud + " " + a.Account)
	}, true))
	add("Region", summary(n.Alerts, func(a *alert.Alert) string { return a.Region }, false))
	add("Function", summary(n.Alerts, func(a *alert.Alert) string { return a.Function }, true))
	return out
}

// summary lists the distinct values of the alerts, escaped, as code when
// code is set: one value as it is, several as the first three and a count
// of the rest.
func summary(alerts []alert.Alert, value func(*alert.Alert) string, code bool) string {
	var vals []string
	seen := map[string]bool{}
	for i := range alerts {
		v := value(&alerts[i])
		if v != "" && !seen[v] {
			seen[v] = true
			vals = append(vals, v)
		}
	}
	shown := vals
	if len(shown) > 3 {
		shown = shown[:3]
	}
	parts := make([]string, len(shown))
	for i, v := range shown {
		v = template.Mrkdwn(template.Truncate(v, 200))
		if code {
			v = "`" + strings.ReplaceAll(v, "`", "'") + "`"
		}
		parts[i] = v
	}
	out := strings.Join(parts, ", ")
	if more := len(vals) - len(shown); more > 0 {
		out += fmt.Sprintf(" (+%d more)", more)
	}
	return out
}

func contextText(n *notify.Notification) Text {
	parts := []string{"Vigil"}
	if n.Test {
		parts = append(parts, "test message")
	}
	parts = append(parts, "receiver "+template.Mrkdwn(n.Receiver))
	if !n.Time.IsZero() {
		fallback := n.Time.UTC().Format("2006-01-02 15:04 UTC")
		parts = append(parts, fmt.Sprintf("<!date^%d^{date_short_pretty} {time}|%s>", n.Time.Unix(), fallback))
	}
	return mrkdwn(strings.Join(parts, " · "), MaxSectionText)
}
