package template

import (
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/vigil-sec/vigil/internal/alert"
	"github.com/vigil-sec/vigil/internal/notify"
)

// Library holds the definitions every text template can call with
// {{template "NAME" .}} and may redefine:
//
//   - vigil.title: one line, "[FIRING:2] high: <first rule title> (+1 more)";
//   - vigil.text: plain text, up to 10 alerts with their rule, principal,
//     account, function, action and times, then the link to Vigil;
//   - vigil.slack.text: Slack mrkdwn, up to 5 alerts, event values escaped;
//   - vigil.markdown: Markdown (Teams), up to 10 alerts, values escaped.
const Library = `
{{- define "vigil.title" -}}
{{if .Test}}[TEST] {{end}}[{{upper .Status}}{{if eq (print .Status) "firing"}}:{{countStatus "open" .Alerts}}{{end}}] {{.Severity}}: {{(first .Alerts).Rule.Title}}{{if gt (len .Alerts) 1}} (+{{sub (len .Alerts) 1}} more){{end}}
{{- end}}

{{- define "vigil.text" -}}
{{range $i, $a := .Alerts}}{{if lt $i 10}}- [{{$a.Severity}}] {{$a.Rule.Title}} ({{$a.Rule.ID}}){{if gt $a.Count 1}} x{{$a.Count}}{{end}}, {{$a.Status}}
{{- with $a.Principal}}
  principal: {{.}}{{end}}
{{- if or $a.Account $a.Region}}
  account:   {{$a.Cloud}} {{$a.Account}}{{with $a.Region}} {{.}}{{end}}{{end}}
{{- with $a.Function}}
  function:  {{.}}{{end}}
{{- with $a.Action}}
  action:    {{.}}{{with $a.SourceIP}} from {{.}}{{end}}{{end}}
  seen:      {{rfc3339 $a.FirstSeen}}{{if gt $a.Count 1}} to {{rfc3339 $a.LastSeen}}{{end}}
{{end}}{{end}}
{{- if gt (len .Alerts) 10}}... and {{sub (len .Alerts) 10}} more
{{end}}
{{- with .URL}}
{{.}}
{{end}}
{{- end}}

{{- define "vigil.slack.text" -}}
{{range $i, $a := .Alerts}}{{if lt $i 5}}{{severityEmoji $a.Severity}} *{{mrkdwn $a.Rule.Title}}*{{if gt $a.Count 1}} ×{{$a.Count}}{{end}} · {{$a.Status}}{{with $a.Principal}} · {{mrkdwn .}}{{end}}
{{end}}{{end}}
{{- if gt (len .Alerts) 5}}_… and {{sub (len .Alerts) 5}} more_{{end}}
{{- end}}

{{- define "vigil.markdown" -}}
{{range $i, $a := .Alerts}}{{if lt $i 10}}- **{{markdown $a.Rule.Title}}** ({{$a.Severity}}){{if gt $a.Count 1}} ×{{$a.Count}}{{end}}, {{$a.Status}}{{with $a.Principal}}, {{markdown .}}{{end}}
{{end}}{{end}}
{{- if gt (len .Alerts) 10}}… and {{sub (len .Alerts) 10}} more{{end}}
{{- end}}
`

// HTMLLibrary is Library plus vigil.email.html, an HTML e-mail body with
// up to 20 alerts and a link to Vigil, for html/template.
const HTMLLibrary = Library + `
{{- define "vigil.email.html" -}}
<!DOCTYPE html>
<html><head><meta charset="utf-8"><meta name="viewport" content="width=device-width"><title>{{template "vigil.title" .}}</title></head>
<body style="margin:0;padding:16px;background:#f4f5f7;font-family:-apple-system,'Segoe UI',Helvetica,Arial,sans-serif;color:#1f2328">
<table role="presentation" width="100%" cellpadding="0" cellspacing="0" style="max-width:720px;margin:0 auto;background:#ffffff;border-top:6px solid {{severityColor .Severity}}">
<tr><td style="padding:20px 24px">
<h1 style="margin:0 0 8px;font-size:18px">{{template "vigil.title" .}}</h1>
<p style="margin:0 0 16px;color:#57606a;font-size:13px">{{len .Alerts}} alert(s) · {{.Status}} · highest severity {{.Severity}} · {{rfc3339 .Time}}</p>
{{- range $i, $a := .Alerts}}{{if lt $i 20}}
<table role="presentation" width="100%" cellpadding="4" cellspacing="0" style="margin:0 0 12px;font-size:13px;border-left:4px solid {{severityColor $a.Severity}}">
<tr><td colspan="2" style="font-weight:bold;font-size:14px">{{$a.Rule.Title}}{{if gt $a.Count 1}} ×{{$a.Count}}{{end}}</td></tr>
<tr><td style="color:#57606a;width:110px">Severity</td><td>{{$a.Severity}} · {{$a.Status}}</td></tr>
<tr><td style="color:#57606a">Rule</td><td><code>{{$a.Rule.ID}}</code>{{with $a.Rule.Tags}} · {{join ", " .}}{{end}}</td></tr>
{{- with $a.Principal}}
<tr><td style="color:#57606a">Principal</td><td><code>{{.}}</code></td></tr>{{end}}
{{- if or $a.Account $a.Region}}
<tr><td style="color:#57606a">Account</td><td>{{$a.Cloud}} {{$a.Account}}{{with $a.Region}} · {{.}}{{end}}</td></tr>{{end}}
{{- with $a.Function}}
<tr><td style="color:#57606a">Function</td><td><code>{{.}}</code></td></tr>{{end}}
{{- with $a.Action}}
<tr><td style="color:#57606a">Action</td><td>{{.}}{{with $a.SourceIP}} from {{.}}{{end}}</td></tr>{{end}}
<tr><td style="color:#57606a">Seen</td><td>{{rfc3339 $a.FirstSeen}}{{if gt $a.Count 1}} to {{rfc3339 $a.LastSeen}}{{end}}</td></tr>
</table>
{{- end}}{{end}}
{{- if gt (len .Alerts) 20}}
<p style="font-size:13px">… and {{sub (len .Alerts) 20}} more alerts.</p>{{end}}
{{- with .URL}}
<p style="margin:16px 0 0"><a href="{{.}}" style="display:inline-block;padding:8px 14px;background:#1f6feb;color:#ffffff;text-decoration:none;border-radius:4px">View in Vigil</a></p>{{end}}
</td></tr></table>
<p style="text-align:center;color:#8c959f;font-size:12px">Sent by Vigil to the receiver {{.Receiver}}.</p>
</body></html>
{{- end}}
`

// Sample returns the notification that templates are checked against when
// the configuration is validated, and that the documentation shows: a
// firing group of two alerts.
func Sample() *notify.Notification {
	t0 := time.Date(2026, 11, 22, 18, 0, 0, 0, time.UTC)
	return &notify.Notification{
		ID:          "01JDSAMPLE0000000000000000",
		Receiver:    "sample",
		GroupKey:    `{}/{severity=~"high|critical"}:{rule="aws-iam-create-access-key"}`,
		GroupLabels: map[string]string{"rule": "aws-iam-create-access-key"},
		Status:      notify.Firing,
		Severity:    "high",
		URL:         "https://vigil.example.com/alerts?group=sample",
		Time:        t0.Add(2 * time.Minute),
		Alerts: []alert.Alert{
			{
				ID: "a-1", Fingerprint: "3f2a9c", Severity: "high", Status: alert.Open, Count: 3,
				Rule: alert.RuleRef{
					ID: "aws-iam-create-access-key", Title: "Access key created for another IAM user", Level: "high",
					Tags: []string{"attack.persistence", "attack.t1098.001"},
				},
				FirstSeen: t0, LastSeen: t0.Add(90 * time.Second),
				Cloud: "aws", Source: "cloudtrail", Account: "111122223333", Region: "us-east-1",
				Principal: "arn:aws:iam::111122223333:user/dev-alice", SourceIP: "203.0.113.7",
				Function: "billing-export", Action: "iam:CreateAccessKey",
				EventIDs: []string{"e-1", "e-2", "e-3"},
			},
			{
				ID: "a-2", Fingerprint: "7be014", Severity: "medium", Status: alert.Acknowledged, Count: 1,
				Rule: alert.RuleRef{
					ID: "aws-lambda-layer-added", Title: "Lambda layer from another account added", Level: "medium",
					Tags: []string{"attack.execution"},
				},
				FirstSeen: t0.Add(30 * time.Second), LastSeen: t0.Add(30 * time.Second),
				Cloud: "aws", Source: "cloudtrail", Account: "111122223333", Region: "eu-west-1",
				Principal: "arn:aws:sts::111122223333:assumed-role/deployer/ci", Function: "orders-api",
				Action: "lambda:UpdateFunctionConfiguration", EventIDs: []string{"e-4"},
			},
		},
	}
}

// Check parses text (as HTML when html is true) and executes it over the
// sample notification, firing and resolved, so that a misspelt field or a
// failing function is reported when the configuration is loaded rather
// than when an alert fires. name is the configuration field; the error
// does not repeat it unless text/template's own message does.
func Check(name, text string, html bool) error {
	var t *Template
	var err error
	if html {
		t, err = ParseHTML(name, text)
	} else {
		t, err = Parse(name, text)
	}
	if err != nil {
		return err
	}
	return CheckExecute(t)
}

// CheckExecute executes t over the sample notification, firing and
// resolved.
func CheckExecute(t *Template) error {
	n := Sample()
	if _, err := t.Execute(n); err != nil {
		return fmt.Errorf("executing with the sample notification: %w", err)
	}
	n.Status = notify.Resolved
	for i := range n.Alerts {
		n.Alerts[i].Status = alert.Resolved
	}
	if _, err := t.Execute(n); err != nil {
		return fmt.Errorf("executing with the sample notification, resolved: %w", err)
	}
	return nil
}

// Render executes t over n. When t fails, it renders fallback instead,
// and then, should that fail too, a fixed line; the second result says
// what failed, for the log. A notification is thus never lost to a
// template mistake.
func Render(t, fallback *Template, n *notify.Notification) (string, error) {
	out, err := t.Execute(n)
	if err == nil {
		return out, nil
	}
	if fallback != nil && fallback != t {
		if out, ferr := fallback.Execute(n); ferr == nil {
			return out, err
		}
	}
	return strings.ToUpper(string(n.Status)) + ": " + fmt.Sprint(len(n.Alerts)) + " alert(s), highest severity " + n.Severity, err
}

// Field is a configured template and the default it falls back to when
// it fails.
type Field struct {
	t, def *Template
}

// NewField parses text as the template of a configuration field (key),
// or def when text is empty; def must parse.
func NewField(key, text, def string) (*Field, error) {
	return newField(key, text, def, Parse, MustParse)
}

// NewHTMLField is NewField for html/template.
func NewHTMLField(key, text, def string) (*Field, error) {
	return newField(key, text, def, ParseHTML, MustParseHTML)
}

func newField(key, text, def string, parse func(string, string) (*Template, error), must func(string, string) *Template) (*Field, error) {
	d := must(key, def)
	if text == "" {
		return &Field{t: d, def: d}, nil
	}
	t, err := parse(key, text)
	if err != nil {
		return nil, err
	}
	return &Field{t: t, def: d}, nil
}

// Render renders the field over n; see Render.
func (f *Field) Render(n *notify.Notification) (string, error) {
	return Render(f.t, f.def, n)
}

// Name returns the configuration field's key.
func (f *Field) Name() string { return f.t.name }

// Text renders the field over n like Render, and logs a failure (the
// template's error, which names no data) on logger.
func (f *Field) Text(n *notify.Notification, logger *slog.Logger) string {
	out, err := f.Render(n)
	if err != nil {
		logger.Warn("template failed; the default was used", "field", f.Name(), "notification", n.ID, "error", err)
	}
	return out
}
