package teams

import (
	"fmt"
	"strings"

	"github.com/vigil-sec/vigil/internal/alert"
	"github.com/vigil-sec/vigil/internal/notify"
	"github.com/vigil-sec/vigil/internal/notify/template"
)

// Card constants. The bounds (in bytes) keep a message well under the
// roughly 28 KB that Teams accepts.
const (
	ContentType  = "application/vnd.microsoft.card.adaptive"
	SchemaURL    = "http://adaptivecards.io/schemas/adaptive-card.json"
	CardVersion  = "1.4"
	MaxTitle     = 500
	MaxText      = 12000
	MaxFactValue = 600
)

// Message is the body a Workflows webhook expects: a message with one
// Adaptive Card attachment.
type Message struct {
	Type        string       `json:"type"`
	Attachments []Attachment `json:"attachments"`
}

// Attachment carries the card.
type Attachment struct {
	ContentType string  `json:"contentType"`
	ContentURL  *string `json:"contentUrl"`
	Content     Card    `json:"content"`
}

// Card is an Adaptive Card.
type Card struct {
	Schema  string    `json:"$schema"`
	Type    string    `json:"type"`
	Version string    `json:"version"`
	Body    []Element `json:"body"`
	Actions []Action  `json:"actions,omitempty"`
	MSTeams MSTeams   `json:"msteams"`
}

// MSTeams holds Teams' card options.
type MSTeams struct {
	Width string `json:"width"`
}

// Element is a card element: a Container, a TextBlock or a FactSet.
type Element struct {
	Type string `json:"type"`
	// Container
	Style string    `json:"style,omitempty"`
	Bleed bool      `json:"bleed,omitempty"`
	Items []Element `json:"items,omitempty"`
	// TextBlock
	Text     string `json:"text,omitempty"`
	Wrap     bool   `json:"wrap,omitempty"`
	Size     string `json:"size,omitempty"`
	Weight   string `json:"weight,omitempty"`
	Color    string `json:"color,omitempty"`
	IsSubtle bool   `json:"isSubtle,omitempty"`
	Spacing  string `json:"spacing,omitempty"`
	// FactSet
	Facts []Fact `json:"facts,omitempty"`
}

// Fact is a title and value of a FactSet.
type Fact struct {
	Title string `json:"title"`
	Value string `json:"value"`
}

// Action is an Action.OpenUrl.
type Action struct {
	Type  string `json:"type"`
	Title string `json:"title"`
	URL   string `json:"url"`
}

// NewMessage builds the card for n from the rendered title and text
// (Markdown): a coloured heading, the text, a FactSet (severity, status,
// rule, principal, account, region, function) and a button to the alerts
// in Vigil.
func NewMessage(n *notify.Notification, title, text string) Message {
	title = strings.Join(strings.Fields(title), " ")
	if title == "" {
		title = strings.ToUpper(string(n.Status))
	}
	style, color := "attention", "Attention"
	switch {
	case n.Status == notify.Resolved:
		style, color = "good", "Good"
	case n.Status == notify.Acknowledged:
		style, color = "accent", "Accent"
	case n.Severity != "critical" && n.Severity != "high":
		style, color = "warning", "Warning"
	}
	head := Element{Type: "Container", Style: style, Bleed: true, Items: []Element{
		{Type: "TextBlock", Text: template.TruncateBytes(title, MaxTitle), Wrap: true, Size: "Large", Weight: "Bolder", Color: color},
	}}
	body := []Element{head}
	if strings.TrimSpace(text) != "" {
		body = append(body, Element{Type: "TextBlock", Text: template.TruncateBytes(text, MaxText), Wrap: true})
	}
	if facts := Facts(n); len(facts) > 0 {
		body = append(body, Element{Type: "FactSet", Facts: facts})
	}
	ctx := "Vigil · receiver " + n.Receiver
	if n.Test {
		ctx += " · test message"
	}
	if !n.Time.IsZero() {
		ctx += " · " + n.Time.UTC().Format("2006-01-02 15:04 UTC")
	}
	body = append(body, Element{Type: "TextBlock", Text: template.Markdown(ctx), Wrap: true, IsSubtle: true, Size: "Small", Spacing: "Medium"})
	card := Card{Schema: SchemaURL, Type: "AdaptiveCard", Version: CardVersion, Body: body, MSTeams: MSTeams{Width: "Full"}}
	if strings.HasPrefix(n.URL, "https://") || strings.HasPrefix(n.URL, "http://") {
		card.Actions = []Action{{Type: "Action.OpenUrl", Title: "View in Vigil", URL: n.URL}}
	}
	return Message{Type: "message", Attachments: []Attachment{{ContentType: ContentType, Content: card}}}
}

// Facts returns the FactSet of n; values from events are escaped for
// Markdown.
func Facts(n *notify.Notification) []Fact {
	var out []Fact
	add := func(title, value string) {
		if value != "" {
			out = append(out, Fact{Title: title, Value: template.TruncateBytes(value, MaxFactValue)})
		}
	}
	add("Severity", template.Markdown(n.Severity))
	add("Status", fmt.Sprintf("%s · %d alert(s)", n.Status, len(n.Alerts)))
	add("Rule", summary(n.Alerts, func(a *alert.Alert) string { return a.Rule.Title }))
	add("Principal", summary(n.Alerts, func(a *alert.Alert) string { return a.Principal }))
	add("Account", summary(n.Alerts, func(a *alert.Alert) string {
		if a.Account == "" {
			return ""
		}
		return strings.TrimSpace(a.Cloud + " " + a.Account)
	}))
	add("Region", summary(n.Alerts, func(a *alert.Alert) string { return a.Region }))
	add("Function", summary(n.Alerts, func(a *alert.Alert) string { return a.Function }))
	return out
}

func summary(alerts []alert.Alert, value func(*alert.Alert) string) string {
	var vals []string
	seen := map[string]bool{}
	for i := range alerts {
		if v := value(&alerts[i]); v != "" && !seen[v] {
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
		parts[i] = template.Markdown(template.Truncate(v, 150))
	}
	out := strings.Join(parts, ", ")
	if more := len(vals) - len(shown); more > 0 {
		out += fmt.Sprintf(" (+%d more)", more)
	}
	return out
}
