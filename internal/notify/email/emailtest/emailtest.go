// Package emailtest runs a real SMTP server (github.com/emersion/go-smtp)
// for tests: STARTTLS or implicit TLS with a self-signed certificate made
// for the test, AUTH PLAIN and LOGIN, and replies that fail on demand.
// It keeps every message it accepts.
package emailtest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// Options configure a Server.
type Options struct {
	// TLS is "starttls" (the default: STARTTLS offered, AUTH only after
	// it), "implicit" (TLS from the first byte) or "none".
	TLS string
	// Username and Password, when set, are required: MAIL is refused
	// before a successful AUTH.
	Username, Password string
	// Mechanisms are the AUTH mechanisms offered (default PLAIN).
	Mechanisms []string
	// AuthError, RcptError and DataError, when set, are the replies to
	// AUTH, RCPT and DATA.
	AuthError, RcptError, DataError *smtp.SMTPError
}

// Message is one accepted message.
type Message struct {
	From string
	To   []string
	Data []byte
	// Mechanism and Username are those of the session's AUTH.
	Mechanism, Username string
	// TLS reports whether the session was encrypted.
	TLS bool
}

// Server is a running SMTP server.
type Server struct {
	// Addr is "localhost:<port>", the host name the certificate is for.
	Addr string
	// CAFile is a PEM file with the server's certificate, to trust it.
	CAFile string

	opts Options
	mu   sync.Mutex
	msgs []Message
}

// Start starts a server that stops when the test ends.
func Start(t testing.TB, o Options) *Server {
	t.Helper()
	if len(o.Mechanisms) == 0 {
		o.Mechanisms = []string{sasl.Plain}
	}
	cert, certPEM := selfSigned(t)
	s := &Server{opts: o, CAFile: filepath.Join(t.TempDir(), "ca.pem")}
	if err := os.WriteFile(s.CAFile, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		return &session{s: s, conn: c}, nil
	}))
	srv.Domain = "localhost"
	srv.ReadTimeout = 10 * time.Second
	srv.WriteTimeout = 10 * time.Second
	srv.MaxMessageBytes = 4 << 20
	srv.MaxRecipients = 50
	tlsCfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	switch o.TLS {
	case "implicit":
		l = tls.NewListener(l, tlsCfg)
	case "none":
		srv.AllowInsecureAuth = true
	default:
		srv.TLSConfig = tlsCfg
	}
	_, port, _ := net.SplitHostPort(l.Addr().String())
	s.Addr = "localhost:" + port
	done := make(chan struct{})
	go func() {
		defer close(done)
		srv.Serve(l)
	}()
	t.Cleanup(func() {
		srv.Close()
		<-done
	})
	return s
}

// Messages returns the accepted messages.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.msgs)
}

type session struct {
	s        *Server
	conn     *smtp.Conn
	mech     string
	username string
	authed   bool
	from     string
	to       []string
}

func (ss *session) AuthMechanisms() []string { return ss.s.opts.Mechanisms }

func (ss *session) Auth(mech string) (sasl.Server, error) {
	check := func(username, password string) error {
		if e := ss.s.opts.AuthError; e != nil {
			return e
		}
		if username != ss.s.opts.Username || password != ss.s.opts.Password {
			return smtp.ErrAuthFailed
		}
		ss.mech, ss.username, ss.authed = mech, username, true
		return nil
	}
	switch mech {
	case sasl.Plain:
		return sasl.NewPlainServer(func(_, username, password string) error { return check(username, password) }), nil
	case sasl.Login:
		return &loginServer{check: check}, nil
	}
	return nil, smtp.ErrAuthUnknownMechanism
}

func (ss *session) Mail(from string, _ *smtp.MailOptions) error {
	if ss.s.opts.Username != "" && !ss.authed {
		return smtp.ErrAuthRequired
	}
	ss.from = from
	return nil
}

func (ss *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	if e := ss.s.opts.RcptError; e != nil {
		return e
	}
	ss.to = append(ss.to, to)
	return nil
}

func (ss *session) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if e := ss.s.opts.DataError; e != nil {
		return e
	}
	_, isTLS := ss.conn.TLSConnectionState()
	ss.s.mu.Lock()
	defer ss.s.mu.Unlock()
	ss.s.msgs = append(ss.s.msgs, Message{
		From: ss.from, To: slices.Clone(ss.to), Data: data, Mechanism: ss.mech, Username: ss.username, TLS: isTLS,
	})
	return nil
}

func (ss *session) Reset() { ss.from, ss.to = "", nil }

func (ss *session) Logout() error { return nil }

// loginServer is the server side of AUTH LOGIN: it asks for the user
// name, then the password.
type loginServer struct {
	check    func(username, password string) error
	step     int
	username string
}

func (l *loginServer) Next(response []byte) ([]byte, bool, error) {
	switch l.step {
	case 0:
		l.step++
		if len(response) > 0 { // initial response carries the user name
			l.username = string(response)
			l.step++
			return []byte("Password:"), false, nil
		}
		return []byte("Username:"), false, nil
	case 1:
		l.username = string(response)
		l.step++
		return []byte("Password:"), false, nil
	case 2:
		l.step++
		return nil, true, l.check(l.username, string(response))
	}
	return nil, true, errors.New("unexpected LOGIN response")
}

// selfSigned makes a certificate for localhost and 127.0.0.1.
func selfSigned(t testing.TB) (tls.Certificate, []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "localhost"},
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.X509KeyPair(certPEM, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}))
	if err != nil {
		t.Fatal(err)
	}
	return cert, certPEM
}
