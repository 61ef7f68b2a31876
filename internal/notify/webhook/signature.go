package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Headers the receiver sends.
const (
	SignatureHeader      = "X-Vigil-Signature"
	NotificationIDHeader = "X-Vigil-Notification-Id"
)

// DefaultTolerance is the replay window Verify is meant to be used with.
const DefaultTolerance = 5 * time.Minute

// Sign returns the X-Vigil-Signature value for body sent at t:
// "t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>" keyed with key>".
func Sign(key []byte, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	return "t=" + ts + ",v1=" + hex.EncodeToString(mac(key, ts, body))
}

func mac(key []byte, ts string, body []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// Errors of Verify.
var (
	ErrNoSignature  = errors.New("no valid v1 signature")
	ErrBadSignature = errors.New("the signature does not match the body")
	ErrTooOld       = errors.New("the timestamp is outside the tolerance")
)

// Verify checks an X-Vigil-Signature header value against the body, as a
// webhook consumer written in Go would: the header must carry a
// timestamp within tolerance of now (which rejects replays of old
// requests) and a v1 signature that matches, compared in constant time.
// Several v1 entries are accepted, any of which may match, so that a key
// can be rotated.
func Verify(key []byte, header string, body []byte, now time.Time, tolerance time.Duration) error {
	var ts string
	var sigs [][]byte
	for part := range strings.SplitSeq(header, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			continue
		}
		switch k {
		case "t":
			ts = v
		case "v1":
			if b, err := hex.DecodeString(v); err == nil && len(b) == sha256.Size {
				sigs = append(sigs, b)
			}
		}
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return fmt.Errorf("no valid timestamp: %w", ErrNoSignature)
	}
	if len(sigs) == 0 {
		return ErrNoSignature
	}
	if d := now.Sub(time.Unix(sec, 0)); d > tolerance || d < -tolerance {
		return ErrTooOld
	}
	want := mac(key, ts, body)
	for _, s := range sigs {
		if hmac.Equal(s, want) {
			return nil
		}
	}
	return ErrBadSignature
}
