// Package email sends notifications over SMTP with STARTTLS or implicit
// TLS and authentication, as multipart HTML and plain-text messages.
package email

import (
	"time"

	"github.com/vigil-sec/vigil/internal/secret"
)

// Config is an e-mail receiver's configuration (notify.receivers[].email).
type Config struct {
	To   []string `yaml:"to"`
	From string   `yaml:"from"`
	// Smarthost is the SMTP server as host:port.
	Smarthost string `yaml:"smarthost"`
	// TLS is "starttls" (required STARTTLS, the default), "implicit"
	// (TLS from the first byte, usually port 465) or "none" (only to
	// loopback addresses).
	TLS string `yaml:"tls"`
	// CAFile holds PEM certificates to trust instead of the system pool.
	CAFile       string        `yaml:"ca_file"`
	Hello        string        `yaml:"hello"`
	Username     string        `yaml:"username"`
	Password     secret.Secret `yaml:"password"`
	Subject      string        `yaml:"subject"`
	Text         string        `yaml:"text"`
	HTML         string        `yaml:"html"`
	SendResolved *bool         `yaml:"send_resolved"`
	Timeout      time.Duration `yaml:"timeout"`
}
