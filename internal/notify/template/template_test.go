package template

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/vigil-sec/vigil/internal/alert"
	"github.com/vigil-sec/vigil/internal/notify"
	"github.com/vigil-sec/vigil/internal/notify/notifytest"
)

var update = notifytest.Update()

func exec(t *testing.T, text string, data any) string {
	t.Helper()
	tm, err := Parse("field", text)
	if err != nil {
		t.Fatalf("Parse(%q): %v", text, err)
	}
	out, err := tm.Execute(data)
	if err != nil {
		t.Fatalf("Execute(%q): %v", text, err)
	}
	return out
}

func TestFuncs(t *testing.T) {
	n := Sample()
	tests := []struct{ text, want string }{
		{`{{.Status | upper}}`, "FIRING"},
		{`{{"ABC" | lower}}`, "abc"},
		{`{{"access key created" | title}}`, "Access Key Created"},
		{`{{"  x " | trim}}`, "x"},
		{`{{"abcdef" | truncate 4}}`, "abc…"},
		{`{{"abc" | truncate 3}}`, "abc"},
		{`{{"héllo wörld" | truncate 5}}`, "héll…"},
		{`{{"" | default "none"}}`, "none"},
		{`{{"set" | default "none"}}`, "set"},
		{`{{0 | default 7}}`, "7"},
		{`{{(first .Alerts).Rule.Tags | join ", "}}`, "attack.persistence, attack.t1098.001"},
		{`{{split "," "a,b,c" | join "|"}}`, "a|b|c"},
		{`{{"a-b" | replace "-" "+"}}`, "a+b"},
		{`{{contains "dev" (first .Alerts).Principal}} {{hasPrefix "arn:" (first .Alerts).Principal}} {{hasSuffix "x" "abc"}}`, "true true false"},
		{`{{add 2 3}} {{sub 2 3}}`, "5 -1"},
		{`{{formatTime "2006-01-02 15:04 MST" .Time}}`, "2026-11-22 18:02 UTC"},
		{`{{formatTime "RFC3339" .Time}} {{rfc3339 .Time}}`, "2026-11-22T18:02:00Z 2026-11-22T18:02:00Z"},
		{`{{(first .Alerts).Rule.ID}}`, "aws-iam-create-access-key"},
		{`{{distinct "region" .Alerts | join ","}}`, "us-east-1,eu-west-1"},
		{`{{distinct "account" .Alerts | join ","}}`, "111122223333"},
		{`{{distinct "tag" .Alerts | join ","}}`, "attack.persistence,attack.t1098.001,attack.execution"},
		{`{{countStatus "open" .Alerts}}/{{countStatus "acknowledged" .Alerts}}/{{countStatus "resolved" .Alerts}}`, "1/1/0"},
		{`{{severityEmoji "critical"}}{{severityEmoji .Severity}}{{severityEmoji "nope"}}`, "🔴🟠⚪"},
		{`{{statusEmoji .Status}}{{statusEmoji "resolved"}}`, "🚨✅"},
		{`{{severityColor "critical"}}`, "#b60205"},
		{`{{.GroupLabels | toJSON}}`, `{"rule":"aws-iam-create-access-key"}`},
		{`{{"<!channel> & <https://x|y>" | mrkdwn}}`, "&lt;!channel&gt; &amp; &lt;https://x|y&gt;"},
		{`{{"[click](https://evil) *x*" | markdown}}`, `\[click\]\(https://evil\) \*x\*`},
		{`{{printf "%s-%d" "a" 1}}{{print "b"}}`, "a-1b"},
		{`{{html "<b>"}} {{urlquery "a b"}} {{js "'"}}`, `&lt;b&gt; a+b \'`},
	}
	for _, tt := range tests {
		if got := exec(t, tt.text, n); got != tt.want {
			t.Errorf("%s = %q, want %q", tt.text, got, tt.want)
		}
	}
	// first on no alerts gives an empty alert rather than failing.
	if got := exec(t, `[{{(first .Alerts).Rule.Title}}]`, &notify.Notification{}); got != "[]" {
		t.Errorf("first of none = %q", got)
	}
}

func TestParseErrorsNameTheField(t *testing.T) {
	tests := []struct {
		text string
		want string
	}{
		{`{{.Status`, "template: summary:1: unclosed action"},
		{`{{nosuchfunc .}}`, `template: summary:1: function "nosuchfunc" not defined`},
		{strings.Repeat("x", MaxSourceSize+1), "the template is 32769 bytes, more than the limit of 32768"},
		{"\xff", "the template is not valid UTF-8"},
		{strings.Repeat("{{if 1}}", MaxDepth+2) + strings.Repeat("{{end}}", MaxDepth+2), "actions are nested more than 64 levels deep"},
		{`{{define "a"}}{{template "a" .}}{{end}}`, `template "a" calls itself (a → a); recursion is not allowed`},
		{`{{define "a"}}{{if 1}}{{template "b" .}}{{end}}{{end}}{{define "b"}}{{range .}}{{template "a" .}}{{end}}{{end}}x`, `template "a" calls itself (a → b → a)`},
	}
	for _, tt := range tests {
		_, err := Parse("summary", tt.text)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Parse(%.40q) = %v, want %q", tt.text, err, tt.want)
		}
	}
}

func TestCheck(t *testing.T) {
	tests := []struct {
		text string
		html bool
		want string // "" = valid
	}{
		{`{{template "vigil.title" .}}`, false, ""},
		{`{{template "vigil.email.html" .}}`, true, ""},
		{`{{.Alertz}}`, false, `executing with the sample notification: template: title:1:2: executing "title" at <.Alertz>: can't evaluate field Alertz`},
		{`{{.GroupLabels.nope}}`, false, `map has no entry for key "nope"`},
		{`{{template "nope" .}}`, false, `template "nope" not defined`},
		{`{{if eq .Status "resolved"}}{{index .Alerts 5}}{{end}}`, false, "with the sample notification, resolved"},
		{`{{distinct "nolabel" .Alerts}}`, false, `unknown label "nolabel"`},
		{`<a href="{{.URL}}">x</a>`, true, ""},
	}
	for _, tt := range tests {
		err := Check("title", tt.text, tt.html)
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("Check(%q): %v", tt.text, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("Check(%q) = %v, want %q", tt.text, err, tt.want)
		}
	}
}

func TestExecutionIsBounded(t *testing.T) {
	tests := []struct {
		name string
		text string
		want string // error text; "" = the output is cut
	}{
		{"range over a huge number", `{{range 1000000000}}{{end}}`, ErrTooManySteps.Error()},
		{"range over a variable", `{{$n := 1000000000}}{{range $n}}{{end}}`, ErrTooManySteps.Error()},
		{"nested ranges", `{{range .Alerts}}{{range 100000}}{{end}}{{end}}`, ErrTooManySteps.Error()},
		{"exponential fan-out", `{{define "a"}}{{range 10}}{{template "b" .}}{{end}}{{end}}{{define "b"}}{{range 10}}{{template "c" .}}{{end}}{{end}}` +
			`{{define "c"}}{{range 10}}{{template "d" .}}{{end}}{{end}}{{define "d"}}{{range 10}}{{template "e" .}}{{end}}{{end}}` +
			`{{define "e"}}{{range 10}}{{template "f" .}}{{end}}{{end}}{{define "f"}}x{{end}}{{template "a" .}}`, ErrTooManySteps.Error()},
		{"doubling a value", `{{$a := "xx"}}{{range 64}}{{$a = printf "%s%s" $a $a}}{{end}}`, "exceeds the limit"},
		{"doubling by js", `{{$a := "\\"}}{{range 64}}{{$a = js $a}}{{end}}`, "exceeds the limit"},
		{"doubling by replace", `{{$a := "ab"}}{{range 64}}{{$a = replace "a" "aa" $a}}{{end}}`, "exceeds the limit"},
		{"long output", `{{range 20000}}0123456789{{end}}`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tm, err := Parse("text", tt.text)
			if err != nil {
				t.Fatal(err)
			}
			out, err := tm.Execute(Sample())
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				if len(out) > MaxOutputSize+len("…") || !strings.HasSuffix(out, "…") {
					t.Errorf("output of %d bytes, want it cut at %d with …", len(out), MaxOutputSize)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want %q", err, tt.want)
			}
		})
	}
	// The budget is per execution: a template that fits runs again.
	tm, _ := Parse("text", `{{range 60000}}{{end}}ok`)
	for range 3 {
		if out, err := tm.Execute(nil); err != nil || out != "ok" {
			t.Fatalf("got %q, %v", out, err)
		}
	}
	// HTML templates are bounded the same way.
	htm, err := ParseHTML("html", `{{$a := "\\"}}{{range 64}}{{$a = js $a}}{{end}}{{range 1000000000}}{{end}}`)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := htm.Execute(nil); err == nil {
		t.Error("the HTML template ran unbounded")
	}
}

func TestEmptyTemplate(t *testing.T) {
	for _, text := range []string{"", `{{define "x"}}y{{end}}`} {
		if got := exec(t, text, Sample()); got != "" {
			t.Errorf("%q rendered %q", text, got)
		}
	}
}

func TestUserRedefinesLibrary(t *testing.T) {
	got := exec(t, `{{define "vigil.title"}}custom {{.Severity}}{{end}}{{template "vigil.title" .}}`, Sample())
	if got != "custom high" {
		t.Errorf("got %q", got)
	}
}

func TestHTMLEscapesEventValues(t *testing.T) {
	n := Sample()
	n.Alerts[0].Principal = `<script>alert(1)</script>`
	n.Alerts[0].Rule.Title = `<img src=x onerror=alert(1)>`
	n.URL = "javascript:alert(1)"
	tm := MustParseHTML("html", `{{template "vigil.email.html" .}}`)
	out, err := tm.Execute(n)
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"<script>", "<img", `href="javascript:`} {
		if strings.Contains(out, bad) {
			t.Errorf("the HTML holds %q", bad)
		}
	}
	if !strings.Contains(out, "&lt;script&gt;") {
		t.Error("the principal is missing or not escaped")
	}
}

func TestSlackTextEscapesEventValues(t *testing.T) {
	n := Sample()
	n.Alerts[0].Principal = "<!channel> <https://evil.example|click>"
	got := exec(t, `{{template "vigil.slack.text" .}}`, n)
	if strings.Contains(got, "<!channel>") || strings.Contains(got, "<https://") {
		t.Errorf("event text forms Slack markup:\n%s", got)
	}
}

func TestRenderFallsBack(t *testing.T) {
	bad := MustParse("text", `{{index .Alerts 9}}`)
	def := MustParse("text", `{{template "vigil.title" .}}`)
	out, err := Render(bad, def, Sample())
	if err == nil || !strings.Contains(out, "[FIRING:1]") {
		t.Errorf("Render = %q, %v; want the default's output and the error", out, err)
	}
	out, err = Render(bad, bad, Sample())
	if err == nil || out != "FIRING: 2 alert(s), highest severity high" {
		t.Errorf("Render = %q, %v; want the fixed line", out, err)
	}
	out, err = Render(def, bad, Sample())
	if err != nil || !strings.HasPrefix(out, "[FIRING") {
		t.Errorf("Render = %q, %v", out, err)
	}
}

func TestConcurrentExecute(t *testing.T) {
	tm := MustParse("text", `{{range .Alerts}}{{.Rule.ID}} {{end}}{{range 1000}}{{end}}`)
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for range 16 {
		wg.Go(func() {
			out, err := tm.Execute(Sample())
			if err == nil && out != "aws-iam-create-access-key aws-lambda-layer-added " {
				err = errors.New("wrong output " + out)
			}
			if err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestLibraryGolden(t *testing.T) {
	resolved := Sample()
	resolved.Status = notify.Resolved
	for i := range resolved.Alerts {
		resolved.Alerts[i].Status = alert.Resolved
	}
	many := Sample()
	many.Test = true
	for i := range 30 {
		a := many.Alerts[i%2]
		a.ID = "a-x"
		a.FirstSeen = a.FirstSeen.Add(time.Duration(i) * time.Minute)
		many.Alerts = append(many.Alerts, a)
	}
	for _, data := range []struct {
		name string
		n    *notify.Notification
	}{{"firing", Sample()}, {"resolved", resolved}, {"many", many}} {
		var b strings.Builder
		for _, def := range []string{"vigil.title", "vigil.text", "vigil.slack.text", "vigil.markdown"} {
			b.WriteString("== " + def + "\n")
			b.WriteString(exec(t, `{{template "`+def+`" .}}`, data.n))
			b.WriteString("\n")
		}
		notifytest.Golden(t, *update, "library-"+data.name+".golden", []byte(b.String()))
		htm := MustParseHTML("html", `{{template "vigil.email.html" .}}`)
		out, err := htm.Execute(data.n)
		if err != nil {
			t.Fatal(err)
		}
		notifytest.Golden(t, *update, "email-"+data.name+".html.golden", []byte(out))
	}
}

func TestTruncate(t *testing.T) {
	tests := []struct {
		s    string
		n    int
		want string
	}{
		{"abc", 3, "abc"}, {"abcd", 3, "ab…"}, {"abc", 0, ""}, {"日本語テキスト", 4, "日本語…"},
	}
	for _, tt := range tests {
		if got := Truncate(tt.s, tt.n); got != tt.want {
			t.Errorf("Truncate(%q, %d) = %q, want %q", tt.s, tt.n, got, tt.want)
		}
	}
	bytesTests := []struct {
		s    string
		n    int
		want string
	}{
		{"abc", 3, "abc"}, {"abcdef", 5, "ab…"}, {"日本語", 7, "日…"}, {"abcdef", 2, ""},
	}
	for _, tt := range bytesTests {
		if got := TruncateBytes(tt.s, tt.n); got != tt.want {
			t.Errorf("TruncateBytes(%q, %d) = %q, want %q", tt.s, tt.n, got, tt.want)
		}
	}
}

func FuzzParseExecute(f *testing.F) {
	f.Add(`{{template "vigil.text" .}}`, false)
	f.Add(`{{range .Alerts}}{{.Rule.Title | upper | truncate 10}}{{end}}`, false)
	f.Add(`{{define "a"}}{{template "a" .}}{{end}}{{template "a" .}}`, false)
	f.Add(`<a href="{{.URL}}">{{.Severity}}</a>`, true)
	f.Add(`{{$a := "x"}}{{range 40}}{{$a = printf "%s%s" $a $a}}{{end}}{{$a}}`, false)
	f.Fuzz(func(t *testing.T, text string, html bool) {
		var tm *Template
		var err error
		if html {
			tm, err = ParseHTML("f", text)
		} else {
			tm, err = Parse("f", text)
		}
		if err != nil {
			return
		}
		out, _ := tm.Execute(Sample())
		if len(out) > MaxOutputSize+len("…") {
			t.Fatalf("output of %d bytes", len(out))
		}
	})
}

func TestSampleIsStable(t *testing.T) {
	a, b := Sample(), Sample()
	a.Alerts[0].Status = alert.Resolved
	if diff := cmp.Diff(alert.Open, b.Alerts[0].Status); diff != "" {
		t.Errorf("Sample shares state between calls: %s", diff)
	}
}
