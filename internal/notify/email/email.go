package email

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	netmail "net/mail"
	"net/textproto"
	"strconv"
	"strings"
	"time"

	"github.com/wneessen/go-mail"

	"github.com/vigil-sec/vigil/internal/notify"
	"github.com/vigil-sec/vigil/internal/notify/redact"
	"github.com/vigil-sec/vigil/internal/notify/template"
)

// Defaults.
const (
	DefaultSubject = `{{template "vigil.title" .}}`
	DefaultText    = `{{template "vigil.text" .}}`
	DefaultHTML    = `{{template "vigil.email.html" .}}`
	DefaultTimeout = 10 * time.Second
	// MaxSubject bounds the subject, in characters.
	MaxSubject = 250
)

// Receiver sends notifications by e-mail.
type Receiver struct {
	name    string
	cfg     Config
	host    string
	port    int
	domain  string
	tls     *tls.Config
	red     *redact.Redactor
	logger  *slog.Logger
	subject *template.Field
	text    *template.Field
	html    *template.Field
	now     func() time.Time
}

var _ notify.Receiver = (*Receiver)(nil)

// New returns an e-mail receiver named name.
func New(name string, cfg Config, logger *slog.Logger) (*Receiver, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("receiver %q: email: %w", name, err)
	}
	host, portStr, _ := net.SplitHostPort(cfg.Smarthost)
	port, _ := strconv.Atoi(portStr)
	from, _ := netmail.ParseAddress(cfg.From)
	_, domain, _ := strings.Cut(from.Address, "@")
	r := &Receiver{
		name: name, cfg: cfg, host: host, port: port, domain: domain, now: time.Now,
		red:    redact.New(cfg.Password),
		logger: logger.With("component", "notify", "receiver", name, "kind", "email"),
		tls:    &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12},
	}
	if cfg.CAFile != "" {
		pool, err := loadCAFile(cfg.CAFile)
		if err != nil {
			return nil, fmt.Errorf("receiver %q: email: ca_file: %w", name, err)
		}
		r.tls.RootCAs = pool
	}
	var err error
	if r.subject, err = template.NewField("subject", cfg.Subject, DefaultSubject); err != nil {
		return nil, fmt.Errorf("receiver %q: email: subject: %w", name, err)
	}
	if r.text, err = template.NewField("text", cfg.Text, DefaultText); err != nil {
		return nil, fmt.Errorf("receiver %q: email: text: %w", name, err)
	}
	if r.html, err = template.NewHTMLField("html", cfg.HTML, DefaultHTML); err != nil {
		return nil, fmt.Errorf("receiver %q: email: html: %w", name, err)
	}
	return r, nil
}

// String names the receiver; it never shows the configuration.
func (r *Receiver) String() string { return "email receiver " + strconv.Quote(r.name) }

// GoString is String, so that %#v shows no secret either.
func (r *Receiver) GoString() string { return r.String() }

// Send mails n as a multipart/alternative message with a plain-text and
// an HTML part. It returns the message's Message-ID, which the next
// notification of the group names in In-Reply-To and References so that
// mail clients thread the group; every message of a group also refers to
// a root ID derived from the group key.
func (r *Receiver) Send(ctx context.Context, n *notify.Notification) (string, error) {
	if n.Status == notify.Resolved && r.cfg.SendResolved != nil && !*r.cfg.SendResolved {
		return "", nil
	}
	m, id, err := r.message(n)
	if err != nil {
		return "", &notify.Error{Permanent: true, Err: r.red.Error(err)}
	}
	timeout := r.cfg.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	c, err := r.client(timeout)
	if err != nil {
		return "", &notify.Error{Permanent: true, Err: r.red.Error(fmt.Errorf("setting up the SMTP client: %w", err))}
	}
	if err := c.DialAndSendWithContext(ctx, m); err != nil {
		return "", r.sendError(err)
	}
	r.logger.Debug("notification delivered", "notification", n.ID, "message_id", id)
	return id, nil
}

func (r *Receiver) client(timeout time.Duration) (*mail.Client, error) {
	opts := []mail.Option{mail.WithPort(r.port), mail.WithTimeout(timeout), mail.WithTLSConfig(r.tls)}
	switch r.cfg.TLS {
	case "implicit":
		opts = append(opts, mail.WithSSL())
	case "none":
		opts = append(opts, mail.WithTLSPolicy(mail.NoTLS))
	default:
		opts = append(opts, mail.WithTLSPolicy(mail.TLSMandatory))
	}
	if r.cfg.Hello != "" {
		opts = append(opts, mail.WithHELO(r.cfg.Hello))
	}
	if r.cfg.Username != "" {
		opts = append(opts, mail.WithUsername(r.cfg.Username), mail.WithPassword(r.cfg.Password.Reveal()),
			mail.WithOpportunisticSMTPAuth(mail.SMTPAuthPlain, mail.SMTPAuthLogin))
	}
	return mail.NewClient(r.host, opts...)
}

// message builds the mail for n and returns it with its Message-ID
// (without angle brackets).
func (r *Receiver) message(n *notify.Notification) (*mail.Msg, string, error) {
	subject := template.Truncate(strings.Join(strings.Fields(r.subject.Text(n, r.logger)), " "), MaxSubject)
	text := r.text.Text(n, r.logger)
	html := r.html.Text(n, r.logger)

	m := mail.NewMsg()
	if err := m.From(r.cfg.From); err != nil {
		return nil, "", fmt.Errorf("from: %w", err)
	}
	if err := m.To(r.cfg.To...); err != nil {
		return nil, "", fmt.Errorf("to: %w", err)
	}
	m.Subject(subject)
	m.SetDateWithValue(r.now())
	id, root := MessageIDs(n, r.domain)
	m.SetMessageIDWithValue(id)
	refs := "<" + root + ">"
	parent := refs
	if prior := n.Prior; validMessageID(prior) && prior != id {
		parent = "<" + prior + ">"
		refs += " " + parent
	}
	m.SetGenHeader(mail.HeaderInReplyTo, parent)
	m.SetGenHeader(mail.HeaderReferences, refs)
	m.SetGenHeader(mail.Header("Auto-Submitted"), "auto-generated")
	m.SetGenHeader(mail.HeaderXAutoResponseSuppress, "All")
	m.SetGenHeader(mail.Header("X-Vigil-Notification-Id"), n.ID)
	m.SetGenHeader(mail.Header("X-Vigil-Status"), string(n.Status))
	m.SetUserAgent("Vigil")
	m.SetBodyString(mail.TypeTextPlain, text)
	m.AddAlternativeString(mail.TypeTextHTML, html)
	return m, id, nil
}

// MessageIDs returns the Message-ID of n's mail and the root ID its
// group's mails refer to, both without angle brackets. Retries of one
// notification keep its Message-ID, so that a mail delivered twice is
// shown once.
func MessageIDs(n *notify.Notification, domain string) (id, root string) {
	g := sha256.Sum256([]byte(n.GroupKey))
	i := sha256.Sum256([]byte(n.ID))
	group := hex.EncodeToString(g[:])
	return "vigil." + hex.EncodeToString(i[:10]) + "." + group[:16] + "@" + domain,
		"vigil.group." + group[:32] + "@" + domain
}

// validMessageID reports whether s can go between angle brackets in a
// header.
func validMessageID(s string) bool {
	if s == "" || len(s) > 250 || !strings.Contains(s, "@") {
		return false
	}
	for _, c := range s {
		if c <= ' ' || c >= 0x7f || strings.ContainsRune("<>()[]\\,;:\"", c) {
			return false
		}
	}
	return true
}

// sendError turns an SMTP failure into a *notify.Error: a 4xx reply is
// retried, a 5xx reply is permanent, and so are refused certificates and
// a server without STARTTLS; a failure to connect is retried.
func (r *Receiver) sendError(err error) error {
	e := &notify.Error{Status: smtpCode(err), Err: r.red.Error(err)}
	var certErr *tls.CertificateVerificationError
	var unknownCA x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	switch {
	case e.Status >= 500:
		e.Permanent = true
	case e.Status >= 400:
	case errors.As(err, &certErr), errors.As(err, &unknownCA), errors.As(err, &hostErr):
		e.Permanent = true
	case strings.Contains(err.Error(), "does not support STARTTLS"), strings.Contains(err.Error(), "does not support SMTP AUTH"):
		e.Permanent = true
	}
	return e
}

// smtpCode finds the SMTP reply code in err, 0 when there is none.
func smtpCode(err error) int {
	var se *mail.SendError
	if errors.As(err, &se) && se.ErrorCode() != 0 {
		return se.ErrorCode()
	}
	var te *textproto.Error
	if errors.As(err, &te) {
		return te.Code
	}
	return 0
}
