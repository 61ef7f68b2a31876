package notifyhttp

import (
	"fmt"
	"log/slog"
	"strconv"
)

// Base is what every HTTP receiver holds besides its configuration: its
// name and kind, a logger that carries them, and its Sender. Embedded in
// a receiver, it names the receiver in String and GoString, which never
// show the configuration.
type Base struct {
	// Sender sends the receiver's requests.
	Sender *Sender
	// Logger logs with the receiver's name and kind attached.
	Logger *slog.Logger

	name, kind string
}

// NewBase returns the Base of the receiver named name of kind kind (such
// as "slack"). Its Logger is logger with the component, the receiver's
// name and its kind attached; it sends with sender.
func NewBase(name, kind string, logger *slog.Logger, sender *Sender) Base {
	return Base{
		Sender: sender,
		Logger: logger.With("component", "notify", "receiver", name, "kind", kind),
		name:   name, kind: kind,
	}
}

// String names the receiver; it never shows the configuration.
func (b *Base) String() string { return b.kind + " receiver " + strconv.Quote(b.name) }

// GoString is String, so that %#v shows no secret either.
func (b *Base) GoString() string { return b.String() }

// ConfigError wraps err, a problem with the configuration of the receiver
// named name of kind kind, as `receiver "<name>": <kind>: <err>`, or as
// `receiver "<name>": <kind>: <part>: <err>` when part names the part of
// the configuration that failed, such as a template field.
func ConfigError(name, kind, part string, err error) error {
	if part == "" {
		return fmt.Errorf("receiver %q: %s: %w", name, kind, err)
	}
	return fmt.Errorf("receiver %q: %s: %s: %w", name, kind, part, err)
}
