// Package source holds what the log format decoders in its subpackages
// share: the Sink they emit events to, the Decoder description the decode
// package registers, and bounded helpers for nested payloads (gzip, base64,
// JSON inside JSON).
package source

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"errors"
	"fmt"
	"io"

	"github.com/vigil-sec/vigil/internal/event"
	"github.com/vigil-sec/vigil/internal/jsondoc"
)

// Sink receives what a decoder finds in one payload.
type Sink interface {
	// Event receives a decoded event. The event, its strings and its raw
	// record are valid only until Event returns: decoding reuses their
	// memory. A sink that keeps an event keeps a Clone.
	Event(*event.Event)
	// Fail reports a record that could not be decoded. Decoding goes on with
	// the next record.
	Fail(err *RecordError)
	// Note reports something worth telling the user that is not an error,
	// such as a digest file that holds no events.
	Note(msg string)
}

// RecordError is a record that could not be decoded, and where it was.
type RecordError struct {
	Where string // e.g. "Records[12]" or "records[2].logEvents[5]"
	Err   error
}

func (e *RecordError) Error() string {
	if e.Where == "" {
		return e.Err.Error()
	}
	return e.Where + ": " + e.Err.Error()
}

func (e *RecordError) Unwrap() error { return e.Err }

// Failf reports a record error at where with a formatted reason.
func Failf(s Sink, where, format string, args ...any) {
	s.Fail(&RecordError{Where: where, Err: fmt.Errorf(format, args...)})
}

// ErrNotFormat is wrapped by a decoder's error when the payload as a whole
// is not in its format. Nothing was emitted in that case.
var ErrNotFormat = errors.New("not in this format")

// NotFormat returns an error wrapping ErrNotFormat with a reason a user can
// act on, such as `no "Records" array`.
func NotFormat(kind, reason string) error {
	return fmt.Errorf("%w: not %s: %s", ErrNotFormat, kind, reason)
}

// Decoder describes one input format. Kind is the name users give with
// --source and in ingest URLs.
type Decoder struct {
	Kind string
	// Detect reports whether a JSON document looks like this format. It
	// must be cheap: it runs on every payload in auto mode.
	Detect func(root jsondoc.Value) bool
	// Decode decodes one JSON document. where locates the document in its
	// input ("" for a whole file, "line 7" for JSON Lines) and prefixes
	// record locations. It returns an error wrapping ErrNotFormat when the
	// document is not this format, having emitted nothing.
	Decode func(root jsondoc.Value, where string, sink Sink) error
	// DecodeText, if set, decodes one line of a plain-text log.
	DecodeText func(line []byte, where string, sink Sink) error
	// DetectText reports whether the first line of a plain-text input is
	// this format's. Auto mode reads text only with a decoder that
	// recognizes its first line.
	DetectText func(line []byte) bool
}

// Bounds on nested payloads.
const (
	// MaxNestedBytes bounds a payload decoded out of another: base64 data,
	// gunzipped data, a JSON document inside a JSON string.
	MaxNestedBytes = 64 << 20
	// MaxDepth bounds JSON nesting in every document.
	MaxDepth = jsondoc.DefaultMaxDepth
)

// ParseJSON parses a nested JSON document into a new Doc with the standard
// bounds.
func ParseJSON(data []byte) (*jsondoc.Doc, error) {
	if len(data) > MaxNestedBytes {
		return nil, fmt.Errorf("nested document of %d bytes exceeds the %d MiB limit", len(data), MaxNestedBytes>>20)
	}
	d := new(jsondoc.Doc)
	d.SetLimits(jsondoc.Limits{MaxDepth: MaxDepth})
	if err := d.Parse(data); err != nil {
		return nil, err
	}
	return d, nil
}

// Base64 decodes standard base64, with or without padding.
func Base64(s string) ([]byte, error) {
	if len(s) > MaxNestedBytes/3*4+4 {
		return nil, fmt.Errorf("base64 data of %d bytes exceeds the %d MiB limit", len(s), MaxNestedBytes>>20)
	}
	enc := base64.StdEncoding
	if len(s)%4 != 0 {
		enc = base64.RawStdEncoding
	}
	b, err := enc.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("invalid base64: %w", err)
	}
	return b, nil
}

// IsGzip reports whether b starts with the gzip magic bytes.
func IsGzip(b []byte) bool { return len(b) >= 2 && b[0] == 0x1f && b[1] == 0x8b }

// Gunzip decompresses b if it is gzip, reading at most MaxNestedBytes, and
// returns b unchanged otherwise.
func Gunzip(b []byte) ([]byte, error) {
	if !IsGzip(b) {
		return b, nil
	}
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("invalid gzip data: %w", err)
	}
	out, err := io.ReadAll(io.LimitReader(zr, MaxNestedBytes+1))
	if err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, errors.New("truncated gzip data")
		}
		return nil, fmt.Errorf("invalid gzip data: %w", err)
	}
	if len(out) > MaxNestedBytes {
		return nil, fmt.Errorf("gzip data expands past the %d MiB limit", MaxNestedBytes>>20)
	}
	return out, nil
}

// Collect is a Sink that keeps everything in memory, for tests and small
// inputs.
type Collect struct {
	Events []*event.Event
	Errors []*RecordError
	Notes  []string
}

// Event implements Sink. It keeps a clone of e.
func (c *Collect) Event(e *event.Event) { c.Events = append(c.Events, e.Clone()) }

// Fail implements Sink.
func (c *Collect) Fail(err *RecordError) { c.Errors = append(c.Errors, err) }

// Note implements Sink.
func (c *Collect) Note(msg string) { c.Notes = append(c.Notes, msg) }

var _ Sink = (*Collect)(nil)
