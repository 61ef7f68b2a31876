package email

import (
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	netmail "net/mail"
	"net/netip"
	"os"
	"strconv"
	"strings"

	"github.com/vigil-sec/vigil/internal/notify/field"
)

// MaxCAFileSize bounds the CA file.
const MaxCAFileSize = 1 << 20

// Validate reports every problem with the configuration, each naming its
// field. It reads ca_file, so that a missing or unreadable file is
// reported when the configuration is loaded.
func (c *Config) Validate() error {
	var errs field.Errors
	if len(c.To) == 0 {
		errs.Addf("to", "is required: at least one recipient address")
	}
	for i, to := range c.To {
		if _, err := netmail.ParseAddress(to); err != nil {
			errs.Addf(fmt.Sprintf("to[%d]", i), "%q is not an e-mail address: %v", to, err)
		}
	}
	if c.From == "" {
		errs.Addf("from", "is required: the sender address")
	} else if a, err := netmail.ParseAddress(c.From); err != nil || !strings.Contains(a.Address, "@") {
		errs.Addf("from", "%q is not an e-mail address", c.From)
	}
	host := ""
	if c.Smarthost == "" {
		errs.Addf("smarthost", "is required: the SMTP server as host:port, such as smtp.example.com:587")
	} else {
		h, p, err := net.SplitHostPort(c.Smarthost)
		port, perr := strconv.Atoi(p)
		switch {
		case err != nil || h == "":
			errs.Addf("smarthost", "%q must be host:port, such as smtp.example.com:587", c.Smarthost)
		case perr != nil || port < 1 || port > 65535:
			errs.Addf("smarthost", "%q has an invalid port", c.Smarthost)
		default:
			host = h
		}
	}
	switch c.TLS {
	case "", "starttls", "implicit":
	case "none":
		if host != "" && !loopback(host) {
			errs.Addf("tls", "none is allowed only with a loopback smarthost (localhost, 127.0.0.1, ::1); use starttls or implicit")
		}
	default:
		errs.Addf("tls", "must be starttls (the default), implicit or none, got %q", c.TLS)
	}
	if c.CAFile != "" {
		if _, err := loadCAFile(c.CAFile); err != nil {
			errs.Add(field.Wrap("ca_file", err))
		}
	}
	if strings.ContainsAny(c.Hello, " \t\r\n") {
		errs.Addf("hello", "must be a host name without spaces")
	}
	switch {
	case c.Username != "" && c.Password == "":
		errs.Addf("password", "is required with username (inline, or from a file with password_file)")
	case c.Username == "" && c.Password != "":
		errs.Addf("username", "is required with password")
	}
	errs.Add(field.Secret("password", c.Password, false))
	errs.Add(field.Template("subject", c.Subject, false))
	errs.Add(field.Template("text", c.Text, false))
	errs.Add(field.Template("html", c.HTML, true))
	errs.Add(field.Timeout("timeout", c.Timeout))
	return errs.Err()
}

func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.IsLoopback()
}

// loadCAFile reads PEM certificates into a pool.
func loadCAFile(path string) (*x509.CertPool, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read %q: %w", path, unwrapPath(err))
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxCAFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("cannot read %q: %w", path, unwrapPath(err))
	}
	if len(data) > MaxCAFileSize {
		return nil, fmt.Errorf("%q is larger than %d bytes", path, MaxCAFileSize)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(data) {
		return nil, fmt.Errorf("%q holds no PEM certificate", path)
	}
	return pool, nil
}

func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
