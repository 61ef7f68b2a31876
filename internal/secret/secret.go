// Package secret provides Secret, a string that never prints — fmt, JSON,
// YAML, text encoders and log/slog all see "<secret>" — and the reading of
// secrets from files. Configuration of every component uses it for tokens,
// keys, passwords and URLs that embed credentials.
package secret

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"strings"
)

// Redacted is what a Secret prints as, whatever the verb or encoder.
const Redacted = "<secret>"

// MaxFileSize bounds what a secret file may hold.
const MaxFileSize = 64 << 10

// Secret is a string that never prints: fmt (every verb but %p, which go
// vet rejects for strings), encoding/json, YAML, text encoders and log/slog
// all see "<secret>". Reveal returns the value for the one place that needs
// it.
type Secret string

// Reveal returns the secret's value.
func (s Secret) Reveal() string { return string(s) }

// String returns "<secret>".
func (s Secret) String() string { return Redacted }

// GoString returns "<secret>", for %#v.
func (s Secret) GoString() string { return Redacted }

// Format writes "<secret>" for every verb, so that neither %x, %d nor any
// other verb reaches the value.
func (s Secret) Format(f fmt.State, _ rune) { io.WriteString(f, Redacted) }

// LogValue returns "<secret>" for log/slog.
func (s Secret) LogValue() slog.Value { return slog.StringValue(Redacted) }

// MarshalText returns "<secret>".
func (s Secret) MarshalText() ([]byte, error) { return []byte(Redacted), nil }

// MarshalJSON returns "<secret>", or "" when the secret is empty, so that an
// encoded configuration still shows whether a secret is set.
func (s Secret) MarshalJSON() ([]byte, error) {
	if s == "" {
		return []byte(`""`), nil
	}
	return []byte(`"` + Redacted + `"`), nil
}

// MarshalYAML returns "<secret>", or "" when the secret is empty.
func (s Secret) MarshalYAML() (any, error) {
	if s == "" {
		return "", nil
	}
	return Redacted, nil
}

// ReadFile reads the secret held in a regular file and removes one
// trailing newline. An empty file is an error: it would silently turn the
// secret off. Errors name the path, never the content. Anything other
// than a regular file is refused, so that a FIFO or device cannot block or
// flood the load.
func ReadFile(path string) (Secret, error) {
	if path == "" {
		return "", errors.New("the file name is empty")
	}
	info, err := os.Stat(path)
	if err != nil {
		return "", fmt.Errorf("cannot read secret file %q: %w", path, pathErr(err))
	}
	if !info.Mode().IsRegular() {
		return "", fmt.Errorf("secret file %q is not a regular file", path)
	}
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("cannot read secret file %q: %w", path, pathErr(err))
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return "", fmt.Errorf("cannot read secret file %q: %w", path, pathErr(err))
	}
	if len(data) > MaxFileSize {
		return "", fmt.Errorf("secret file %q is larger than %d bytes", path, MaxFileSize)
	}
	s := string(data)
	if t, ok := strings.CutSuffix(s, "\n"); ok {
		s = strings.TrimSuffix(t, "\r")
	}
	if s == "" {
		return "", fmt.Errorf("secret file %q is empty", path)
	}
	return Secret(s), nil
}

// pathErr drops the operation and path from an *fs.PathError, which the
// caller's message already names.
func pathErr(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// Check reports why s is unusable as a secret, without quoting it.
func Check(s Secret) string {
	v := s.Reveal()
	for i, r := range v {
		switch {
		case r == '\n' || r == '\r':
			return fmt.Sprintf("has a line break at byte %d (only one trailing newline is removed)", i)
		case r < 0x20 || r == 0x7f:
			return fmt.Sprintf("has a control character at byte %d", i)
		}
	}
	return ""
}
