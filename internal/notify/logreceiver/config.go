// Package logreceiver writes notifications to Vigil's own log. It is the
// receiver used when no other is configured.
package logreceiver

// Config is a log receiver's configuration (notify.receivers[].log).
type Config struct {
	// Level is debug, info, warn or error (default warn).
	Level string `yaml:"level"`
}
