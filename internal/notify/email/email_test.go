package email

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"mime/multipart"
	"net"
	netmail "net/mail"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"github.com/google/go-cmp/cmp"

	"github.com/vigil-sec/vigil/internal/notify"
	"github.com/vigil-sec/vigil/internal/notify/email/emailtest"
	"github.com/vigil-sec/vigil/internal/notify/notifytest"
	"github.com/vigil-sec/vigil/internal/notify/template"
	"github.com/vigil-sec/vigil/internal/secret"
)

var update = notifytest.Update()

var fixedNow = time.Date(2026, 11, 22, 18, 2, 0, 0, time.UTC)

func newReceiver(t *testing.T, cfg Config, logger *slog.Logger) *Receiver {
	t.Helper()
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	r, err := New("mail", cfg, logger)
	if err != nil {
		t.Fatal(err)
	}
	r.now = func() time.Time { return fixedNow }
	return r
}

func baseConfig(srv *emailtest.Server) Config {
	return Config{
		To: []string{"secops@example.com", "Oncall <oncall@example.com>"}, From: "Vigil <vigil@alerts.example.com>",
		Smarthost: srv.Addr, CAFile: srv.CAFile, Username: "vigil", Password: "s3cret-pass", Hello: "vigil.test",
	}
}

// parsed is a received message, decoded.
type parsed struct {
	header      netmail.Header
	subject     string
	text, html  string
	contentType string
}

func parse(t *testing.T, data []byte) parsed {
	t.Helper()
	m, err := netmail.ReadMessage(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("not a mail message: %v\n%s", err, data)
	}
	var p parsed
	p.header = m.Header
	dec := new(mime.WordDecoder)
	if p.subject, err = dec.DecodeHeader(m.Header.Get("Subject")); err != nil {
		t.Fatal(err)
	}
	mt, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	if err != nil {
		t.Fatal(err)
	}
	p.contentType = mt
	if mt != "multipart/alternative" {
		return p
	}
	mr := multipart.NewReader(m.Body, params["boundary"])
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(part) // quoted-printable is decoded by NextPart
		ct, _, _ := mime.ParseMediaType(part.Header.Get("Content-Type"))
		switch ct {
		case "text/plain":
			p.text = string(body)
		case "text/html":
			p.html = string(body)
		default:
			t.Errorf("unexpected part %s", ct)
		}
	}
	return p
}

func TestStartTLSWithAuthPlain(t *testing.T) {
	srv := emailtest.Start(t, emailtest.Options{Username: "vigil", Password: "s3cret-pass"})
	r := newReceiver(t, baseConfig(srv), nil)
	n := template.Sample()
	id, err := r.Send(t.Context(), n)
	if err != nil {
		t.Fatal(err)
	}
	msgs := srv.Messages()
	if len(msgs) != 1 {
		t.Fatalf("%d messages", len(msgs))
	}
	got := msgs[0]
	if !got.TLS || got.Mechanism != sasl.Plain || got.Username != "vigil" {
		t.Errorf("session: TLS %v, AUTH %s as %s", got.TLS, got.Mechanism, got.Username)
	}
	if got.From != "vigil@alerts.example.com" || !cmp.Equal(got.To, []string{"secops@example.com", "oncall@example.com"}) {
		t.Errorf("envelope from %q to %q", got.From, got.To)
	}
	p := parse(t, got.Data)
	if p.contentType != "multipart/alternative" {
		t.Fatalf("Content-Type %s", p.contentType)
	}
	wantID, root := MessageIDs(n, "alerts.example.com")
	if id != wantID {
		t.Errorf("ref %q, want %q", id, wantID)
	}
	for h, want := range map[string]string{
		"From":                    `"Vigil" <vigil@alerts.example.com>`,
		"To":                      `<secops@example.com>, "Oncall" <oncall@example.com>`,
		"Message-Id":              "<" + wantID + ">",
		"In-Reply-To":             "<" + root + ">",
		"References":              "<" + root + ">",
		"Auto-Submitted":          "auto-generated",
		"X-Vigil-Notification-Id": n.ID,
		"X-Vigil-Status":          "firing",
		"Date":                    "Sun, 22 Nov 2026 18:02:00 +0000",
	} {
		if v := p.header.Get(h); v != want {
			t.Errorf("%s: %q, want %q", h, v, want)
		}
	}
	if p.subject != "[FIRING:1] high: Access key created for another IAM user (+1 more)" {
		t.Errorf("Subject %q", p.subject)
	}
	notifytest.Golden(t, *update, "body.txt.golden", []byte(p.text))
	notifytest.Golden(t, *update, "body.html.golden", []byte(p.html))

	// The next notification of the group threads under the first.
	n.ID, n.Status, n.Prior = "01JDSAMPLE0000000000000001", notify.Resolved, id
	id2, err := r.Send(t.Context(), n)
	if err != nil {
		t.Fatal(err)
	}
	p2 := parse(t, srv.Messages()[1].Data)
	if id2 == id || p2.header.Get("In-Reply-To") != "<"+id+">" || p2.header.Get("References") != "<"+root+"> <"+id+">" {
		t.Errorf("second message: id %s, In-Reply-To %s, References %s", id2, p2.header.Get("In-Reply-To"), p2.header.Get("References"))
	}
	if !strings.HasPrefix(p2.subject, "[RESOLVED]") {
		t.Errorf("second subject %q", p2.subject)
	}
}

func TestAuthLoginWhenOnlyLoginIsOffered(t *testing.T) {
	srv := emailtest.Start(t, emailtest.Options{Username: "vigil", Password: "s3cret-pass", Mechanisms: []string{sasl.Login}})
	r := newReceiver(t, baseConfig(srv), nil)
	if _, err := r.Send(t.Context(), template.Sample()); err != nil {
		t.Fatal(err)
	}
	if m := srv.Messages(); len(m) != 1 || m[0].Mechanism != sasl.Login {
		t.Errorf("messages %+v", m)
	}
}

func TestImplicitTLS(t *testing.T) {
	srv := emailtest.Start(t, emailtest.Options{TLS: "implicit", Username: "vigil", Password: "s3cret-pass"})
	cfg := baseConfig(srv)
	cfg.TLS = "implicit"
	r := newReceiver(t, cfg, nil)
	if _, err := r.Send(t.Context(), template.Sample()); err != nil {
		t.Fatal(err)
	}
	m := srv.Messages()
	if len(m) != 1 || !m[0].TLS {
		t.Fatalf("messages %+v", m)
	}
	if p := parse(t, m[0].Data); !strings.Contains(p.text, "Access key created") || !strings.Contains(p.html, "<!DOCTYPE html>") {
		t.Errorf("parts: %q / %q", p.text, p.html)
	}
}

func TestPlainToLoopbackWithoutAuth(t *testing.T) {
	srv := emailtest.Start(t, emailtest.Options{TLS: "none"})
	cfg := baseConfig(srv)
	cfg.TLS, cfg.CAFile, cfg.Username, cfg.Password = "none", "", "", ""
	r := newReceiver(t, cfg, nil)
	if _, err := r.Send(t.Context(), template.Sample()); err != nil {
		t.Fatal(err)
	}
	if m := srv.Messages(); len(m) != 1 || m[0].TLS {
		t.Errorf("messages %+v", m)
	}
}

func TestFailures(t *testing.T) {
	refused := func() string {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		return l.Addr().String()
	}()
	tests := []struct {
		name      string
		opts      emailtest.Options
		edit      func(*Config)
		status    int
		permanent bool
		want      string
	}{
		{"temporary RCPT failure", emailtest.Options{RcptError: &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try later"}},
			nil, 451, false, "try later"},
		{"permanent DATA failure", emailtest.Options{DataError: &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 6, 0}, Message: "content rejected"}},
			nil, 554, true, "content rejected"},
		{"wrong password", emailtest.Options{},
			func(c *Config) { c.Password = "wrong" }, 535, true, "Authentication failed"},
		{"untrusted certificate", emailtest.Options{},
			func(c *Config) { c.CAFile = "" }, 0, true, "certificate"},
		{"no STARTTLS", emailtest.Options{TLS: "none"},
			nil, 0, true, "does not support STARTTLS"},
		{"connection refused", emailtest.Options{},
			func(c *Config) { c.Smarthost = refused }, 0, false, "refused"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.opts.Username, tt.opts.Password = "vigil", "s3cret-pass"
			srv := emailtest.Start(t, tt.opts)
			cfg := baseConfig(srv)
			if tt.edit != nil {
				tt.edit(&cfg)
			}
			_, err := newReceiver(t, cfg, nil).Send(t.Context(), template.Sample())
			var ne *notify.Error
			if !errors.As(err, &ne) {
				t.Fatalf("err = %v, want a *notify.Error", err)
			}
			if ne.Status != tt.status || ne.Permanent != tt.permanent || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v (status %d, permanent %v), want status %d, permanent %v, %q", err, ne.Status, ne.Permanent, tt.status, tt.permanent, tt.want)
			}
		})
	}
}

func TestNoSecretLeaks(t *testing.T) {
	const pass = "LEAKY-smtp-PASSWORD-42"
	echo := func(code int, msg string) *smtp.SMTPError {
		return &smtp.SMTPError{Code: code, EnhancedCode: smtp.EnhancedCode{code / 100, 0, 0}, Message: msg + " (password " + pass + ")"}
	}
	refused := func() string {
		l, _ := net.Listen("tcp", "127.0.0.1:0")
		defer l.Close()
		return l.Addr().String()
	}()
	for _, tt := range []struct {
		name string
		opts emailtest.Options
		edit func(*Config)
	}{
		{"auth failure echoing the password", emailtest.Options{AuthError: echo(535, "bad credentials")}, nil},
		{"451 echoing the password", emailtest.Options{RcptError: echo(451, "later")}, nil},
		{"554 echoing the password", emailtest.Options{DataError: echo(554, "rejected")}, nil},
		{"untrusted certificate", emailtest.Options{}, func(c *Config) { c.CAFile = "" }},
		{"connection refused", emailtest.Options{}, func(c *Config) { c.Smarthost = refused }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tt.opts.Username, tt.opts.Password = "vigil", pass
			srv := emailtest.Start(t, tt.opts)
			cfg := baseConfig(srv)
			cfg.Password = secret.Secret(pass)
			cfg.Timeout = 2 * time.Second
			if tt.edit != nil {
				tt.edit(&cfg)
			}
			logger, logs := notifytest.Logger()
			r := newReceiver(t, cfg, logger)
			texts := map[string]string{}
			for i, n := range notifytest.Notifications(template.Sample()) {
				ref, err := r.Send(t.Context(), n)
				if err == nil {
					t.Fatalf("notification %d was delivered", i)
				}
				texts[fmt.Sprint("error ", i)] = fmt.Sprintf("%s | %v | %+v | %#v | %s", err.Error(), err, err, err, ref)
			}
			texts["log"] = logs.String()
			texts["receiver"] = fmt.Sprintf("%v | %+v | %#v", r, r, r)
			texts["config"] = fmt.Sprintf("%v | %+v | %#v", cfg, cfg, cfg)
			notifytest.AssertNoSecrets(t, []string{pass}, texts)
		})
	}
}

func TestMessageIDs(t *testing.T) {
	n := template.Sample()
	id, root := MessageIDs(n, "example.com")
	id2, root2 := MessageIDs(n, "example.com")
	if id != id2 || root != root2 || !validMessageID(id) || !validMessageID(root) {
		t.Errorf("ids %q %q", id, root)
	}
	n.ID = "other"
	if id3, root3 := MessageIDs(n, "example.com"); id3 == id || root3 != root {
		t.Errorf("another notification of the group: %q %q", id3, root3)
	}
	for s, ok := range map[string]bool{"a@b": true, "a b@c": false, "<a@b>": false, "ab": false, "": false} {
		if validMessageID(s) != ok {
			t.Errorf("validMessageID(%q) = %v", s, !ok)
		}
	}
}

func TestValidate(t *testing.T) {
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "not.pem")
	os.WriteFile(notPEM, []byte("hello"), 0o600)
	tests := []struct {
		name string
		cfg  Config
		want []string
	}{
		{"ok", Config{To: []string{"a@example.com"}, From: "v@example.com", Smarthost: "smtp.example.com:587"}, nil},
		{"ok none to loopback", Config{To: []string{"a@example.com"}, From: "v@example.com", Smarthost: "127.0.0.1:25", TLS: "none"}, nil},
		{"empty", Config{}, []string{
			"to: is required: at least one recipient address",
			"from: is required: the sender address",
			"smarthost: is required: the SMTP server as host:port, such as smtp.example.com:587",
		}},
		{"everything wrong", Config{
			To: []string{"not an address"}, From: "nope", Smarthost: "smtp.example.com", TLS: "ssl",
			CAFile: filepath.Join(dir, "missing.pem"), Hello: "a b", Username: "u", Subject: "{{.X}}", HTML: "{{.Y}}",
			Timeout: -time.Second,
		}, []string{
			`to[0]: "not an address" is not an e-mail address: mail: no angle-addr`,
			`from: "nope" is not an e-mail address`,
			`smarthost: "smtp.example.com" must be host:port, such as smtp.example.com:587`,
			`tls: must be starttls (the default), implicit or none, got "ssl"`,
			`ca_file: cannot read "` + filepath.Join(dir, "missing.pem") + `": no such file or directory`,
			"hello: must be a host name without spaces",
			"password: is required with username (inline, or from a file with password_file)",
			`subject: executing with the sample notification: template: subject:1:2: executing "subject" at <.X>: can't evaluate field X in type *notify.Notification`,
			`html: executing with the sample notification: template: html:1:2: executing "html" at <.Y>: can't evaluate field Y in type *notify.Notification`,
			"timeout: must be from 0s (the default) to 5m0s, got -1s",
		}},
		{"none to a remote host, bad port, not PEM, password alone", Config{
			To: []string{"a@example.com"}, From: "v@example.com", Smarthost: "smtp.example.com:99999", TLS: "none",
			CAFile: notPEM, Password: "p",
		}, []string{
			`smarthost: "smtp.example.com:99999" has an invalid port`,
			`ca_file: "` + notPEM + `" holds no PEM certificate`,
			"username: is required with password",
		}},
		{"none to a remote host", Config{To: []string{"a@example.com"}, From: "v@example.com", Smarthost: "smtp.example.com:25", TLS: "none"}, []string{
			"tls: none is allowed only with a loopback smarthost (localhost, 127.0.0.1, ::1); use starttls or implicit",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := notifytest.ErrorLines(tt.cfg.Validate())
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Validate (-want +got):\n%s", diff)
			}
		})
	}
}
